"""The inbox: the webhook stores each event and answers; workers handle it once, per user in order."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from handlers import inbox_worker
from storage import inbox
from storage.models import Case, InboxEvent, Message
from tests.conftest import APP_SECRET, User
from tests.support import messenger

PRIVACY_START = "Je chat met de chatbot"  # the privacy notice that opens every new conversation


def post(user: User, *items: dict[str, Any]) -> int:
    """Post a signed batch without letting a worker handle it; return the status."""
    raw = messenger.encode(messenger.envelope(*items))
    return user.client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET)).status_code


def stored(services: Any) -> list[InboxEvent]:
    """Return the events waiting in the inbox, oldest first."""
    with services.inbox.inbox_sessions.begin() as session:
        return list(session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


def inbound_texts(services: Any) -> list[str]:
    """Return the user's stored messages, in the order they were handled."""
    with services.sessions.begin() as session:
        return list(session.scalars(select(Message.text).where(Message.direction == "in").order_by(Message.id)))


def test_the_webhook_answers_once_the_event_is_stored_and_a_worker_replies(user: User, services: Any) -> None:
    assert post(user, messenger.text_item(user.psid, "hoi")) == 200
    assert [e.sender for e in stored(services)] == [user.psid]
    assert inbound_texts(services) == [] and user.graph.texts(user.psid) == []
    assert user.client.get("/healthz").json["inbox"] == {"waiting": 1}
    services.drain()
    assert stored(services) == [] and inbound_texts(services) == ["hoi"]
    assert PRIVACY_START in user.graph.texts(user.psid)[0]
    assert user.client.get("/healthz").json["inbox"] == {"waiting": 0}


