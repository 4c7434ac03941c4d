"""How soon a `python app.py worker` answers an event that another process stored, with nothing else going on.

Run:  .venv/bin/python bench/inbox_wakeup.py                       (SQLite and PostgreSQL, 200 events each)
      .venv/bin/python bench/inbox_wakeup.py --databases postgres --events 400
      .venv/bin/python bench/inbox_wakeup.py --cost                (what a notification costs the webhook)

For each database: a fresh database (a temporary SQLite file, or a new PostgreSQL schema dropped afterwards), the
loopback Graph API answering at once, and one `python app.py worker` with the default settings. Then, one at a
time, it stores a new user's "hoi" as a web process on another machine would (`storage.inbox.store`), waits
for the privacy notice to arrive at the Graph API, and pauses a random 50-250 ms, so that each event lands at a
random moment of the worker's cycle. Printed: store-to-reply p50 / p90 / p99 / max in ms. A worker that only
looks at the inbox every INBOX_INTERVAL (50 ms) adds a wait of 0 to 50 ms to each reply; one that is woken by
PostgreSQL's NOTIFY adds none. The rest is handling the event and one Send API call.

With --cost (PostgreSQL) it prints what the notification costs instead, --repeat times: one thread stores
--stores single events (one statement, one commit each, as the webhook's storing does when requests come one by
one: the most notifications per event) without the trigger (migration 0012 undone), with it, and with it and two
`InboxListener`s in the same process (their wake-up does nothing); wall time and this process's CPU per store.
"""
from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402

from bench.webhook_load import BenchGraph, pct, start_child, stop_all  # noqa: E402
from handlers.inbox_listener import InboxListener  # noqa: E402
from handlers.services import utc_now  # noqa: E402
from storage import inbox  # noqa: E402
from storage.db import alembic_config, inbox_url, make_engine, upgrade  # noqa: E402
from tests.support import messenger  # noqa: E402
from tests.support.scratch_schema import scratch_schema  # noqa: E402

PAGE_TOKEN = "bench-page-token"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def measure(database_url: str, events: int, workdir: Path) -> list[float]:
    """Return the store-to-reply seconds of `events` events, stored one at a time."""
    engine = make_engine(database_url)
    upgrade(engine)  # before the worker starts, as the deployment does
    webhook = make_engine(inbox_url(database_url) or database_url)
    upgrade(webhook)
    graph = BenchGraph(PAGE_TOKEN, delay=0.0).start()
    log = workdir / "worker.log"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "APP_SECRET": secrets.token_hex(16),
           "PAGE_ACCESS_TOKEN": PAGE_TOKEN, "GRAPH_API_URL": graph.url, "SECRET_KEY": secrets.token_hex(32),
           "SMTP_HOST": ""}
    worker = start_child([sys.executable, "app.py", "worker"], env, log)
    try:
        wait(lambda: "worker running" in log.read_text(), 60, "the worker did not start")
        time.sleep(1.0)  # its first round and the listening connection are under way
        delays = []
        for n in range(events):
            psid = f"{9_200_000_000_000_000 + n}"
            stored = time.time()
            inbox.store(webhook, [(psid, "messaging", messenger.text_item(psid, "hoi"))], utc_now())
            wait(lambda psid=psid: any(c.recipient == psid and c.message for c in graph.snapshot()[-5:]), 10,
                 "no reply within 10 s")
            arrived = next(c.at for c in graph.snapshot() if c.recipient == psid and c.message)
            delays.append(arrived - stored)
            time.sleep(random.uniform(0.05, 0.25))
        return delays
    finally:
        if worker.poll() is not None:
            print(log.read_text(), file=sys.stderr)
        stop_all()
        graph.stop()
        webhook.dispose()
        engine.dispose()


def cost(database_url: str, stores: int, repeat: int) -> None:
    """Print wall time and process CPU per stored event: no trigger, the trigger, the trigger and two listeners."""
    engine = make_engine(database_url)
    upgrade(engine)
    webhook = make_engine(database_url, pool_pre_ping=False, isolation_level="AUTOCOMMIT")  # as build_services
    items = [("9300000000000000", "messaging", messenger.text_item("9300000000000000", "hoi"))]
    try:
        for setup in ("no trigger", "trigger", "trigger, 2 listeners") * repeat:
            if setup == "no trigger":
                command.downgrade(alembic_config(engine), "0011")
            else:
                upgrade(engine)
            listeners = [InboxListener(engine, lambda: None) for _ in range(2 if "listeners" in setup else 0)]
            for listener in listeners:
                listener.start()
                listener.listening.wait(10)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(stores):
                inbox.store(webhook, items, utc_now())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            for listener in listeners:
                listener.stop()
            print(f"{setup:22} {wall / stores * 1e6:8.0f} {cpu / stores * 1e6:8.0f}")
    finally:
        webhook.dispose()
        engine.dispose()


def wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001 - a callable returning a truth value
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise SystemExit(what)
        time.sleep(0.001)  # polling the stub in this process: 1 ms of resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--cost", action="store_true", help="what the notification costs (PostgreSQL)")
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three set-ups (--cost)")
    args = parser.parse_args()
    if args.cost:
        print(f"storing one event per statement, {args.stores} times, one thread; µs per store")
        print(f"{'':22} {'wall':>8} {'CPU':>8}")
        with scratch_schema(args.postgres_url, prefix="bench") as url:
            cost(url, args.stores, args.repeat)
        return
    print(f"store-to-reply of one event at a time, {args.events} events, Graph API answering at once; ms")
    print(f"{'database':10} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'mean':>7}")
    for database in args.databases.split(","):
        with tempfile.TemporaryDirectory() as folder:
            workdir = Path(folder)
            if database == "sqlite":
                delays = measure(f"sqlite:///{workdir / 'bot.db'}", args.events, workdir)
            else:
                with scratch_schema(args.postgres_url, prefix="bench") as url:
                    delays = measure(url, args.events, workdir)
        ms = [d * 1000 for d in delays]
        print(f"{database:10} {pct(ms, 50):7.1f} {pct(ms, 90):7.1f} {pct(ms, 99):7.1f} "
              f"{max(ms):7.1f} {statistics.fmean(ms):7.1f}")


if __name__ == "__main__":
    main()
