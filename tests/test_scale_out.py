"""Scale-out on PostgreSQL: two web servers and two workers as real processes on one database, 1,000 conversations.

Each user's events alternate between the two servers (as Meta's deliveries would reach two machines behind a load
balancer), one after the other; many users talk at once. Afterwards every event is processed once, every reply is
delivered once and in order, every case is stored and every reminder fires once, whichever process did the work.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import followup
from storage.cases import export_cases
from storage.db import make_engine, make_session_factory
from storage.models import Alert, Case, Contact, Message, OutboxMessage, ProcessedEvent, Reminder
from tests.conftest import APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN
from tests.support import messenger
from tests.support.graph_server import GraphServer
from tests.support.processes import AppProcess
from tests.test_app import free_port

ROOT = Path(__file__).resolve().parent.parent
USERS = 1000
THREADS = 16  # users talking at the same time; each user's own events go one after the other
ADVISOR_SLA = 2  # seconds: the advisor reminders of a request for an advisor fire within seconds
FOLLOWUP_AFTER = 3  # seconds: and so does the follow-up question to the user
SETTLE_TIMEOUT = 180.0
OPENING = [("hoi", None), ("Ja", "Q:privacy:yes"), ("Ouder", "Q:reporter:parent"), ("adviseur", None)]
# every user asks for an advisor (the promise of an answer: advisor reminders); one user in ten goes on to the end
# of the intake, which adds the follow-up question but no second promise
REST_OF_INTAKE = [("Nee", "Q:danger:no"), ("Iets anders", "Q:category:other"), ("Deze week", "Q:since:this_week"),
                  ("12-15", "Q:age:12_15"), ("Nee", "Q:known:no"), ("Nog niet", "Q:reported:no"),
                  ("Ik wil graag advies over iets online.", None), ("Kan wachten", "Q:urgency:normal"),
                  ("Via Messenger", "Q:contact_method:messenger")]
PROMISE = Counter({("advisor", 1): 1, ("advisor", 2): 1, ("nearing", 1): 1})
EXPECTED_REMINDERS = PROMISE + Counter({("followup", 1): 1})  # a completed intake


@dataclass
class Conversation:
    """One user's events, in order, and which of them is delivered twice."""

    index: int
    psid: str
    items: list[dict[str, Any]]
    redeliver: int | None  # index of the item Meta delivers a second time, right after the first delivery
    completes: bool
    posted: list[str] = field(default_factory=list)  # the server each POST went to


def conversations() -> list[Conversation]:
    """Build 1,000 conversations; every tenth is redelivered one event, another tenth completes the intake."""
    result = []
    for n in range(USERS):
        psid = str(8_100_000_000_000_000 + n)
        completes = n % 10 == 5
        script = OPENING + (REST_OF_INTAKE if completes else [])
        items = [messenger.text_item(psid, text, payload) for text, payload in script]
        result.append(Conversation(n, psid, items, redeliver=2 if n % 10 == 0 else None, completes=completes))
    return result


def wait_until(predicate: Callable[[], object], timeout: float, what: Callable[[], str]) -> None:
    """Poll until predicate() is true; fail with what() after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what()} (waited {timeout:.0f}s)")
        time.sleep(0.5)


@pytest.fixture
def cluster(fresh_postgres: str, graph: GraphServer, tmp_path: Path) -> Iterator[list[str]]:
    """Start two `serve` processes (two machines) and two `worker` processes on one schema; yield the base URLs."""
    env = {**os.environ, "DATABASE_URL": fresh_postgres, "APP_SECRET": APP_SECRET, "VERIFY_TOKEN": VERIFY_TOKEN,
           "PAGE_ACCESS_TOKEN": PAGE_TOKEN, "GRAPH_API_URL": graph.url, "SECRET_KEY": "test-shared-secret-key",
           "ADVISOR_SLA": str(ADVISOR_SLA), "FOLLOWUP_AFTER": str(FOLLOWUP_AFTER), "SMTP_HOST": "", "SMTP_URL": "",
           "APP_ID": "", "HANDOVER_TARGET_APP_ID": ""}
    ports = [free_port(), free_port()]
    processes = [AppProcess(["serve", "--port", str(port)], tmp_path / f"serve-{port}.log", env) for port in ports]
    processes += [AppProcess(["worker"], tmp_path / f"worker-{n}.log", env) for n in range(2)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, process in zip(bases, processes, strict=False):
            wait_until(lambda b=base, p=process: _healthy(b) or p.process.poll() is not None, 60,
                       lambda p=process: f"serve did not start: {p.output()[-2000:]}")
            assert process.process.poll() is None, process.output()[-2000:]
        for process in processes[2:]:
            wait_until(lambda p=process: "worker running" in p.output() or p.process.poll() is not None, 60,
                       lambda p=process: f"the worker did not start: {p.output()[-2000:]}")
            assert process.process.poll() is None, process.output()[-2000:]
        yield bases
    finally:
        logs = [process.stop() for process in processes]
    for log in logs:
        assert "Traceback" not in log, log[-5000:]
        assert "8100000000000" not in log, "no user ids in the log"


def _healthy(base: str) -> bool:
    """Return whether GET /healthz answers 200."""
    try:
        return requests.get(base + "/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


class Poster:
    """Posts signed webhook bodies, one HTTP session per thread."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.local = threading.local()

    def post(self, server: int, item: dict[str, Any]) -> None:
        """Post one item as Meta does (a signed envelope) and require 200."""
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        raw = messenger.encode(messenger.envelope(item))
        response = session.post(self.bases[server] + "/webhook", data=raw, timeout=60,
                                headers=messenger.signed_headers(raw, APP_SECRET))
        assert response.status_code == 200, response.text

    def talk(self, conversation: Conversation) -> int:
        """Send a user's events in order, alternating between the servers; return how many POSTs were made."""
        posts = 0
        for k, item in enumerate(conversation.items):
            server = (conversation.index + k) % 2
            self.post(server, item)
            posts += 1
            if k == conversation.redeliver:  # Meta delivers the same mid again, this time to the other machine
                self.post(1 - server, item)
                posts += 1
        return posts


