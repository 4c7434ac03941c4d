"""`python app.py flows …` and `python app.py lexicon …`: validate, publish, list, show, roll back, export."""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from handlers import flow_admin
from handlers.flow_admin import Editor, Refused
from handlers.flow_library import FLOW, LEXICON, seed_defaults
from handlers.services import utc_now
from handlers.settings import load_settings
from storage import flow_versions, users
from storage.models import FlowVersion


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `flows` and `lexicon` commands to the parser."""
    for command, what in (("flows", "flow"), ("lexicon", "safety lexicon")):
        actions = commands.add_parser(command, help=f"check, publish and roll back the {what}") \
            .add_subparsers(dest="action", required=True)
        actions.add_parser("validate", help="check a file; list every problem with its line").add_argument("file")
        publish = actions.add_parser("publish", help="check a file and publish it as the next version")
        publish.add_argument("file")
        publish.add_argument("--comment", required=True, help="what changed and why")
        publish.add_argument("--author", help="your e-mail (default: your login name)")
        named = [publish]
        named.append(actions.add_parser("list", help="the published versions and those waiting for approval"))
        for action, text in (("show", "print one version with who published it, when and why"),
                             ("export", "print one version as YAML, to edit or keep")):
            parser = actions.add_parser(action, help=text)
            parser.add_argument("version", type=int)
            named.append(parser)
        rollback = actions.add_parser("rollback", help="publish an earlier version again, as the next version")
        rollback.add_argument("version", type=int)
        rollback.add_argument("--comment", default="", help="why (default: 'back to version N')")
        rollback.add_argument("--author", help="your e-mail (default: your login name)")
        named.append(rollback)
        for action, text in (("approve", "publish a revision that waits for a second admin (FLOW_APPROVAL)"),
                             ("reject", "turn down a revision that waits for approval")):
            parser = actions.add_parser(action, help=text)
            parser.add_argument("revision", type=int, help="the revision number (#N) shown by list")
            parser.add_argument("--by", required=True, help="the e-mail of the admin who decides")
        if command == "flows":
            for parser in named:
                parser.add_argument("--flow", default=None, help="the flow id (default: intake; publish: the file's)")


def run(args: argparse.Namespace) -> int:
    """Run one `flows`/`lexicon` action."""
    kind = FLOW if args.command == "flows" else LEXICON
    if args.action == "validate":
        return validate(kind, args.file)
    try:
        return ACTIONS[args.action](kind, args)
    except Refused as exc:
        for problem in exc.problems:
            print(f"{getattr(args, 'file', '')}:{problem.line}:{problem.column}: error: {problem.message}")
        print(f"error: {exc}", file=sys.stderr)
        return 1


def validate(kind: str, path: str) -> int:
    """Print every problem and warning of a file with its place; exit status 1 when there is a problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    check = flow_admin.check_source(kind, text, path)
    for label, found in (("error", check.problems), ("warning", check.warnings)):
        for problem in found:
            print(f"{path}:{problem.line}:{problem.column}: {label}: {problem.message}")
    if not check.ok:
        print(f"{path}: {len(check.problems)} problem(s), {len(check.warnings)} warning(s)")
        return 1
    what = f"flow '{check.name}'" if kind == FLOW else "lexicon"
    print(f"{path}: valid {what}: {check.summary}" + (f" ({len(check.warnings)} warning(s))" if check.warnings
                                                      else ""))
    return 0


@contextmanager
def _database() -> Iterator[tuple[Session, str]]:
    """Open a transaction on the configured database (migrated, defaults seeded); yield it and FLOW_APPROVAL."""
    from storage.db import make_engine, make_session_factory, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        with make_session_factory(engine).begin() as session:
            seed_defaults(session, settings.flows_dir, settings.lexicon_file, utc_now())
            yield session, settings.flow_approval
    finally:
        engine.dispose()


def _name(kind: str, args: argparse.Namespace) -> str:
    return LEXICON if kind == LEXICON else (getattr(args, "flow", None) or "intake")


