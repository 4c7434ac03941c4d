"""The safety lexicon: load, check (every problem with its line) and compile flows/lexicon.yaml."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flows.loader import Checker, FlowError, Node, Problem, read_yaml
from flows.model import LOCALES, SAFETY_CATEGORIES, Texts
from flows.patterns import Compiled, PatternError, TriggerIndex, compile_pattern

MAX_ADVICE = 2000
CATEGORY_KEYS = {"advice", "patterns", "exceptions", "negations"}


@dataclass(frozen=True)
class CategoryRules:
    """How one safety category is recognised and answered."""

    name: str
    advice: Texts
    patterns: tuple[Compiled, ...]
    exceptions: tuple[Compiled, ...]
    negations: frozenset[str]


@dataclass(frozen=True, eq=False)
class Lexicon:
    """A checked, compiled lexicon."""

    version: int
    emoji: Mapping[str, str]
    police_advice: Texts
    minor_cues: tuple[Compiled, ...]
    categories: Mapping[str, CategoryRules]

    @cached_property
    def index(self) -> TriggerIndex:
        """Every pattern and exception, keyed by (category, is exception), indexed by the words they need."""
        return TriggerIndex([((c.name, False), p) for c in self.categories.values() for p in c.patterns]
                            + [((c.name, True), p) for c in self.categories.values() for p in c.exceptions])

    @cached_property
    def minor_index(self) -> TriggerIndex:
        """The minor cues, indexed the same way."""
        return TriggerIndex([("minor", p) for p in self.minor_cues])


@dataclass(frozen=True)
class LexiconReport:
    """What checking a lexicon found: the lexicon (None when it has problems), problems and warnings, sorted."""

    lexicon: Lexicon | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the lexicon has no problems (it may still have warnings)."""
        return not self.problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line, p.column))


def load_lexicon_file(path: str | Path) -> Lexicon:
    """Read, check and compile a lexicon file; raise FlowError listing every problem."""
    path = Path(path)
    return load_lexicon_text(path.read_text(encoding="utf-8"), source=str(path))


def check_lexicon_file(path: str | Path) -> LexiconReport:
    """Read, check and compile a lexicon file; return every problem and warning (OSError when unreadable)."""
    path = Path(path)
    return check_lexicon_text(path.read_text(encoding="utf-8"), source=str(path))


def check_lexicon_text(text: str, source: str = "<lexicon>") -> LexiconReport:
    """Check and compile lexicon YAML; return the lexicon (None when there is any problem), problems and warnings."""
    data, problems = read_yaml(text)
    if problems and data is None:  # a syntax error
        return LexiconReport(lexicon=None, problems=_sorted(problems))
    checker = _LexiconChecker()
    lexicon = checker.lexicon(data)
    problems = problems + checker.problems
    if lexicon is None and not problems:
        problems.append(Problem(1, 1, "the file holds no lexicon"))
    return LexiconReport(lexicon=None if problems else lexicon, problems=_sorted(problems),
                         warnings=_sorted(checker.warnings))


def load_lexicon_text(text: str, source: str = "<lexicon>") -> Lexicon:
    """Check and compile lexicon YAML; raise FlowError listing every problem (warnings do not count)."""
    report = check_lexicon_text(text, source)
    if report.problems or report.lexicon is None:
        raise FlowError(source, report.problems or [Problem(1, 1, "the file holds no lexicon")])
    return report.lexicon


class _LexiconChecker(Checker):
    """Build the lexicon while collecting problems, reusing the flow checker's text checks."""

    def lexicon(self, data: Any) -> Lexicon | None:
        """Check the top level and every category."""
        if not isinstance(data, Node):
            self.report(data, None, "the file must be a mapping with version, police_advice and categories")
            return None
        self.unknown_keys(data, {"version", "emoji", "police_advice", "minor_cues", "categories"}, "lexicon")
        if not isinstance(data.get("version"), int):
            self.report(data, "version" if "version" in data else None, "version must be a whole number")
        police = self.texts(data, "police_advice", MAX_ADVICE) if "police_advice" in data else None
        if police is None:
            self.report(data, None, "missing 'police_advice' (nl and en)")
        categories = self.categories(data)
        return Lexicon(version=int(data.get("version") or 0), emoji=MappingProxyType(self.emoji(data)),
                       police_advice=police or Texts("", ""), minor_cues=self.patterns(data, "minor_cues"),
                       categories=MappingProxyType(categories))

    def emoji(self, data: Node) -> dict[str, str]:
        """Check the emoji-to-word map."""
        raw = data.get("emoji") or {}
        if not isinstance(raw, dict) or not all(isinstance(v, str) and v.isascii() for v in raw.values()):
            self.report(data, "emoji", "emoji must map an emoji to a plain lower-case word")
            return {}
        return {str(k): f" {v.lower()} " for k, v in raw.items()}

    def categories(self, data: Node) -> dict[str, CategoryRules]:
        """Check that every category is there, known, and well formed."""
        raw = data.get("categories")
        if not isinstance(raw, Node):
            self.report(data, "categories" if "categories" in data else None, "'categories' must be a mapping")
            return {}
        for name in raw:
            if name not in SAFETY_CATEGORIES:
                self.report(raw, name, f"unknown category '{name}' (use one of {', '.join(SAFETY_CATEGORIES)})")
        for name in SAFETY_CATEGORIES:
            if name not in raw:
                self.report(raw, None, f"category '{name}' is missing")
        return {name: rules for name in SAFETY_CATEGORIES if name in raw
                for rules in [self.category(name, raw[name], raw)] if rules}

    def category(self, name: str, node: Any, parent: Node) -> CategoryRules | None:
        """Check one category."""
        if not isinstance(node, Node):
            self.report(parent, name, f"category '{name}' must be a mapping")
            return None
        self.unknown_keys(node, CATEGORY_KEYS, f"category '{name}'")
        advice = self.texts(node, "advice", MAX_ADVICE)
        patterns = self.patterns(node, "patterns")
        if not patterns and "patterns" in node:
            self.report(node, "patterns", f"category '{name}' has no patterns")
        negations = self.words(node, "negations")
        return CategoryRules(name=name, advice=advice or Texts("", ""), patterns=patterns,
                             exceptions=self.patterns(node, "exceptions"), negations=negations)

    def patterns(self, node: Node, key: str) -> tuple[Compiled, ...]:
        """Compile the {nl: [...], en: [...]} pattern lists under a key, reporting each bad pattern."""
        raw = node.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, Node):
            self.report(node, key, f"'{key}' must map nl and en to lists of patterns")
            return ()
        self.unknown_keys(raw, set(LOCALES), f"'{key}'")
        compiled = []
        for locale in LOCALES:
            items = raw.get(locale) or ()
            marks = getattr(items, "marks", None) or [raw.where(locale)] * len(items)
            for pattern, (line, column) in zip(items, marks, strict=True):
                try:
                    compiled.append(compile_pattern(str(pattern)))
                except PatternError as exc:
                    self.problems.append(Problem(line, column, f"pattern {pattern!r} in '{key}': {exc}"))
        return tuple(compiled)

    def words(self, node: Node, key: str) -> frozenset[str]:
        """Return the plain words under a {nl, en} key."""
        raw = node.get(key) or {}
        if not isinstance(raw, dict):
            self.report(node, key, f"'{key}' must map nl and en to lists of words")
            return frozenset()
        return frozenset(str(w).lower() for locale in LOCALES for w in raw.get(locale) or ())