def test_receipts_reads_and_our_own_echoes_are_not_stored(user: User, services: Any) -> None:
    stamp = 1_781_000_000_500
    items = [{"sender": {"id": user.psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": stamp,
              "delivery": {"mids": ["m_1"], "watermark": stamp}},
             {"sender": {"id": user.psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": stamp,
              "read": {"watermark": stamp}},
             {"sender": {"id": messenger.PAGE_ID}, "recipient": {"id": user.psid}, "timestamp": stamp,
              "message": {"mid": "m_echo", "is_echo": True, "app_id": 1517, "text": "hallo"}}]
    assert post(user, *items) == 200
    assert stored(services) == []


def test_a_users_events_wait_for_the_one_before_while_other_users_go_on(user: User, make_user: Any,
                                                                        services: Any) -> None:
    other = make_user("5550001112223334")
    post(user, messenger.text_item(user.psid, "eerste"))
    post(user, messenger.text_item(user.psid, "tweede"))
    post(other, messenger.text_item(other.psid, "hallo"))
    now = services.clock()
    with services.inbox.inbox_sessions.begin() as session:  # a worker leases a round ...
        first = [(row.sender, row.item["message"]["text"]) for row in inbox.claim_batch(session, now, 50,
                                                                                          inbox_worker.LEASE)]
    with services.inbox.inbox_sessions.begin() as session:  # ... and a second worker finds nothing more to do
        second = inbox.claim_batch(session, now, 50, inbox_worker.LEASE)
    assert sorted(first) == sorted([(user.psid, "eerste"), (other.psid, "hallo")]) and second == []


def test_a_round_takes_expired_leases_and_due_events_together_in_the_order_they_came(
        user: User, make_user: Any, services: Any) -> None:
    second, third = make_user("5550001112223335"), make_user("5550001112223336")
    for someone in (user, second, third):
        post(someone, messenger.text_item(someone.psid, "hoi"))
    now = services.clock()
    with services.inbox.inbox_sessions.begin() as session:  # leased by a worker that then dies
        assert [row.sender for row in inbox.claim_batch(session, now, 1, inbox_worker.LEASE)] == [user.psid]
    later = now + inbox_worker.LEASE + timedelta(seconds=1)
    with services.inbox.inbox_sessions.begin() as session:
        taken = [row.sender for row in inbox.claim_batch(session, later, 2, inbox_worker.LEASE)]
    assert taken == [user.psid, second.psid]  # the oldest two, one of them taken up again; the third waits


def test_a_batch_is_handled_in_the_order_the_user_wrote_it(user: User, services: Any) -> None:
    first, second = messenger.text_item(user.psid, "eerste"), messenger.text_item(user.psid, "tweede")
    post(user, second, first)  # Meta may deliver a backlog out of order
    services.drain()
    assert inbound_texts(services) == ["eerste", "tweede"]


def test_a_crashed_workers_events_are_taken_up_once_after_the_lease(user: User, services: Any) -> None:
    post(user, messenger.text_item(user.psid, "hoi"))
    now = services.clock()
    with services.inbox.inbox_sessions.begin() as session:  # leased by a worker that then dies
        assert len(inbox.claim_batch(session, now, 50, inbox_worker.LEASE)) == 1
    assert services.inbox.process_all() == 0  # still leased: nobody else touches it
    services.inbox.clock = lambda: now + inbox_worker.LEASE + timedelta(seconds=1)
    assert services.inbox.process_all() == 1
    services.sender.deliver_all()
    assert inbound_texts(services) == ["hoi"] and len(user.graph.texts(user.psid)) == 1
    assert services.inbox.process_all() == 0 and stored(services) == []


def test_an_event_that_cannot_be_handled_is_set_aside_and_the_user_goes_on(user: User, services: Any) -> None:
    broken = {"recipient": {"id": messenger.PAGE_ID}, "timestamp": 1_781_000_000_001,  # a message without sender
              "message": {"mid": "m_broken", "text": "hoi"}}
    with services.inbox_engine.begin() as connection:  # e.g. a row written by an older version of the bot
        inbox.add(connection, [(user.psid, "messaging", broken)], services.clock())
    post(user, messenger.text_item(user.psid, "hoi"))
    services.drain()
    assert inbound_texts(services) == ["hoi"] and PRIVACY_START in user.graph.texts(user.psid)[0]
    assert [(e.status, e.last_error) for e in stored(services)] == [(inbox.FAILED, "BadEvent")]
    health = user.client.get("/healthz").json
    assert health["status"] == "degraded"
    assert [p["problem"] for p in health["problems"]] == ["inbox_events_set_aside"]


def test_a_round_is_one_transaction_yet_an_event_that_fails_undoes_only_itself(
        user: User, make_user: Any, services: Any, monkeypatch: Any) -> None:
    others = [make_user(f"555000111222{n:04d}") for n in range(3)]
    real = inbox_worker.handle_event

    def fails_after_writing_for_one_user(session: Any, intake: Any, event: Any, now: Any) -> int:
        queued = real(session, intake, event, now)  # a bug that strikes after the event wrote its rows
        if event.sender == user.psid:
            raise RuntimeError("bug")
        return queued

    monkeypatch.setattr(inbox_worker, "handle_event", fails_after_writing_for_one_user)
    for someone in [user, *others]:
        post(someone, messenger.text_item(someone.psid, f"hoi van {someone.psid}"))
    commits: list[int] = []
    listen = (services.engine, "commit", lambda connection: commits.append(1))
    event.listen(*listen)
    try:
        assert services.inbox.process_once() == 4  # the four users' events in one round ...
    finally:
        event.remove(*listen)
    # ... handled in one commit (with the inbox in the same database: + the lease and the setting aside)
    assert len(commits) == (3 if services.inbox.inbox_sessions is services.sessions else 1)
    services.sender.deliver_all()
    assert sorted(inbound_texts(services)) == sorted(f"hoi van {o.psid}" for o in others)
    assert all(PRIVACY_START in user.graph.texts(o.psid)[0] for o in others)
    assert user.graph.texts(user.psid) == []  # its transcript line and replies were undone with it
    assert services.inbox.process_all() == 0  # a separate inbox file: the round's events go with this lease
    assert [(e.sender, e.status, e.last_error) for e in stored(services)] == [(user.psid, inbox.FAILED,
                                                                                "RuntimeError")]


def test_a_redelivered_batch_is_stored_again_but_handled_once(user: User, services: Any) -> None:
    item = messenger.text_item(user.psid, "hallo")
    for _ in range(3):
        assert post(user, item) == 200
    assert len(stored(services)) == 3
    services.drain()
    assert inbound_texts(services) == ["hallo"] and len(user.graph.texts(user.psid)) == 1
    assert stored(services) == []


def test_a_nul_character_is_stored_and_handled_on_every_database(user: User, services: Any) -> None:
    raw = messenger.encode(messenger.envelope(messenger.text_item(user.psid, "hoi\u0000daar")))
    assert b"\\u0000" in raw
    response = user.client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET))
    assert response.status_code == 200
    services.drain()
    assert inbound_texts(services) == ["hoi\ufffddaar"]
    with services.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_batch_that_cannot_be_stored_gets_503_so_that_meta_sends_it_again(user: User, services: Any) -> None:
    with services.inbox_engine.begin() as connection:  # as good as a database that is down
        connection.exec_driver_sql("DROP TABLE inbox")
    assert post(user, messenger.text_item(user.psid, "hoi")) == 503
    assert inbound_texts(services) == [] and user.graph.texts(user.psid) == []


