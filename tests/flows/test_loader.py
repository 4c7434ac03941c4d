"""The flow loader: the shipped intake is valid, and a broken flow names every problem with its place."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.lexicon import check_lexicon_text, load_lexicon_text
from flows.loader import (
    MAX_QUICK_REPLIES,
    MAX_TEXT,
    MAX_TITLE,
    FlowError,
    FlowReport,
    check_flow_file,
    check_flow_text,
    load_flow_file,
    load_flow_text,
)
from flows.model import LOCALES

ROOT = Path(__file__).resolve().parents[2]
INTAKE = ROOT / "flows" / "intake.yaml"

VALID = """\
    id: mini
    version: 1
    start: ask
    steps:
      - id: ask
        type: choice
        text: {nl: "Gaat het?", en: "Are you ok?"}
        options:
          - {value: "yes", title: {nl: "Ja", en: "Yes"}}
          - {value: "no", title: {nl: "Nee", en: "No"}, next: help}
        next: done
      - id: help
        type: info
        text: {nl: "Bel 112.", en: "Call 112."}
        next: done
      - id: done
        type: end
        text: {nl: "Dank je. Je meldnummer is {case_reference}.", en: "Thanks. Your case is {case_reference}."}
"""


def problems(source: str) -> list[tuple[int, int, str]]:
    """Load flow YAML that must be broken; return its problems as (line, column, message)."""
    with pytest.raises(FlowError) as caught:
        load_flow_text(textwrap.dedent(source))
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def texts_of(flow_step: object) -> list[str]:
    """Return every text a step can send, in every locale and variant."""
    texts = [flow_step.text] + [v.text for v in flow_step.variants]  # type: ignore[attr-defined]
    return [t.get(locale) for t in texts if t is not None for locale in LOCALES]


def test_the_shipped_intake_loads_with_its_start_and_end() -> None:
    flow = load_flow_file(INTAKE)
    assert (flow.id, flow.version, flow.start) == ("intake", 1, "privacy")
    assert len(flow.steps) == 19
    assert flow.step("done").type == "end" and flow.step("done").creates_case and flow.step("done").sends_links
    assert {s.id for s in flow.steps.values() if s.type == "end"} == {"done", "privacy_declined"}
    assert not flow.step("privacy_declined").creates_case


def test_the_shipped_intake_keeps_to_messengers_limits() -> None:
    flow = load_flow_file(INTAKE)
    choices = [s for s in flow.steps.values() if s.type == "choice"]
    assert len(choices) == 11
    for step in choices:
        assert 2 <= len(step.options) <= MAX_QUICK_REPLIES, step.id
        for option in step.options:
            for locale in LOCALES:
                assert 0 < len(option.title.get(locale)) <= MAX_TITLE, (step.id, option.value, locale)
    for step in flow.steps.values():
        assert all(0 < len(text) <= MAX_TEXT for text in texts_of(step)), step.id


def test_every_category_of_the_shipped_intake_has_https_links() -> None:
    flow = load_flow_file(INTAKE)
    for option in flow.step("category").options:
        assert option.value in flow.link_sets, option.value
        links = flow.links_for(option.value)
        assert links and all(link.url.startswith("https://") for link in links)


def test_a_valid_flow_loads_into_steps_and_transitions() -> None:
    flow = load_flow_text(textwrap.dedent(VALID))
    assert list(flow.steps) == ["ask", "help", "done"]
    assert flow.step("ask").option("no").next == "help"
    assert flow.step("done").text.en == "Thanks. Your case is {case_reference}."
    assert flow.links_for("anything") == ()


def test_a_yaml_syntax_error_gives_its_line_and_column() -> None:
    found = problems("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: nl: "Wat is er gebeurd?"
            next: done
    """)
    assert [(line, column) for line, column, _ in found] == [(7, 13)]
    assert "YAML syntax" in found[0][2] and "mapping values are not allowed" in found[0][2]