def statuses(sessions: sessionmaker[Session], model: type[OutboxMessage] | type[Reminder]) -> Counter[str]:
    """Return how many rows of a table have each status."""
    with sessions.begin() as session:
        return Counter(session.scalars(select(model.status)))


def settled(sessions: sessionmaker[Session], expected_reminders: int) -> bool:
    """Return whether the outbox is empty and every scheduled reminder has fired."""
    outbox = statuses(sessions, OutboxMessage)
    return set(outbox) <= {"sent", "failed"} and statuses(sessions, Reminder) == {"done": expected_reminders}


def test_two_servers_and_two_workers_share_one_postgres_without_loss_or_duplicates(
        cluster: list[str], graph: GraphServer, fresh_postgres: str) -> None:
    talks = conversations()
    events = sum(len(c.items) for c in talks)
    redeliveries = sum(c.redeliver is not None for c in talks)
    completing = [c for c in talks if c.completes]
    poster = Poster(cluster)
    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        posts = sum(pool.map(poster.talk, talks))
    posted_in = time.monotonic() - started
    assert posts == events + redeliveries

    engine = make_engine(fresh_postgres)
    sessions = make_session_factory(engine)
    try:
        expected_reminders = len(talks) * sum(PROMISE.values()) + len(completing)  # and a follow-up each
        wait_until(lambda: settled(sessions, expected_reminders), SETTLE_TIMEOUT,
                   lambda: f"not settled: outbox {statuses(sessions, OutboxMessage)}, "
                           f"reminders {statuses(sessions, Reminder)} of {expected_reminders}")
        settled_in = time.monotonic() - started
        with sessions.begin() as session:
            check_events(session, talks, events)
            check_delivery(session, graph, talks)
            check_cases_reminders_and_alerts(session, talks)
    finally:
        engine.dispose()
    print(f"\nscale-out: {USERS} conversations, {posts} webhook POSTs ({redeliveries} redeliveries) over 2 servers "
          f"and 2 workers, {THREADS} users at once: posted in {posted_in:.1f}s ({posts / posted_in:.0f} events/s), "
          f"everything delivered and every reminder fired after {settled_in:.1f}s; "
          f"{len(graph.requests)} Graph API calls")


def check_events(session: Session, talks: list[Conversation], events: int) -> None:
    """Every event is processed once: one processed_events row, one incoming transcript message each."""
    assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == events
    incoming = dict(session.execute(select(Contact.psid, func.count(Message.id)).join(Message, Message.contact_id ==
                                                                                     Contact.id)
                                    .where(Message.direction == "in").group_by(Contact.psid)).all())
    assert incoming == {c.psid: len(c.items) for c in talks}


def check_delivery(session: Session, graph: GraphServer, talks: list[Conversation]) -> None:
    """Every queued message reached the Graph API exactly once, in the order it was queued for its user."""
    assert statuses_in(session) == {"sent"}
    queued: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for recipient, body in session.execute(select(OutboxMessage.recipient, OutboxMessage.body)
                                           .order_by(OutboxMessage.id)):
        assert body.get("sender_action") is None, "no typing indicator is queued"
        if "message" in body:
            queued[recipient].append(body)
    for talk in talks:
        assert graph.sent_messages(talk.psid) == queued[talk.psid], f"user {talk.index}: replies differ"
        followups = sum(any(q["payload"].startswith(followup.PREFIX) for q in b["message"].get("quick_replies", []))
                        for b in queued[talk.psid])
        assert followups == (1 if talk.completes else 0), f"user {talk.index}: {followups} follow-ups"
    assert len(graph.sent_messages()) == sum(len(v) for v in queued.values())


def statuses_in(session: Session) -> set[str]:
    """Return the statuses the outbox rows have."""
    return set(session.scalars(select(OutboxMessage.status).distinct()))


def check_cases_reminders_and_alerts(session: Session, talks: list[Conversation]) -> None:
    """One case per user; each completed intake's reminders fired once; each alert raised once."""
    exported = export_cases(session)
    by_user = {case["user_id"]: case for case in exported}
    assert len(exported) == len(by_user) == USERS and set(by_user) == {c.psid for c in talks}
    for talk in talks:
        case = by_user[talk.psid]
        assert case["needs_human"] and case["intake_complete"] == talk.completes, (talk.index, case)
    case_ids = dict(session.execute(select(Contact.psid, Case.id).join(Case, Case.contact_id == Contact.id)).all())
    reminders: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    for reminder in session.scalars(select(Reminder)):
        assert reminder.status == "done", (reminder.kind, reminder.round, reminder.status, reminder.last_error)
        reminders[reminder.case_id][(reminder.kind, reminder.round)] += 1
    alerts: dict[int | None, Counter[str]] = defaultdict(Counter)
    for case_id, kind in session.execute(select(Alert.case_id, Alert.kind)):
        alerts[case_id][kind] += 1
    assert None not in alerts, f"installation-wide alerts: {alerts.get(None)}"
    overdue = set(session.scalars(select(Case.id).where(Case.overdue)))
    for talk in talks:
        case_id = case_ids[talk.psid]
        expected = EXPECTED_REMINDERS if talk.completes else PROMISE
        assert reminders[case_id] == expected, (talk.index, reminders[case_id])
        assert alerts[case_id] == {"human_requested": 1, "nearing_deadline": 1, "overdue": 2}, alerts[case_id]
        assert case_id in overdue
