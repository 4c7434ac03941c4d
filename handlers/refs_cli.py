"""`python app.py refs add|list|remove`: the m.me ref codes for schools' websites and posters."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from handlers.settings import load_settings


def add_parser(commands: Any) -> None:
    """Add the `refs` command to the CLI's subcommands."""
    refs = commands.add_parser("refs", help="m.me ref codes for schools and campaigns").add_subparsers(
        dest="action", required=True)
    add = refs.add_parser("add", help="configure a code, e.g. refs add school-de-linde --label 'OBS De Linde'")
    add.add_argument("code")
    add.add_argument("--label", required=True, help="the name advisors see")
    refs.add_parser("list", help="every code with its m.me link and how many cases came in through it")
    remove = refs.add_parser("remove", help="forget a code's name (its cases keep the code)")
    remove.add_argument("code")


def run(args: argparse.Namespace) -> int:
    """Carry out one refs action."""
    from handlers.services import utc_now
    from storage import referrals
    from storage.db import make_engine, make_session_factory, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        if args.action == "add":
            try:
                referrals.add(session, args.code, args.label, utc_now())
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"{args.code} added: {m_me(settings.page_username, args.code)}")
        elif args.action == "remove":
            if not referrals.remove(session, args.code):
                print(f"error: {args.code!r} is not configured", file=sys.stderr)
                return 1
            print(f"{args.code} removed (its cases keep the code)")
        else:
            for use in referrals.usage(session):
                label = use.label if use.label is not None else "(unknown code: not configured)"
                print(f"{use.code}\t{label}\t{use.cases} case(s)\t{m_me(settings.page_username, use.code)}")
    engine.dispose()
    return 0


def m_me(username: str, code: str) -> str:
    """Return the m.me link that opens the page's chat with this code."""
    return f"https://m.me/{username or '<PAGE_USERNAME>'}?ref={code}"
