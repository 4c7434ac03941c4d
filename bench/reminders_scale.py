"""Measure the reminder worker against a growing backlog of pending reminders.

Run:  .venv/bin/python bench/reminders_scale.py --database sqlite
      .venv/bin/python bench/reminders_scale.py --database postgres   (postgresql://postgres@127.0.0.1:5432/test)
Options: --sizes 1000,10000,100000  --due 50  --repeat 5  --ticks 4  --url URL  --explain

For each N, a fresh database (a temporary SQLite file, or a new PostgreSQL schema reached through
`?options=-csearch_path%3D<schema>` and dropped afterwards) is migrated to head, then N pending reminders are
bulk-inserted with their cases and contacts: all due far in the future but `--due` of them, which are due now.
It measures, best of `--repeat`:
  round   one ReminderWorker.run_due round that claims and fires the due reminders (they are put back between runs)
  idle    one run_due round when nothing is due: what the worker pays every REMINDER_INTERVAL
  sched   scheduling one more reminder (storage.reminders.schedule, in its own transaction)
  delay   with the worker ticking every REMINDER_INTERVAL (handlers.settings default, 1 s) on the real clock,
          the time from due_at to firing (done_at) of reminders due at random moments: it must stay under 2 s
and prints a table per N with the ratio against the first N. --explain prints the plan of the claim query.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert, select, text, update  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from handlers.reminders import BATCH, LEASE, ReminderWorker, Timing  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from storage import reminders  # noqa: E402
from storage.db import make_engine, make_session_factory, normalise_url, upgrade  # noqa: E402
from storage.models import Alert, Case, Contact, Reminder  # noqa: E402
from tests.support.scratch_schema import scratch_schema  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 5_000


def interval() -> float:
    """The worker's tick, as the app configures it by default."""
    return float(Settings.reminder_interval)


