"""`python app.py worker` as real processes on the real database: killed workers, several at once, Graph outages,
closed messaging windows and a refused page token."""
from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from bot import followup
from bot.outputs import Reply
from handlers.messenger import send_bodies
from handlers.reminders import BATCH, LEASE
from handlers.services import utc_now
from handlers.settings import Settings
from storage import cases, conversations, inbox, outbox, reminders, status
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import Alert, Case, Contact, OutboxMessage, Reminder
from tests.conftest import APP_SECRET, PAGE_TOKEN
from tests.support import messenger
from tests.support.graph_server import GraphServer, _Handler, _HTTPServer
from tests.support.processes import AppProcess

ROOT = Path(__file__).resolve().parent.parent
QUESTION = followup.followup_message("nl").text  # contacts are created with locale nl


class Worker(AppProcess):
    """One `python app.py worker` child process."""

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        super().__init__(["worker"], log, env)

    def wait_running(self, timeout: float = 30) -> None:
        """Wait until the scheduler runs (its jobs start at once)."""
        wait_until(lambda: "worker running" in self.output() or self.process.poll() is not None, timeout,
                   "the worker did not start")
        assert self.process.poll() is None, self.output()


class SamePortGraph(GraphServer):
    """The loopback Graph API, served again on its first port after stop().

    A worker reads GRAPH_API_URL once at start, so the outage it lives through must end at the same address,
    while GraphServer.start() binds a new free port each time. Rebinding the port (HTTPServer sets
    SO_REUSEADDR) gives a real "connection refused" while stopped, with the same worker process throughout.
    """

    port = 0

    def start(self) -> SamePortGraph:
        self._httpd = _SamePortHTTPServer(self, self.port)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self


class _SamePortHTTPServer(_HTTPServer):
    """The fake Graph API's HTTP server, on a chosen port (0: any free one)."""

    def __init__(self, graph: GraphServer, port: int) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", port), _Handler)
        self.graph = graph


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until predicate() is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout}s)")
        time.sleep(0.1)


