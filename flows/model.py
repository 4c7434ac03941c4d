"""Frozen values a loaded flow is made of; the engine reads these, never the YAML."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

LOCALES = ("nl", "en")
STEP_TYPES = ("choice", "text", "info", "branch", "end")
SAFETY_CATEGORIES = (
    "danger", "self_harm", "threat", "sextortion", "intimate_images", "grooming", "doxing",
    "stalking", "hacking", "identity_fraud", "discrimination", "bullying",
)
CRIMINAL = frozenset({"threat", "sextortion", "intimate_images", "grooming", "doxing", "stalking", "hacking",
                      "identity_fraud", "discrimination"})
URGENT = frozenset({"danger", "self_harm", "threat", "sextortion", "grooming"})  # + intimate images of a minor
CASE_FIELDS = ("category", "urgency", "contact_method")
PLACEHOLDERS = ("case_reference", "retention_days", "privacy_url")


@dataclass(frozen=True)
class Texts:
    """One text in every supported locale."""

    nl: str
    en: str

    def get(self, locale: str) -> str:
        """Return the text for a locale, Dutch when the locale is unknown."""
        return self.en if locale == "en" else self.nl


@dataclass(frozen=True)
class Variant:
    """Other wording, used when every earlier answer in `when` matches."""

    when: Mapping[str, str]
    text: Texts


@dataclass(frozen=True)
class Option:
    """One quick-reply answer of a choice step."""

    value: str
    title: Texts
    next: str | None = None
    flags: tuple[str, ...] = ()
    urgency: str | None = None
    synonyms: tuple[str, ...] = ()
    minor: bool = False  # the answer says the person it is about is under 18


@dataclass(frozen=True)
class Validation:
    """What typed text a text step accepts."""

    kind: str = "any"
    min_length: int = 1
    max_length: int = 2000


@dataclass(frozen=True)
class BranchCase:
    """Go to `next` when the branch's answer is one of `values`."""

    values: tuple[str, ...]
    next: str


@dataclass(frozen=True)
class Step:
    """One step of a flow; which fields matter depends on `type`."""

    id: str
    type: str
    text: Texts | None = None
    next: str | None = None
    answer: str = ""
    options: tuple[Option, ...] = ()
    allow_text: bool = False
    case_field: str | None = None
    validate: Validation = field(default_factory=Validation)
    variants: tuple[Variant, ...] = ()
    on: str | None = None
    cases: tuple[BranchCase, ...] = ()
    default: str | None = None
    creates_case: bool = True
    sends_links: bool = True

    @property
    def waits(self) -> bool:
        """Whether this step waits for the user's answer."""
        return self.type in ("choice", "text")

    def option(self, value: str) -> Option | None:
        """Return the option with this value, if any."""
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class Link:
    """A useful link the end step can send."""

    id: str
    title: Texts
    url: str


@dataclass(frozen=True, eq=False)
class Flow:
    """A whole, checked flow definition; compared by identity, so it can key caches."""

    id: str
    version: int
    start: str
    steps: Mapping[str, Step]
    links: Mapping[str, Link] = field(default_factory=lambda: MappingProxyType({}))
    link_sets: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def step(self, step_id: str) -> Step:
        """Return a step by id (KeyError for an unknown id)."""
        return self.steps[step_id]

    def links_for(self, category: str | None) -> tuple[Link, ...]:
        """Return the links that fit a case category, else the default set."""
        ids = self.link_sets.get(category or "") or self.link_sets.get("default", ())
        return tuple(self.links[i] for i in ids)
