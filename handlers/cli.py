"""The command line: serve, chat, cases export, db upgrade."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from flows.loader import FlowError
from handlers.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """Return the argument parser for `python app.py`."""
    root = argparse.ArgumentParser(prog="python app.py", description="Messenger intake bot")
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the webhook, the outbox sender and the scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal (no Facebook needed)")
    chat.add_argument("--user", default="terminal-user", help="the user id to chat as")
    cases = commands.add_parser("cases", help="work with stored cases").add_subparsers(dest="action", required=True)
    export = cases.add_parser("export", help="print every case")
    export.add_argument("--json", action="store_true", required=True, help="as a JSON array on stdout")
    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply the migrations")
    return root


def main(argv: list[str]) -> int:
    """Run one command; print a clear message instead of a traceback for a configuration problem."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every tick at INFO
    try:
        return COMMANDS[args.command](args)
    except (SettingsError, FlowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    """Serve the webhook with Flask's threaded server (use gunicorn in production)."""
    from app import create_app

    settings = load_settings()
    app = create_app(settings)
    port = args.port or settings.port
    if not settings.sends_for_real:
        log.warning("PAGE_ACCESS_TOKEN is not set: replies are printed here, not sent to Messenger")
    log.info("webhook listening on http://%s:%d/webhook", args.host, port)
    try:
        app.run(host=args.host, port=port, threaded=True, use_reloader=False)
    finally:
        jobs = app.extensions["intake"].jobs
        if jobs:
            jobs.stop()
    return 0


def chat(args: argparse.Namespace) -> int:
    """Run the terminal chat."""
    from app import build_services
    from handlers.chat import TerminalSender, run_chat

    terminal = TerminalSender()
    services = build_services(load_settings(), client=terminal)
    run_chat(services, terminal, args.user)
    return 0


def cases(args: argparse.Namespace) -> int:
    """Print every case as a JSON array."""
    from app import build_services
    from storage.cases import export_cases

    services = build_services(load_settings())
    with services.sessions.begin() as session:
        json.dump(export_cases(session), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


def db(args: argparse.Namespace) -> int:
    """Apply the migrations."""
    from storage.db import make_engine, upgrade

    upgrade(make_engine(load_settings().database_url))
    print("database is up to date")
    return 0


COMMANDS = {"serve": serve, "chat": chat, "cases": cases, "db": db}
