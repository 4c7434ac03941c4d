"""The command line: serve, worker, chat, cases export, users create, db upgrade, classify, flows, lexicon."""
from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from flows.loader import FlowError
from handlers import flow_cli, links_cli, profile_cli, refs_cli
from handlers.logformat import configure_logging
from handlers.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """Return the argument parser for `python app.py`."""
    root = argparse.ArgumentParser(prog="python app.py", description="Messenger intake bot")
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the webhook, the outbox sender and the scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    worker = commands.add_parser("worker", help="run the outbox sender, reminders and alert e-mails, no web server")
    worker.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until killed)")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal (no Facebook needed)")
    chat.add_argument("--user", default="terminal-user", help="the user id to chat as")
    cases = commands.add_parser("cases", help="work with stored cases").add_subparsers(dest="action", required=True)
    export = cases.add_parser("export", help="print every case")
    export.add_argument("--json", action="store_true", required=True, help="as a JSON array on stdout")
    users = commands.add_parser("users", help="console users").add_subparsers(dest="action", required=True)
    create = users.add_parser("create", help="add an advisor or admin (the password is asked for)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("advisor", "admin"), required=True)
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    purge = commands.add_parser("purge", help="erase closed cases past RETENTION_DAYS and conversations abandoned "
                                              "for ABANDONED_DAYS (the scheduler does this every hour)")
    purge.add_argument("--dry-run", action="store_true", help="only show what would be erased")
    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply the migrations")
    classify = commands.add_parser("classify", help="safety categories of each line on standard input, as JSON")
    classify.add_argument("--eval", metavar="FILE", help="instead: precision and recall on a labelled JSONL file")
    flow_cli.add_commands(commands)
    profile_cli.add_commands(commands)
    refs_cli.add_parser(commands)
    links_cli.add_parser(commands)
    return root


def main(argv: list[str]) -> int:
    """Run one command; print a clear message instead of a traceback for a configuration problem."""
    args = parser().parse_args(argv)
    configure_logging(_log_format(), logging.INFO if args.command in ("serve", "worker") else logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except (SettingsError, FlowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _log_format() -> str:
    """Return LOG_FORMAT before the command runs; with unusable settings text, and the command says what is wrong."""
    try:
        return load_settings().log_format
    except SettingsError:
        return "text"


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


def worker(args: argparse.Namespace) -> int:
    """Run the background jobs without the web server, until SIGTERM or Ctrl-C."""
    from app import create_app

    app = create_app(load_settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("worker running: outbox, reminders, alert e-mails")
    try:
        stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["intake"].jobs.stop()
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


def users(args: argparse.Namespace) -> int:
    """Create a console user; the password never appears on the command line."""
    from getpass import getpass

    from handlers.console.auth import MIN_PASSWORD, hash_password
    from handlers.services import utc_now
    from storage import users as stored_users
    from storage.db import make_engine, make_session_factory, upgrade

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass("Password: ")
    if len(password) < MIN_PASSWORD:
        print(f"error: the password must be at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 2
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        if stored_users.user_by_email(session, args.email):
            print(f"error: a user with e-mail {args.email} already exists", file=sys.stderr)
            return 1
        stored_users.add_user(session, email=args.email, password_hash=hash_password(password), role=args.role,
                              now=utc_now())
    print(f"{args.role} {args.email} created")
    return 0


def purge(args: argparse.Namespace) -> int:
    """Erase (or with --dry-run list) what is past its retention period."""
    from app import build_services

    settings = load_settings()
    services = build_services(settings)
    found = services.erasure.expired() if args.dry_run else services.erasure.purge()
    verb = "would erase" if args.dry_run else "erased"
    print(f"{verb} {len(found.closed_cases)} closed case(s) older than {settings.retention_days} days"
          + (": " + ", ".join(found.closed_cases) if found.closed_cases else ""))
    print(f"{verb} {len(found.abandoned_contacts)} conversation(s) abandoned for {settings.abandoned_days} days "
          "without a case")
    return 0


def db(args: argparse.Namespace) -> int:
    """Apply the migrations."""
    from storage.db import make_engine, upgrade

    upgrade(make_engine(load_settings().database_url))
    print("database is up to date")
    return 0


def classify(args: argparse.Namespace) -> int:
    """Classify stdin line by line, or evaluate on a labelled file."""
    from bot.safety import classify as classify_text
    from flows.lexicon import load_lexicon_file

    lexicon = load_lexicon_file(load_settings().lexicon_file)
    if args.eval:
        from handlers.evaluation import evaluate, format_report, read_labelled

        print(format_report(evaluate(read_labelled(Path(args.eval)), lexicon)))
        return 0
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    for line in stdin:
        text = line.rstrip("\r\n")
        found = classify_text(text, lexicon)
        result = {"text": text, "categories": [d.category for d in found],
                  "criminal": any(d.criminal for d in found), "urgent": any(d.urgent for d in found)}
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


COMMANDS = {"serve": serve, "worker": worker, "chat": chat, "cases": cases, "users": users, "purge": purge, "db": db,
            "classify": classify, "flows": flow_cli.run, "lexicon": flow_cli.run,
            "messenger-profile": profile_cli.run, "refs": refs_cli.run, "links": links_cli.run}
