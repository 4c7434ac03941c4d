"""Console log-in: e-mail and scrypt password, a lock after repeated failures, roles, the current user in g."""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from handlers.console import bp
from storage import notes, users
from storage.models import User

MIN_PASSWORD = 10  # characters; the same rule for the console and `users create`
MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)
# checked when the e-mail is unknown, so a wrong address takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("not a real password")


def hash_password(password: str) -> str:
    """Hash a password with werkzeug's default, scrypt."""
    return generate_password_hash(password)


def check_login(db: Session, email: str, password: str, now: datetime) -> tuple[User | None, str]:
    """Return the user for a correct log-in, or None with the reason to show; count failures and lock."""
    user = users.user_by_email(db, email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        # not the address typed: it may be a password typed in the wrong field
        notes.audit(db, action="login_failed", user_id=None, detail="unknown e-mail address", now=now)
        return None, "Wrong e-mail address or password."
    if user.locked_until is not None and user.locked_until > now:
        notes.audit(db, action="login_while_locked", user_id=user.id, now=now)
        return None, "Too many failed attempts: this account is locked for 15 minutes."
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        notes.audit(db, action="login_failed", user_id=user.id, now=now)
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins, user.locked_until = 0, now + LOCK_TIME
            notes.audit(db, action="locked", user_id=user.id, now=now)
            return None, "Too many failed attempts: this account is locked for 15 minutes."
        return None, "Wrong e-mail address or password."
    if not user.active:
        notes.audit(db, action="login_inactive", user_id=user.id, now=now)
        return None, "This account has been deactivated; ask an admin."
    user.failed_logins, user.locked_until = 0, None
    notes.audit(db, action="login", user_id=user.id, now=now)
    return user, ""


@bp.before_request
def load_user() -> None:
    """Put the logged-in user (or None) in g.user; a deactivated account is logged out here."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        g.user = users.user_by_id(db, session.get("user_id"))
    if g.user is not None and not g.user.active:
        session.clear()
        g.user = None


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Send a visitor who is not logged in to the log-in page."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        if g.user is None:
            return redirect(url_for("console.login", next=request.path))
        return view(**kwargs)
    return wrapped


def admin_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Allow only admins (403 for advisors)."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        if g.user.role != "admin":
            abort(403)
        return view(**kwargs)
    return login_required(wrapped)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the log-in form; on a correct password start a fresh session."""
    if request.method == "GET":
        return render_template("console/login.html")
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        user, problem = check_login(db, request.form.get("email", ""), request.form.get("password", ""),
                                    services.clock())
        user_id = user.id if user else None
    if user_id is None:
        flash(problem)
        return render_template("console/login.html"), 401
    session.clear()  # a new session id for the new identity
    session["user_id"] = user_id
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session."""
    if g.user is not None:
        services = current_app.extensions["intake"]
        with services.sessions.begin() as db:
            notes.audit(db, action="logout", user_id=g.user.id, now=services.clock())
    session.clear()
    return redirect(url_for("console.login"))


def _safe_next(target: str | None) -> str:
    """Return a local console path to go to after log-in, never another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.case_list")
