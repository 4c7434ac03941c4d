"""The flow loader: the shipped intake is valid, and a broken flow names every problem with its place."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.loader import MAX_QUICK_REPLIES, MAX_TEXT, MAX_TITLE, FlowError, load_flow_file, load_flow_text
from flows.model import LOCALES
from flows.registry import FlowRegistry

INTAKE = Path(__file__).resolve().parents[2] / "flows" / "intake.yaml"

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
    """, [(11, 5, "step 'route' uses answer 'reporter', which no question asks")], id="branch on an unasked answer"),
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
])
def test_a_broken_flow_names_the_problem_and_where_it_is(source: str, expected: list[tuple[int, int, str]]) -> None:
    found = problems(source)
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in expected]
    for (_, _, message), (_, _, fragment) in zip(found, expected, strict=True):
        assert fragment in message


def test_every_problem_in_one_file_is_reported_in_line_order() -> None:
    found = problems("""\
        id: mini
        version: 1
        start: ask
        steps:
          - id: ask
            type: choice
            text: {nl: "Hoi {name}, gaat het?"}
            options:
              - {value: "yes", title: {nl: "Ja, het gaat prima!!!", en: "Yes"}}
              - {value: "no", title: {nl: "Nee", en: "No"}, flags: [panic], next: hlep}
            wait: true
            next: done
          - id: done
            type: end
            text: {nl: "Dank je.", en: "Thanks."}
    """)
    assert [(line, column) for line, column, _ in found] == [(7, 11), (7, 12), (9, 32), (10, 53), (10, 69), (11, 5)]
    fragments = [
        "'text' has no en text",
        "unknown placeholder {name}",
        "'title' (nl) is 21 characters; the limit is 20",
        "unknown safety category 'panic'",
        "step 'ask' goes to 'hlep', which does not exist",
        "unknown field 'wait' in choice step 'ask'",
    ]
    for (_, _, message), fragment in zip(found, fragments, strict=True):
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


def test_the_registry_serves_the_newest_version_and_keeps_the_older_one(tmp_path: Path) -> None:
    old = textwrap.dedent(VALID)
    (tmp_path / "mini_v1.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "mini_v2.yaml").write_text(old.replace("version: 1", "version: 2"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    registry = FlowRegistry.from_directory(tmp_path)
    assert registry.current("mini").version == 2
    assert registry.get("mini", 1).version == 1 and registry.get("mini", 2) is registry.current("mini")
    assert registry.get("mini", 3) is None
    with pytest.raises(LookupError):
        registry.current("intake")


def test_the_registry_refuses_a_directory_with_a_broken_flow(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(textwrap.dedent(VALID).replace("next: help", "next: hlep"), encoding="utf-8")
    with pytest.raises(FlowError) as caught:
        FlowRegistry.from_directory(tmp_path)
    assert caught.value.source.endswith("mini.yaml") and len(caught.value.problems) == 1
