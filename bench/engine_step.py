"""Measure the engine: one step on the shared compiled machine vs building a machine per message.

Run: .venv/bin/python bench/engine_step.py
Prints microseconds per operation and the ratio; the ratio is the figure to compare between machines.
"""
from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import engine  # noqa: E402
from bot.inputs import Text  # noqa: E402
from bot.machine import _MACHINES, compile_flow  # noqa: E402
from bot.state import ConversationState  # noqa: E402
from flows.loader import load_flow_file  # noqa: E402

FLOW = load_flow_file(Path(__file__).resolve().parent.parent / "flows" / "intake.yaml")


def best(statement: object, number: int) -> float:
    """Return the best of five runs, in microseconds per call."""
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6


def main() -> None:
    """Print the figures."""
    at_question = engine.step(ConversationState(), Text("hoi"), FLOW).state
    tap = Text("Ja, ga verder", "Q:privacy:yes")
    step_us = best(lambda: engine.step(at_question, tap, FLOW), 2000)
    reprompt_us = best(lambda: engine.step(at_question, Text("???"), FLOW), 2000)

    def build() -> None:
        _MACHINES.pop(FLOW, None)
        compile_flow(FLOW)

    build_us = best(build, 50)
    print(f"engine step, answer + next question : {step_us:8.1f} us")
    print(f"engine step, re-prompt              : {reprompt_us:8.1f} us")
    print(f"compile the intake machine          : {build_us:8.1f} us")
    print(f"compiling per message would cost    : {build_us / step_us:8.1f} x a whole step")


if __name__ == "__main__":
    main()
