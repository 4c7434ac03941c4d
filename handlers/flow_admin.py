"""What admins do with flows and the lexicon: check, save a draft, publish (or submit for approval), approve,
roll back, export. The command line and the console editor both go through here, so the rules are the same."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from flows.lexicon import check_lexicon_text
from flows.loader import Problem, check_flow_text
from handlers.flow_library import LEXICON
from storage import flow_versions, notes
from storage.models import FlowVersion

TWO_PERSON = "two-person"
VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)


@dataclass(frozen=True)
class Editor:
    """Who acts: a console user (with id) or the command line."""

    label: str
    user_id: int | None = None


@dataclass(frozen=True)
class Check:
    """The outcome of checking a flow or lexicon text."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    name: str | None = None  # the flow's id, or "lexicon"
    summary: str = ""

    @property
    def ok(self) -> bool:
        """Whether the text may be published (warnings do not stop it)."""
        return not self.problems


class Refused(Exception):
    """An admin action that the rules do not allow; the message says why."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def check_source(kind: str, text: str, source: str = "<draft>") -> Check:
    """Check a flow (kind "flow") or lexicon (kind "lexicon") text and summarise it."""
    if kind == LEXICON:
        report = check_lexicon_text(text, source)
        lexicon = report.lexicon
        summary = (f"{len(lexicon.categories)} categories, "
                   f"{sum(len(c.patterns) for c in lexicon.categories.values())} patterns") if lexicon else ""
        return Check(report.problems, report.warnings, LEXICON if lexicon else None, summary)
    report = check_flow_text(text, source)
    flow = report.flow
    if flow is None or report.problems:
        return Check(report.problems, report.warnings, flow.id if flow else None)
    questions = sum(s.waits for s in flow.steps.values())
    ends = sum(s.type == "end" for s in flow.steps.values())
    return Check(report.problems, report.warnings, flow.id,
                 f"{len(flow.steps)} steps, {questions} questions, {ends} end steps")


def _checked(kind: str, text: str, name: str | None) -> Check:
    """Check a text about to go live; refuse it with every problem, or when it names another flow."""
    check = check_source(kind, text)
    if not check.ok:
        raise Refused(f"the {kind} has {len(check.problems)} problem(s); nothing was published", check.problems)
    if name is not None and check.name != name:
        raise Refused(f"this text is flow '{check.name}', not '{name}': change its id back")
    return check


def publish(session: Session, *, kind: str, source: str, comment: str, editor: Editor, approval: str,
            now: datetime, name: str | None = None, draft: FlowVersion | None = None) -> FlowVersion:
    """Publish a checked text as the next version, or, under FLOW_APPROVAL=two-person, submit it for approval."""
    check = _checked(kind, source, name)
    name = check.name or name or ""
    if approval == TWO_PERSON:
        row = flow_versions.submit(session, kind=kind, name=name, source=source, comment=comment,
                                   author=editor.label, now=now)
        if draft is not None:
            session.delete(draft)
        _audit(session, "flow_submitted", editor, row, now)
        return row
    row = flow_versions.publish(session, kind=kind, name=name, source=source, comment=comment,
                                author=editor.label, now=now, row=draft)
    _audit(session, "flow_published", editor, row, now)
    return row


def approve(session: Session, revision_id: int, editor: Editor, now: datetime) -> FlowVersion:
    """A second admin publishes a revision that waits for approval."""
    row = _pending(session, revision_id)
    if row.author == editor.label:
        raise Refused("a second admin must approve: you submitted this revision yourself")
    _checked(row.kind, row.source, row.name)
    row = flow_versions.publish(session, kind=row.kind, name=row.name, source=row.source, comment=row.comment,
                                author=row.author, approved_by=editor.label, now=now, row=row)
    _audit(session, "flow_approved", editor, row, now)
    return row


def reject(session: Session, revision_id: int, editor: Editor, now: datetime) -> FlowVersion:
    """Turn down a revision that waits for approval."""
    row = _pending(session, revision_id)
    flow_versions.reject(session, row, editor.label, now)
    _audit(session, "flow_rejected", editor, row, now)
    return row


def rollback(session: Session, *, kind: str, name: str, version: int, comment: str, editor: Editor,
             now: datetime) -> FlowVersion:
    """Publish an earlier version again, as a new number; conversations already running keep their version.

    A rollback needs no second admin: it restores a version that went live before (the audit log keeps who).
    """
    old = flow_versions.published(session, kind, name, version)
    if old is None:
        raise Refused(f"{kind} '{name}' has no published version {version} (see the list of versions)")
    row = flow_versions.publish(session, kind=kind, name=name, source=old.source,
                                comment=comment or f"back to version {version}", author=editor.label, now=now,
                                rollback_of=version)
    _audit(session, "flow_rolled_back", editor, row, now)
    return row


def export(row: FlowVersion) -> str:
    """Return a revision's YAML with its `version:` line set to the number the database gave it."""
    if row.version is None:
        return row.source
    line = f"version: {row.version}"
    if VERSION_LINE.search(row.source):
        return VERSION_LINE.sub(line, row.source, count=1)
    return f"{line}\n{row.source}"


def _pending(session: Session, revision_id: int) -> FlowVersion:
    row = flow_versions.revision(session, revision_id)
    if row is None or row.status != flow_versions.PENDING:
        raise Refused(f"revision #{revision_id} is not waiting for approval (see the list of versions)")
    return row


def _audit(session: Session, action: str, editor: Editor, row: FlowVersion, now: datetime) -> None:
    label = f"v{row.version}" if row.version is not None else f"#{row.id}"
    notes.audit(session, action=action, user_id=editor.user_id, now=now,
                detail=f"{row.kind} {row.name} {label} by {editor.label}: {row.comment}")

