"""What a conversation's answers mean for its case: category, urgency, contact route and flags."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flows.model import Flow


@dataclass(frozen=True)
class CaseFields:
    """The case columns that follow from the answers."""

    category: str | None
    urgency: str
    contact_method: str | None
    flags: tuple[str, ...]
    minor: bool = False


def summarise(flow: Flow, answers: Mapping[str, str]) -> CaseFields:
    """Derive the case fields from the answers, as the flow maps them."""
    fields: dict[str, str] = {}
    flags: list[str] = []
    urgent = minor = False
    for step in flow.steps.values():
        value = answers.get(step.answer)
        if value is None:
            continue
        if step.case_field:
            fields[step.case_field] = value
        option = step.option(value)
        if option:
            flags += [f for f in option.flags if f not in flags]
            urgent = urgent or option.urgency == "urgent"
            minor = minor or option.minor
    urgency = "urgent" if urgent or fields.get("urgency") == "urgent" else "normal"
    return CaseFields(fields.get("category"), urgency, fields.get("contact_method"), tuple(flags), minor)
