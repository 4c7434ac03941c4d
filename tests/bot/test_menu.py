"""The persistent menu and the ice breakers (Melden, Spoed, Praat met een adviseur, Mijn gegevens) answer in
every state of a conversation: new, in the middle of an intake, after it, and during an advisor's take-over."""
from __future__ import annotations

import dataclasses

import pytest

from bot import outputs, texts
from bot.engine import step
from bot.inputs import Postback, Text
from bot.state import ConversationState
from tests.bot.test_engine import CONTEXT, FLOW, at

NEW = ConversationState(flow_version=FLOW.version)
MID = at("reporter", privacy="yes")
DONE = dataclasses.replace(NEW, completed=True, case_reference="IDA-2026-0001")
PAUSED = dataclasses.replace(MID, paused=True)
STATES = {"new": NEW, "mid-intake": MID, "completed": DONE, "taken over": PAUSED}


def press(state: ConversationState, payload: str) -> outputs.Outcome:
    return step(state, Postback(payload), FLOW, CONTEXT)


@pytest.mark.parametrize("payload", ["REPORT", "REPORT_PARENT"])
def test_report_starts_an_intake_when_none_runs(payload: str) -> None:
    for state in (NEW, DONE):
        outcome = press(state, payload)
        assert outputs.INTAKE_STARTED in outcome.effects and outcome.state.step == FLOW.start


def test_report_during_an_intake_asks_to_go_on_or_start_again() -> None:
    outcome = press(MID, "REPORT")
    assert outcome.state == MID and outcome.replies[0].text == texts.REPORT_RUNNING.get("nl")
    assert [q.payload for q in outcome.replies[0].quick_replies] == ["REPORT_CONTINUE", "RESTART"]
    go_on = step(MID, Text("Verder gaan", payload="REPORT_CONTINUE"), FLOW, CONTEXT)
    assert go_on.state.step == "reporter" and go_on.replies[-1].quick_replies  # the pending question again
    again = step(MID, Text("Opnieuw beginnen", payload="RESTART"), FLOW, CONTEXT)
    assert outputs.INTAKE_STARTED in again.effects and again.state.answers == {}


@pytest.mark.parametrize("name", list(STATES))
def test_emergency_points_to_112_asks_an_advisor_and_makes_the_case_urgent_in_every_state(name: str) -> None:
    state = STATES[name]
    outcome = press(state, "EMERGENCY")
    assert "112" in outcome.replies[0].text and "113" in outcome.replies[0].text
    assert {outputs.HUMAN_REQUESTED, outputs.URGENT} <= set(outcome.effects)
    if name == "mid-intake":
        assert outcome.replies[-1].quick_replies and outcome.state.step == "reporter"  # the intake goes on
    if name == "taken over":
        assert len(outcome.replies) == 1 and outcome.state == state  # no bot question while an advisor talks


@pytest.mark.parametrize("name", list(STATES))
def test_my_data_says_what_is_kept_and_offers_erasure_in_every_state(name: str) -> None:
    outcome = press(STATES[name], "MY_DATA")
    (reply,) = outcome.replies
    assert "180 dagen" in reply.text and [q.payload for q in reply.quick_replies] == ["ERASE", "REPORT_CONTINUE"]
    assert "{privacy_url}" not in reply.text and "Meer lezen" not in reply.text  # no PUBLIC_URL: no such line
    asked = step(STATES[name], Text("Wis mijn gegevens", payload="ERASE"), FLOW, CONTEXT)
    assert asked.replies[0].text == texts.ERASURE_ASK.get("nl")


def test_my_data_links_the_privacy_page_when_there_is_one() -> None:
    context = dataclasses.replace(CONTEXT, privacy_url="https://bot.example.nl/privacy")
    assert "https://bot.example.nl/privacy" in step(MID, Postback("MY_DATA"), FLOW, context).replies[0].text


@pytest.mark.parametrize("payload", ["REPORT", "HUMAN", "RESTART"])
def test_during_a_take_over_other_menu_items_do_not_restart_the_bot(payload: str) -> None:
    outcome = press(PAUSED, payload)
    assert outcome.state == PAUSED and outputs.INTAKE_STARTED not in outcome.effects
    assert [r.text for r in outcome.replies] == [texts.ADVISOR_HAS_IT.get("nl")]


def test_typed_text_during_a_take_over_stays_silent() -> None:
    assert step(PAUSED, Text("hallo?"), FLOW, CONTEXT).replies == ()


def test_english_users_get_the_menu_in_english() -> None:
    outcome = press(dataclasses.replace(MID, locale="en"), "EMERGENCY")
    assert outcome.replies[0].text == texts.EMERGENCY.get("en")
