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

    nodes: dict[str, Any] = {}
    for node in data.get("steps") or ():
        if hasattr(node, "where"):
            nodes.setdefault(str(node.get("id")), node)  # a duplicate id is reported; the first step is the one kept

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
    if typed and not problems:  # a missing target or 'next' would make every later step look unreachable
        problems += _reachability(flow, at)
    if typed:
        problems += _unknown_answer_keys(flow, nodes, at)
    return problems


def _where_named(node: Any, target: str) -> tuple[int, int]:
    """Return where a step's YAML names `target`: its own, an option's or a case's `next`, or its `default`."""
    for item in (node, *(node.get("options") or ()), *(node.get("cases") or ())):
        if hasattr(item, "where") and item.get("next") == target:
            return item.where("next")
    return node.where("default" if node.get("default") == target else None)


def _unknown_answer_keys(flow: Flow, nodes: dict[str, Any], at: Any) -> list[Problem]:
    """Report branches and variants on an answer that no earlier step asks.

    An answer counts when a waiting step (choice or text) asks it and the step that uses it can be
    reached from there. A step that cannot be reached from the start has no "earlier" to speak of
    (it is reported as unreachable); it only needs the answer to be asked somewhere.
    """
    from flows.loader import Problem

    askers: dict[str, list[str]] = {}
    for s in flow.steps.values():
        if s.waits:
            askers.setdefault(s.answer, []).append(s.id)
    reachable, before = _reached(flow), _predecessors(flow)
    problems = []
    for step in flow.steps.values():
        earlier = _ancestors(before, step.id) if step.id in reachable else set(flow.steps)
        uses = ([(str(step.on), None)] if step.on else []) + [
            (key, index) for index, v in enumerate(step.variants) for key in v.when]
        for key, variant in uses:
            asked_by = askers.get(key, [])
            if any(a in earlier for a in asked_by):
                continue
            names = ", ".join(f"'{a}'" for a in asked_by)
            later = f" (step {names} asks it, but not before this step)" if asked_by else ""
            message = f"step '{step.id}' uses answer '{key}', which no earlier step asks{later}"
            if variant is None:
                problems.append(at(step.id, "on", message))
            else:
                line, col = _where_when(nodes.get(step.id), step, variant, key)
                problems.append(Problem(line, col, message) if line else at(step.id, "variants", message))
    return problems


def _where_when(node: Any, step: Step, index: int, key: str) -> tuple[int, int]:
    """Return where the YAML of a step's `index`-th variant names `key` in its `when` (0, 0 when unknown).

    A variant whose text had problems is left out of the step, so variants are matched by their
    `when`, in order, not by position.
    """
    if not hasattr(node, "where"):
        return 0, 0
    wanted = dict(step.variants[index].when)
    same = sum(dict(v.when) == wanted for v in step.variants[:index])
    for item in node.get("variants") or ():
        when = item.get("when") if hasattr(item, "where") else None
        if hasattr(when, "where") and {str(k): str(v) for k, v in when.items()} == wanted:
            if same == 0:
                return when.where(key)
            same -= 1
    return 0, 0


def _reached(flow: Flow) -> set[str]:
    """Return the ids of every step the start leads to (targets that do not exist are skipped)."""
    reached, todo = set(), [flow.start]
    while todo:
        step_id = todo.pop()
        if step_id in flow.steps and step_id not in reached:
            reached.add(step_id)
            todo += targets(flow.steps[step_id])
    return reached


def _predecessors(flow: Flow) -> dict[str, set[str]]:
    """Return, for each step id, the ids of the steps that move to it."""
    before: dict[str, set[str]] = {}
    for s in flow.steps.values():
        for t in targets(s):
            before.setdefault(t, set()).add(s.id)
    return before


def _ancestors(before: dict[str, set[str]], step_id: str) -> set[str]:
    """Return the ids of every step from which `step_id` can be reached in one move or more."""
    found: set[str] = set()
    todo = list(before.get(step_id, ()))
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += before.get(current, ())
    return found


def _reachability(flow: Flow, at: Any) -> list[Problem]:
    """Report steps that cannot be reached and steps from which no end can be reached."""
    reached = _reached(flow)
    ending = {s.id for s in flow.steps.values() if s.type == "end"}
    changed = True
    while changed:
        before = len(ending)
        ending |= {s.id for s in flow.steps.values() if any(t in ending for t in targets(s))}
        changed = len(ending) != before
    problems = [at(s, None, f"step '{s}' can never be reached") for s in flow.steps if s not in reached]
    problems += [at(s, None, f"no end can be reached from step '{s}'") for s in flow.steps if s not in ending]
    return problems
