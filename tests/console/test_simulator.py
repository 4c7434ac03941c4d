"""The simulator: advisors chat with the real bot as a test contact; nothing reaches Meta."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from storage import users
from storage.models import Case, OutboxMessage
from tests.console.conftest import Console

PAYLOAD = re.compile(r'name="payload" value="([^"]+)"')


def test_the_simulator_needs_a_log_in(console: Console) -> None:
    response = console.get("/console/simulator")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_the_bot_answers_in_the_simulator_with_quick_reply_buttons(logged_in: Console, services: Any,
                                                                   graph: Any) -> None:
    logged_in.get("/console/simulator")
    assert logged_in.post("/console/simulator", text="hoi").status_code == 303
    page = logged_in.get("/console/simulator").get_data(as_text=True)
    payloads = PAYLOAD.findall(page)
    assert "hoi" in page and 'class="bot"' in page and payloads
    logged_in.post("/console/simulator", text="Ja", payload=payloads[0])
    assert logged_in.get("/console/simulator").get_data(as_text=True).count('class="bot"') >= 2
    services.drain()
    assert graph.requests == [], "simulator messages never go to the Graph API"
    with services.sessions.begin() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert rows and {r.status for r in rows} == {"sent"} and {r.message_id for r in rows} == {None}


def test_a_simulated_case_is_a_test_case_hidden_from_the_default_list(logged_in: Console, services: Any) -> None:
    logged_in.get("/console/simulator")
    for text in ("hoi", "adviseur"):
        logged_in.post("/console/simulator", text=text)
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        reference, test = case.reference, case.test
    assert test is True
    assert f">{reference}</a></td>" not in logged_in.get("/console/").get_data(as_text=True)
    assert f">{reference}</a></td>" in logged_in.get("/console/?test=1").get_data(as_text=True)


def test_each_advisor_has_an_own_test_contact(logged_in: Console, services: Any) -> None:
    logged_in.get("/console/simulator")
    logged_in.post("/console/simulator", text="hoi")
    with services.sessions.begin() as session:
        advisor = users.all_users(session)[0].id
        assert session.scalars(select(OutboxMessage.recipient).distinct()).all() == [f"sim-{advisor}"]


def test_the_simulator_escapes_what_is_typed(logged_in: Console) -> None:
    logged_in.get("/console/simulator")
    logged_in.post("/console/simulator", text="<script>alert(1)</script>")
    page = logged_in.get("/console/simulator").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
