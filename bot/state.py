"""The stored state of one conversation, as the engine sees it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ConversationState:
    """Where a user is in a flow and what they answered so far."""

    flow_id: str = "intake"
    flow_version: int = 0
    step: str | None = None
    answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    locale: str = "nl"
    locale_chosen: bool = False
    completed: bool = False
    paused: bool = False
    reprompts: int = 0
    case_reference: str | None = None
    advised: frozenset[str] = frozenset()  # safety categories whose advice this case has had

    @property
    def in_intake(self) -> bool:
        """Whether the user is answering questions now."""
        return self.step is not None

    def with_answer(self, key: str, value: str) -> ConversationState:
        """Return a copy with one more answer."""
        return replace(self, answers=MappingProxyType({**self.answers, key: value}), reprompts=0)

    def update(self, **changes: Any) -> ConversationState:
        """Return a copy with some fields changed."""
        return replace(self, **changes)
