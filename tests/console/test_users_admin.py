"""Admin user management in the console: create, role, unlock, password reset, deactivate; advisors get 403."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from storage import users
from storage.models import AuditEvent
from tests.console.conftest import Console, add_user

NEW_PASSWORD = "a brand new secret"


def user_id(services: Any, email: str) -> int:
    """Return the stored user's id."""
    with services.sessions.begin() as session:
        return users.user_by_email(session, email).id


def post_and_read(console: Console, path: str, **data: str) -> str:
    """POST a form, then return the page it leads to (with the message flashed)."""
    response = console.post(path, **data)
    assert response.status_code == 303
    return console.get(response.headers["Location"]).get_data(as_text=True)


@pytest.fixture
def admin(console: Console, services: Any) -> Console:
    """Return a console client logged in as an admin, on the user list (so it holds a CSRF token)."""
    assert console.login(add_user(services, "admin@example.org", role="admin")).status_code == 302
    console.get("/console/users")
    return console


@pytest.fixture
def other(app: Any) -> Console:
    """Return a second browser, not logged in."""
    return Console(app.test_client())


def test_an_admin_creates_an_advisor_who_can_then_log_in(admin: Console, other: Console, services: Any) -> None:
    page = post_and_read(admin, "/console/users", email="New@Example.org", role="advisor", password=NEW_PASSWORD)
    assert "User new@example.org created as advisor." in page
    assert other.login("new@example.org", NEW_PASSWORD).status_code == 302
    assert other.get("/console/").status_code == 200
    assert other.get("/console/users").status_code == 403


def test_a_duplicate_e_mail_is_refused_with_a_message(admin: Console, advisor: str, services: Any) -> None:
    page = post_and_read(admin, "/console/users", email="ADVISOR@example.org", role="admin", password=NEW_PASSWORD)
    assert "There is already a user with the e-mail address advisor@example.org." in page
    with services.sessions.begin() as session:
        assert len(users.all_users(session)) == 2


@pytest.mark.parametrize(("form", "message"), [
    ({"email": "x@example.org", "role": "advisor", "password": "too short"}, "at least 10 characters"),
    ({"email": "not an address", "role": "advisor", "password": NEW_PASSWORD}, "valid e-mail address"),
    ({"email": "x@example.org", "role": "owner", "password": NEW_PASSWORD}, "role advisor or admin"),
])
def test_a_bad_new_user_form_is_refused_with_a_message(admin: Console, form: dict[str, str], message: str) -> None:
    page = post_and_read(admin, "/console/users", **form)
    assert message in page and "x@example.org</td>" not in page


@pytest.mark.parametrize("action", ["role", "unlock", "password", "deactivate", "reactivate"])
def test_an_advisor_gets_403_on_every_admin_action(logged_in: Console, services: Any, action: str) -> None:
    target = user_id(services, add_user(services, "other@example.org"))
    logged_in.get("/console/")  # a page with a CSRF token
    response = logged_in.post(f"/console/users/{target}/{action}", role="admin", password=NEW_PASSWORD)
    assert response.status_code == 403


def test_an_advisor_cannot_create_a_user(logged_in: Console, services: Any) -> None:
    logged_in.get("/console/")
    response = logged_in.post("/console/users", email="x@example.org", role="admin", password=NEW_PASSWORD)
    assert response.status_code == 403
    with services.sessions.begin() as session:
        assert users.user_by_email(session, "x@example.org") is None


def test_unlock_lets_a_locked_advisor_log_in_again(admin: Console, other: Console, advisor: str,
                                                   services: Any) -> None:
    for _ in range(5):
        other.login(advisor, "wrong password")
    assert other.login(advisor).status_code == 401
    page = post_and_read(admin, f"/console/users/{user_id(services, advisor)}/unlock")
    assert f"{advisor} is unlocked." in page
    with services.sessions.begin() as session:
        user = users.user_by_email(session, advisor)
        assert (user.failed_logins, user.locked_until) == (0, None)
    assert other.login(advisor).status_code == 302


def test_a_deactivated_user_is_logged_out_and_cannot_log_in(admin: Console, other: Console, advisor: str,
                                                           services: Any) -> None:
    target = user_id(services, advisor)
    assert other.login(advisor).status_code == 302
    page = post_and_read(admin, f"/console/users/{target}/deactivate")
    assert f"{advisor} is deactivated." in page
    assert other.get("/console/").status_code == 302  # the open session ends at the next request
    response = other.login(advisor)
    assert response.status_code == 401 and "deactivated" in response.get_data(as_text=True)
    post_and_read(admin, f"/console/users/{target}/reactivate")
    assert other.login(advisor).status_code == 302


@pytest.mark.parametrize(("action", "form"), [("deactivate", {}), ("role", {"role": "advisor"})])
def test_an_admin_cannot_deactivate_or_demote_themselves(admin: Console, services: Any, action: str,
                                                         form: dict[str, str]) -> None:
    me = user_id(services, "admin@example.org")
    page = post_and_read(admin, f"/console/users/{me}/{action}", **form)
    assert "so there is always an admin" in page
    with services.sessions.begin() as session:
        user = users.user_by_id(session, me)
        assert user.active and user.role == "admin"


def test_an_admin_changes_a_role_and_resets_a_password(admin: Console, other: Console, advisor: str,
                                                       services: Any) -> None:
    target = user_id(services, advisor)
    assert f"{advisor} is now admin." in post_and_read(admin, f"/console/users/{target}/role", role="admin")
    assert "too short" not in post_and_read(admin, f"/console/users/{target}/password", password="too short")
    assert other.login(advisor, "too short").status_code == 401
    post_and_read(admin, f"/console/users/{target}/password", password=NEW_PASSWORD)
    assert other.login(advisor, NEW_PASSWORD).status_code == 302
    assert other.get("/console/users").status_code == 200


def test_every_admin_action_is_in_the_audit_trail(admin: Console, advisor: str, services: Any) -> None:
    target = user_id(services, advisor)
    post_and_read(admin, "/console/users", email="new@example.org", role="advisor", password=NEW_PASSWORD)
    for action, form in [("role", {"role": "admin"}), ("unlock", {}), ("password", {"password": NEW_PASSWORD}),
                         ("deactivate", {}), ("reactivate", {})]:
        post_and_read(admin, f"/console/users/{target}/{action}", **form)
    with services.sessions.begin() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("user_%"))
                                       .order_by(AuditEvent.id)))
        assert NEW_PASSWORD not in "".join(session.scalars(select(AuditEvent.detail).where(
            AuditEvent.detail.is_not(None))))
    assert actions == ["user_created", "user_role_changed", "user_unlocked", "user_password_reset",
                       "user_deactivated", "user_reactivated"]


def test_a_post_without_the_csrf_token_is_refused(admin: Console, services: Any) -> None:
    response = admin.client.post("/console/users", data={"email": "x@example.org", "role": "admin",
                                                         "password": NEW_PASSWORD})
    assert response.status_code == 400
    with services.sessions.begin() as session:
        assert users.user_by_email(session, "x@example.org") is None
