"""Alerts for advisors: stored for the console, e-mailed when SMTP is configured."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Alert, Case

PENDING, SENT, OFF, FAILED = "pending", "sent", "off", "failed"


def raise_alert(session: Session, *, case_id: int | None, kind: str, category: str | None, severity: str,
                now: datetime) -> Alert:
    """Store a new alert."""
    alert = Alert(case_id=case_id, kind=kind, category=category, severity=severity, created_at=now,
                  email_status=PENDING)
    session.add(alert)
    return alert


def claim_unmailed(session: Session, limit: int = 20) -> list[tuple[Alert, str | None]]:
    """Lock alerts whose e-mail is still to be sent, with their case reference."""
    statement = (select(Alert, Case.reference).outerjoin(Case, Alert.case_id == Case.id)
                 .where(Alert.email_status == PENDING).order_by(Alert.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=Alert, skip_locked=True)
    return [(alert, reference) for alert, reference in session.execute(statement)]


def unacknowledged(session: Session, limit: int = 50) -> list[tuple[Alert, str | None]]:
    """Return alerts no advisor has acknowledged yet, newest first, with their case reference."""
    statement = (select(Alert, Case.reference).outerjoin(Case, Alert.case_id == Case.id)
                 .where(Alert.acknowledged_at.is_(None)).order_by(Alert.id.desc()).limit(limit))
    return [(alert, reference) for alert, reference in session.execute(statement)]


def acknowledge(session: Session, alert_id: int, now: datetime) -> bool:
    """Mark an alert as seen; return whether it existed and was still open."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.acknowledged_at is not None:
        return False
    alert.acknowledged_at = now
    return True