def _editor(args: argparse.Namespace) -> Editor:
    return Editor(args.author or f"command line ({getpass.getuser()})")


def publish(kind: str, args: argparse.Namespace) -> int:
    """Publish a file (or submit it for approval)."""
    try:
        source = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    with _database() as (session, approval):
        row = flow_admin.publish(session, kind=kind, source=source, comment=args.comment, editor=_editor(args),
                                 approval=approval, now=utc_now(), name=getattr(args, "flow", None))
        if row.status == flow_versions.PENDING:
            print(f"{row.kind} {row.name}: revision #{row.id} waits for a second admin "
                  f"(python app.py {args.command} approve {row.id} --by EMAIL)")
        else:
            print(f"{row.kind} {row.name}: published version {row.version}; new conversations use it")
    return 0


def list_versions(kind: str, args: argparse.Namespace) -> int:
    """Print the version history, newest first."""
    with _database() as (session, _):
        names = [_name(kind, args)] if kind == LEXICON or getattr(args, "flow", None) else \
            flow_versions.names(session, kind)
        live = flow_versions.live_numbers(session)
        for name in names:
            for row in flow_versions.history(session, kind, name):
                print(_line(row, live.get((kind, name))))
    return 0


def show(kind: str, args: argparse.Namespace) -> int:
    """Print one version's record and its YAML."""
    with _database() as (session, _):
        row = _version(session, kind, args)
        print(_line(row, flow_versions.live_numbers(session).get((kind, row.name))))
        print(flow_admin.export(row), end="" if row.source.endswith("\n") else "\n")
    return 0


def export(kind: str, args: argparse.Namespace) -> int:
    """Print one version as YAML."""
    with _database() as (session, _):
        text = flow_admin.export(_version(session, kind, args))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def rollback(kind: str, args: argparse.Namespace) -> int:
    """Publish an earlier version again."""
    with _database() as (session, _):
        row = flow_admin.rollback(session, kind=kind, name=_name(kind, args), version=args.version,
                                  comment=args.comment, editor=_editor(args), now=utc_now())
        print(f"{row.kind} {row.name}: version {args.version} is live again as version {row.version}")
    return 0


def decide(kind: str, args: argparse.Namespace) -> int:
    """Approve or reject a waiting revision, as an admin of the console."""
    with _database() as (session, _):
        admin = users.user_by_email(session, args.by)
        if admin is None or admin.role != "admin" or not admin.active:
            raise Refused(f"{args.by} is not an active admin of the console "
                          "(add one with: python app.py users create --email E --role admin)")
        if args.action == "approve":
            row = flow_admin.approve(session, args.revision, Editor(admin.email, admin.id), utc_now())
            print(f"{row.kind} {row.name}: revision #{row.id} approved and published as version {row.version}")
        else:
            row = flow_admin.reject(session, args.revision, Editor(admin.email, admin.id), utc_now())
            print(f"{row.kind} {row.name}: revision #{row.id} rejected")
    return 0


def _version(session: Session, kind: str, args: argparse.Namespace) -> FlowVersion:
    row = flow_versions.published(session, kind, _name(kind, args), args.version)
    if row is None:
        raise Refused(f"{kind} '{_name(kind, args)}' has no published version {args.version} "
                      f"(python app.py {args.command} list shows them)")
    return row


def _line(row: FlowVersion, live: int | None) -> str:
    """One history line: number (or waiting revision), state, when, who, comment."""
    if row.version is None:
        return f"#{row.id}  waiting for approval  {row.created_at:%Y-%m-%d %H:%M}  {row.author}  {row.comment}"
    state = "live" if row.version == live else ""
    extra = f" (back to v{row.rollback_of})" if row.rollback_of else ""
    approved = f", approved by {row.approved_by}" if row.approved_by else ""
    return (f"{row.name} v{row.version:<4}{state:5} {row.published_at:%Y-%m-%d %H:%M}  {row.author}{approved}  "
            f"{row.comment}{extra}")


ACTIONS = {"publish": publish, "list": list_versions, "show": show, "export": export, "rollback": rollback,
           "approve": decide, "reject": decide}
