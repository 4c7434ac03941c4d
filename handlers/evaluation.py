"""Measure the safety classifier against a labelled JSONL file: precision and recall per category."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.safety import classify
from flows.lexicon import Lexicon
from flows.model import CRIMINAL, SAFETY_CATEGORIES


@dataclass(frozen=True)
class Score:
    """Counts of one yes/no question over a labelled set."""

    true_pos: int
    false_pos: int
    false_neg: int

    @property
    def precision(self) -> float:
        return self.true_pos / (self.true_pos + self.false_pos) if self.true_pos + self.false_pos else 1.0

    @property
    def recall(self) -> float:
        return self.true_pos / (self.true_pos + self.false_neg) if self.true_pos + self.false_neg else 1.0


@dataclass(frozen=True)
class Report:
    """The scores of one evaluation run."""

    messages: int
    criminal: Score  # is the message about a crime at all
    alarm: Score  # any category but bullying (crime or danger): what makes the bot act
    categories: dict[str, Score]
    false_alarms: list[str]  # harmless messages that raised anything
    misses: list[tuple[str, list[str]]]  # criminal or urgent messages found as nothing


def read_labelled(path: Path) -> list[tuple[str, set[str]]]:
    """Read {"text", "categories"} lines."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            rows.append((item["text"], set(item["categories"])))
    return rows


def evaluate(rows: Iterable[tuple[str, set[str]]], lexicon: Lexicon) -> Report:
    """Classify every labelled message and count hits and misses."""
    counts: Counter[tuple[str, str]] = Counter()
    false_alarms, misses, total = [], [], 0
    for text, expected in rows:
        total += 1
        found = {d.category for d in classify(text, lexicon)}
        for category in SAFETY_CATEGORIES:
            counts[(category, _outcome(category in expected, category in found))] += 1
        for name, members in (("criminal", CRIMINAL), ("alarm", set(SAFETY_CATEGORIES) - {"bullying"})):
            counts[(name, _outcome(bool(expected & members), bool(found & members)))] += 1
        if not expected and found:
            false_alarms.append(text)
        if expected - {"bullying"} and not found - {"bullying"}:
            misses.append((text, sorted(expected)))
    score = lambda name: Score(counts[(name, "tp")], counts[(name, "fp")], counts[(name, "fn")])  # noqa: E731
    return Report(total, score("criminal"), score("alarm"), {c: score(c) for c in SAFETY_CATEGORIES},
                  false_alarms, misses)


def _outcome(expected: bool, found: bool) -> str:
    """Name the cell of the confusion table."""
    return {(True, True): "tp", (False, True): "fp", (True, False): "fn"}.get((expected, found), "tn")


def format_report(report: Report) -> str:
    """Return the report as a table for the terminal."""
    lines = [f"{report.messages} messages", f"{'':18}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}"]
    named = [("criminal (any)", report.criminal), ("alarm (any)", report.alarm), *report.categories.items()]
    for name, score in named:
        lines.append(f"{name:18}{score.precision:10.3f}{score.recall:8.3f}"
                     f"{score.true_pos:5d}{score.false_pos:5d}{score.false_neg:5d}")
    lines.append(f"false alarms on harmless messages: {len(report.false_alarms)}")
    lines += [f"  FALSE ALARM: {text}" for text in report.false_alarms]
    lines += [f"  MISSED {labels}: {text}" for text, labels in report.misses]
    return "\n".join(lines)
