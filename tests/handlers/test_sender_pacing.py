"""The outbox sender under a burst: paced under Meta's Send API rate across every sender, calls side by side
without mixing up any user's order, and no typing indicator sent late."""
from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import create_app
from handlers.jobs import SEND_LANES, WorkLoop
from storage import conversations, outbox, pacing
from storage.models import OutboxMessage


def typing_body(psid: str) -> dict[str, Any]:
    """A typing indicator, as versions before 2026-12-05 queued before every reply (still in an upgraded outbox)."""
    return {"recipient": {"id": psid}, "sender_action": "typing_on"}


def queue(services: Any, users: int, per_user: int, typing: bool = False, first: int = 0) -> list[str]:
    """Queue `per_user` numbered texts for each of `users` new contacts (numbered from `first`); return their
    PSIDs."""
    now = services.clock()
    psids = [f"{8_100_000_000_000_000 + i}" for i in range(first, first + users)]
    with services.sessions.begin() as session:
        for psid in psids:
            contact = conversations.lock_contact(session, psid, now)
            if typing:
                outbox.enqueue(session, contact_id=contact.id, recipient=psid, body=typing_body(psid), now=now)
            for n in range(per_user):
                outbox.enqueue(session, contact_id=contact.id, recipient=psid, now=now,
                               body={"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                                     "message": {"text": f"{psid} #{n}"}})
    return psids


def busiest_second(times: list[float]) -> int:
    """Return the most calls that fell in any one-second window."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def within(rate: float) -> float:
    """Calls go out at their slots, but a busy machine can make a few late and bunch them a little: Meta's
    limit (300/s) stays out of reach because the default rate (250/s) leaves more room than this."""
    return rate * 1.15 + 1


def send_times(graph: Any) -> list[float]:
    return [r.at for r in graph.requests if r.path.endswith("/messages")]


def test_a_burst_is_delivered_at_the_configured_rate_and_never_trips_613(services: Any, graph: Any) -> None:
    services.sender.rate = 40.0
    queue(services, users=100, per_user=1)
    services.sender.deliver_all()
    times = send_times(graph)
    assert len(graph.sent_messages()) == 100
    assert all(r.status == 200 for r in graph.requests)
    assert busiest_second(times) <= within(40)
    assert max(times) - min(times) >= 99 / 40 - 0.05


def test_the_default_rate_stays_under_metas_limit_in_a_burst(services: Any, graph: Any) -> None:
    assert services.settings.send_rate < graph.rate_limit
    queue(services, users=400, per_user=2)
    services.sender.deliver_all()
    assert len(graph.sent_messages()) == 800
    assert not [r for r in graph.requests if r.status != 200]  # no 613 from the loopback's 300/s window
    assert busiest_second(send_times(graph)) <= within(services.settings.send_rate)


def test_two_senders_share_one_budget(services: Any, settings: Any, graph: Any) -> None:
    other = create_app(dataclasses.replace(settings), start_background=False)  # a second process or machine
    second = other.extensions["intake"]
    try:
        services.sender.rate = second.sender.rate = 30.0
        queue(services, users=90, per_user=1)
        began = time.time()
        threads = [threading.Thread(target=s.sender.deliver_all) for s in (services, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(graph.sent_messages()) == 90
        times = send_times(graph)
        # on budgets of their own both would be done 1.5 s after they began (60/s together); sharing one, the
        # last call cannot go before 89/30 s, however late any call is made. (How many calls meet in one second
        # is not asserted here: a call made late by a busy machine in one process can meet the other's calls;
        # test_reservations_of_two_senders_never_overlap checks the budget itself.)
        assert max(times) - began >= 89 / 30 - 0.05
    finally:
        second.sender.close()
        second.close()


def test_calls_go_side_by_side_yet_each_users_order_holds(services: Any, graph: Any) -> None:
    graph.delay = 0.05
    psids = queue(services, users=24, per_user=4)
    services.sender.deliver_all()
    for psid in psids:
        assert graph.texts(psid) == [f"{psid} #{n}" for n in range(4)]
    # 96 calls of 50 ms each: one after the other they would take 4.8 s; 8 at a time about a quarter of that
    times = send_times(graph)
    assert max(times) - min(times) < 3.5


@pytest.mark.parametrize("age, sent", [(timedelta(seconds=10), False), (timedelta(0), True)])
def test_a_typing_indicator_that_waited_too_long_is_dropped(services: Any, graph: Any, age: timedelta,
                                                            sent: bool) -> None:
    (psid,) = queue(services, users=1, per_user=1, typing=True)
    with services.sessions.begin() as session:
        typing = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        typing.created_at -= age
    services.sender.deliver_all()
    actions = [r.body for r in graph.requests if r.body and r.body.get("sender_action") == "typing_on"]
    assert bool(actions) is sent
    assert graph.texts(psid) == [f"{psid} #0"]
    with services.sessions.begin() as session:
        assert {row.status for row in session.scalars(select(OutboxMessage))} == {"sent"}


def test_reservations_of_two_senders_never_overlap(services: Any, settings: Any) -> None:
    """The budget itself: each reservation starts where the one before it ends, also when two race for it."""
    other = create_app(dataclasses.replace(settings), start_background=False)
    second = other.extensions["intake"]
    starts: list[tuple[Any, int]] = []
    lock = threading.Lock()
    now = services.clock()

    def reserve(sessions: Any) -> None:
        for _ in range(20):
            with sessions.begin() as session:
                start = pacing.reserve(session, "test", 5, 50.0, now)
            with lock:
                starts.append((start, 5))

    try:
        threads = [threading.Thread(target=reserve, args=(s.sessions,)) for s in (services, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        second.sender.close()
        second.close()
    starts.sort()
    assert len(starts) == 40 and starts[0][0] == now
    for (start, count), (following, _) in zip(starts, starts[1:], strict=False):
        assert following == start + timedelta(seconds=count / 50.0)


def test_a_users_typing_indicator_and_reply_go_out_in_one_round(services: Any, graph: Any) -> None:
    graph.delay = 0.02
    psids = queue(services, users=12, per_user=2, typing=True)
    services.sender.deliver_once()  # one thread per user sends the indicator, then both texts, one by one
    for psid in psids:
        calls = [r.body for r in graph.requests if r.body and r.body["recipient"]["id"] == psid]
        assert [body.get("sender_action") or body["message"]["text"] for body in calls] == [
            "typing_on", f"{psid} #0", f"{psid} #1"]
    with services.sessions.begin() as session:
        assert {row.status for row in session.scalars(select(OutboxMessage))} == {"sent"}


def test_a_failed_call_keeps_the_rest_of_that_users_messages_behind_it(services: Any, graph: Any) -> None:
    (psid,) = queue(services, users=1, per_user=3)
    graph.fail_next(1)  # a 500 (code 2): tried again after a back-off
    services.sender.deliver_once()
    assert graph.texts(psid) == []
    with services.sessions.begin() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [(row.status, row.attempts) for row in rows] == [("pending", 1), ("pending", 0), ("pending", 0)]
        rows[0].next_attempt_at = services.clock()  # the back-off is over
    services.sender.deliver_all()
    assert graph.texts(psid) == [f"{psid} #{n}" for n in range(3)]


@pytest.mark.parametrize("lanes", [SEND_LANES, 1])
def test_a_reply_queued_while_a_round_waits_for_meta_does_not_wait_for_that_round(
        app: Any, services: Any, graph: Any, lanes: int) -> None:
    """The sender's round waits for Meta's answers; with a second lane a new reply goes out meanwhile (one lane:
    the case this guards against, after the round)."""
    graph.delay = 1.0
    loop = WorkLoop(app, "outbox", services.sender.deliver_all, interval=60, lanes=lanes)
    loop.start()
    try:
        [first] = queue(services, users=1, per_user=1)
        loop.wake()
        wait_for(lambda: status_of(services, first) == outbox.SENDING)  # its call to Meta takes a second
        [second] = queue(services, users=1, per_user=1, first=1)
        loop.wake()
        wait_for(lambda: graph.texts(first) and graph.texts(second), timeout=10)
    finally:
        loop.stop()
    answered = {r.body["recipient"]["id"]: r.at for r in graph.requests if r.path.endswith("/messages")}
    if lanes > 1:
        assert answered[second] - answered[first] < 0.6  # sent while the first call was still waiting
    else:
        assert answered[second] - answered[first] >= 1.0  # sent only after the first round had ended


def status_of(services: Any, psid: str) -> str | None:
    with services.sessions() as session:
        return session.scalar(select(OutboxMessage.status).where(OutboxMessage.recipient == psid))


def wait_for(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
