"""Working the case list: filters on category, flag and advisor, assigning, and 'waiting for user'."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage import users
from storage.models import AuditEvent, Case, CaseFlag
from tests.console.conftest import Console, add_user, open_case


def row(reference: str) -> str:
    """Return the case table's cell for a reference (not the alert list above it)."""
    return f">{reference}</a></td>"


def test_the_list_filters_on_category_and_flag(logged_in: Console, user: Any, services: Any) -> None:
    reference = open_case(user)
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        case.category = "sextortion"
        session.add(CaseFlag(case_id=case.id, category="danger", source="message", severity="urgent"))
    assert row(reference) in logged_in.get("/console/?category=sextortion&flag=danger").get_data(as_text=True)
    assert row(reference) not in logged_in.get("/console/?category=bullying").get_data(as_text=True)
    assert row(reference) not in logged_in.get("/console/?flag=self_harm").get_data(as_text=True)


def test_a_case_can_be_assigned_to_another_advisor_and_filtered_on(logged_in: Console, user: Any,
                                                                   services: Any) -> None:
    reference = open_case(user)
    colleague = add_user(services, "kim@example.org")
    with services.sessions.begin() as session:
        kim = users.user_by_email(session, colleague).id
    logged_in.get(f"/console/cases/{reference}")
    assert logged_in.post(f"/console/cases/{reference}/assign", user_id=str(kim)).status_code == 303
    page = logged_in.get(f"/console/?assignee={kim}").get_data(as_text=True)
    assert row(reference) in page and "<td>kim@example.org</td>" in page
    assert row(reference) not in logged_in.get("/console/?assignee=999999").get_data(as_text=True)
    with services.sessions.begin() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "assign")).one()
        assert event.detail == "kim@example.org" and session.scalars(select(Case.assignee_id)).one() == kim


def test_assigning_to_an_unknown_user_is_refused(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    assert logged_in.post(f"/console/cases/{reference}/assign", user_id="999999").status_code == 400
    assert logged_in.post(f"/console/cases/{reference}/assign", user_id="x").status_code == 400


def test_a_bad_advisor_filter_is_refused(logged_in: Console) -> None:
    assert logged_in.get("/console/?assignee=abc").status_code == 400


def test_waiting_for_user_sets_the_status_and_is_audited(logged_in: Console, user: Any, services: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}")
    assert logged_in.post(f"/console/cases/{reference}/waiting").status_code == 303
    assert row(reference) in logged_in.get("/console/?status=waiting").get_data(as_text=True)
    with services.sessions.begin() as session:
        assert session.scalars(select(Case.status)).one() == "waiting"
        assert "waiting" in session.scalars(select(AuditEvent.action)).all()
