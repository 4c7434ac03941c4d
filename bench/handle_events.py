"""Measure what handling one webhook event costs the inbox worker, without HTTP or sending in the way.

Run:  .venv/bin/python bench/handle_events.py                 (SQLite and PostgreSQL, 300 users)
      .venv/bin/python bench/handle_events.py --databases sqlite --users 1000 --repeat 3

For each database a fresh app (a temporary SQLite file, or a new PostgreSQL schema dropped afterwards) stores,
through the same `Services.accept` the webhook uses, three events per user in the order users write them: a
new user's "hoi", the tap that accepts the privacy notice and the tap that answers who is writing. Then it times
`InboxWorker.process_all` over all of them and prints milliseconds per event (best of --repeat, each on a fresh
database). Replies are only queued: nothing is sent. On SQLite it also prints how long each of the worker's
transactions on the inbox file held that file's write lock, which every webhook request waits for.

With --statements it prints instead the SQL the worker sends for one user's three events (each in a round of its
own), one line per statement: what each event costs in round trips to the database.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, event, text  # noqa: E402

from app import create_app  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from tests.support import messenger  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def events(users: int) -> list[tuple[str, dict]]:
    """Return (channel, item) pairs: each user's three events, users interleaved as a burst would bring them."""
    psids = [f"{9_100_000_000_000_000 + i}" for i in range(users)]
    firsts = [messenger.text_item(p, "hoi") for p in psids]
    privacy = [messenger.text_item(p, "Ja, ga verder", "Q:privacy:yes") for p in psids]
    reporter = [messenger.text_item(p, "Ik ben ouder", "Q:reporter:parent") for p in psids]
    return [("messaging", item) for item in firsts + privacy + reporter]


class Holds:
    """Time the worker's transactions on SQLite's inbox file, from BEGIN to COMMIT: every webhook request waits
    while one is open (the file has one write lock)."""

    def __init__(self, engine: Engine) -> None:
        self.started: dict[int, float] = {}
        self.seconds: list[float] = []
        event.listen(engine, "begin", lambda connection: self.started.__setitem__(id(connection), time.perf_counter()))
        event.listen(engine, "commit", self._ended)
        event.listen(engine, "rollback", self._ended)

    def _ended(self, connection: Any) -> None:
        began = self.started.pop(id(connection), None)
        if began is not None:
            self.seconds.append(time.perf_counter() - began)

    def summary(self) -> str:
        ordered = sorted(self.seconds)
        mean, p90 = statistics.mean(ordered) * 1000, ordered[int(len(ordered) * 0.9)] * 1000
        return (f"{len(ordered)} transactions of the worker on the inbox file, each holding its write lock "
                f"{mean:.2f} ms on average (p90 {p90:.2f} ms)")


def measure(url: str, users: int) -> float:
    """Return milliseconds per event on a fresh database at `url`."""
    settings = dataclasses.replace(Settings(), database_url=url, app_secret="bench", page_access_token="",
                                   secret_key="bench")
    app = create_app(settings, start_background=False)
    services = app.extensions["intake"]
    try:
        batch = events(users)
        for start in range(0, len(batch), 50):
            services.accept(batch[start:start + 50])
        holds = Holds(services.inbox_engine) if services.inbox.inbox_sessions is not services.sessions else None
        began = time.perf_counter()
        handled = services.inbox.process_all(max_rounds=10_000)
        took = time.perf_counter() - began
        assert handled == len(batch), f"handled {handled} of {len(batch)}"
        if holds is not None:
            print(f"  {holds.summary()}")
        return took / handled * 1000
    finally:
        services.close()


def list_statements(url: str, users: int) -> float:
    """Print the worker's statements for one user's three events, then return 0 (nothing is timed)."""
    settings = dataclasses.replace(Settings(), database_url=url, app_secret="bench", page_access_token="",
                                   secret_key="bench")
    services = create_app(settings, start_background=False).extensions["intake"]
    try:
        services.accept(events(1))
        sent: list[str] = []
        engine = services.sessions.kw["bind"]
        event.listen(engine, "before_cursor_execute", lambda *args: sent.append(" ".join(args[2].split())))
        for number in (1, 2, 3):
            sent.clear()
            services.inbox.process_once()
            print(f"event {number}: {len(sent)} statements in its round (the round's own ones included)")
            for statement in sent:
                print(f"    {statement[:96]}")
        return 0.0
    finally:
        services.close()


def sqlite_url() -> tuple[str, tempfile.TemporaryDirectory]:
    folder = tempfile.TemporaryDirectory()
    return f"sqlite:///{folder.name}/bench.db", folder


def postgres_run(base: str, users: int, run: Callable[[str, int], float] = measure) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        return run(f"{base}?options=-csearch_path%3D{schema}", users)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--statements", action="store_true", help="print the SQL of one user's events instead")
    args = parser.parse_args()
    run = measure
    if args.statements:
        run, args.users, args.repeat = list_statements, 1, 1
    for database in args.databases.split(","):
        if args.statements:
            print(f"{database}:")
        results = []
        for _ in range(args.repeat):
            if database == "sqlite":
                url, folder = sqlite_url()
                with folder:
                    results.append(run(url, args.users))
            else:
                results.append(postgres_run(args.postgres_url, args.users, run))
        if not args.statements:
            print(f"{database:9} {args.users * 3} events: {min(results):.2f} ms per event (best of {args.repeat}; "
                  f"all: {', '.join(f'{r:.2f}' for r in results)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
