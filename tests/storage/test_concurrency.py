"""Messages of one user at once are handled one after the other, by racing inbox workers: no lost update."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import func, select

from storage.models import Case, Conversation, Message
from tests.conftest import APP_SECRET
from tests.support import messenger

BURST = 20


def post(base: str, item: dict[str, Any]) -> int:
    """Post one signed event to the webhook over HTTP and return the status."""
    raw = messenger.encode(messenger.envelope(item))
    headers = messenger.signed_headers(raw, APP_SECRET)
    return requests.post(f"{base}/webhook", data=raw, headers=headers, timeout=60).status_code


def work_inbox(services: Any, workers: int = 4) -> None:
    """Let several inbox workers race over what the webhook stored, as worker processes would."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: services.inbox.process_all(), range(workers)))


def test_a_burst_of_one_users_messages_leaves_a_consistent_conversation(served: str, user: Any,
                                                                        services: Any) -> None:
    assert post(served, messenger.text_item(user.psid, "hoi")) == 200
    items = [messenger.text_item(user.psid, f"geen knop {n}") for n in range(BURST)]
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        statuses = list(pool.map(lambda item: post(served, item), items))
    assert statuses == [200] * BURST
    work_inbox(services)
    with services.sessions.begin() as session:
        conversation = session.scalars(select(Conversation)).one()
        # each message re-prompts once and counts: a lost update would leave fewer than BURST
        assert conversation.reprompts == BURST and conversation.step == "privacy"
        inbound = session.scalar(select(func.count()).where(Message.direction == "in"))
        assert inbound == BURST + 1


def test_a_burst_of_answers_is_applied_in_order_without_losing_one(served: str, user: Any, services: Any) -> None:
    assert post(served, messenger.text_item(user.psid, "hoi")) == 200
    taps = [("privacy", "yes"), ("reporter", "student"), ("danger", "yes")]
    items = [messenger.text_item(user.psid, value, payload=f"Q:{step}:{value}") for step, value in taps]
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        list(pool.map(lambda item: post(served, item), items))
    work_inbox(services)
    with services.sessions.begin() as session:
        conversation = session.scalars(select(Conversation)).one()
        answered = {k: v for k, v in conversation.answers.items() if k in dict(taps)}
        # whatever order they arrived in, every accepted answer is kept and a stale tap is re-prompted
        assert answered == {k: v for k, v in list(dict(taps).items())[:len(answered)]}
        cases = session.scalar(select(func.count()).select_from(Case))
        assert cases == (1 if conversation.answers.get("danger") == "yes" else 0)
