"""Compile a flow once into a shared `transitions` machine; each message moves a throwaway cursor."""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from transitions import EventData, Machine

from flows.model import Flow, Step

ADVANCE = "advance"
_MACHINES: weakref.WeakKeyDictionary[Flow, Machine] = weakref.WeakKeyDictionary()


class Cursor:
    """The model the shared machine moves: a step id and the answers its conditions read."""

    def __init__(self, state: str, answers: Mapping[str, str]) -> None:
        self.state = state
        self.answers = answers


def _answer_in(key: str, values: tuple[str, ...]) -> Callable[[EventData], bool]:
    """Return a condition that holds when answer `key` is one of `values`."""
    return lambda event: event.model.answers.get(key) in values


@dataclass(frozen=True)
class Edge:
    """One way on from a step: taken when answer `key` is one of `values`, or always when `key` is None."""

    dest: str
    key: str | None = None
    values: tuple[str, ...] = ()


def edges(step: Step) -> list[Edge]:
    """Return a step's ways on, conditional ones first so they win."""
    found = [Edge(o.next, step.answer, (o.value,)) for o in step.options if o.next]
    found += [Edge(c.next, step.on or "", c.values) for c in step.cases]
    fallback = step.default if step.type == "branch" else step.next
    return found + ([Edge(fallback)] if fallback else [])


def _add_transitions(machine: Machine, step: Step) -> None:
    """Add a step's transitions in the order of `edges`."""
    for edge in edges(step):
        conditions = [_answer_in(edge.key, edge.values)] if edge.key is not None else []
        machine.add_transition(ADVANCE, step.id, edge.dest, conditions=conditions)


def compile_flow(flow: Flow) -> Machine:
    """Return the machine for a flow, building it only the first time."""
    machine = _MACHINES.get(flow)
    if machine is None:
        machine = Machine(model=None, states=list(flow.steps), initial=None, auto_transitions=False,
                          send_event=True, ignore_invalid_triggers=False)
        for step in flow.steps.values():
            _add_transitions(machine, step)
        _MACHINES[flow] = machine
    return machine


def next_step(flow: Flow, step_id: str, answers: Mapping[str, str]) -> str | None:
    """Return the step after `step_id` given the answers, or None when it has no way on."""
    machine = compile_flow(flow)
    cursor = Cursor(step_id, answers)
    if not machine.get_triggers(step_id):
        return None
    machine.events[ADVANCE].trigger(cursor)
    return cursor.state
