"""Typed SQLAlchemy mappings. The Alembic migrations are the schema's source of truth; keep both in step."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import false, true

JsonColumn = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only auto-increments INTEGER keys


def utcnow() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JsonColumn}


class Contact(Base):
    """A Messenger user, known only by the page-scoped id (PSID)."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    psid: Mapped[str] = mapped_column(String(64), unique=True)
    locale: Mapped[str] = mapped_column(String(8), default="nl")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]


class Conversation(Base):
    """The engine state of one contact's conversation."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), unique=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int]
    step: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locale: Mapped[str] = mapped_column(String(8), default="nl")
    locale_chosen: Mapped[bool] = mapped_column(default=False)
    completed: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[bool] = mapped_column(default=False)
    reprompts: Mapped[int] = mapped_column(default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    advised: Mapped[list[str]] = mapped_column(JsonColumn, default=list)  # safety advice this case has had
    referral: Mapped[str | None] = mapped_column(String(200))  # the m.me ref the user came in with
    intake_run_id: Mapped[int | None] = mapped_column(ForeignKey("intake_runs.id", ondelete="SET NULL"))
    intake_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Case(Base):
    """A report, with a reference like IDA-2026-00042."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("year", "number"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int]
    number: Mapped[int]
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    contact_method: Mapped[str | None] = mapped_column(String(20))
    needs_human: Mapped[bool] = mapped_column(default=False)
    overdue: Mapped[bool] = mapped_column(default=False)
    first_response_at: Mapped[datetime | None]  # an advisor's first reply or take-over
    intake_complete: Mapped[bool] = mapped_column(default=False)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    referral: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    test: Mapped[bool] = mapped_column(default=False, server_default=false())  # opened from the simulator
    closed_at: Mapped[datetime | None] = mapped_column(index=True)  # the retention period counts from here
    erased_at: Mapped[datetime | None]  # personal data erased: only the anonymous record is left
    followup_answer: Mapped[str | None] = mapped_column(String(20))  # resolved | need_help: the user's answer


class CaseFlag(Base):
    """A safety flag on a case (danger, sextortion, ...) and what raised it."""

    __tablename__ = "case_flags"
    __table_args__ = (UniqueConstraint("case_id", "category"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(64))  # message | answer:<step>
    matched: Mapped[str | None] = mapped_column(String(200))  # the words that triggered it
    severity: Mapped[str] = mapped_column(String(10), default="concern")  # urgent | criminal | concern
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """Something advisors must see: a safety flag, a request for a human; e-mailed when SMTP is set."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # safety | human_requested
    category: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10), default="concern")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    email_status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending|sent|off|failed
    email_attempts: Mapped[int] = mapped_column(default=0)
    acknowledged_at: Mapped[datetime | None]


class CaseSequence(Base):
    """The last case number handed out in a year."""

    __tablename__ = "case_sequences"
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int]


class Reminder(Base):
    """A timed job for a case (advisor reminder, user follow-up): the table is the source of truth."""

    __tablename__ = "reminders"
    # the worker's claim query (status, then due_at order) stays fast however many reminders wait in the future
    # the insight page counts follow-ups by when they went (kind, done_at) without reading every case ever kept
    __table_args__ = (Index("ix_reminders_status_due_at", "status", "due_at"),
                      Index("ix_reminders_kind_done_at", "kind", "done_at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # advisor | followup
    round: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class SystemStatus(Base):
    """A fact about the whole installation, such as 'the page token was refused' (shown by /healthz)."""

    __tablename__ = "system_status"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    since: Mapped[datetime] = mapped_column(default=utcnow)


class ErasureRequest(Base):
    """A request to erase a user's data (from the chat, Meta's deletion callback or retention), and its state.

    It names the contact only until the erasure is done; the code lets the requester look up the status.
    """

    __tablename__ = "erasure_requests"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # chat | meta | retention
    status: Mapped[str] = mapped_column(String(10), default="waiting", index=True)  # waiting | done
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column(index=True)
    done_at: Mapped[datetime | None]
    cases_erased: Mapped[int] = mapped_column(default=0)


class ReferralCode(Base):
    """An m.me `ref` code handed out to a school or a campaign, with a name advisors recognise."""

    __tablename__ = "referral_codes"
    code: Mapped[str] = mapped_column(String(200), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One transcript line; attachments are kept as their kind only, never their content."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(40))  # text, quick_reply, postback, attachment:image, ...
    text: Mapped[str | None] = mapped_column(Text)
    mid: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """A webhook event already handled, so a redelivery is recognised."""

    __tablename__ = "processed_events"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxEvent(Base):
    """A verified webhook event, stored before Meta gets its 200 and removed once it has been handled."""

    __tablename__ = "inbox"
    # status, id: the lease reads the head of the queue, each status in id order (storage/lease.py)
    __table_args__ = (Index("ix_inbox_sender_id", "sender", "id"), Index("ix_inbox_status_id", "status", "id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender: Mapped[str] = mapped_column(String(64))  # the user: their events are handled one by one, in order
    channel: Mapped[str] = mapped_column(String(10))  # messaging or standby
    item: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(32))  # follows the event into the logs of engine and send


class OutboxMessage(Base):
    """A Send API request waiting to go out (or gone, with its result)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_id", "status", "id"),)  # the lease reads the head of the queue
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(32))  # the webhook event this reply answers


class User(Base):
    """An advisor or admin who logs in to the console."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10), default="advisor")  # advisor | admin
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True, server_default=true())  # false: cannot log in
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Note(Base):
    """An internal note on a case, never shown to the user."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what when in the console (log-ins, take-overs, replies, closing)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FlowVersion(Base):
    """One revision of a flow or of the safety lexicon: a draft, one waiting for approval, or a published version.

    Published versions are numbered per (kind, name) and never change; the highest published number is live.
    """

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("kind", "name", "version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "flow" or "lexicon"
    name: Mapped[str] = mapped_column(String(64))  # the flow id ("intake"); "lexicon" for the lexicon
    version: Mapped[int | None]  # set when published
    status: Mapped[str] = mapped_column(String(16), index=True)  # draft | pending | published | rejected
    source: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(String(500), default="")
    author: Mapped[str] = mapped_column(String(254))
    approved_by: Mapped[str | None] = mapped_column(String(254))
    rollback_of: Mapped[int | None]  # the version this one restored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class SendSlot(Base):
    """The next free moment of a shared send-rate budget (see storage/pacing.py)."""

    __tablename__ = "send_slots"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_at: Mapped[datetime]


class IntakeRun(Base):
    """One pass of a conversation through an intake flow, for the funnel. Anonymous: no user, no text."""

    __tablename__ = "intake_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    last_step: Mapped[str | None] = mapped_column(String(64))  # where the run is, or where it stopped
    completed: Mapped[bool] = mapped_column(default=False)
    test: Mapped[bool] = mapped_column(default=False)  # from the simulator: left out of the figures
    referral: Mapped[str | None] = mapped_column(String(200))


class IntakeStep(Base):
    """A step an intake run reached (once per step, however often the question was asked)."""

    __tablename__ = "intake_steps"
    __table_args__ = (UniqueConstraint("run_id", "step"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("intake_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    reached_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendError(Base):
    """One Send API call Meta refused, by error code, for the delivery-health chart."""

    __tablename__ = "send_errors"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[int | None]  # Meta's error code; None for a network failure or timeout
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
