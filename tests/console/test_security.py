"""Console hardening: security headers, no inline script or style, a fresh session per log-in, guessed case URLs,
CSRF, and an audit record for every log-in and every case view."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handlers.security_headers import content_security_policy
from storage import users
from storage.models import AuditEvent
from tests.conftest import APP_SECRET
from tests.console.conftest import Console, add_user, open_case
from tests.support import messenger

TEMPLATES = Path(__file__).resolve().parents[2] / "handlers" / "console" / "templates"
INLINE = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
CASE_GETS = ("", "/messages")
CASE_POSTS = ("/take-over", "/hand-back", "/waiting", "/assign", "/close", "/reply", "/notes")


def directives(response: Any) -> dict[str, str]:
    """Return the response's Content-Security-Policy as {directive: sources}."""
    parts = [part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")]
    return {name: value for name, value in parts}


def audit_rows(services: Any) -> list[tuple[str, int | None, int | None, str | None]]:
    """Return (action, user id, case id, detail) of every audit event, oldest first."""
    with services.sessions.begin() as session:
        return [(e.action, e.user_id, e.case_id, e.detail)
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def user_id(services: Any, email: str) -> int:
    with services.sessions.begin() as session:
        return users.user_by_email(session, email).id


@pytest.mark.parametrize("path", ["/console/login", "/console/", "/console/static/console.js", "/console/nowhere"])
def test_console_responses_carry_the_security_headers_and_are_never_cached(logged_in: Console, path: str) -> None:
    response = logged_in.get(path)
    policy = directives(response)
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == policy["base-uri"] == "'none'" and policy["form-action"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    response.close()  # a static file's handle


def test_the_webhook_gets_the_headers_too(user: Any) -> None:
    raw = messenger.encode(messenger.envelope(messenger.text_item(user.psid, "hoi")))
    response = user.client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET))
    assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_only_the_flow_diagram_page_may_style_inline_and_scripts_never_run_inline(console: Console,
                                                                                  services: Any) -> None:
    console.login(add_user(services, "ada@example.org", "admin"))
    policy = directives(console.get("/console/flows/intake"))
    assert policy["style-src"] == "'self' 'unsafe-inline'"  # Mermaid styles the SVG it draws
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in content_security_policy().split("style-src")[0]


@pytest.mark.parametrize("template", sorted(p.name for p in (TEMPLATES / "console").glob("*.html")))
def test_templates_have_no_inline_script_handler_or_style(template: str) -> None:
    html = (TEMPLATES / "console" / template).read_text(encoding="utf-8")
    assert INLINE.findall(html) == [], "move it to a file under handlers/console/static"


def test_log_in_starts_a_fresh_session_and_the_old_cookie_gives_no_access(console: Console, advisor: str) -> None:
    console.get("/console/login")
    with console.client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = console.client.get_cookie("session").value
    assert console.login(advisor).status_code == 302
    after = console.client.get_cookie("session").value
    assert after != before
    with console.client.session_transaction() as session:
        assert "planted" not in session and session.get("user_id") is not None
    console.client.set_cookie("session", before)  # the cookie from before the log-in is still anonymous
    assert console.get("/console/").status_code == 302


def test_log_out_clears_the_session(logged_in: Console) -> None:
    logged_in.get("/console/")
    logged_in.post("/console/logout")
    with logged_in.client.session_transaction() as session:
        assert dict(session) == {}


def test_csrf_protection_is_on_for_console_forms(logged_in: Console, user: Any, app: Any) -> None:
    reference = open_case(user)
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert logged_in.client.post(f"/console/cases/{reference}/take-over").status_code == 400
    assert logged_in.client.post(f"/console/cases/{reference}/take-over",
                                 data={"csrf_token": "forged"}).status_code == 400


def test_a_logged_out_visitor_is_sent_to_log_in_from_every_case_url(console: Console, user: Any) -> None:
    reference = open_case(user)
    console.get("/console/login")  # a CSRF token, so the refusal is the log-in check, not the token check
    for suffix in CASE_GETS:
        response = console.get(f"/console/cases/{reference}{suffix}")
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    for suffix in CASE_POSTS:
        response = console.post(f"/console/cases/{reference}{suffix}", text="x", user_id="1")
        assert response.status_code == 302 and "/console/login" in response.headers["Location"], suffix


def test_a_guessed_case_reference_gets_404(logged_in: Console, advisor: str, services: Any, user: Any) -> None:
    reference = open_case(user)  # every advisor may work every case (one team); an unknown one is 404
    guessed = reference[:-1] + ("0" if reference[-1] != "0" else "1")
    logged_in.get("/console/")
    for suffix in CASE_GETS:
        assert logged_in.get(f"/console/cases/{guessed}{suffix}").status_code == 404
        assert logged_in.get(f"/console/cases/..%2F{reference}{suffix}").status_code == 404
    for suffix in CASE_POSTS:
        response = logged_in.post(f"/console/cases/{guessed}{suffix}", text="x",
                                  user_id=str(user_id(services, advisor)))
        assert response.status_code == 404, suffix


def test_every_log_in_and_failure_is_audited(console: Console, advisor: str, services: Any) -> None:
    advisor_id = user_id(services, advisor)
    console.login("nobody@example.org", "secret guess")
    console.login(advisor, "wrong password")
    console.login(advisor)
    console.get("/console/")  # the new session's CSRF token
    console.post("/console/logout")
    assert audit_rows(services) == [("login_failed", None, None, "unknown e-mail address"),
                                    ("login_failed", advisor_id, None, None),
                                    ("login", advisor_id, None, None), ("logout", advisor_id, None, None)]
    assert "secret guess" not in str(audit_rows(services)) and "nobody" not in str(audit_rows(services))


def test_a_log_in_attempt_on_a_locked_account_is_audited(console: Console, advisor: str, services: Any) -> None:
    for _ in range(6):
        console.login(advisor, "wrong password")
    actions = [row[0] for row in audit_rows(services)]
    assert actions == ["login_failed"] * 5 + ["locked", "login_while_locked"]


def test_every_case_view_is_audited_but_the_page_lists_only_actions(logged_in: Console, advisor: str,
                                                                     services: Any, user: Any) -> None:
    reference = open_case(user)
    for _ in range(2):
        page = logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)
    views = [row for row in audit_rows(services) if row[0] == "case_viewed"]
    assert len(views) == 2 and all(row[1] == user_id(services, advisor) and row[2] for row in views)
    assert "case_viewed" not in page
