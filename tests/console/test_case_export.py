"""Exporting one case, as JSON and as a printable page, for the user or the police; every export is audited."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from storage.models import AuditEvent
from tests.console.conftest import Console, open_case


def test_a_case_exports_as_json_with_transcript_answers_flags_and_notes(logged_in: Console, user: Any,
                                                                        services: Any) -> None:
    reference = open_case(user)
    page = logged_in.get(f"/console/cases/{reference}").get_data(as_text=True)
    assert f"/console/cases/{reference}/export.json" in page and f"/console/cases/{reference}/print" in page
    user.say("hij dreigt mijn naaktfoto te delen als ik niet betaal")
    logged_in.get(f"/console/cases/{reference}")
    logged_in.post(f"/console/cases/{reference}/notes", text="Ouder gebeld, aangifte besproken")
    answer = logged_in.get(f"/console/cases/{reference}/export.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert f'filename="{reference}.json"' in answer.headers["Content-Disposition"]
    record = json.loads(answer.get_data(as_text=True))
    assert record["reference"] == reference
    assert any(line["text"] == "hij dreigt mijn naaktfoto te delen als ik niet betaal" and line["from"] == "user"
               for line in record["transcript"])
    assert any(line["from"] == "page" for line in record["transcript"])
    assert record["flags"] and record["answers"]
    assert [note["text"] for note in record["notes"]] == ["Ouder gebeld, aangifte besproken"]
    assert user.psid not in answer.get_data(as_text=True)  # the page-scoped id is not part of the export


def test_the_printable_page_escapes_what_the_user_typed(logged_in: Console, user: Any) -> None:
    reference = open_case(user)
    user.say("<script>alert(1)</script> hallo")
    page = logged_in.get(f"/console/cases/{reference}/print")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and f"Melding {reference}" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hallo" in text and "<script>" not in text


def test_every_export_is_audited_and_needs_a_login(console: Console, logged_in: Console, user: Any,
                                                    services: Any, app: Any) -> None:
    reference = open_case(user)
    logged_in.get(f"/console/cases/{reference}/export.json")
    logged_in.get(f"/console/cases/{reference}/print")
    with services.sessions.begin() as session:
        details = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "case_exported")).all()
    assert sorted(details) == ["json", "print"]
    stranger = app.test_client()
    for path in ("export.json", "print"):
        assert stranger.get(f"/console/cases/{reference}/{path}").status_code in (302, 401, 403)
    assert logged_in.get("/console/cases/IDA-2099-9999/export.json").status_code == 404
