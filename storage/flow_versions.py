"""Revisions of flows and of the safety lexicon: drafts, approvals, numbered published versions, rollback."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import FlowVersion
from storage.upsert import insert_ignore

DRAFT, PENDING, PUBLISHED, REJECTED = "draft", "pending", "published", "rejected"


def live_numbers(session: Session) -> dict[tuple[str, str], int]:
    """Return the live (highest published) version of every flow and lexicon, by (kind, name)."""
    rows = session.execute(select(FlowVersion.kind, FlowVersion.name, func.max(FlowVersion.version))
                           .where(FlowVersion.status == PUBLISHED).group_by(FlowVersion.kind, FlowVersion.name))
    return {(kind, name): number for kind, name, number in rows}


def published(session: Session, kind: str, name: str, version: int) -> FlowVersion | None:
    """Return one published version."""
    return session.scalars(select(FlowVersion).where(
        FlowVersion.kind == kind, FlowVersion.name == name, FlowVersion.version == version,
        FlowVersion.status == PUBLISHED)).one_or_none()


def live(session: Session, kind: str, name: str) -> FlowVersion | None:
    """Return the live version, if any version is published."""
    number = live_numbers(session).get((kind, name))
    return published(session, kind, name, number) if number is not None else None


def revision(session: Session, revision_id: int) -> FlowVersion | None:
    """Return any revision by its row id."""
    return session.get(FlowVersion, revision_id)


def history(session: Session, kind: str, name: str) -> list[FlowVersion]:
    """Return the published and waiting revisions, newest first."""
    return list(session.scalars(select(FlowVersion).where(
        FlowVersion.kind == kind, FlowVersion.name == name, FlowVersion.status.in_((PUBLISHED, PENDING)))
        .order_by(FlowVersion.version.desc().nulls_first(), FlowVersion.id.desc())))


def names(session: Session, kind: str) -> list[str]:
    """Return the names that have any revision of this kind."""
    return list(session.scalars(select(FlowVersion.name).where(FlowVersion.kind == kind).distinct()
                                .order_by(FlowVersion.name)))


def draft(session: Session, kind: str, name: str) -> FlowVersion | None:
    """Return the working draft of the editor, if there is one."""
    return session.scalars(select(FlowVersion).where(
        FlowVersion.kind == kind, FlowVersion.name == name, FlowVersion.status == DRAFT)
        .order_by(FlowVersion.id.desc()).limit(1)).one_or_none()


def save_draft(session: Session, *, kind: str, name: str, source: str, author: str, now: datetime) -> FlowVersion:
    """Store the editor's text as the working draft (one per flow), valid or not: an admin's work is never lost."""
    row = draft(session, kind, name)
    if row is None:
        row = FlowVersion(kind=kind, name=name, status=DRAFT, source=source, author=author, created_at=now,
                          updated_at=now)
        session.add(row)
    else:
        row.source, row.author, row.updated_at = source, author, now
    session.flush()
    return row


def submit(session: Session, *, kind: str, name: str, source: str, comment: str, author: str,
           now: datetime) -> FlowVersion:
    """Store a revision that waits for a second admin's approval (FLOW_APPROVAL=two-person)."""
    row = FlowVersion(kind=kind, name=name, status=PENDING, source=source, comment=comment, author=author,
                      created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def publish(session: Session, *, kind: str, name: str, source: str, comment: str, author: str, now: datetime,
            approved_by: str | None = None, rollback_of: int | None = None,
            row: FlowVersion | None = None) -> FlowVersion:
    """Publish a revision as the next version number; it is live from the next conversation on.

    `row` turns an existing draft or pending revision into the published one; otherwise a new row is made.
    A lost race for the number (two admins at once) is retried with the next one.
    """
    row = row or FlowVersion(kind=kind, name=name, created_at=now, author=author)
    for _ in range(5):
        row.source, row.comment, row.approved_by, row.rollback_of = source, comment, approved_by, rollback_of
        row.status, row.updated_at, row.published_at = PUBLISHED, now, now
        row.version = 1 + (session.scalar(select(func.max(FlowVersion.version)).where(
            FlowVersion.kind == kind, FlowVersion.name == name)) or 0)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            continue  # a savepoint rollback expires the row; the loop sets every field again
    raise RuntimeError(f"could not number a new version of {kind} '{name}'")


def reject(session: Session, row: FlowVersion, by: str, now: datetime) -> None:
    """Turn a waiting revision down; it stays in the table for the record."""
    row.status, row.approved_by, row.updated_at = REJECTED, by, now


def discard_draft(session: Session, kind: str, name: str) -> bool:
    """Throw the working draft away; return whether there was one."""
    row = draft(session, kind, name)
    if row is not None:
        session.delete(row)
    return row is not None


def seed(session: Session, *, kind: str, name: str, source: str, version: int, now: datetime) -> bool:
    """Store a shipped default as a published version unless this flow has a version already."""
    if live_numbers(session).get((kind, name)) is not None:
        return False
    return insert_ignore(session, FlowVersion, kind=kind, name=name, version=version, status=PUBLISHED,
                         source=source, comment="default from the installation", author="installation",
                         created_at=now, updated_at=now, published_at=now)
