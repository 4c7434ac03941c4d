"""The safety classifier on labelled messages, its command line, and the lexicon checks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.safety import classify, prepare
from flows.lexicon import load_lexicon_file
from handlers.evaluation import evaluate, read_labelled

ROOT = Path(__file__).resolve().parent.parent
LEXICON = load_lexicon_file(ROOT / "flows" / "lexicon.yaml")
LABELLED = ROOT / "tests" / "fixtures" / "safety" / "labelled.jsonl"


def test_recall_and_precision_on_the_labelled_set() -> None:
    report = evaluate(read_labelled(LABELLED), LEXICON)
    assert report.messages >= 300
    assert report.criminal.recall >= 0.95, report.misses
    assert report.criminal.precision >= 0.90, report.false_alarms
    assert report.alarm.recall >= 0.95 and report.alarm.precision >= 0.90


@pytest.mark.parametrize("text", [
    "ik ga dood van het lachen", "die outfit is killer", "dat is echt ziek goed", "I could kill for a coffee",
    "hij werd neergeschoten in fortnite haha", "ik lig dood 😂💀", "she killed it on stage", "ik schiet in de lach",
    "we gaan vanavond knallen", "mijn wachtwoord vergeten, hoe reset ik het", "een naaktslak in de tuin",
    "dit is echt een bom geld", "ik heb je foto geliked", "onze les over sexting was goed",
])
def test_harmless_idioms_raise_nothing(text: str) -> None:
    assert classify(text, LEXICON) == []


@pytest.mark.parametrize(("text", "category"), [
    ("ik maak je dood", "threat"),
    ("IK MAAK JE DOOOOOD!!!", "threat"),
    ("ik wil niet meer leven", "self_harm"),
    ("I want to kill myself", "self_harm"),
])
def test_obvious_messages_are_found_in_any_spelling(text: str, category: str) -> None:
    assert category in [d.category for d in classify(text, LEXICON)]


def test_preparation_undoes_accents_leetspeak_repeats_and_spelled_out_words() -> None:
    assert prepare("Suïcide N44KT!!! dooooood n.a.a.k.t 112") == " suicide naakt dood naakt 112 "


def test_blank_lines_give_an_empty_result_and_odd_bytes_no_error() -> None:
    lines = b"ik maak je dood\n\n   \nhoi\n" + b"\xff\xfe kapot\n"
    result = subprocess.run([sys.executable, "app.py", "classify"], input=lines, capture_output=True, cwd=ROOT,
                            timeout=60, check=True)
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(rows) == 5
    assert rows[0]["categories"][0] == "threat" and rows[0]["criminal"] and rows[0]["urgent"]
    assert rows[1] == {"text": "", "categories": [], "criminal": False, "urgent": False}
    assert rows[3]["categories"] == [] and not rows[3]["criminal"]


def test_eval_prints_precision_and_recall_per_category() -> None:
    result = subprocess.run([sys.executable, "app.py", "classify", "--eval", str(LABELLED)], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, check=True)
    assert "precision" in result.stdout and "sextortion" in result.stdout and "criminal (any)" in result.stdout


def test_lexicon_validate_lists_problems_with_lines(tmp_path: Path) -> None:
    broken = tmp_path / "lexicon.yaml"
    broken.write_text("version: 1\npolice_advice: {nl: a, en: b}\ncategories:\n  threat:\n"
                      "    advice: {nl: a}\n    patterns: {nl: ['(kapot']}\n  nonsense: {}\n")
    result = subprocess.run([sys.executable, "app.py", "lexicon", "validate", str(broken)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert f"{broken}:5:" in result.stdout and "no en text" in result.stdout
    assert f"{broken}:6:" in result.stdout and "not closed" in result.stdout
    assert "unknown category 'nonsense'" in result.stdout and "category 'danger' is missing" in result.stdout
    ok = subprocess.run([sys.executable, "app.py", "lexicon", "validate", "flows/lexicon.yaml"], capture_output=True,
                        text=True, cwd=ROOT, timeout=60)
    assert ok.returncode == 0 and "valid lexicon" in ok.stdout
