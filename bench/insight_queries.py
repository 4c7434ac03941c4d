"""Time the insight page's queries and the whole page on a database with a year of a busy service.

Run:  .venv/bin/python bench/insight_queries.py                       (SQLite and PostgreSQL)
      .venv/bin/python bench/insight_queries.py --databases sqlite --cases 20000 --repeat 3
Options: --cases 100000  --repeat 7  --url URL (default postgresql://postgres@127.0.0.1:5432/test)  --explain

Each database is fresh (a temporary SQLite file, or a new PostgreSQL schema reached through
`?options=-csearch_path%3D<schema>` and dropped afterwards) and migrated to head. It is filled with --cases cases
spread over the last 365 days (10 categories, 10 % urgent, 90 % answered, 15 % with one or two safety flags, 30 %
from one of 20 referral codes, 1 % test cases), one follow-up and two advisor reminders per case, 1.5 intake runs
per case over two flow versions (every completed run with 12 steps, the others with 1 to 8), 5,000 Send API errors,
and an outbox of 50,000 sent and 20 waiting messages. Then it times, median of --repeat runs each:
  every storage.insight query for the last 12 and the last 52 weeks, and for 52 weeks with a category and a
  referral code; and GET /console/insight (every query, the charts and the template) through the Flask test client.
--explain prints each query's plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL) for 52 weeks.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import create_app  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from storage import insight, users  # noqa: E402
from storage.db import make_engine, make_session_factory, normalise_url, upgrade  # noqa: E402
from storage.insight import Filters  # noqa: E402
from storage.models import (  # noqa: E402
    Case,
    CaseFlag,
    Contact,
    IntakeRun,
    IntakeStep,
    OutboxMessage,
    Reminder,
    SendError,
)
from tests.support.scratch_schema import scratch_schema  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 5_000
CATEGORIES = ("bullying", "sextortion", "intimate_images", "threat", "hacking", "identity_fraud", "privacy",
              "discrimination", "grooming", "other")
STEPS = ("privacy", "reporter", "danger", "category", "platform", "since", "age", "known", "reported",
         "description", "urgency", "contact_method")
CODES = (551, 551, 551, 10, 100, 613, 1200, 2, None)
SLA, URGENT_SLA = timedelta(hours=24), timedelta(hours=1)


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Yield the rows in lists of CHUNK, for executemany."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def populate(engine: Any, n: int, now: datetime) -> None:
    """Fill the database with a year of cases, flags, reminders, runs, steps, send errors and outbox rows."""
    rng = random.Random(n)
    cases = [_case(rng, i, now) for i in range(n)]
    with engine.begin() as connection:
        for table, rows in ((Case, iter(cases)), (CaseFlag, _flags(rng, cases)), (Reminder, _reminders(rng, cases)),
                            (IntakeRun, _runs(rng, cases, now)), (SendError, _errors(rng, now)),
                            (Contact, ({"id": i + 1, "psid": f"bench-{i}", "locale": "nl", "created_at": now}
                                       for i in range(1000))),
                            (OutboxMessage, _outbox(rng, now))):
            for batch in chunks(rows):
                connection.execute(insert(table), batch)
        for batch in chunks(_steps(rng, connection)):
            connection.execute(insert(IntakeStep), batch)
        if engine.dialect.name == "postgresql":
            for table in ("contacts", "cases", "case_flags", "reminders", "intake_runs", "intake_steps",
                          "send_errors", "outbox"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _case(rng: random.Random, i: int, now: datetime) -> dict[str, Any]:
    created = now - timedelta(days=365) + timedelta(seconds=rng.uniform(0, 365 * 86400))
    answered = created + timedelta(hours=rng.expovariate(1 / 8)) if rng.random() < 0.9 else None
    return {"id": i + 1, "reference": f"BENCH-{i:07d}", "year": created.year, "number": i + 1, "flow_id": "intake",
            "flow_version": 1, "status": "closed" if answered else "new", "category": rng.choice(CATEGORIES),
            "urgency": "urgent" if rng.random() < 0.1 else "normal", "answers": {}, "intake_complete": True,
            "created_at": created, "updated_at": created, "first_response_at": answered,
            "referral": f"school-{rng.randrange(20)}" if rng.random() < 0.3 else None, "test": rng.random() < 0.01,
            "followup_answer": rng.choice(("resolved", "need_help", None, None))}


def _flags(rng: random.Random, cases: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for case in cases:
        if rng.random() < 0.15:
            for category in rng.sample(("danger", "sextortion", "threat", "bullying"), rng.choice((1, 2))):
                yield {"case_id": case["id"], "category": category, "source": "message", "severity": "urgent",
                       "created_at": case["created_at"]}


def _reminders(rng: random.Random, cases: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for case in cases:
        created = case["created_at"]
        done = created + timedelta(hours=23, minutes=45)
        status = rng.choices(("done", "skipped", "cancelled"), (70, 20, 10))[0]
        yield {"case_id": case["id"], "kind": "followup", "round": 1, "due_at": done, "status": status,
               "attempts": 1, "created_at": created, "done_at": done,
               "last_error": "messaging window closed at 2026-01-01" if status == "skipped" else None}
        for kind in ("advisor", "nearing"):  # done when nobody answered in time, else cancelled by the answer
            status = "done" if not case["first_response_at"] or rng.random() < 0.2 else "cancelled"
            yield {"case_id": case["id"], "kind": kind, "round": 1, "due_at": created + SLA, "status": status,
                   "attempts": 0, "created_at": created, "done_at": created + timedelta(hours=2), "last_error": None}


def _runs(rng: random.Random, cases: list[dict[str, Any]], now: datetime) -> Iterator[dict[str, Any]]:
    half = now - timedelta(days=182)
    for case in cases:  # one completed run per case, and every other case one more that stopped early
        version = 1 if case["created_at"] < half else 2
        yield {"flow_id": "intake", "flow_version": version, "started_at": case["created_at"], "case_id": case["id"],
               "last_step": STEPS[-1], "completed": True, "test": case["test"], "referral": case["referral"]}
        if case["id"] % 2:
            yield {"flow_id": "intake", "flow_version": version, "started_at": case["created_at"], "case_id": None,
                   "last_step": STEPS[rng.randrange(8)], "completed": False, "test": False, "referral": None}


def _steps(rng: random.Random, connection: Any) -> Iterator[dict[str, Any]]:
    runs = connection.execute(select(IntakeRun.id, IntakeRun.last_step, IntakeRun.flow_version,
                                     IntakeRun.started_at)).all()
    for run_id, last, version, started in runs:
        for step in STEPS[:STEPS.index(last) + 1]:
            if version == 2 and step == "danger":  # the second version dropped the danger question
                continue
            yield {"run_id": run_id, "step": step, "reached_at": started}


def _errors(rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    for _ in range(5000):
        yield {"code": rng.choice(CODES), "created_at": now - timedelta(seconds=rng.uniform(0, 365 * 86400))}


def _outbox(rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    for i in range(50_020):
        waiting = i >= 50_000
        yield {"contact_id": rng.randrange(1000) + 1, "recipient": "bench", "body": {},
               "status": "pending" if waiting else "sent", "created_at": now - timedelta(minutes=i % 600 + 1),
               "next_attempt_at": now, "sent_at": None if waiting else now}


def queries(now: datetime) -> dict[str, Callable[[Session, Filters], Any]]:
    """Return each insight query as the page runs it."""
    return {
        "cases by category": lambda db, f: insight.cases_by_category(db, f),
        "promise (median, p90)": lambda db, f: insight.promise(db, f, now, SLA, URGENT_SLA),
        "funnel": lambda db, f: insight.funnel(db, f, lambda flow_id, version: list(STEPS)),
        "follow-ups": lambda db, f: insight.followups(db, f),
        "send errors": lambda db, f: insight.send_errors(db, f),
        "outbox": lambda db, f: insight.outbox(db, now),
        "filter menus": lambda db, f: insight.categories(db),
    }


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    """Run once to warm up, then `repeat` times; return the median in milliseconds."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def periods(now: datetime) -> dict[str, Filters]:
    monday = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=now.weekday())
    until = monday + timedelta(days=7)
    return {"12 weeks": Filters(until - timedelta(weeks=12), until),
            "52 weeks": Filters(until - timedelta(weeks=52), until),
            "52 w + filters": Filters(until - timedelta(weeks=52), until, "sextortion", "school-3")}


