"""The flows and lexicons the bot runs, read from their versions in the database and compiled once each.

Published versions never change, so a compiled version is kept for good; which version is live is asked of
the database on every event (one indexed query), so a version published by any process or machine is used
from the next new conversation on. A draft (editor's working copy) runs only in the simulator.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from flows.lexicon import Lexicon, load_lexicon_text
from flows.loader import FlowError, load_flow_text
from flows.model import Flow
from storage import flow_versions
from storage.models import FlowVersion

log = logging.getLogger(__name__)
FLOW, LEXICON = "flow", "lexicon"
LEXICON_NAME = "lexicon.yaml"  # the default lexicon sits beside the default flows but is not one


class NothingPublished(LookupError):
    """No version of a flow or of the lexicon is published (the defaults were not seeded)."""


def compile_flow_revision(row: FlowVersion) -> Flow:
    """Load a stored flow revision; its number is the database's (a draft's is minus its row id)."""
    flow = load_flow_text(row.source, source=f"{row.name} v{row.version or 'draft'}")
    return dataclasses.replace(flow, version=row.version if row.version is not None else -row.id)


def compile_lexicon_revision(row: FlowVersion) -> Lexicon:
    """Load a stored lexicon revision and build its indexes now, not on a user's message."""
    lexicon = load_lexicon_text(row.source, source=f"lexicon v{row.version or 'draft'}")
    lexicon = dataclasses.replace(lexicon, version=row.version if row.version is not None else -row.id)
    lexicon.index, lexicon.minor_index  # noqa: B018
    return lexicon


_HELD = "flow_library.live_numbers"  # session.info key: the live version numbers, read once


def hold_live_versions(session: Session) -> None:
    """Have FlowLibrary.live read the live version numbers once in this session and keep them.

    For a round of the inbox worker: one query per round instead of one per event. A version published during
    the round answers the events of the next round on, as it would an event that came a moment later.
    """
    session.info.setdefault(_HELD, None)


class FlowLibrary:
    """Compiled flow and lexicon versions, by number; drafts by row id and last change."""

    def __init__(self) -> None:
        self._flows: dict[tuple[str, int], Flow] = {}
        self._lexicons: dict[int, Lexicon] = {}
        self._drafts: dict[int, tuple[datetime, Flow | None]] = {}
        self._lock = threading.Lock()  # two threads compiling the same version at once is only wasted work

    def live(self, session: Session, name: str = "intake") -> tuple[Flow, Lexicon]:
        """Return the live version of a flow and the live lexicon, with one query (none in a session that holds
        the versions it read: see hold_live_versions)."""
        numbers = session.info.get(_HELD)
        if numbers is None:
            numbers = flow_versions.live_numbers(session)
            if _HELD in session.info:
                session.info[_HELD] = numbers
        return self._flow(session, name, numbers.get((FLOW, name))), self._lexicon(session, numbers)

    def current(self, session: Session, name: str = "intake") -> Flow:
        """Return the live version of a flow."""
        return self._flow(session, name, flow_versions.live_numbers(session).get((FLOW, name)))

    def lexicon(self, session: Session) -> Lexicon:
        """Return the live safety lexicon."""
        return self._lexicon(session, flow_versions.live_numbers(session))

    def _flow(self, session: Session, name: str, number: int | None) -> Flow:
        flow = self.get(session, name, number) if number is not None else None
        if flow is None:
            raise NothingPublished(f"no version of flow '{name}' is published")
        return flow

    def get(self, session: Session, name: str, version: int) -> Flow | None:
        """Return one version of a flow (a negative version is a draft), or None if it is not there."""
        if version < 0:
            return self._draft(session, -version)
        flow = self._flows.get((name, version))
        if flow is None:
            row = flow_versions.published(session, FLOW, name, version)
            if row is None:
                return None
            flow = compile_flow_revision(row)
            with self._lock:
                self._flows[(name, version)] = flow
        return flow

    def _lexicon(self, session: Session, numbers: dict[tuple[str, str], int]) -> Lexicon:
        number = numbers.get((LEXICON, LEXICON))
        if number is None:
            raise NothingPublished("no version of the safety lexicon is published")
        lexicon = self._lexicons.get(number)
        if lexicon is None:
            row = flow_versions.published(session, LEXICON, LEXICON, number)
            assert row is not None  # live_numbers just named it
            lexicon = compile_lexicon_revision(row)
            with self._lock:
                self._lexicons[number] = lexicon
        return lexicon

    def _draft(self, session: Session, revision_id: int) -> Flow | None:
        """Return a draft revision compiled as it is now, or None when it is gone or does not load."""
        row = flow_versions.revision(session, revision_id)
        if row is None or row.kind != FLOW or row.version is not None:
            return None
        cached = self._drafts.get(revision_id)
        if cached and cached[0] == row.updated_at:
            return cached[1]
        try:
            flow: Flow | None = compile_flow_revision(row)
        except FlowError:
            flow = None
        with self._lock:
            self._drafts[revision_id] = (row.updated_at, flow)
        return flow


def seed_defaults(session: Session, flows_dir: Path, lexicon_file: Path, now: datetime) -> list[str]:
    """Publish the shipped flows and lexicon as their first version on a fresh database; return what was seeded.

    The files are read only when nothing of their kind is published yet; a broken default raises FlowError
    before anything is stored, so a bad file never goes live.
    """
    live = flow_versions.live_numbers(session)
    seeded = []
    if not any(kind == FLOW for kind, _ in live):
        for path in sorted(Path(flows_dir).glob("*.yaml")):
            if path.name == LEXICON_NAME:
                continue
            source = path.read_text(encoding="utf-8")
            flow = load_flow_text(source, source=str(path))
            if flow_versions.seed(session, kind=FLOW, name=flow.id, source=source, version=flow.version, now=now):
                seeded.append(f"flow '{flow.id}' v{flow.version} from {path}")
    if (LEXICON, LEXICON) not in live:
        source = Path(lexicon_file).read_text(encoding="utf-8")
        lexicon = load_lexicon_text(source, source=str(lexicon_file))
        if flow_versions.seed(session, kind=LEXICON, name=LEXICON, source=source, version=lexicon.version, now=now):
            seeded.append(f"lexicon v{lexicon.version} from {lexicon_file}")
    return seeded
