"""Checks on the shape of a flow: every target exists, every step is reachable and can reach an end."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.model import STEP_TYPES, Flow, Step

if TYPE_CHECKING:
    from flows.loader import Problem


def targets(step: Step) -> list[str]:
    """Return the ids of every step this step can move to."""
    found = [step.next] if step.next else []
    found += [o.next for o in step.options if o.next]
    found += [c.next for c in step.cases]
    found += [step.default] if step.default else []
    return found


def check_graph(flow: Flow, data: Any) -> list[Problem]:
    """Return problems with the flow's transitions, located in the YAML `data`."""
    from flows.loader import Problem

    nodes = {str(n.get("id")): n for n in data.get("steps") or () if hasattr(n, "where")}

    def at(step_id: str, key: str | None, message: str) -> Problem:
        node = nodes.get(step_id, data)
        line, col = node.where(key if key in node else None)
        return Problem(line, col, message)

    problems = []
    if flow.start and flow.start not in flow.steps:
        problems.append(at("", "start", f"start step '{flow.start}' does not exist"))
    for step in flow.steps.values():
        for target in targets(step):
            if target not in flow.steps:
                line, col = _where_named(nodes.get(step.id, data), target)
                problems.append(Problem(line, col, f"step '{step.id}' goes to '{target}', which does not exist"))
        if step.type in ("choice", "text", "info") and not targets(step):
            problems.append(at(step.id, None, f"step '{step.id}' has no 'next'"))
    typed = all(s.type in STEP_TYPES for s in flow.steps.values())  # else answers and ways on are unknown
    if typed:
        problems += _unknown_answer_keys(flow, at)
    if typed and not problems:
        problems += _reachability(flow, at)
    return problems


def _where_named(node: Any, target: str) -> tuple[int, int]:
    """Return where a step's YAML names `target`: its own, an option's or a case's `next`, or its `default`."""
    for item in (node, *(node.get("options") or ()), *(node.get("cases") or ())):
        if hasattr(item, "where") and item.get("next") == target:
            return item.where("next")
    return node.where("default" if node.get("default") == target else None)


def _unknown_answer_keys(flow: Flow, at: Any) -> list[Problem]:
    """Report branches and variants on an answer that no step asks."""
    asked = {s.answer for s in flow.steps.values() if s.waits}
    problems = []
    for step in flow.steps.values():
        keys = ([step.on] if step.on else []) + [k for v in step.variants for k in v.when]
        for key in keys:
            if key not in asked:
                problems.append(at(step.id, "on" if key == step.on else "variants",
                                   f"step '{step.id}' uses answer '{key}', which no question asks"))
    return problems


def _reachability(flow: Flow, at: Any) -> list[Problem]:
    """Report steps that cannot be reached and steps from which no end can be reached."""
    reached, todo = set(), [flow.start]
    while todo:
        step_id = todo.pop()
        if step_id not in reached:
            reached.add(step_id)
            todo += targets(flow.steps[step_id])
    ending = {s.id for s in flow.steps.values() if s.type == "end"}
    changed = True
    while changed:
        before = len(ending)
        ending |= {s.id for s in flow.steps.values() if any(t in ending for t in targets(s))}
        changed = len(ending) != before
    problems = [at(s, None, f"step '{s}' can never be reached") for s in flow.steps if s not in reached]
    problems += [at(s, None, f"no end can be reached from step '{s}'") for s in flow.steps if s not in ending]
    return problems
