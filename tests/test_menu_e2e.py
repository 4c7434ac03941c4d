"""The persistent menu through the signed webhook: each item at each stage of a conversation."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot import texts
from storage.models import Alert, Case, Contact, Conversation

PRIVACY_START = "Je chat met de chatbot"


def pause(services: Any, psid: str) -> None:
    """An advisor takes the conversation over (as the console's 'Take over' does)."""
    with services.sessions.begin() as session:
        contact = session.scalars(select(Contact).where(Contact.psid == psid)).one()
        session.execute(update(Conversation).where(Conversation.contact_id == contact.id).values(paused=True))


def test_melden_starts_the_intake_and_mid_intake_asks_to_go_on(user: Any) -> None:
    assert any(PRIVACY_START in text for text in user.press("REPORT"))
    user.choose("privacy", "yes")
    assert user.press("REPORT") == [texts.REPORT_RUNNING.get("nl")]
    assert user.buttons() == ["Verder gaan", "Opnieuw beginnen"]
    again = user.tap("Verder gaan")
    assert again and user.buttons()  # the pending question, with its buttons


def test_spoed_answers_with_112_and_makes_an_urgent_case_with_an_alert(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    answer = user.press("EMERGENCY")
    assert "112" in answer[0] and "113" in answer[0] and user.buttons()  # then the intake goes on
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "urgent" and case.needs_human
        assert session.scalars(select(Alert.kind).where(Alert.case_id == case.id, Alert.kind == "emergency")).all()


def test_mijn_gegevens_explains_and_leads_to_erasure(user: Any) -> None:
    user.say("hoi")
    answer = user.press("MY_DATA")
    assert "180 dagen" in answer[0] and user.buttons() == ["Wis mijn gegevens", "Verder gaan"]
    assert "Weet je het zeker?" in user.tap("Wis mijn gegevens")[0]


def test_during_a_take_over_the_menu_answers_spoed_and_mijn_gegevens_but_never_restarts(user: Any,
                                                                                       services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    pause(services, user.psid)
    assert user.press("REPORT") == [texts.ADVISOR_HAS_IT.get("nl")]
    assert user.press("HUMAN") == [texts.ADVISOR_HAS_IT.get("nl")]
    assert "112" in user.press("EMERGENCY")[0]
    assert "180 dagen" in user.press("MY_DATA")[0]
    assert user.say("hallo?") == []  # typed text goes to the advisor only
    with services.sessions.begin() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.paused and conversation.step == "reporter"  # nothing restarted
