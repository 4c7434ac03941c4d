"""Export one case for the user or the police: JSON, and a printable page. Every export is in the audit trail."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from handlers.console import bp
from handlers.console.auth import login_required
from handlers.console.cases import _case, answer_summary
from storage import caselist, notes
from storage.models import Case


def stamp(at: datetime | None) -> str | None:
    """Return a time as ISO 8601 (UTC), or None."""
    return at.isoformat() if at else None


def case_record(db: Session, case: Case) -> dict[str, Any]:
    """Return everything the case holds: its fields, answers (as asked), flags, transcript and notes."""
    flow = current_app.extensions["intake"].intake.flows.get(db, case.flow_id, case.flow_version)
    return {
        "reference": case.reference, "status": case.status, "category": case.category, "urgency": case.urgency,
        "contact_method": case.contact_method, "intake_complete": case.intake_complete,
        "created_at": stamp(case.created_at), "completed_at": stamp(case.completed_at),
        "closed_at": stamp(case.closed_at), "erased_at": stamp(case.erased_at),
        "answers": [{"question": q, "answer": a} for q, a in answer_summary(flow, case.answers)],
        "flags": [{"category": f.category, "severity": f.severity, "source": f.source, "matched": f.matched,
                   "at": stamp(f.created_at)} for f in caselist.flags_for(db, case.id)],
        "transcript": [{"at": stamp(m.created_at), "from": "user" if m.direction == "in" else "page",
                        "kind": m.kind, "text": m.text} for m in caselist.transcript_for(db, case.id)],
        "notes": [{"at": stamp(n.created_at), "by": who, "text": n.text} for n, who in notes.notes_for(db, case.id)],
    }


def _exported(reference: str, how: str) -> dict[str, Any]:
    """Return the case's record and note in the audit trail who exported it, and how."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        case = _case(db, reference)
        notes.audit(db, action="case_exported", user_id=g.user.id, case_id=case.id, detail=how,
                    now=services.clock())
        return case_record(db, case)


@bp.get("/cases/<reference>/export.json")
@login_required
def export_json(reference: str) -> ResponseReturnValue:
    """Download the case as JSON (for the user's own request, or to hand to the police)."""
    body = json.dumps(_exported(reference, "json"), ensure_ascii=False, indent=2)
    return body, 200, {"Content-Type": "application/json; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{reference}.json"'}


@bp.get("/cases/<reference>/print")
@login_required
def export_print(reference: str) -> ResponseReturnValue:
    """Show the case as a plain page to print or save as PDF."""
    services = current_app.extensions["intake"]
    return render_template("console/print.html", case=_exported(reference, "print"), printed_at=services.clock(),
                           organisation=services.settings.organisation)
