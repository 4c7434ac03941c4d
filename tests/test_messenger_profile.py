"""The Messenger profile: the shipped file, every problem with its line, and the CLI against the loopback Graph API."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flows.messenger_profile import check_profile_file, check_profile_text
from handlers.cli import main
from tests.conftest import APP_SECRET, PAGE_TOKEN
from tests.support.graph_server import GraphServer, Recorded, validate_profile

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "flows" / "messenger_profile.yml"
BROKEN = """\
get_started:
  payload: GET_STARTED
greeting:
  nl_NL: {long}
ice_breakers:
  default:
    - {{question: Een, payload: ONE}}
    - {{question: Twee, payload: TWO}}
    - {{question: Drie, payload: THREE}}
    - {{question: Vier, payload: FOUR}}
    - {{question: Vijf, payload: report something}}
persistent_menu:
  default:
    - title: Melden
      payload: REPORT
"""


@pytest.fixture
def page(graph: GraphServer, monkeypatch: pytest.MonkeyPatch) -> GraphServer:
    """Configure the command line for the loopback Graph API with a valid page token."""
    monkeypatch.setenv("PAGE_ACCESS_TOKEN", PAGE_TOKEN)
    monkeypatch.setenv("APP_SECRET", APP_SECRET)
    monkeypatch.setenv("GRAPH_API_URL", graph.url)
    return graph


def profile_calls(graph: GraphServer) -> list[Recorded]:
    """Return the Messenger Profile API calls the loopback server saw."""
    return [r for r in graph.requests if r.path.endswith("/messenger_profile")]


def shipped_body() -> dict:
    report = check_profile_file(SHIPPED)
    assert report.problems == [] and report.body is not None
    return report.body


def test_shipped_profile_is_valid_and_within_metas_limits() -> None:
    body = shipped_body()

    assert validate_profile(body) is None
    assert body["get_started"] == {"payload": "GET_STARTED"}
    assert [g["locale"] for g in body["greeting"]] == ["default", "en_US", "en_GB"]
    assert all(len(g["text"]) <= 160 and "112" in g["text"] and "24" in g["text"] for g in body["greeting"])
    dutch_ice = body["ice_breakers"][0]
    assert dutch_ice["locale"] == "default"
    assert [(q["question"], q["payload"]) for q in dutch_ice["call_to_actions"]] == [
        ("Ik wil iets melden", "REPORT"), ("Ik ben ouder en maak me zorgen", "REPORT_PARENT"),
        ("Handige links", "LINKS"), ("Praat met een adviseur", "HUMAN")]
    menus = {menu["locale"]: menu for menu in body["persistent_menu"]}
    assert [(i["type"], i["title"], i["payload"]) for i in menus["default"]["call_to_actions"]] == [
        ("postback", "Melden", "REPORT"), ("postback", "Spoed", "EMERGENCY"),
        ("postback", "Praat met een adviseur", "HUMAN"), ("postback", "Handige links", "LINKS"),
        ("postback", "Mijn gegevens", "MY_DATA")]
    assert all(menu["composer_input_disabled"] is False for menu in menus.values())
    assert [i["payload"] for i in menus["en_US"]["call_to_actions"]] == ["REPORT", "EMERGENCY", "HUMAN", "LINKS",
                                                                         "MY_DATA"]


def test_validate_command_checks_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messenger-profile", "validate"]) == 0
    assert "valid Messenger profile" in capsys.readouterr().out


def test_push_sends_exactly_one_body_that_meta_stores(page: GraphServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messenger-profile", "push"]) == 0

    calls = profile_calls(page)
    assert [(c.method, c.status) for c in calls] == [("POST", 200)]
    assert calls[0].body == shipped_body()
    assert page.profile == shipped_body()
    assert '"result": "success"' in capsys.readouterr().out


def test_show_reads_the_pushed_profile_back(page: GraphServer, capsys: pytest.CaptureFixture[str]) -> None:
    main(["messenger-profile", "push"])
    capsys.readouterr()

    assert main(["messenger-profile", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == shipped_body()
    assert main(["messenger-profile", "show"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == shipped_body()
    assert profile_calls(page)[-1].query["fields"] == "get_started,greeting,ice_breakers,persistent_menu"


def test_diff_is_empty_after_push_and_shows_a_changed_file(page: GraphServer, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    main(["messenger-profile", "push"])
    capsys.readouterr()
    assert main(["messenger-profile", "diff"]) == 0
    assert capsys.readouterr().out == ""

    changed = tmp_path / "profile.yml"
    changed.write_text(SHIPPED.read_text(encoding="utf-8").replace("title: Spoed", "title: Noodgeval"),
                       encoding="utf-8")
    assert main(["messenger-profile", "diff", "--file", str(changed)]) == 1
    out = capsys.readouterr().out
    assert "\n-    title: Spoed\n+    title: Noodgeval\n" in out
    assert [c.method for c in profile_calls(page)] == ["POST", "GET", "GET"]


def test_diff_against_an_empty_page_shows_everything(page: GraphServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messenger-profile", "diff"]) == 1
    assert "\n+get_started:\n+  payload: GET_STARTED\n" in capsys.readouterr().out


def test_broken_file_reports_every_problem_with_its_line() -> None:
    report = check_profile_text(BROKEN.format(long="x" * 200))

    assert report.body is None
    found = [(p.line, p.message) for p in report.problems]
    assert found == [
        (3, "greeting needs a 'default' locale (shown when no other matches)"),
        (4, "greeting nl_NL: 200 characters, Meta allows at most 160"),
        (6, "ice_breakers default: 5 questions, Meta allows at most 4"),
        (11, "ice_breakers default payload 'report something' must be capital letters, digits and _ "
             "(like REPORT_PARENT)"),
    ]


def test_push_of_a_broken_file_prints_every_problem_and_sends_nothing(page: GraphServer, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN.format(long="x" * 200), encoding="utf-8")

    assert main(["messenger-profile", "push", "--file", str(broken)]) == 1
    out = capsys.readouterr().out
    for line in (3, 4, 6, 11):
        assert f"{broken}:{line}:" in out
    assert "4 problem(s); nothing was sent to Meta" in out
    assert profile_calls(page) == []


@pytest.mark.parametrize(("change", "line", "message"), [
    (("payload: GET_STARTED", "payload: " + "G" * 1001), 7, "get_started payload: 1001 characters"),
    (("title: Spoed", "title: " + "S" * 31), 43, "has 31 characters, Meta allows at most 30"),
    (("title: Spoed", "type: phone_number\n      title: Spoed"), 43, "type 'phone_number' is not one of"),
    (("  en_GB: *menu_en", "  nederlands: *menu_en"), 62, "'nederlands' is not a locale"),
    (("    - title: Melden\n      payload: REPORT", "    - title: Site\n      type: web_url"), 41,
     "a web_url item needs a url"),
    (("get_started:", "whitelisted_domains: []\nget_started:"), 6, "unknown key 'whitelisted_domains'"),
    (("persistent_menu:\n  default:", "persistent_menu:\n  nl_NL:"), 39, "persistent_menu needs a 'default' locale"),
    (("greeting:", "greeting: ["), 10, "YAML syntax"),
])
def test_each_limit_is_reported_at_its_line(change: tuple[str, str], line: int, message: str) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert change[0] in text
    report = check_profile_text(text.replace(change[0], change[1], 1))

    assert report.body is None
    assert [(p.line, message in p.message) for p in report.problems][:1] == [(line, True)], report.problems


def test_menu_over_twenty_items_is_refused() -> None:
    items = "".join(f"    - {{title: Item {i}, payload: ITEM_{i}}}\n" for i in range(21))
    text = ("get_started: {payload: GO}\ngreeting: {default: Hoi}\nice_breakers: {default: []}\n"
            f"persistent_menu:\n  default:\n{items}")
    report = check_profile_text(text)

    assert [(p.line, p.message) for p in report.problems] == [
        (5, "persistent_menu default: 21 items, Meta allows at most 20")]


def test_eleventh_profile_call_within_ten_minutes_is_refused_clearly(page: GraphServer,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(10):
        assert main(["messenger-profile", "show"]) == 0
    capsys.readouterr()

    assert main(["messenger-profile", "push"]) == 1
    err = capsys.readouterr().err
    assert "Meta refused the profile" in err and "Meta error code 613" in err
    assert "10 Messenger Profile calls per 10 minutes" in err
    assert page.profile == {}


def test_metas_error_code_is_printed(page: GraphServer, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAGE_ACCESS_TOKEN", "expired-token")

    assert main(["messenger-profile", "push"]) == 1
    err = capsys.readouterr().err
    assert "Meta error code 190" in err and "generate a new PAGE_ACCESS_TOKEN" in err


@pytest.mark.parametrize("action", ["push", "show", "diff"])
def test_without_a_page_token_it_says_what_to_set(action: str, graph: GraphServer, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAGE_ACCESS_TOKEN", "")
    monkeypatch.setenv("GRAPH_API_URL", graph.url)

    assert main(["messenger-profile", action]) == 2
    err = capsys.readouterr().err
    assert "PAGE_ACCESS_TOKEN is not set" in err and "Traceback" not in err
    assert graph.requests == []
