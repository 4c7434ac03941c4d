"""Recognise criminal content and danger in a message, with rules from the lexicon. Pure and fast."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from flows.lexicon import CategoryRules, Lexicon
from flows.model import CRIMINAL, SAFETY_CATEGORIES, URGENT
from flows.patterns import Compiled

LEET = str.maketrans("431057@$", "aeiostas")
WORDS = re.compile(r"[a-z0-9@$]+")
INNER_LEET = re.compile(r"(?<=[a-z])[0-9@$]+(?=[a-z])")
REPEATS = re.compile(r"([a-z])\1{2,}")
SPELLED_OUT = re.compile(r"(?<![a-z0-9])(?:[a-z] ){2,}[a-z](?![a-z0-9])")  # "n a a k t", from "n.a.a.k.t"
NEGATION_WINDOW = 3
ORDER = {name: rank for rank, name in enumerate(SAFETY_CATEGORIES)}


@dataclass(frozen=True)
class Detection:
    """One category found in a message: the words that matched and how serious it is."""

    category: str
    matched: str
    span: tuple[int, int]  # in the prepared text
    severity: str  # urgent | criminal | concern
    source: str = "message"  # message: found in typed text; answer: an intake answer the flow maps to it

    @property
    def criminal(self) -> bool:
        """Whether the category is a criminal offence (police advice follows)."""
        return self.category in CRIMINAL

    @property
    def urgent(self) -> bool:
        """Whether the case becomes urgent."""
        return self.severity == "urgent"


def prepare(text: str, emoji: Mapping[str, str] | None = None) -> str:
    """Return the text as patterns see it: ' words in lower case without accents or leetspeak '."""
    for symbol, word in (emoji or {}).items():
        if symbol in text:
            text = text.replace(symbol, word)
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = [_unleet(w) for w in WORDS.findall(text)]
    prepared = REPEATS.sub(r"\1\1", " ".join(w for w in words if w))
    prepared = SPELLED_OUT.sub(lambda m: m.group().replace(" ", ""), prepared)
    return f" {prepared} "


def _unleet(word: str) -> str:
    """Turn leetspeak digits between letters into letters (n44kt, k1ll); keep 12yo and 2e as they are."""
    if word.isalpha() or word.isdigit():
        return word
    return INNER_LEET.sub(lambda m: m.group().translate(LEET), word).strip("@$")


def classify(text: str, lexicon: Lexicon) -> list[Detection]:
    """Return one detection per category found in the text, most serious first."""
    prepared = prepare(text, lexicon.emoji)
    words = prepared.split()
    if not words:
        return []
    found: dict[str, Detection] = {}
    vocabulary = frozenset(words)
    harmless: dict[str, list[Compiled]] | None = None  # the exceptions that can match, worked out on a first hit
    for category, pattern in lexicon.index.candidates(vocabulary):
        if category in found:
            continue
        for match in _search_all(prepared, pattern):
            if harmless is None:
                harmless = {}
                for name, exception in lexicon.exception_index.candidates(vocabulary):
                    harmless.setdefault(name, []).append(exception)
            if not _excepted(prepared, match, harmless.get(category, [])) and \
                    not _negated(prepared, match, lexicon.categories[category]):
                found[category] = Detection(category, match.group().strip(), match.span(), "concern")
                break
    if len(found) > 1:
        found.pop("bullying", None)  # bullying only when nothing worse is there
    categories = found.keys()
    minor = "intimate_images" in categories and any(
        cue.search(prepared) for _, cue in lexicon.minor_index.candidates(vocabulary))
    return sorted((_with_severity(d, minor) for d in found.values()), key=_rank)


def from_answer(category: str, matched: str, minor: bool) -> Detection:
    """Return the detection an intake answer stands for (the flow maps answers to categories)."""
    return _with_severity(Detection(category, matched, (0, 0), "concern", "answer"), minor)


def escalate(detections: tuple[Detection, ...], minor: bool) -> tuple[Detection, ...]:
    """Raise sexual-image detections to urgent once the answers say a minor is involved."""
    return tuple(_with_severity(d, minor or d.urgent) for d in detections)


def _with_severity(detection: Detection, minor: bool) -> Detection:
    """Set the severity: urgent categories, sexual images of a minor, other crimes, the rest."""
    category = detection.category
    if category in URGENT or (category == "intimate_images" and minor):
        severity = "urgent"
    else:
        severity = "criminal" if category in CRIMINAL else "concern"
    return replace(detection, severity=severity)


def _rank(detection: Detection) -> tuple[int, int]:
    """Sort urgent first, then criminal, then in the table's order."""
    return ({"urgent": 0, "criminal": 1}.get(detection.severity, 2), ORDER[detection.category])


def _search_all(prepared: str, pattern: Compiled) -> Iterator[re.Match[str]]:
    """Yield every match of a pattern (they may start one word apart), lazily."""
    start = 0
    while (match := pattern.search(prepared, start)) is not None:
        yield match
        start = match.start() + 1


def _excepted(prepared: str, match: re.Match[str], exceptions: list[Compiled]) -> bool:
    """Return whether an exception (a harmless idiom) of the category overlaps the match."""
    for exception in exceptions:
        for harmless in _search_all(prepared, exception):
            if harmless.start() < match.end() - 1 and match.start() < harmless.end() - 1:
                return True
    return False


def _negated(prepared: str, match: re.Match[str], rules: CategoryRules) -> bool:
    """Return whether a negation word stands just before the match."""
    if not rules.negations:
        return False
    before = prepared[:match.start()].split()[-NEGATION_WINDOW:]
    return any(word in rules.negations for word in before)