def populate(engine, n: int, due: int, now: datetime) -> list[int]:  # noqa: ANN001
    """Bulk-insert N pending reminders (two per case, one contact per case); return the ids of the due ones."""
    cases = max(1, n // 2)
    far = now + timedelta(days=30)
    with engine.begin() as connection:
        for start in range(0, cases, CHUNK):
            stop = min(cases, start + CHUNK)
            connection.execute(insert(Contact), [
                {"id": i + 1, "psid": f"psid-{i}", "locale": "nl", "created_at": now, "last_inbound_at": now}
                for i in range(start, stop)])
            connection.execute(insert(Case), [
                {"id": i + 1, "reference": f"BENCH-{i:07d}", "year": 2026, "number": i + 1, "contact_id": i + 1,
                 "flow_id": "intake", "flow_version": 1, "status": "new", "urgency": "normal", "answers": {},
                 "created_at": now, "updated_at": now, "intake_complete": True} for i in range(start, stop)])
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            connection.execute(insert(Reminder), [
                {"id": i + 1, "case_id": i // 2 + 1, "kind": reminders.NEARING if i % 2 else reminders.ADVISOR,
                 "round": 2, "status": reminders.PENDING, "attempts": 0, "created_at": now,
                 "due_at": far + timedelta(seconds=i)} for i in range(start, stop)])
        if engine.dialect.name == "postgresql":
            for table in ("contacts", "cases", "reminders"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
    due_ids = [1 + i * (n // due) for i in range(due)]  # spread over the table
    reset(engine, due_ids, now, n)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return due_ids


def reset(engine, ids: list[int], now: datetime, keep: int) -> None:  # noqa: ANN001
    """Make these reminders pending and due again (a round fired them); drop the alerts and the reminders
    (ids above `keep`) that the bench itself added."""
    with engine.begin() as connection:
        connection.execute(update(Reminder).where(Reminder.id.in_(ids)).values(
            status=reminders.PENDING, due_at=now - timedelta(seconds=1), attempts=0, locked_until=None,
            done_at=None, last_error=None))
        connection.execute(delete(Alert))
        connection.execute(delete(Reminder).where(Reminder.id > keep))


def explain(engine, now: datetime) -> str:  # noqa: ANN001
    """Return the plan of the claim query (the one claim_due runs)."""
    due = (Reminder.status == reminders.PENDING) & (Reminder.due_at <= now)
    abandoned = (Reminder.status == reminders.CLAIMED) & (Reminder.locked_until < now)
    statement = select(Reminder).where(due | abandoned).order_by(Reminder.due_at, Reminder.id).limit(BATCH)
    dialect = postgresql.dialect() if engine.dialect.name == "postgresql" else sqlite.dialect()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        rows = connection.execute(text(prefix + sql)).all()
    return "\n".join("    " + " ".join(str(c) for c in row) for row in rows)


def measure(url: str, n: int, due: int, repeat: int, ticks: int, show_plan: bool) -> dict[str, float]:
    """Populate a fresh database with N reminders and time the worker; return the figures in milliseconds."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        due_ids = populate(engine, n, due, now)
        sessions = make_session_factory(engine)
        clock_now = [now]
        worker = ReminderWorker(sessions, Timing(), lambda: clock_now[0])
        if show_plan:
            print(f"  claim query plan, N={n:,}:\n{explain(engine, now)}")
        rounds, idles, scheds = [], [], []
        for _ in range(repeat):
            reset(engine, due_ids, now, n)
            start = time.perf_counter()
            fired = worker.run_due()
            rounds.append(time.perf_counter() - start)
            if fired != due:
                raise SystemExit(f"expected {due} reminders to fire, {fired} did")
            start = time.perf_counter()
            worker.run_due()
            idles.append(time.perf_counter() - start)
            start = time.perf_counter()
            with sessions.begin() as session:
                reminders.schedule(session, case_id=1, kind=reminders.FOLLOWUP, due_at=now + timedelta(days=60),
                                   now=now)
            scheds.append(time.perf_counter() - start)
        reset(engine, [], now, n)
        delays = firing_delays(engine, sessions, n, ticks)
        return {"round": min(rounds) * 1e3, "idle": min(idles) * 1e3, "sched": min(scheds) * 1e3,
                "delay_max": max(delays) * 1e3, "delay_mean": sum(delays) / len(delays) * 1e3}
    finally:
        engine.dispose()


def firing_delays(engine, sessions, n: int, ticks: int) -> list[float]:  # noqa: ANN001
    """Tick the worker on the real clock; return, per reminder, seconds from due_at to firing."""
    tick = interval()
    worker = ReminderWorker(sessions, Timing(), lambda: datetime.now(UTC))
    rng = random.Random(n)
    start = datetime.now(UTC)
    with sessions.begin() as session:
        planted = [reminders.schedule(session, case_id=rng.randint(1, max(1, n // 2)), kind=reminders.NEARING,
                                      due_at=start + timedelta(seconds=rng.uniform(0.2, ticks - 1.0)), now=start)
                   for _ in range(8)]
    ids = [r.id for r in planted]
    stop = threading.Event()

    def loop() -> None:  # APScheduler's interval job: every `tick` seconds from the start, never two at once
        next_at = time.monotonic()
        while not stop.is_set():
            worker.run_due()
            next_at += tick
            while next_at < time.monotonic():
                next_at += tick  # a round longer than the tick skips a beat, as max_instances=1 does
            stop.wait(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(ticks + 0.5)
    stop.set()
    thread.join()
    with sessions.begin() as session:
        rows = session.execute(select(Reminder.due_at, Reminder.done_at, Reminder.status)
                               .where(Reminder.id.in_(ids))).all()
    if any(status != reminders.DONE for _, _, status in rows):
        raise SystemExit(f"not every planted reminder fired: {[status for _, _, status in rows]}")
    return [(_aware(done) - _aware(due)).total_seconds() for due, done, _ in rows]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(database: str, url: str | None, sizes: list[int], due: int, repeat: int, ticks: int, plan: bool) -> None:
    """Measure every size on one database and print the table."""
    print(f"{database}: {due} due per N, best of {repeat}, worker tick {interval():g} s (REMINDER_INTERVAL), "
          f"batch {BATCH}, lease {LEASE.total_seconds():g} s")
    results = {}
    for n in sizes:
        if database == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                results[n] = measure(f"sqlite:///{folder}/bench.db", n, due, repeat, ticks, plan)
        else:
            with scratch_schema(normalise_url(url or POSTGRES), prefix="bench") as scratch:
                results[n] = measure(scratch, n, due, repeat, ticks, plan)
        figures = results[n]
        print(f"  N={n:>7,}: round {figures['round']:8.1f} ms  idle {figures['idle']:7.2f} ms  "
              f"schedule {figures['sched']:6.2f} ms  delay max {figures['delay_max']:6.0f} ms")
    first = results[sizes[0]]
    print(f"\n  {'N':>8}  {'round ms':>9} {'x':>6}  {'idle ms':>8} {'x':>6}  {'schedule ms':>11} {'x':>6}  "
          f"{'delay mean':>10}  {'delay max':>9}  {'< 2 s':>5}")
    for n, f in results.items():
        print(f"  {n:>8,}  {f['round']:9.1f} {f['round'] / first['round']:6.2f}  {f['idle']:8.2f} "
              f"{f['idle'] / first['idle']:6.2f}  {f['sched']:11.2f} {f['sched'] / first['sched']:6.2f}  "
              f"{f['delay_mean']:8.0f}ms  {f['delay_max']:7.0f}ms  {'yes' if f['delay_max'] < 2000 else 'NO':>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--url", help=f"PostgreSQL URL (default {POSTGRES})")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--due", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=4, help="seconds of real-clock ticking for the delay figure")
    parser.add_argument("--explain", action="store_true", help="print the claim query's plan per N")
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    run(args.database, args.url, sizes, args.due, args.repeat, args.ticks, args.explain)


if __name__ == "__main__":
    main()
