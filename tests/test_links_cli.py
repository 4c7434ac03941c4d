"""`python app.py links validate|show` and the LINKS_FILE setting: an admin's own links file, checked and used."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from flows.knowledge import DEFAULT_FILE, load_knowledge_file
from flows.loader import FlowError
from handlers.cli import main
from handlers.settings import Settings, load_settings
from tests.conftest import User

OWN_INTRO = {"nl": "Links van onze school. Kies een onderwerp. In gevaar? Bel 112.",
             "en": "Links from our school. Pick a topic. In danger? Call 112."}


@pytest.fixture
def own_file(tmp_path: Path) -> Path:
    """A links file of one topic, written the way an admin would edit the default one."""
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    data["intro"], data["topics"] = OWN_INTRO, data["topics"][:1]
    path = tmp_path / "links.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_validate_counts_the_topics_and_links_of_the_default_file(capsys: pytest.CaptureFixture[str]) -> None:
    knowledge = load_knowledge_file()
    assert main(["links", "validate", str(DEFAULT_FILE)]) == 0
    links = sum(len(t.links) for t in knowledge.topics)
    assert capsys.readouterr().out.strip() == (f"{DEFAULT_FILE}: valid links file: "
                                               f"{len(knowledge.topics)} topics, {links} links")


def test_validate_lists_every_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "links.yml"
    broken.write_text("version: 1\nintro: {nl: Hoi, en: Hi}\ntopics:\n  - id: fraud\n    title: {nl: Fraude}\n"
                      "    words: {nl: [fraude], en: [fraud]}\n    text: {nl: Tekst, en: Text}\n"
                      "    links:\n      - title: {nl: Site, en: Site}\n        url: http://example.nl\n",
                      encoding="utf-8")
    assert main(["links", "validate", str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{broken}: 2 problem(s); the bot will not start with this file"
    assert lines[0].startswith(f"{broken}:5:") and "en" in lines[0]  # the title without English
    assert lines[1].startswith(f"{broken}:10:") and "https" in lines[1]  # a link that is not https


def test_validate_of_a_missing_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["links", "validate", str(tmp_path / "nope.yml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_links_file_setting_is_what_validate_and_show_read(own_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINKS_FILE", str(own_file))
    assert load_settings().links_file == own_file
    assert main(["links", "validate"]) == 0
    assert capsys.readouterr().out.startswith(f"{own_file}: valid links file: 1 topics,")
    assert main(["links", "show", "--locale", "en"]) == 0
    shown = capsys.readouterr().out.splitlines()
    topic = load_knowledge_file(own_file).topics[0]
    assert shown[0] == OWN_INTRO["en"] and shown[2] == f"{topic.id}: {topic.title.en}"
    assert shown[-1] == f"  - {topic.links[-1].title.en}: {topic.links[-1].url}"


@pytest.fixture
def own_user(settings: Settings, graph: Any, own_file: Path) -> Iterator[User]:
    """A user of an app started with LINKS_FILE pointing at the admin's own file."""
    app = create_app(replace(settings, links_file=own_file), start_background=False)
    services = app.extensions["intake"]
    yield User(app.test_client(), services, graph, psid="5820461937204861")
    services.sender.close()
    services.close()


def test_the_bot_answers_from_the_links_file_setting(own_user: User, own_file: Path) -> None:
    assert own_user.say("Handige links") == [OWN_INTRO["nl"]]
    assert own_user.buttons() == [load_knowledge_file(own_file).topics[0].title.nl]


def test_a_broken_links_file_stops_the_start_with_its_problems(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "links.yml"
    broken.write_text("version: 1\ntopics: []\n", encoding="utf-8")
    with pytest.raises(FlowError, match=r"links\.yml: line 1"):
        create_app(replace(settings, links_file=broken), start_background=False)