@pytest.mark.parametrize(("source", "expected"), [
    pytest.param("""\
        id: mini
        start: done
        steps:
          - just a sentence
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(4, 5, "each step must be a mapping with an id and a type")], id="a step that is not a mapping"),
    pytest.param("""\
        id: mini
        start: route
        steps:
          - id: route
            type: branch
            on: route
            cases: {when: yes, next: done}
            default: done
          - id: done
            type: end
            case: "yes please"
            variants: {when: {route: x}}
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(6, 5, "no earlier step asks"), (7, 5, "cases must be a list"), (11, 5, "'case' must be true or false"),
          (12, 5, "variants must be a list")],
        id="mappings where lists belong, a word where true or false belongs"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: question
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(6, 5, "unknown step type 'question'")], id="unknown step type"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            colour: blue
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(8, 5, "unknown field 'colour' in text step 'ask'")], id="unknown field"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: dne
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(8, 5, "step 'ask' goes to 'dne', which does not exist")], id="next to a missing step"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Wie ben jij?", en: "Who are you?"}
            options:
              - {value: student, title: {nl: "Leerling", en: "Pupil"}}
            next: route
          - id: route
            type: branch
            on: ask
            cases:
              - {when: [student], next: tips}
            default: dnoe
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(15, 27, "step 'route' goes to 'tips'"), (16, 5, "step 'route' goes to 'dnoe'")],
        id="branch to missing steps"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: orphan
            type: info
            text: {nl: "Hier kom je nooit.", en: "Nobody gets here."}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(9, 5, "step 'orphan' can never be reached")], id="unreachable step"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Gaat het?", en: "Are you ok?"}
            options:
              - {value: "yes", title: {nl: "Ja", en: "Yes"}}
              - {value: "no", title: {nl: "Nee", en: "No"}, next: ping}
            next: done
          - id: ping
            type: info
            text: {nl: "Ping", en: "Ping"}
            next: pong
          - id: pong
            type: info
            text: {nl: "Pong", en: "Pong"}
            next: ping
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(12, 5, "no end can be reached from step 'ping'"), (16, 5, "no end can be reached from step 'pong'")],
        id="no way to an end"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Gaat het?"}
            options:
              - {value: "yes", title: {nl: "Ja", en: "Yes"}}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(7, 11, "'text' has no en text")], id="choice without en text"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Kies", en: "Pick"}
            options: [{value: a, title: {nl: A, en: A}}, {value: b, title: {nl: B, en: B}},
                      {value: c, title: {nl: C, en: C}}, {value: d, title: {nl: D, en: D}},
                      {value: e, title: {nl: E, en: E}}, {value: f, title: {nl: F, en: F}},
                      {value: g, title: {nl: G, en: G}}, {value: h, title: {nl: H, en: H}},
                      {value: i, title: {nl: I, en: I}}, {value: j, title: {nl: J, en: J}},
                      {value: k, title: {nl: K, en: K}}, {value: l, title: {nl: L, en: L}},
                      {value: m, title: {nl: M, en: M}}, {value: n, title: {nl: N, en: N}}]
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(8, 5, "14 options; Messenger allows at most 13")], id="14 options"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Kies", en: "Pick"}
            options:
              - value: a
                title: {nl: "Eenentwintig tekens!!", en: "Twenty characters!!!"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(10, 17, "'title' (nl) is 21 characters; the limit is 20")], id="title of 21 characters"),
    pytest.param(f"""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text:
              nl: "Vertel het maar."
              en: "{'x' * 2001}"
            next: done
          - id: done
            type: end
            text: {{nl: "Dank je.", en: "Thanks."}}
    """, [(9, 7, "'text' (en) is 2001 characters; the limit is 2000")], id="text over 2000 characters"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: ask
            type: info
            text: {nl: "Nog eens.", en: "Again."}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(9, 5, "duplicate step id 'ask'")], id="duplicate step id"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: route
          - id: route
            type: branch
            on: reporter
            cases:
              - {when: [student], next: done}
            default: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(11, 5, "step 'route' uses answer 'reporter', which no earlier step asks")],
        id="branch on an answer no step asks"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Hoi {name}, wat is er?", en: "Hi, what happened?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(7, 12, "unknown placeholder {name}")], id="unknown placeholder"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat is er?", en: "Case {case_reference}: what happened?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(7, 30, "{case_reference} is only known in an end step")], id="case reference outside an end step"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Gaat het?", en: "Are you ok?"}
            options:
              - value: "no"
                title: {nl: "Nee", en: "No"}
                flags: [danger, panic]
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(11, 9, "unknown safety category 'panic'")], id="unknown safety flag"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: nl: "Wat is er gebeurd?"
            next: done
    """, [(7, 13, "YAML syntax: mapping values are not allowed")], id="YAML syntax error"),
    pytest.param("""\
        id: mini
        start: ask\x07
    """, [(2, 11, "YAML syntax: special characters are not allowed")], id="YAML forbidden character"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Kies", en: "Pick"}
            options:
              - value: a
                title: {nl: A, en: A}
                colour: red
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(11, 9, "unknown field 'colour' in option")], id="unknown field in an option"),
    pytest.param("""\
        id: mini
        version: 1
        author: Ida
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(3, 1, "unknown field 'author' in flow")], id="unknown field at the top level"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        links:
          - id: help
            title: {nl: "Hulp", en: "Help"}
            url: https://example.org
            colour: red
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(8, 5, "unknown field 'colour' in link")], id="unknown field in a link"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {en: "Are you ok?"}
            options:
              - {value: "yes", title: {nl: "Ja", en: "Yes"}}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(7, 11, "'text' has no nl text")], id="choice without nl text"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            text: {nl: "Hoe?", en: "How?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(8, 5, "duplicate key 'text'")], id="duplicate text key"),
    pytest.param("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            next: done
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks.", nl: "Bedankt."}
    """, [(9, 5, "duplicate key 'next'"), (12, 43, "duplicate key 'nl'")], id="duplicate next key"),
    pytest.param("""\
        id: mini
        version: 1
        start: route
        steps:
          - id: route
            type: branch
            on: reporter
            cases:
              - {when: [student], next: who}
            default: who
          - id: who
            type: choice
            answer: reporter
            text: {nl: "Wie ben jij?", en: "Who are you?"}
            options:
              - {value: student, title: {nl: "Leerling", en: "Pupil"}}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(7, 5, "step 'route' uses answer 'reporter', which no earlier step asks (step 'who' asks it")],
        id="branch on an answer asked only after it"),
    pytest.param("""\
        id: mini
        version: 1
        start: story
        steps:
          - id: story
            type: text
            text: {nl: "Wat is er gebeurd?", en: "What happened?"}
            variants:
              - when: {reporter: student}
                text: {nl: "Wat is er met jou gebeurd?", en: "What happened to you?"}
            next: who
          - id: who
            type: choice
            answer: reporter
            text: {nl: "Wie ben jij?", en: "Who are you?"}
            options:
              - {value: student, title: {nl: "Leerling", en: "Pupil"}}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(9, 16, "step 'story' uses answer 'reporter', which no earlier step asks")],
        id="variant on an answer asked only after it"),
    pytest.param("""\
        id: mini
        version: one
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """, [(2, 1, "version must be a whole number")], id="version not a whole number"),
])
def test_a_broken_flow_names_the_problem_and_where_it_is(source: str, expected: list[tuple[int, int, str]]) -> None:
    found = problems(source)
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in expected]
    for (_, _, message), (_, _, fragment) in zip(found, expected, strict=True):
        assert fragment in message


def test_every_problem_in_one_file_is_reported_in_line_order() -> None:
    found = problems("""\
        id: mini
        version: one
        author: Ida
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Hoi {name}, gaat het?"}
            options:
              - {value: "yes", title: {nl: "Ja, het gaat prima!!!", en: "Yes"}}
              - {value: "no", title: {nl: "Nee", en: "No"}, flags: [panic], next: hlep}
            wait: true
            next: route
          - id: route
            type: branch
            on: reporter
            cases:
              - {when: [student], next: done}
            default: done
          - id: who
            type: choice
            answer: reporter
            text: {nl: "Wie?", en: "Who?"}
            text: {nl: "Wie ben jij?", en: "Who are you?"}
            options:
              - {value: student, title: {nl: "Leerling", en: "Pupil"}, colour: red}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """)
    expected = [
        (2, 1, "version must be a whole number"),
        (3, 1, "unknown field 'author' in flow"),
        (8, 11, "'text' has no en text"),
        (8, 12, "unknown placeholder {name}"),
        (10, 32, "'title' (nl) is 21 characters; the limit is 20"),
        (11, 53, "unknown safety category 'panic'"),
        (11, 69, "step 'ask' goes to 'hlep', which does not exist"),
        (12, 5, "unknown field 'wait' in choice step 'ask'"),
        (16, 5, "step 'route' uses answer 'reporter', which no earlier step asks"),
        (24, 5, "duplicate key 'text'"),
        (26, 64, "unknown field 'colour' in option"),
    ]
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in expected]
    for (_, _, message), (_, _, fragment) in zip(found, expected, strict=True):
        assert fragment in message


def test_reachability_is_judged_only_once_every_target_exists() -> None:
    found = problems("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: text
            text: {nl: "Wat?", en: "What?"}
            next: dnoe
          - id: orphan
            type: info
            text: {nl: "Hier kom je nooit.", en: "Nobody gets here."}
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """)
    assert [(line, column) for line, column, _ in found] == [(8, 5)]
    assert "goes to 'dnoe'" in found[0][2]


