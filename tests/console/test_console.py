"""The advisor console through the real app: log-in, roles, CSRF, take over, reply windows, hand back, close."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage import users
from storage.models import Alert, AuditEvent, Case, Contact, Conversation, Reminder
from tests.console.conftest import Console, add_user, open_case

ROOT = Path(__file__).resolve().parents[2]


def set_last_inbound(services: Any, days: float) -> None:
    """Pretend the user last wrote this many days ago."""
    with services.sessions.begin() as session:
        for contact in session.scalars(select(Contact)):
            contact.last_inbound_at = services.clock() - timedelta(days=days)


def test_every_console_page_asks_for_a_log_in_first(console: Console) -> None:
    for path in ("/console/", "/console/changes", "/console/cases/IDA-2026-00001", "/console/users"):
        response = console.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_the_right_password_logs_in_and_log_out_ends_the_session(console: Console, advisor: str) -> None:
    assert console.login(advisor).status_code == 302
    assert console.get("/console/").status_code == 200
    console.post("/console/logout")
    assert console.get("/console/").status_code == 302


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(console: Console, advisor: str,
                                                                      services: Any) -> None:
    for _ in range(5):
        assert console.login(advisor, "wrong password").status_code == 401
    with services.sessions.begin() as session:
        assert users.user_by_email(session, advisor).locked_until > services.clock()
    response = console.login(advisor)
    assert response.status_code == 401 and "locked" in response.get_data(as_text=True)


def test_an_advisor_cannot_open_the_admin_user_list(logged_in: Console) -> None:
    assert logged_in.get("/console/users").status_code == 403


def test_an_admin_sees_the_user_list(console: Console, services: Any) -> None:
    console.login(add_user(services, "admin@example.org", role="admin"))
    response = console.get("/console/users")
    assert response.status_code == 200 and "admin@example.org" in response.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(console: Console, advisor: str) -> None:
    console.get("/console/login")
    response = console.client.post("/console/login", data={"email": advisor, "password": "x"})
    assert response.status_code == 400


def test_the_session_cookie_is_http_only_and_same_site_lax(console: Console, advisor: str) -> None:
    cookie = console.login(advisor).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_case_list_shows_a_case_that_asked_for_an_advisor(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    page = logged_in.get("/console/").get_data(as_text=True)
    row = f">{reference}</a></td>"  # the case table, not the alert list above it
    assert row in page and "asked for advisor" in page
    assert row not in logged_in.get("/console/?status=closed").get_data(as_text=True)


def test_the_change_marker_moves_when_a_user_writes(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    before = logged_in.get("/console/changes").get_json()["marker"]
    user.say("nog iets")
    assert logged_in.get("/console/changes").get_json()["marker"] != before
    assert reference


def test_taking_over_tells_the_user_and_silences_the_bot(logged_in: Console, user: Any, graph: Any,
                                                        services: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    assert logged_in.post(f"/console/cases/{reference}/take-over").status_code == 303
    services.drain()
    assert "adviseur" in graph.texts(user.psid)[-1]
    assert user.say("ben je er nog?") == []
    page = logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)
    assert "ben je er nog?" in page and "advisor@example.org" in page
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        assert case.status == "in_progress" and case.assignee_id is not None
        assert "take_over" in session.scalars(select(AuditEvent.action)).all()


def test_a_reply_within_a_day_goes_out_as_a_response(logged_in: Console, user: Any, graph: Any,
                                                     services: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/reply", text="Hoi, ik ben Sam van het team.")
    services.drain()
    sent = graph.sent_messages(user.psid)[-1]
    assert sent["message"]["text"] == "Hoi, ik ben Sam van het team." and sent["messaging_type"] == "RESPONSE"


def test_a_reply_after_three_days_uses_the_human_agent_tag(logged_in: Console, user: Any, graph: Any,
                                                           services: Any) -> None:
    reference = open_case(user)
    set_last_inbound(services, 3)
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/reply", text="Sorry voor het wachten.")
    services.drain()
    sent = graph.sent_messages(user.psid)[-1]
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "HUMAN_AGENT"


def test_a_reply_after_eight_days_is_refused_with_the_reason(logged_in: Console, user: Any, graph: Any,
                                                             services: Any) -> None:
    reference = open_case(user)
    set_last_inbound(services, 8)
    before = len(graph.sent_messages(user.psid))
    logged_in.get(f"/console/cases/{reference}")
    response = logged_in.post(f"/console/cases/{reference}/reply", text="Te laat?")
    services.drain()
    assert response.status_code == 303 and len(graph.sent_messages(user.psid)) == before
    page = logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)
    assert "Not sent" in page and "7 days" in page and "Te laat?" not in page


def test_handing_back_lets_the_bot_answer_again(logged_in: Console, user: Any, graph: Any, services: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/take-over")
    logged_in.post(f"/console/cases/{reference}/hand-back")
    services.drain()
    assert "menu" in graph.texts(user.psid)[-1]
    with services.sessions.begin() as session:
        assert session.scalars(select(Conversation.paused)).one() is False
    assert user.say("menu") != []


def test_closing_a_case_cancels_its_reminders(logged_in: Console, user: Any, services: Any) -> None:
    reference = open_case(user)
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        session.add(Reminder(case_id=case.id, kind="advisor", due_at=services.clock() + timedelta(hours=1)))
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/close")
    with services.sessions.begin() as session:
        assert session.scalars(select(Case.status)).one() == "closed"
        assert {r.status for r in session.scalars(select(Reminder))} == {"cancelled"}


def test_a_note_is_shown_on_the_case_page(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/notes", text="Moeder belt morgen terug")
    assert "Moeder belt morgen terug" in logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)


def test_a_hostile_message_is_shown_escaped(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    user.say("<script>alert(1)</script>")
    page = logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    live = logged_in.get(f"/console/cases/{reference}/messages").get_json()  # what the open page swaps in
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in live["html"] and "<script>alert(1)" not in live["html"]


def test_an_alert_can_be_acknowledged(logged_in: Console, user: Any, services: Any) -> None:
    open_case(user)
    page = logged_in.get("/console/").get_data(as_text=True)
    assert "human_requested" in page
    with services.sessions.begin() as session:
        alert_id = session.scalars(select(Alert.id)).first()
    logged_in.post(f"/console/alerts/{alert_id}/acknowledge")
    assert "No open alerts" in logged_in.get("/console/").get_data(as_text=True)


def test_the_command_line_creates_a_user_from_a_password_on_stdin(db_url: str, services: Any) -> None:
    result = subprocess.run([sys.executable, "app.py", "users", "create", "--email", "a@b.nl", "--role", "advisor",
                             "--password-stdin"], input="a long enough secret\n", capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "DATABASE_URL": db_url}, timeout=60)
    assert result.returncode == 0, result.stderr
    with services.sessions.begin() as session:
        user = users.user_by_email(session, "a@b.nl")
        assert user is not None and user.role == "advisor" and user.password_hash.startswith("scrypt:")
