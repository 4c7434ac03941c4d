"""Admin pages for console users: list, create, change role, unlock, reset password, deactivate and reactivate."""
from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from handlers.console import bp
from handlers.console.auth import MIN_PASSWORD, admin_required, hash_password
from storage import notes, users
from storage.models import User

MAX_EMAIL = 254


@bp.get("/users")
@admin_required
def user_list() -> ResponseReturnValue:
    """List the console's users with the forms to manage them (admins only)."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        return render_template("console/users.html", users=users.all_users(db), roles=users.ROLES,
                               min_password=MIN_PASSWORD, now=services.clock())


@bp.post("/users")
@admin_required
def create_user() -> ResponseReturnValue:
    """Add a user with an initial password; a taken e-mail address gets a message."""
    form = request.form
    email, role, password = form.get("email", "").strip().lower(), form.get("role", ""), form.get("password", "")
    problem = _new_user_problem(email, role, password)
    if problem:
        return _back(problem)
    services = current_app.extensions["intake"]
    try:
        with services.sessions.begin() as db:
            users.add_user(db, email=email, password_hash=hash_password(password), role=role, now=services.clock())
            notes.audit(db, action="user_created", user_id=g.user.id, detail=f"{email} ({role})",
                        now=services.clock())
    except IntegrityError:  # the unique e-mail is the only constraint the insert can break
        return _back(f"There is already a user with the e-mail address {email}.")
    return _back(f"User {email} created as {role}.")


@bp.post("/users/<int:user_id>/role")
@admin_required
def change_role(user_id: int) -> ResponseReturnValue:
    """Make a user an advisor or an admin; an admin cannot demote themselves."""
    role = request.form.get("role", "")
    if role not in users.ROLES:
        abort(400)
    if user_id == g.user.id and role != "admin":
        return _back("You cannot take away your own admin role, so there is always an admin; ask another admin.")

    def apply(user: User) -> str:
        user.role = role
        return f"{user.email} is now {role}."
    return _change(user_id, "user_role_changed", apply)


@bp.post("/users/<int:user_id>/unlock")
@admin_required
def unlock(user_id: int) -> ResponseReturnValue:
    """Lift the lock after too many failed log-ins."""
    def apply(user: User) -> str:
        user.failed_logins, user.locked_until = 0, None
        return f"{user.email} is unlocked."
    return _change(user_id, "user_unlocked", apply)


@bp.post("/users/<int:user_id>/password")
@admin_required
def reset_password(user_id: int) -> ResponseReturnValue:
    """Give a user a new password chosen by the admin."""
    password = request.form.get("password", "")
    if len(password) < MIN_PASSWORD:
        return _back(f"A password needs at least {MIN_PASSWORD} characters.")

    def apply(user: User) -> str:
        user.password_hash = hash_password(password)
        return f"The password of {user.email} is reset."
    return _change(user_id, "user_password_reset", apply)


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int) -> ResponseReturnValue:
    """Stop a user from logging in; a session they have ends at their next request."""
    if user_id == g.user.id:
        return _back("You cannot deactivate your own account, so there is always an admin; ask another admin.")

    def apply(user: User) -> str:
        user.active = False
        return f"{user.email} is deactivated."
    return _change(user_id, "user_deactivated", apply)


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int) -> ResponseReturnValue:
    """Let a deactivated user log in again."""
    def apply(user: User) -> str:
        user.active = True
        return f"{user.email} is active again."
    return _change(user_id, "user_reactivated", apply)


def _new_user_problem(email: str, role: str, password: str) -> str:
    """Return what is wrong with the new user's form, or an empty string."""
    if "@" not in email or len(email) > MAX_EMAIL:
        return "Give a valid e-mail address."
    if role not in users.ROLES:
        return "Choose the role advisor or admin."
    if len(password) < MIN_PASSWORD:
        return f"A password needs at least {MIN_PASSWORD} characters."
    return ""


def _change(user_id: int, action: str, apply: Callable[[User], str]) -> ResponseReturnValue:
    """Change one user in one transaction, record it in the audit trail and go back to the list."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        user = users.user_by_id(db, user_id)
        if user is None:
            abort(404)
        done = apply(user)
        notes.audit(db, action=action, user_id=g.user.id, detail=done, now=services.clock())
    return _back(done)


def _back(message: str) -> ResponseReturnValue:
    """Show a message on the user list."""
    flash(message)
    return redirect(url_for("console.user_list"), 303)