def test_the_flow_error_message_lists_every_problem_with_its_place() -> None:
    source = textwrap.dedent(VALID).replace("next: help", "next: hlep").replace("type: info", "type: note")
    with pytest.raises(FlowError) as caught:
        load_flow_text(source, source="flows/mini.yaml")
    assert str(caught.value).startswith("flows/mini.yaml: line 10, column ")
    assert "line 13, column 5: step 'help': unknown step type 'note'" in str(caught.value)
    assert len(caught.value.problems) == 2


def test_yaml_1_2_words_stay_strings() -> None:
    flow = load_flow_text(textwrap.dedent("""\
        id: mini
        version: 2
        start: age
        steps:
          - id: age
            type: choice
            text: {nl: "Hoe oud?", en: "How old?"}
            options:
              - {value: 12_15, title: {nl: "12 tot en met 15", en: "12 to 15"}}
              - {value: yes, title: {nl: "Ja", en: "Yes"}}
              - {value: no, title: {nl: "Nee", en: "No"}}
              - {value: on, title: {nl: "Aan", en: "On"}}
            next: route
          - id: route
            type: branch
            on: age
            cases:
              - {when: [yes, 12_15], next: done}
            default: done
          - id: done
            type: end
            case: false
            text: {nl: "Dank je.", en: "Thanks."}
    """))
    assert [o.value for o in flow.step("age").options] == ["12_15", "yes", "no", "on"]
    assert flow.step("route").on == "age"
    assert flow.step("route").cases[0].values == ("yes", "12_15")
    assert flow.version == 2 and flow.step("done").creates_case is False


