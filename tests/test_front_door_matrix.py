"""Every Get Started, ice-breaker and menu payload of flows/messenger_profile.yml, at every stage of a conversation,
through the signed webhook and the loopback Graph API: the answer each one must get."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot import texts
from flows.messenger_profile import check_profile_file
from handlers.settings import ROOT
from storage.models import Case, Contact, Conversation
from tests.test_intake_e2e import run_intake
from tests.test_menu_e2e import PRIVACY_START, pause

STAGES = ("new", "mid-intake", "completed", "taken over")
REPORT_BUTTONS = ["Verder gaan", "Opnieuw beginnen"]
MY_DATA_BUTTONS = ["Wis mijn gegevens", "Verder gaan"]


def profile_payloads() -> list[str]:
    """Every payload the front door can send: Get Started, each ice breaker, each menu item (all locales)."""
    profile = check_profile_file(ROOT / "flows" / "messenger_profile.yml").body
    found = [profile["get_started"]["payload"]]
    found += [q["payload"] for locale in profile["ice_breakers"] for q in locale["call_to_actions"]]
    found += [i["payload"] for locale in profile["persistent_menu"] for i in locale["call_to_actions"]]
    return list(dict.fromkeys(found))


def reach(stage: str, user: Any, services: Any) -> None:
    """Bring a fresh user to a stage of a conversation."""
    if stage == "new":
        return
    if stage == "completed":
        run_intake(user, "Hoi, ik wil iets melden", "Iemand zet foto's van mijn dochter online")
        return
    user.say("hoi")
    user.choose("privacy", "yes")  # now at the question 'reporter'
    if stage == "taken over":
        pause(services, user.psid)


def stored(services: Any, psid: str) -> tuple[Conversation | None, Case | None]:
    """Return the user's conversation and latest case (detached copies)."""
    with services.sessions.begin() as session:
        contact = session.scalars(select(Contact).where(Contact.psid == psid)).one_or_none()
        if contact is None:
            return None, None
        row = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id)).one()
        case = session.scalars(select(Case).where(Case.contact_id == contact.id).order_by(Case.id.desc())).first()
        session.expunge_all()
        return row, case


def test_the_file_has_the_payloads_the_issue_asks_for() -> None:
    assert profile_payloads() == ["GET_STARTED", "REPORT", "REPORT_PARENT", "LINKS", "HUMAN", "EMERGENCY",
                                  "MY_DATA"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_payload_at_each_stage(stage: str, make_user: Any, services: Any) -> None:
    for n, payload in enumerate(profile_payloads()):  # one app per stage: a fresh user per payload
        user = make_user(str(8_300_000_000_000_000 + 1000 * STAGES.index(stage) + n))
        reach(stage, user, services)
        check(payload, stage, user, services)


def check(payload: str, stage: str, user: Any, services: Any) -> None:
    """Press one payload and check the answer it must get at this stage."""
    before, case_before = stored(services, user.psid)
    replies = user.press(payload)
    after, case = stored(services, user.psid)
    assert replies, "every front-door payload gets an answer"
    if stage == "taken over":  # the advisor has it: only danger and data are answered, nothing restarts
        assert after.paused and after.step == before.step == "reporter"
        if payload == "EMERGENCY":
            assert "112" in replies[0] and case.urgency == "urgent"
        elif payload == "MY_DATA":
            assert "180 dagen" in replies[0] and user.buttons() == MY_DATA_BUTTONS
        else:
            assert replies == [texts.ADVISOR_HAS_IT.nl]
        return
    starts = stage != "mid-intake"  # a new or finished conversation begins an intake; a running one goes on
    if payload in ("GET_STARTED", "REPORT", "REPORT_PARENT"):
        if starts:
            assert PRIVACY_START in replies[-1] and after.step == "privacy"
            assert stage == "new" or after.case_id is None  # the finished case is left as it was
        else:
            assert replies == [texts.REPORT_RUNNING.nl] and user.buttons() == REPORT_BUTTONS
            assert after.step == before.step
    elif payload == "EMERGENCY":
        assert replies[0] == texts.EMERGENCY.nl and "113" in replies[0]
        assert case is not None and case.urgency == "urgent" and case.needs_human
        if stage == "mid-intake":
            assert after.step == before.step and len(replies) == 2  # then the pending question again
    elif payload == "HUMAN":
        assert replies[0] == texts.ADVISOR_REQUESTED.nl
        assert case is not None and case.needs_human
    elif payload == "LINKS":
        assert replies[0].startswith("Handige links") and "112" in replies[0]
        assert (after.step if after else None) == (before.step if before else None)  # no intake started
        if stage == "completed":
            assert case.id == case_before.id and case.intake_complete
    elif payload == "MY_DATA":
        assert len(replies) == 1 and "180 dagen" in replies[0] and user.buttons() == MY_DATA_BUTTONS
        assert (after.step if after else None) == (before.step if before else None)
    else:
        pytest.fail(f"no expectation for {payload}")