def measure(url: str, n: int, repeat: int, show_plan: bool) -> dict[str, dict[str, float]]:
    """Fill a fresh database and time every query and the page; return {row: {column: ms}}."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        start = time.perf_counter()
        populate(engine, n, now)
        print(f"  filled in {time.perf_counter() - start:.0f} s", flush=True)
        sessions = make_session_factory(engine)
        figures: dict[str, dict[str, float]] = {}
        for name, query in queries(now).items():
            for label, filters in periods(now).items():
                def run(query: Callable[[Session, Filters], Any] = query, filters: Filters = filters) -> None:
                    with sessions() as session:
                        query(session, filters)
                figures.setdefault(name, {})[label] = median_ms(run, repeat)
        if show_plan:
            explain(engine, now)
        for label, path in (("12 weeks", "/console/insight"), ("52 weeks", "/console/insight?weeks=52"),
                            ("52 w + filters", "/console/insight?weeks=52&category=sextortion&ref=school-3")):
            figures.setdefault("whole page (GET)", {})[label] = page_ms(url, sessions, path, repeat)
        return figures
    finally:
        engine.dispose()


def page_ms(url: str, sessions: Any, path: str, repeat: int) -> float:
    """Time GET /console/insight through the Flask test client, logged in as an advisor."""
    app = create_app(Settings(database_url=url, secret_key="bench"), start_background=False)
    try:
        with sessions.begin() as session:
            user = users.user_by_email(session, "bench@example.org") or users.add_user(
                session, email="bench@example.org", password_hash="x", role="advisor", now=datetime.now(UTC))
            session.flush()
            user_id = user.id
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie["user_id"] = user_id

        def get() -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code}")
        return median_ms(get, repeat)
    finally:
        app.extensions["intake"].close()


def explain(engine: Any, now: datetime) -> None:
    """Print the plan of every statement the insight queries run, for 52 weeks."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not many:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    sessions = make_session_factory(engine)
    filters = periods(now)["52 weeks"]
    for name, query in queries(now).items():
        captured.clear()
        with sessions() as session:
            query(session, filters)
        for statement, parameters in list(captured):
            prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            print(f"  plan of {name}:\n" + "\n".join("    " + " ".join(str(c) for c in row) for row in rows))
    event.remove(engine, "before_cursor_execute", capture)


@contextmanager
def database(kind: str, url: str | None) -> Iterator[str]:
    """Yield the URL of a fresh SQLite file or PostgreSQL schema; remove it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    with scratch_schema(normalise_url(url or POSTGRES), prefix="bench") as scratch:
        yield scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--url", help=f"PostgreSQL URL (default {POSTGRES})")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print each query's plan (52 weeks)")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for kind in args.databases.split(","):
        print(f"{kind}: {args.cases:,} cases over 365 days, median of {args.repeat}", flush=True)
        with database(kind, args.url) as url:
            results[kind] = measure(url, args.cases, args.repeat, args.explain)
    labels = list(periods(datetime.now(UTC)))
    print(f"\nmilliseconds, median of {args.repeat} ({args.cases:,} cases)")
    print(f"  {'query':<24}" + "".join(f"{kind + ' ' + label:>26}" for kind in results for label in labels))
    for row in next(iter(results.values())):
        print(f"  {row:<24}" + "".join(f"{results[kind][row][label]:>26.1f}" for kind in results for label in labels))


if __name__ == "__main__":
    main()