CATEGORY_QUESTION = """\
    id: mini
    start: what
    steps:
      - id: what
        type: choice
        case_field: category
        text: {nl: "Wat is er gebeurd?", en: "What happened?"}
        options:
          - {value: sextortion, title: {nl: "Chantage", en: "Blackmail"}}
          - {value: other, title: {nl: "Iets anders", en: "Something else"}}
        next: done
      - id: done
        type: end
        text: {nl: "Dank je.", en: "Thanks."}
"""


def warnings_of(source: str) -> list[tuple[int, int, str]]:
    """Check flow YAML that must have no problems; return its warnings as (line, column, message)."""
    report = check_flow_text(textwrap.dedent(source))
    assert report.problems == [] and report.flow is not None
    return [(w.line, w.column, w.message) for w in report.warnings]


def test_the_shipped_intake_has_no_problems_and_no_warnings() -> None:
    report = check_flow_file(INTAKE)
    assert isinstance(report, FlowReport)
    assert (report.problems, report.warnings) == ([], [])
    assert report.ok and report.flow is not None and report.flow.id == "intake"


def test_a_category_question_without_safety_flags_is_warned_about_but_loads() -> None:
    found = warnings_of(CATEGORY_QUESTION)
    assert [(line, column) for line, column, _ in found] == [(8, 5), (9, 10)]
    assert found[0][2] == ("question 'what' on the incident type maps no answer to a safety category: "
                           "add 'flags' to answers such as extortion, threats or danger")
    assert "answer 'sextortion'" in found[1][2] and "no 'flags'" in found[1][2]
    assert load_flow_text(textwrap.dedent(CATEGORY_QUESTION)).step("what").case_field == "category"


def test_an_answer_named_after_a_safety_category_without_flags_is_warned_about() -> None:
    source = CATEGORY_QUESTION.replace(
        '{value: sextortion, title: {nl: "Chantage", en: "Blackmail"}}',
        '{value: sextortion, title: {nl: "Chantage", en: "Blackmail"}, flags: [sextortion]}\n'
        '          - {value: death-threats, title: {nl: "Bedreiging", en: "Threats"}}\n'
        '          - {value: cyber bullying, title: {nl: "Pesten", en: "Bullying"}}')
    found = warnings_of(source)
    assert [(line, column) for line, column, _ in found] == [(10, 10), (11, 10)]
    assert "answer 'death-threats' of question 'what' sounds like safety category 'threat'" in found[0][2]
    assert "safety category 'bullying'" in found[1][2] and "flags: [bullying]" in found[1][2]


