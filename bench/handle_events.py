"""Measure what handling one webhook event costs the inbox worker, without HTTP or sending in the way.

Run:  .venv/bin/python bench/handle_events.py                 (SQLite and PostgreSQL, 300 users)
      .venv/bin/python bench/handle_events.py --databases sqlite --users 1000 --repeat 3

For each database a fresh app (a temporary SQLite file, or a new PostgreSQL schema dropped afterwards) stores,
through the same `Services.accept` the webhook uses, three events per user in the order users write them: a
new user's "hoi", the tap that accepts the privacy notice and the tap that answers who is writing. Then it times
`InboxWorker.process_all` over all of them and prints milliseconds per event (best of --repeat, each on a fresh
database). Replies are only queued: nothing is sent.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

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
        began = time.perf_counter()
        handled = services.inbox.process_all(max_rounds=10_000)
        took = time.perf_counter() - began
        assert handled == len(batch), f"handled {handled} of {len(batch)}"
        return took / handled * 1000
    finally:
        services.close()


def sqlite_url() -> tuple[str, tempfile.TemporaryDirectory]:
    folder = tempfile.TemporaryDirectory()
    return f"sqlite:///{folder.name}/bench.db", folder


def postgres_run(base: str, users: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        return measure(f"{base}?options=-csearch_path%3D{schema}", users)
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
    args = parser.parse_args()
    for database in args.databases.split(","):
        results = []
        for _ in range(args.repeat):
            if database == "sqlite":
                url, folder = sqlite_url()
                with folder:
                    results.append(measure(url, args.users))
            else:
                results.append(postgres_run(args.postgres_url, args.users))
        print(f"{database:9} {args.users * 3} events: {min(results):.2f} ms per event (best of {args.repeat}; "
              f"all: {', '.join(f'{r:.2f}' for r in results)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
