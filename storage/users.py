"""Console users: advisors and admins, with their failed log-in count and lock."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import User

ROLES = ("advisor", "admin")


def add_user(session: Session, *, email: str, password_hash: str, role: str, now: datetime) -> User:
    """Store a new user; the e-mail is kept in lower case so log-in ignores case."""
    user = User(email=email.strip().lower(), password_hash=password_hash, role=role, failed_logins=0,
                created_at=now)
    session.add(user)
    return user


def user_by_email(session: Session, email: str) -> User | None:
    """Return the user with this e-mail address, if any."""
    return session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()


def user_by_id(session: Session, user_id: int | None) -> User | None:
    """Return the user with this id, if any."""
    return session.get(User, user_id) if user_id is not None else None


def all_users(session: Session) -> list[User]:
    """Return every user, by e-mail."""
    return list(session.scalars(select(User).order_by(User.email)))
