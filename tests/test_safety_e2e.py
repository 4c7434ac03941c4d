"""Danger and crime recognised mid-intake through the real webhook: advice at once and once, flags, urgency."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.cases import export_cases
from storage.models import Alert

TO_SINCE = [("privacy", "yes"), ("reporter", "student"), ("danger", "no"), ("category", "bullying"),
            ("platform", "whatsapp")]


def exported(services: Any) -> dict[str, Any]:
    """Return the one stored case."""
    with services.sessions.begin() as session:
        [case] = export_cases(session)
        return case


def test_a_threat_mid_intake_gets_advice_once_and_the_intake_goes_on(user: Any, services: Any) -> None:
    user.say("hoi")
    for step, value in TO_SINCE:
        user.choose(step, value)
    replies = user.say("hij appte: ik maak je dood als je morgen op school komt")
    assert any("Politie" in r for r in replies) and any("112" in r for r in replies), replies
    assert "Sorry" not in " ".join(replies)  # no "I didn't get that" after the advice
    assert user.buttons()[0] == "Vandaag"  # the same question again, with its buttons
    again = user.say("ik maak je dood zei hij echt")
    assert not any("Politie" in r for r in again), "the same advice is never repeated in a case"
    after = user.choose("since", "today")
    assert after and user.buttons(), "the intake continues where it was"
    case = exported(services)
    flags = {f["category"]: f for f in case["flags"]}
    assert "threat" in flags and flags["threat"]["source"] == "message"
    assert "maak je dood" in flags["threat"]["matched"] and case["urgency"] == "urgent"
    with services.sessions.begin() as session:
        kinds = [(a.kind, a.category) for a in session.scalars(select(Alert))]
    assert ("safety", "threat") in kinds


def test_self_harm_in_the_description_is_answered_and_the_answer_kept(user: Any, services: Any) -> None:
    user.say("hoi")
    for step, value in TO_SINCE + [("since", "this_week"), ("age", "12_15"), ("known", "yes"), ("reported", "no")]:
        user.choose(step, value)
    replies = user.say("Ze pesten me elke dag en ik wil dood")
    assert any("113" in r for r in replies), replies
    assert user.buttons(), "the next question (urgency) follows the advice"
    case = exported(services)
    assert case["answers"]["description"] == "Ze pesten me elke dag en ik wil dood"
    assert {f["category"] for f in case["flags"]} >= {"self_harm"} and case["urgency"] == "urgent"


def test_an_extortion_answer_from_the_menu_gets_the_same_advice(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.choose("reporter", "parent")
    user.choose("danger", "no")
    replies = user.choose("category", "sextortion")
    assert any("Politie" in r for r in replies)
    case = exported(services)
    assert [f["category"] for f in case["flags"]] == ["sextortion"] and case["urgency"] == "urgent"
    assert case["flags"][0]["source"] == "answer"


def test_danger_yes_gives_112_at_once_and_continues(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.choose("reporter", "parent")
    replies = user.choose("danger", "yes")
    assert any("112" in r for r in replies) and user.buttons(), replies
    assert exported(services)["urgency"] == "urgent"


def test_a_message_long_after_the_intake_is_still_checked(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "no")
    replies = user.say("ik wil dood")
    assert any("113" in r for r in replies)
    assert exported(services)["flags"][0]["category"] == "self_harm"


def test_a_message_while_the_page_inbox_owns_the_thread_is_flagged_but_not_answered(user: Any,
                                                                                    services: Any) -> None:
    item = {"sender": {"id": user.psid}, "recipient": {"id": "104729356102938"}, "timestamp": 1781005100611,
            "message": {"mid": "m_standby_threat", "text": "hij zei: ik maak je dood na school"}}
    body = {"object": "page", "entry": [{"id": "104729356102938", "time": 1781005100820, "standby": [item]}]}
    assert user.post(body).status_code == 200
    services.drain()
    assert user.graph.sent_messages(user.psid) == []
    case = exported(services)
    assert [f["category"] for f in case["flags"]] == ["threat"] and case["urgency"] == "urgent"


def test_standby_means_the_page_inbox_has_the_thread_so_the_bot_pauses_until_it_is_passed_back(user: Any,
                                                                                                services: Any) -> None:
    user.say("hoi")
    item = {"sender": {"id": user.psid}, "recipient": {"id": "104729356102938"}, "timestamp": 1781005100999,
            "message": {"mid": "m_standby_plain", "text": "hallo, is daar iemand?"}}
    user.post({"object": "page", "entry": [{"id": "104729356102938", "time": 1781005101000, "standby": [item]}]})
    assert user.say("nog steeds niemand?") == [], "the bot stays silent while the Page Inbox owns the thread"
    back = {"sender": {"id": user.psid}, "recipient": {"id": "104729356102938"}, "timestamp": 1781005200000,
            "pass_thread_control": {"previous_owner_app_id": "263902037430900", "new_owner_app_id": "880123456789012"}}
    user.post({"object": "page", "entry": [{"id": "104729356102938", "time": 1781005200001, "messaging": [back]}]})
    assert user.say("hallo?"), "after the hand-back the bot answers again"