def test_other_questions_and_flagged_category_questions_give_no_warnings() -> None:
    assert warnings_of(CATEGORY_QUESTION.replace("        case_field: category\n", "")) == []
    assert warnings_of(VALID) == []


def test_a_broken_flow_reports_problems_and_warnings_together_and_no_flow() -> None:
    report = check_flow_text(textwrap.dedent(CATEGORY_QUESTION).replace("next: done\n", "next: dnoe\n"))
    assert report.flow is None and not report.ok
    assert [(p.line, p.column) for p in report.problems] == [(11, 5)]
    assert [(w.line, w.column) for w in report.warnings] == [(8, 5), (9, 10)]


def test_a_syntax_error_is_one_problem_even_with_duplicate_keys() -> None:
    report = check_flow_text("id: mini\nid: again\nsteps: [\n")
    assert len(report.problems) == 1 and report.problems[0].message.startswith("YAML syntax")
    assert report.flow is None and report.warnings == []


def test_the_version_is_optional_and_defaults_to_1() -> None:
    flow = load_flow_text(textwrap.dedent(VALID).replace("version: 1\n", ""))
    assert flow.version == 1
    assert [m for *_, m in problems(textwrap.dedent(VALID).replace("version: 1", "version: true"))] == [
        "version must be a whole number"]


def test_a_later_question_on_another_path_does_not_count_as_earlier() -> None:
    found = problems("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Gaat het?", en: "Are you ok?"}
            options:
              - {value: "yes", title: {nl: "Ja", en: "Yes"}, next: route}
              - {value: "no", title: {nl: "Nee", en: "No"}, next: who}
          - id: who
            type: choice
            answer: reporter
            text: {nl: "Wie ben jij?", en: "Who are you?"}
            options:
              - {value: student, title: {nl: "Leerling", en: "Pupil"}}
            next: done
          - id: route
            type: branch
            on: reporter
            cases:
              - {when: [student], next: done}
            default: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """)
    assert [(line, column) for line, column, _ in found] == [(20, 5)]
    assert "step 'route' uses answer 'reporter', which no earlier step asks (step 'who' asks it" in found[0][2]


def test_the_example_flow_in_the_docs_is_valid_without_warnings() -> None:
    docs = (ROOT / "docs" / "flows.md").read_text(encoding="utf-8")
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    report = check_flow_text(example, source="docs/flows.md")
    assert report.problems == [] and report.warnings == []
    assert report.flow is not None and report.flow.id == "example"


def test_the_lexicon_report_has_the_lexicon_and_no_problems() -> None:
    text = (ROOT / "flows" / "lexicon.yaml").read_text(encoding="utf-8")
    report = check_lexicon_text(text, source="flows/lexicon.yaml")
    assert report.ok and report.lexicon is not None and report.problems == [] and report.warnings == []
    assert list(report.lexicon.categories) == list(load_lexicon_text(text).categories)


def test_the_lexicon_report_lists_a_duplicate_key_and_load_raises() -> None:
    text = (ROOT / "flows" / "lexicon.yaml").read_text(encoding="utf-8")
    broken = text.replace("\nversion:", "\nversion: 3\nversion:", 1) if "\nversion:" in text else "version: 3\n" + text
    line = broken.splitlines().index("version: 3") + 2
    report = check_lexicon_text(broken)
    assert report.lexicon is None
    assert [(p.line, p.column, p.message) for p in report.problems] == [(line, 1, "duplicate key 'version'")]
    with pytest.raises(FlowError):
        load_lexicon_text(broken)


def test_a_problem_in_a_step_whose_id_is_repeated_points_at_the_first_step() -> None:
    source = """\
    id: mini
    start: hello
    steps:
      - id: hello
        type: info
        text: {nl: "Hoi", en: "Hi"}
        next: nowhere
      - id: hello
        type: info
        text: {nl: "Hoi", en: "Hi"}
        next: bye
      - id: bye
        type: end
        case: false
        text: {nl: "Dag", en: "Bye"}
    """
    report = check_flow_text(textwrap.dedent(source))
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (7, 5, "step 'hello' goes to 'nowhere', which does not exist"), (8, 5, "duplicate step id 'hello'")]
