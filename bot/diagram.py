"""Draw a flow as a Mermaid state diagram, with the same transitions the engine's machine is built from."""
from __future__ import annotations

from transitions.extensions.diagrams import GraphMachine
from transitions.extensions.states import Tags, add_state_features

from bot.machine import ADVANCE, Edge, edges
from flows.model import Flow

UNCONDITIONAL = {"choice": "any answer", "text": "answer", "info": "next", "branch": "otherwise"}


def mermaid(flow: Flow) -> str:
    """Return Mermaid `stateDiagram-v2` source for a flow: one state per step, one arrow per way on."""
    states = [{"name": s.id, "tags": [s.type]} for s in flow.steps.values()]
    machine = _TaggedGraphMachine(model=_Marker(), states=states,
                                  initial=flow.start, auto_transitions=False, graph_engine="mermaid",
                                  title=f"{flow.id} v{flow.version}", show_state_attributes=True)
    for step in flow.steps.values():
        ways = edges(step)
        for edge in ways:
            machine.add_transition(ADVANCE, step.id, edge.dest, label=_label(step.type, edge, len(ways) > 1))
    return machine.models[0].get_graph().draw(None)


@add_state_features(Tags)
class _TaggedGraphMachine(GraphMachine):
    """A diagram machine whose states carry their step type as a tag, shown in the drawing; drawn top to bottom,
    because an intake is a long chain of questions that is unreadable squeezed into one row."""

    machine_attributes = {**GraphMachine.machine_attributes, "rankdir": "TB"}


def _label(step_type: str, edge: Edge, forked: bool) -> str:
    """Name an arrow by the answers that take it; the fallback of a fork is "otherwise"."""
    if edge.key is not None:
        return " / ".join(edge.values)
    return "otherwise" if forked else UNCONDITIONAL.get(step_type, "next")


class _Marker:
    """The model the diagram machine needs to draw from; it never moves."""