def test_a_separate_inbox_file_is_written_once_per_round(user: User, make_user: Any, services: Any) -> None:
    people = [user, *(make_user(f"555000333444{n:04d}") for n in range(inbox_worker.BATCH + 1))]
    for someone in people:
        post(someone, messenger.text_item(someone.psid, "hoi"))
    separate = services.inbox.inbox_sessions is not services.sessions
    engine = services.inbox.inbox_sessions.kw["bind"]
    commits: list[int] = []
    listen = (engine, "commit", lambda connection: commits.append(1))
    event.listen(*listen)
    try:
        assert services.inbox.process_all() == len(people)  # two rounds, then one that finds nothing
    finally:
        event.remove(*listen)
    # SQLite's inbox file: each lease removes the events of the round before (3 writes, not 5); PostgreSQL: the
    # three leases and the two rounds' transactions, which remove their events themselves
    assert len(commits) == (3 if separate else 5)
    assert stored(services) == []
    services.sender.deliver_all()
    assert all(PRIVACY_START in user.graph.texts(p.psid)[0] for p in people)


def test_a_round_reads_the_live_flow_versions_once(user: User, make_user: Any, services: Any) -> None:
    people = [user, *(make_user(f"555000333555{n:04d}") for n in range(3))]
    for someone in people:
        post(someone, messenger.text_item(someone.psid, "hoi"))
    engine = services.sessions.kw["bind"]
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "max(flow_versions.version)" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert services.inbox.process_all() == len(people)  # one round: every user's first event
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(reads) == 1  # not one per event
    services.sender.deliver_all()
    assert all(PRIVACY_START in user.graph.texts(p.psid)[0] for p in people)


def statements_of_a_round(services: Any) -> list[str]:
    """Have the inbox worker handle one round of one event; return the SQL it sent, whitespace folded."""
    engine = services.sessions.kw["bind"]
    sent: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert services.inbox.process_once() == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_a_tap_in_a_running_intake_is_handled_in_a_few_round_trips(user: User, services: Any) -> None:
    """Each statement is a round trip to PostgreSQL, and most of the worker's time goes to them: the event's
    contact and conversation come in one query, its two transcript lines in one insert (on PostgreSQL)."""
    user.say("hoi")
    assert post(user, messenger.text_item(user.psid, "Ja, ga verder", "Q:privacy:yes")) == 200
    sent = statements_of_a_round(services)
    begin = next(n for n, s in enumerate(sent) if s.startswith("SAVEPOINT"))
    inside = sent[begin + 1:next(n for n, s in enumerate(sent) if s.startswith("RELEASE SAVEPOINT"))]
    listing = "\n".join(inside)
    postgres = services.sessions.kw["bind"].dialect.name == "postgresql"
    # PostgreSQL: take the event from the inbox, record its key, the live flow versions (once a round), contact
    # with conversation, the flood count, the intake step, the reply's outbox row, the conversation, both transcript
    # lines, the contact's last message time. SQLite keeps the inbox in a file of its own; there the intake step
    # and each transcript line are a statement of their own.
    assert len(inside) <= (10 if postgres else 11), listing
    assert not [s for s in inside if s.startswith("SELECT") and " FROM conversations" in s], listing
    assert sum(s.startswith("INSERT INTO messages") for s in inside) == (1 if postgres else 2), listing
    services.drain()
    assert len(user.graph.texts(user.psid)) >= 2  # the tap was answered


def test_the_case_of_a_running_conversation_comes_with_its_contact(user: User, services: Any) -> None:
    user.say("hoi")
    user.say("iemand dreigt mijn naaktfoto te delen")  # sextortion: a case is opened and flagged
    with services.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
    assert post(user, messenger.text_item(user.psid, "Ja, ga verder", "Q:privacy:yes")) == 200
    sent = statements_of_a_round(services)
    listing = "\n".join(sent)
    assert not [s for s in sent if s.startswith("SELECT") and " FROM cases " in s], listing  # no query of its own
    assert [s for s in sent if s.startswith("SELECT") and " FROM contacts LEFT OUTER JOIN conversations " in s
            and " LEFT OUTER JOIN cases " in s], listing
