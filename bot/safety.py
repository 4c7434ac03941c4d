"""Recognise criminal content and danger in a message, with rules from the lexicon. Pure and fast."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from flows.lexicon import CategoryRules, Lexicon
from flows.model import CRIMINAL, SAFETY_CATEGORIES, URGENT
from flows.patterns import Compiled

LEET = str.maketrans("431057@$", "aeiostas")
WORDS = re.compile(r"[a-z0-9]+")
INNER_LEET = re.compile(r"(?<=[a-z])[0-9@$]+(?=[a-z])")
LEET_CHARS = re.compile(r"[0-9@$]")  # a cheap test first: most messages hold none
REPEATS = re.compile(r"([a-z])\1{2,}")
SPELLED_OUT = re.compile(r"(?<![a-z0-9])(?:[a-z] ){2,}[a-z](?![a-z0-9])")  # "n a a k t", from "n.a.a.k.t"
NEGATION_WINDOW = 3
ORDER = {name: rank for rank, name in enumerate(SAFETY_CATEGORIES)}
SEVERITY = {name: "urgent" if name in URGENT else "criminal" if name in CRIMINAL else "concern"
            for name in SAFETY_CATEGORIES}  # before the minor rule; see _with_severity


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
    if not text.isascii():  # emoji and accents only occur in non-ASCII text
        for symbol, word in (emoji or {}).items():
            if symbol in text:
                text = text.replace(symbol, word)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower()
    if LEET_CHARS.search(text):
        text = INNER_LEET.sub(_unleet, text)
    prepared = " ".join(WORDS.findall(text))
    if REPEATS.search(prepared):  # rare; a search is cheaper than a sub
        prepared = REPEATS.sub(r"\1\1", prepared)
    if SPELLED_OUT.search(prepared):
        prepared = SPELLED_OUT.sub(lambda m: m.group().replace(" ", ""), prepared)
    return f" {prepared} "


def _unleet(match: re.Match[str]) -> str:
    """Turn leetspeak between letters into letters (n44kt, k1ll); 12yo and 2e stay as they are."""
    return match.group().translate(LEET)


def classify(text: str, lexicon: Lexicon) -> list[Detection]:
    """Return one detection per category found in the text, most serious first."""
    prepared = prepare(text, lexicon.emoji)
    words = prepared.split()
    if not words:
        return []
    vocabulary = frozenset(words)
    candidates = lexicon.index.candidates(vocabulary)
    if not candidates:  # most messages
        return []
    found: dict[str, Detection] = {}
    patterns, harmless = [], {}
    for (category, is_exception), pattern in candidates:
        if is_exception:
            harmless.setdefault(category, []).append(pattern)
        else:
            patterns.append((category, pattern))
    for category, pattern in patterns:
        if category in found:
            continue
        # inlined _search_all: every match of the pattern, they may start one word apart
        if pattern.also and any(other.search(prepared) is None for other in pattern.also):
            continue
        search, exceptions, start = pattern.regex.search, harmless.get(category), 0
        while (match := search(prepared, start)) is not None:
            if not (exceptions and _excepted(prepared, match, exceptions)) and \
                    not _negated(prepared, match, lexicon.categories[category]):
                found[category] = Detection(category, match.group().strip(), match.span(), SEVERITY[category])
                break
            start = match.start() + 1
    if not found:
        return []
    if len(found) > 1:
        found.pop("bullying", None)  # bullying only when nothing worse is there
    minor = "intimate_images" in found and any(
        cue.search(prepared) for _, cue in lexicon.minor_index.candidates(vocabulary))
    if minor:
        found["intimate_images"] = _with_severity(found["intimate_images"], True)
    if len(found) == 1:
        return list(found.values())
    return sorted(found.values(), key=_rank)


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
    if severity == detection.severity:
        return detection
    return Detection(detection.category, detection.matched, detection.span, severity, detection.source)


def _rank(detection: Detection) -> tuple[int, int]:
    """Sort urgent first, then criminal, then in the table's order."""
    return ({"urgent": 0, "criminal": 1}.get(detection.severity, 2), ORDER[detection.category])


def _search_all(prepared: str, pattern: Compiled) -> Iterator[re.Match[str]]:
    """Yield every match of a pattern (they may start one word apart), lazily."""
    start = 0
    while (match := pattern.search(prepared, start)) is not None:
        yield match
        start = match.start() + 1


def _excepted(prepared: str, match: re.Match[str], exceptions: list[Compiled] | tuple[()]) -> bool:
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
