"""How the engine acts on a detection: advice first and once per case, flags, urgency, the intake goes on."""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from bot import outputs
from bot.engine import Context, step
from bot.inputs import Text
from bot.safety import classify
from bot.state import ConversationState
from flows.lexicon import load_lexicon_text
from flows.loader import load_flow_file

FLOW = load_flow_file(Path(__file__).resolve().parents[2] / "flows" / "intake.yaml")
CATEGORIES = ("danger", "self_harm", "threat", "sextortion", "intimate_images", "grooming", "doxing", "stalking",
              "hacking", "identity_fraud", "discrimination", "bullying")
PATTERNS = {"threat": "ik maak je dood", "self_harm": "ik wil dood", "intimate_images": "naaktfoto* ... gedeeld",
            "bullying": "gepest", "sextortion": "betaal of ik (post|deel) ...", "hacking": "gehackt"}


def lexicon_yaml() -> str:
    """Return a tiny lexicon: one plain pattern per category, advice texts that name the category."""
    lines = ["version: 1", "police_advice: {nl: POLITIE, en: POLICE}",
             "minor_cues: {nl: ['(ik ben|ze is) #'], en: ['i am #']}", "categories:"]
    for category in CATEGORIES:
        plain = category.replace("_", "")
        lines += [f"  {category}:", f"    advice: {{nl: ADVIES-{category}, en: ADVICE-{category}}}",
                  f"    patterns: {{nl: ['{PATTERNS.get(category, 'x' + plain)}'], en: ['zz{plain}']}}"]
        if category == "hacking":
            lines.append("    negations: {nl: [niet]}")
    return "\n".join(lines) + "\n"


LEXICON = load_lexicon_text(lexicon_yaml())
CONTEXT = Context(lexicon=LEXICON)


def at(step_id: str, **answers: str) -> ConversationState:
    """Return a conversation waiting at a step."""
    return ConversationState(flow_version=FLOW.version, step=step_id, answers=MappingProxyType(answers))


def texts(outcome: outputs.Outcome) -> list[str]:
    """Return the reply texts."""
    return [r.text for r in outcome.replies]


def test_advice_comes_first_then_police_then_the_same_question_without_a_sorry() -> None:
    outcome = step(at("since", privacy="yes"), Text("hij zei ik maak je dood"), FLOW, CONTEXT)
    assert texts(outcome)[:2] == ["ADVIES-threat", "POLITIE"]
    assert outcome.state.step == "since" and outcome.replies[-1].quick_replies
    assert not any("Sorry" in t for t in texts(outcome)) and outcome.state.reprompts == 0
    assert outputs.FLAGGED in outcome.effects
    [detection] = outcome.detections
    assert detection.category == "threat" and detection.matched == "ik maak je dood" and detection.urgent


def test_each_advice_once_per_case_and_the_police_line_once() -> None:
    first = step(at("since", privacy="yes"), Text("ik maak je dood"), FLOW, CONTEXT)
    second = step(first.state, Text("ik maak je dood, echt"), FLOW, CONTEXT)
    assert "ADVIES-threat" not in texts(second) and "POLITIE" not in texts(second)
    third = step(second.state, Text("betaal of ik post je foto"), FLOW, CONTEXT)
    assert "ADVIES-sextortion" in texts(third) and "POLITIE" not in texts(third)
    assert third.state.advised == {"threat", "sextortion", "police"}


def test_a_new_intake_is_a_new_case_with_fresh_advice() -> None:
    advised = step(at("since", privacy="yes"), Text("ik maak je dood"), FLOW, CONTEXT).state
    restarted = step(advised, Text("opnieuw"), FLOW, CONTEXT).state
    assert restarted.advised == frozenset()


def test_a_valid_answer_that_also_raises_a_flag_is_kept_and_the_flow_moves_on() -> None:
    state = at("description", privacy="yes", reporter="student")
    outcome = step(state, Text("ik word gepest en ik wil dood"), FLOW, CONTEXT)
    assert outcome.state.answers["description"] == "ik word gepest en ik wil dood"
    assert texts(outcome)[0] == "ADVIES-self_harm" and "POLITIE" not in texts(outcome)
    assert outcome.state.step == "urgency"
    assert [d.category for d in outcome.detections] == ["self_harm"]  # bullying is dropped beside it


def test_a_typed_story_at_the_category_question_picks_the_category() -> None:
    outcome = step(at("category", privacy="yes", reporter="parent", danger="no"),
                   Text("iemand zegt betaal of ik post je naaktfoto"), FLOW, CONTEXT)
    assert outcome.state.answers["category"] == "sextortion" and outcome.state.step == "platform"


def test_a_paused_conversation_is_flagged_without_a_bot_reply() -> None:
    state = at("since", privacy="yes").update(paused=True)
    outcome = step(state, Text("ik maak je dood"), FLOW, CONTEXT)
    assert outcome.replies == () and outcome.state == state
    assert outcome.effects == (outputs.FLAGGED,) and outcome.detections[0].category == "threat"


def test_sexual_images_become_urgent_only_with_a_minor() -> None:
    adult = classify("mijn naaktfoto is gedeeld", LEXICON)
    minor = classify("ik ben 14 en mijn naaktfoto is gedeeld", LEXICON)
    assert adult[0].severity == "criminal" and minor[0].severity == "urgent"
    state = at("description", age="12_15", category="bullying")
    outcome = step(state, Text("nu is mijn naaktfoto ook nog gedeeld"), FLOW, CONTEXT)
    assert outcome.detections[0].urgent, "the age answer says a minor is involved"


def test_negations_cancel_a_match_just_before_it() -> None:
    assert classify("mijn account is niet gehackt", LEXICON) == []
    assert classify("mijn account is gehackt", LEXICON)[0].category == "hacking"


def test_english_users_get_english_advice() -> None:
    state = at("since", privacy="yes").update(locale="en", locale_chosen=True)
    assert texts(step(state, Text("ik maak je dood"), FLOW, CONTEXT))[:2] == ["ADVICE-threat", "POLICE"]