@pytest.fixture
def migrate() -> Iterator[Callable[[str], sessionmaker[Session]]]:
    """Return a function that migrates a database and gives its session factory; engines are disposed after."""
    engines = []

    def open_database(url: str) -> sessionmaker[Session]:
        engine = make_engine(url)
        upgrade(engine)
        engines.append(engine)
        return make_session_factory(engine)

    yield open_database
    for engine in engines:
        engine.dispose()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Return a function starting `python app.py worker`; every worker still running is killed afterwards."""
    started: list[Worker] = []

    def start(database_url: str, graph_url: str, token: str = PAGE_TOKEN, **extra: str) -> Worker:
        env = {**os.environ, "DATABASE_URL": database_url, "APP_SECRET": APP_SECRET, "PAGE_ACCESS_TOKEN": token,
               "GRAPH_API_URL": graph_url, "SMTP_HOST": "", **extra}
        worker = Worker(tmp_path / f"worker-{len(started)}.log", env)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()


def add_contact(session: Session, psid: str, now: datetime, last_inbound: datetime) -> Contact:
    """Add a contact who last wrote at `last_inbound`."""
    contact = conversations.lock_contact(session, psid, now)
    contact.last_inbound_at = last_inbound
    return contact


def open_case_for(session: Session, contact: Contact, now: datetime) -> Case:
    """Open a case for a contact, as a completed intake does."""
    return cases.open_case(session, prefix="IDA", contact_id=contact.id, flow_id="intake", flow_version=1,
                           referral=None, now=now)


def schedule_followups(sessions: sessionmaker[Session], psids: list[str], due: datetime,
                       last_inbound: datetime, advisor: bool = False) -> None:
    """Give each psid a contact, a case and a follow-up (and an advisor reminder) due at `due`."""
    now = utc_now()
    with sessions.begin() as session:
        for psid in psids:
            case = open_case_for(session, add_contact(session, psid, now, last_inbound), now)
            reminders.schedule(session, case_id=case.id, kind=reminders.FOLLOWUP, due_at=due, now=now)
            if advisor:
                reminders.schedule(session, case_id=case.id, kind=reminders.ADVISOR, due_at=due, now=now)


def enqueue_texts(session: Session, contact: Contact, texts: list[str], now: datetime) -> None:
    """Queue plain text replies for a contact, as the intake does."""
    for text in texts:
        for body in send_bodies(contact.psid, Reply(text)):
            outbox.enqueue(session, contact_id=contact.id, recipient=contact.psid, body=body, now=now)


def queue_for_users(sessions: sessionmaker[Session], users: int, per_user: int) -> dict[str, list[str]]:
    """Queue `per_user` numbered texts for each of `users` contacts; return the texts expected per psid."""
    now = utc_now()
    expected = {f"user-{n}": [f"u{n} #{k}" for k in range(per_user)] for n in range(users)}
    with sessions.begin() as session:
        contacts = [add_contact(session, psid, now, now) for psid in expected]
        for k in range(per_user):  # interleaved, as conversations are: every user's #0, then every #1, ...
            for contact in random.Random(k).sample(contacts, len(contacts)):  # ... in a new order each round
                enqueue_texts(session, contact, [expected[contact.psid][k]], now)
    return expected


def statuses(sessions: sessionmaker[Session], model: type[OutboxMessage] | type[Reminder]) -> dict[str, int]:
    """Return how many rows of a table have each status."""
    with sessions.begin() as session:
        return dict(Counter(session.scalars(select(model.status))))


def followups(graph: GraphServer, psid: str) -> int:
    """Return how many follow-up questions (quick replies with FOLLOWUP: payloads) reached this user."""
    return sum(any(q["payload"].startswith(followup.PREFIX) for q in body["message"].get("quick_replies", []))
               for body in graph.sent_messages(psid))


def answered(graph: GraphServer, psid: str, status_code: int, error_code: int) -> bool:
    """Return whether the Graph API answered a send to this user with this HTTP status and Graph error code."""
    return any(r.status == status_code and r.response.get("error", {}).get("code") == error_code
               and (r.body or {}).get("recipient", {}).get("id") == psid for r in graph.requests)


def health(url: str) -> dict[str, Any]:
    """Return GET /healthz of an app on this database (no background jobs in this process)."""
    app = create_app(Settings(database_url=url), start_background=False)
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        return response.get_json()
    finally:
        app.extensions["intake"].close()


def test_a_killed_worker_leaves_no_reminder_unfired(db_url: str, graph: GraphServer, migrate: Any,
                                                    start_worker: Any) -> None:
    sessions = migrate(db_url)
    first = start_worker(db_url, graph.url, ADVISOR_SLA="1")  # the second advisor round comes a second later
    first.wait_running()
    psids = [f"killed-{n}" for n in range(10)]
    schedule_followups(sessions, psids, due=utc_now() + timedelta(seconds=3), last_inbound=utc_now(), advisor=True)
    time.sleep(1)  # the worker polls the reminders (every second) while they exist but are not yet due
    first.kill()
    assert statuses(sessions, Reminder) == {"pending": 20} and not graph.sent_messages()

    second = start_worker(db_url, graph.url, ADVISOR_SLA="1")
    wait_until(lambda: statuses(sessions, Reminder) == {"done": 30}, 60, "10 follow-ups and 2 x 10 advisor rounds")
    wait_until(lambda: statuses(sessions, OutboxMessage) == {"sent": 10}, 60, "the follow-ups were not sent")
    assert "Traceback" not in second.stop()
    assert {psid: followups(graph, psid) for psid in psids} == dict.fromkeys(psids, 1)
    with sessions.begin() as session:
        assert Counter(session.scalars(select(Alert.kind))) == {"overdue": 20}
        assert all(session.scalars(select(Case.overdue)))


def test_a_reminder_left_claimed_by_a_dead_worker_fires_once_its_lease_runs_out(
        db_url: str, graph: GraphServer, migrate: Any, start_worker: Any) -> None:
    sessions = migrate(db_url)
    now = utc_now()
    held, orphaned = ["held-0", "held-1"], [f"orphaned-{n}" for n in range(5)]
    schedule_followups(sessions, held, due=now - timedelta(seconds=10), last_inbound=now - timedelta(minutes=10))
    with sessions.begin() as session:  # a live worker has just claimed these: its lease still runs
        reminders.claim_due(session, now, BATCH, LEASE)
    died_at = now - LEASE - timedelta(seconds=30)  # a worker claimed these, then died, longer than a lease ago
    schedule_followups(sessions, orphaned, due=died_at, last_inbound=now - timedelta(minutes=10))
    with sessions.begin() as session:
        assert len(reminders.claim_due(session, died_at, BATCH, LEASE)) == len(orphaned)
    assert statuses(sessions, Reminder) == {"claimed": 7}

    worker = start_worker(db_url, graph.url)
    wait_until(lambda: statuses(sessions, OutboxMessage) == {"sent": 5}, 60, "the orphaned follow-ups were not sent")
    assert "Traceback" not in worker.stop()
    assert {psid: followups(graph, psid) for psid in orphaned + held} == {**dict.fromkeys(orphaned, 1),
                                                                          **dict.fromkeys(held, 0)}
    with sessions.begin() as session:
        rows = session.execute(select(Contact.psid, Reminder.status, Reminder.attempts)
                               .join(Case, Case.contact_id == Contact.id).join(Reminder, Reminder.case_id == Case.id))
        assert {psid: (state, attempts) for psid, state, attempts in rows} == {
            **dict.fromkeys(orphaned, ("done", 2)), **dict.fromkeys(held, ("claimed", 1))}


def test_three_workers_on_postgres_deliver_everything_exactly_once_in_order(
        fresh_postgres: str, graph: GraphServer, migrate: Any, start_worker: Any) -> None:
    # The fake Graph API keeps Meta's limit of 300 calls/s, as production has it. Three workers on loopback stay
    # under it here (about 150 sends/s); on a faster machine the surplus gets error 613, which is not a delivery
    # and is retried after a 2-4 s back-off, so exactly-once must still hold and the 90 s wait leaves room.
    sessions = migrate(fresh_postgres)
    workers = [start_worker(fresh_postgres, graph.url) for _ in range(3)]
    for worker in workers:
        worker.wait_running()
    expected = queue_for_users(sessions, users=50, per_user=10)  # rows appear while all three are polling
    more = [f"user-{n}" for n in range(50, 200)]
    schedule_followups(sessions, list(expected) + more, due=utc_now(), last_inbound=utc_now())

    graph.wait_for(lambda g: len(g.sent_messages()) >= 700, timeout=90)
    logs = [worker.stop() for worker in workers]
    assert not [log for log in logs if "Traceback" in log]
    for psid, texts in expected.items():  # each user's queue in order; the follow-up came after it, last
        assert graph.texts(psid) == [*texts, QUESTION]
    assert {psid: graph.texts(psid) for psid in more} == dict.fromkeys(more, [QUESTION])
    assert all(followups(graph, psid) == 1 for psid in [*expected, *more])
    assert statuses(sessions, OutboxMessage) == {"sent": 700}
    with sessions.begin() as session:  # each reminder was claimed by one worker, once
        assert Counter(session.execute(select(Reminder.status, Reminder.attempts))) == {("done", 1): 200}


def test_on_postgres_an_event_stored_by_another_machine_wakes_a_worker_at_once(
        fresh_postgres: str, graph: GraphServer, migrate: Any, start_worker: Any) -> None:
    migrate(fresh_postgres)
    worker = start_worker(fresh_postgres, graph.url, INBOX_INTERVAL="600")  # it would look again in 10 minutes
    worker.wait_running()
    webhook = make_engine(fresh_postgres)  # what a web process on another machine stores events with
    try:
        for psid in ("8001", "8002"):  # the first may come before the worker listens; the second cannot
            inbox.store(webhook, [(psid, "messaging", messenger.text_item(psid, "hoi"))], utc_now())
            graph.wait_for(lambda g, psid=psid: g.texts(psid), timeout=20)
    finally:
        webhook.dispose()
    assert "Traceback" not in worker.stop()


def test_delivery_survives_the_graph_api_going_away_and_coming_back(db_url: str, migrate: Any,
                                                                   start_worker: Any) -> None:
    sessions = migrate(db_url)
    expected = queue_for_users(sessions, users=3, per_user=4)
    with SamePortGraph(token=PAGE_TOKEN) as graph:
        url = graph.url
        graph.stop()  # down: nothing listens on its port
        worker = start_worker(db_url, url)

        def first_tries_failed(error: str) -> bool:
            with sessions.begin() as session:
                errors = session.scalars(select(OutboxMessage.last_error).where(OutboxMessage.attempts > 0))
                return sum(str(e).startswith(error) for e in errors) == len(expected)

        wait_until(lambda: first_tries_failed("network error"), 30, "not exactly each user's first message was tried")
        graph.fail_always(status=500, code=2)  # up again, failing before any send can get through
        graph.start()
        graph.wait_for(lambda g: all(answered(g, psid, 500, 2) for psid in expected), timeout=15)
        graph.fail_always(status=400, code=613)
        graph.wait_for(lambda g: all(answered(g, psid, 400, 613) for psid in expected), timeout=15)
        graph.recover()
        graph.wait_for(lambda g: len(g.sent_messages()) == 12, timeout=30)
        assert "Traceback" not in worker.stop()
        assert {psid: graph.texts(psid) for psid in expected} == expected  # once each, in order
    with sessions.begin() as session:
        rows = list(session.execute(select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.body)))
    assert {state for state, _, _ in rows} == {"sent"}
    heads = [attempts for _, attempts, body in rows if body["message"]["text"].endswith("#0")]
    assert len(heads) == 3 and min(heads) >= 4  # refused, 500, 613, then delivered
    assert [attempts for _, attempts, body in rows if not body["message"]["text"].endswith("#0")] == [1] * 9


def test_no_follow_up_is_sent_after_the_window_closed(sqlite_url: str, graph: GraphServer, migrate: Any,
                                                     start_worker: Any) -> None:
    sessions = migrate(sqlite_url)
    now = utc_now()
    schedule_followups(sessions, ["silent-for-a-day"], due=now, last_inbound=now - timedelta(hours=25))
    schedule_followups(sessions, ["wrote-an-hour-ago"], due=now, last_inbound=now - timedelta(hours=1))

    worker = start_worker(sqlite_url, graph.url)
    graph.wait_for(lambda g: followups(g, "wrote-an-hour-ago") == 1, timeout=30)  # the same tick saw both
    assert "Traceback" not in worker.stop()
    assert graph.sent_messages("silent-for-a-day") == []
    with sessions.begin() as session:
        skipped = session.scalars(select(Reminder).join(Case).join(Contact)
                                  .where(Contact.psid == "silent-for-a-day")).one()
        assert skipped.status == reminders.SKIPPED and "window" in skipped.last_error
        assert session.scalars(select(OutboxMessage.recipient)).all() == ["wrote-an-hour-ago"]


def test_a_refused_page_token_pauses_sending_until_a_new_token(sqlite_url: str, migrate: Any,
                                                               start_worker: Any) -> None:
    sessions = migrate(sqlite_url)
    expected = queue_for_users(sessions, users=3, per_user=3)
    with GraphServer(token="good") as graph:
        refused = start_worker(sqlite_url, graph.url, token="bad")

        def token_refused() -> bool:
            with sessions.begin() as session:
                return status.get_status(session, status.TOKEN_REFUSED) is not None

        wait_until(token_refused, 30, "the refused token was not recorded")
        time.sleep(2.5)  # a few more outbox ticks: none of them may send
        assert "Traceback" not in refused.stop()
        assert [(r.status, r.response["error"]["code"]) for r in graph.requests] == [(400, 190)]
        with sessions.begin() as session:
            assert session.scalars(select(Alert.kind)).all() == ["token_refused"]
            kept = session.execute(select(OutboxMessage.status, OutboxMessage.attempts)).all()
        assert kept == [("pending", 0)] * 9  # kept, and a refused token costs no attempt
        report = health(sqlite_url)
        assert report["status"] == "degraded" and [p["problem"] for p in report["problems"]] == [status.TOKEN_REFUSED]
        assert "code 190" in report["problems"][0]["detail"]

        renewed = start_worker(sqlite_url, graph.url, token="good")
        graph.wait_for(lambda g: len(g.sent_messages()) == 9, timeout=30)
        assert "Traceback" not in renewed.stop()
        assert {psid: graph.texts(psid) for psid in expected} == expected
    assert statuses(sessions, OutboxMessage) == {"sent": 9}
    assert health(sqlite_url)["status"] == "ok"
