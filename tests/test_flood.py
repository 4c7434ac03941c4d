"""A user who floods the page (a script, a stuck key) is kept and read but not answered for a while, so the Send
API budget every user shares stays free; another user's intake goes on as usual and nothing is lost."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from bot import texts
from storage.models import Case, CaseFlag, Contact, Message
from tests.conftest import APP_SECRET
from tests.support import messenger

FLOOD = 200


def flood(user: Any, count: int, text: str = "spam") -> None:
    """Post `count` messages from one user as fast as the webhook takes them, in batches of 20 like Meta's."""
    items = [messenger.text_item(user.psid, f"{text} {n}") for n in range(count)]
    for start in range(0, count, 20):
        raw = messenger.encode(messenger.envelope(*items[start:start + 20]))
        answer = user.client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET))
        assert answer.status_code == 200


def inbound(services: Any, psid: str) -> int:
    with services.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(Message).join(Contact)
                              .where(Contact.psid == psid, Message.direction == "in"))


def test_a_flooding_user_is_kept_but_answered_once_while_another_intake_goes_on(
        user: Any, make_user: Any, services: Any, graph: Any) -> None:
    limit = services.intake.flood_limit
    other = make_user("5550007770001112")
    other.say("hoi")
    flood(user, FLOOD)
    other.choose("privacy", "yes")  # handled in the same rounds as the flood, and answered
    assert other.buttons()  # the next question, with its buttons
    services.drain()
    assert inbound(services, user.psid) == FLOOD  # every message kept
    replies = graph.texts(user.psid)
    slow_down = texts.SLOW_DOWN.get("nl")
    assert replies.count(slow_down) == 1
    assert replies[-1] == slow_down  # answers up to the limit, then the notice, then silence
    assert len(graph.sent_messages(user.psid)) < 4 * limit  # a few messages per answer; not one per flood message
    assert graph.texts(other.psid)[-1] and slow_down not in graph.texts(other.psid)


def test_danger_in_a_flood_still_flags_the_case(user: Any, services: Any) -> None:
    flood(user, services.intake.flood_limit + 5)
    flood(user, 1, text="ik wil niet meer leven")
    services.drain()
    with services.sessions.begin() as session:
        case = session.scalars(select(Case).join(Contact, Case.contact_id == Contact.id)
                               .where(Contact.psid == user.psid)).one()
        assert session.scalars(select(CaseFlag.severity).where(CaseFlag.case_id == case.id)).all()


def test_after_the_flood_the_user_is_answered_again(user: Any, services: Any, graph: Any) -> None:
    flood(user, services.intake.flood_limit + 5)
    services.drain()
    now = services.clock
    services.clock = services.inbox.clock = services.sender.clock = lambda: now() + timedelta(seconds=11)  # 11 s on
    try:
        before = len(graph.texts(user.psid))
        user.say("hallo?")
        assert len(graph.texts(user.psid)) > before
        assert texts.SLOW_DOWN.get("nl") not in graph.texts(user.psid)[before:]
    finally:
        services.clock = services.inbox.clock = services.sender.clock = now


def test_a_message_after_a_quiet_spell_is_not_counted_against_the_flood_limit(user: Any, services: Any) -> None:
    engine = services.sessions.kw["bind"]
    counts: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(*)" in statement and "messages" in statement:
            counts.append(statement)

    now = services.clock
    event.listen(engine, "before_cursor_execute", record)
    try:
        user.say("hoi")  # a new contact: nothing before it
        services.clock = services.inbox.clock = services.sender.clock = lambda: now() + timedelta(seconds=11)
        user.say("hallo")  # the last message is older than the flood window: nothing to count
        assert counts == []
        user.say("nog iets")  # a second message within the window is counted
        assert len(counts) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
        services.clock = services.inbox.clock = services.sender.clock = now


def test_the_flood_limit_is_exact_the_message_over_it_gets_the_notice(user: Any, services: Any, graph: Any) -> None:
    slow_down = texts.SLOW_DOWN.get("nl")
    flood(user, services.intake.flood_limit)  # all within the window: the last one is still answered
    services.drain()
    assert slow_down not in graph.texts(user.psid)
    flood(user, 1)
    services.drain()
    assert graph.texts(user.psid)[-1] == slow_down
