"""The flows the bot can run, loaded and checked once at start."""
from __future__ import annotations

from pathlib import Path

from flows.loader import load_flow_file
from flows.model import Flow

LEXICON_NAME = "lexicon.yaml"  # the safety lexicon sits beside the flows but is not one


class FlowRegistry:
    """Every loaded flow version, by (flow id, version); the newest version of a flow is its current one."""

    def __init__(self, flows: list[Flow]) -> None:
        self._flows = {(f.id, f.version): f for f in flows}

    @classmethod
    def from_directory(cls, directory: Path) -> FlowRegistry:
        """Load every *.yaml file in a directory; a broken file raises FlowError listing its problems."""
        paths = [p for p in sorted(Path(directory).glob("*.yaml")) if p.name != LEXICON_NAME]
        return cls([load_flow_file(path) for path in paths])

    def current(self, flow_id: str = "intake") -> Flow:
        """Return the newest version of a flow."""
        versions = [f for (i, _), f in self._flows.items() if i == flow_id]
        if not versions:
            raise LookupError(f"no flow '{flow_id}' is loaded")
        return max(versions, key=lambda f: f.version)

    def get(self, flow_id: str, version: int) -> Flow | None:
        """Return one version of a flow, if it is loaded."""
        return self._flows.get((flow_id, version))
