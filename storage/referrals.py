"""The m.me ref codes handed out to schools and campaigns, and how many cases came in through each."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import Case, ReferralCode

VALID_CODE = re.compile(r"[A-Za-z0-9_=-]{1,200}")  # what Meta allows in an m.me ref (up to 2,083; we keep 200)


@dataclass(frozen=True)
class CodeUse:
    """A code with its name (None: a code nobody configured) and the number of cases it brought."""

    code: str
    label: str | None
    cases: int


def add(session: Session, code: str, label: str, now: datetime) -> ReferralCode:
    """Configure a code (ValueError for one Meta would not pass on, or one that exists)."""
    if not VALID_CODE.fullmatch(code):
        raise ValueError(f"{code!r}: a ref code is 1-200 letters, digits, '-', '_' or '='")
    if session.get(ReferralCode, code) is not None:
        raise ValueError(f"{code!r} exists already")
    row = ReferralCode(code=code, label=label.strip()[:200] or code, created_at=now)
    session.add(row)
    return row


def remove(session: Session, code: str) -> bool:
    """Forget a code's name (its cases keep the code); return whether it was configured."""
    return session.execute(delete(ReferralCode).where(ReferralCode.code == code)).rowcount == 1  # type: ignore[attr-defined]


def usage(session: Session) -> list[CodeUse]:
    """Return every configured code, and every unknown code that cases came in with, with their case counts."""
    counts = dict(session.execute(select(Case.referral, func.count()).where(Case.referral.is_not(None))
                                  .group_by(Case.referral)).all())
    known = [CodeUse(row.code, row.label, counts.pop(row.code, 0))
             for row in session.scalars(select(ReferralCode).order_by(ReferralCode.code))]
    return known + [CodeUse(code, None, n) for code, n in sorted(counts.items())]


def label_for(session: Session, code: str | None) -> str | None:
    """Return the name of a configured code (None for no code or an unknown one)."""
    row = session.get(ReferralCode, code) if code else None
    return row.label if row else None
