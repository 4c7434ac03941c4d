"""Console pages for cases: the list, a change marker to poll, the case page and what advisors do on it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from flows.model import Flow
from handlers.console import bp, handover
from handlers.console.auth import login_required
from storage import alerts, caselist, notes, referrals, reminders, users
from storage.models import AuditEvent, Case, User

PROMISE = timedelta(hours=24)  # what the bot tells every user
MAX_NOTE = 5000


@bp.app_template_filter("waited")
def waited(since: datetime) -> str:
    """Show how long ago something happened, in hours and minutes."""
    minutes = int((current_app.extensions["intake"].clock() - since).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(minutes, 0)} min"


@bp.get("/")
@login_required
def case_list() -> ResponseReturnValue:
    """List the cases, urgent, flagged and overdue first; filter by status, category, flag and advisor."""
    filters = _filters()
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        return render_template("console/list.html", rows=caselist.list_cases(db, filters), filters=filters,
                               statuses=caselist.STATUSES, choices=caselist.filter_choices(db),
                               users=users.all_users(db), alerts=alerts.unacknowledged(db),
                               marker=caselist.change_marker(db), now=services.clock(), promise=PROMISE)


def _filters() -> caselist.Filters:
    """Read the list's filters from the query string; answer 400 to a status or advisor that cannot be."""
    args = request.args
    status, assignee = args.get("status") or None, args.get("assignee") or None
    if status not in (None, *caselist.STATUSES) or (assignee is not None and not assignee.isdigit()):
        abort(400)
    return caselist.Filters(status=status, category=args.get("category") or None, flag=args.get("flag") or None,
                            assignee=int(assignee) if assignee else None, test=args.get("test") == "1")


@bp.get("/changes")
@login_required
def changes() -> ResponseReturnValue:
    """Return the marker the list page polls: when it differs, the page reloads."""
    with current_app.extensions["intake"].sessions.begin() as db:
        return jsonify(marker=caselist.change_marker(db))


@bp.get("/cases/<reference>")
@login_required
def case_detail(reference: str) -> ResponseReturnValue:
    """Show one case: answers, transcript, flags, reminders, notes and audit trail."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        case = _case(db, reference)
        notes.audit(db, action="case_viewed", user_id=g.user.id, case_id=case.id, now=services.clock())
        contact, conversation = handover.parties(db, case)
        flow = services.intake.flows.get(db, case.flow_id, case.flow_version)
        return render_template(
            "console/detail.html", case=case, contact=contact, conversation=conversation,
            answers=answer_summary(flow, case.answers), messages=caselist.transcript_for(db, case.id),
            flags=caselist.flags_for(db, case.id), reminders=reminders.for_case(db, case.id),
            notes=notes.notes_for(db, case.id), audit=_trail(db, case.id),
            assignee=db.get(User, case.assignee_id) if case.assignee_id else None, users=users.all_users(db),
            referral_label=referrals.label_for(db, case.referral),
            now=services.clock())


@bp.get("/cases/<reference>/messages")
@login_required
def case_messages(reference: str) -> ResponseReturnValue:
    """Return the transcript lines and a marker, so the open case page shows new messages as they arrive."""
    with current_app.extensions["intake"].sessions.begin() as db:
        messages = caselist.transcript_for(db, _case(db, reference).id)
        html = render_template("console/_transcript.html", messages=messages)
        return jsonify(marker=str(messages[-1].id if messages else 0), html=html)


@bp.post("/cases/<reference>/take-over")
@login_required
def take_over(reference: str) -> ResponseReturnValue:
    """Take the conversation over from the bot."""
    return _act(reference, handover.take_over, "You have taken over; the bot is silent until you hand back.")


@bp.post("/cases/<reference>/hand-back")
@login_required
def hand_back(reference: str) -> ResponseReturnValue:
    """Give the conversation back to the bot."""
    return _act(reference, handover.hand_back, "The bot answers again.")


@bp.post("/cases/<reference>/waiting")
@login_required
def waiting(reference: str) -> ResponseReturnValue:
    """Mark the case as waiting for the user."""
    return _act(reference, handover.wait_for_user, "The case waits for the user.")


@bp.post("/cases/<reference>/assign")
@login_required
def assign(reference: str) -> ResponseReturnValue:
    """Give the case to another advisor."""
    raw = request.form.get("user_id", "")
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        target = users.user_by_id(db, int(raw)) if raw.isdigit() else None
        if target is None:
            abort(400)
        target_id = target.id

    def give(db: Session, case: Case, user: User, now: datetime) -> None:
        handover.assign(db, case, user, db.get_one(User, target_id), now)
    return _act(reference, give, "Case assigned.")


@bp.post("/cases/<reference>/close")
@login_required
def close(reference: str) -> ResponseReturnValue:
    """Close the case."""
    return _act(reference, handover.close, "Case closed.")


@bp.post("/cases/<reference>/reply")
@login_required
def reply(reference: str) -> ResponseReturnValue:
    """Send the advisor's reply to the user, or explain why Messenger does not allow it."""
    text = request.form.get("text", "").strip()
    if not text:
        flash("Type a reply first.")
        return redirect(url_for("console.case_detail", reference=reference), 303)
    try:
        return _act(reference, lambda db, case, user, now: handover.reply(db, case, user, text, now), "Reply sent.")
    except handover.ReplyRefused as refused:
        flash(f"Not sent: {refused}")
        return redirect(url_for("console.case_detail", reference=reference), 303)


@bp.post("/cases/<reference>/notes")
@login_required
def add_note(reference: str) -> ResponseReturnValue:
    """Add an internal note (never shown to the user)."""
    text = request.form.get("text", "").strip()[:MAX_NOTE]
    if text:
        services = current_app.extensions["intake"]
        with services.sessions.begin() as db:
            case = _case(db, reference)
            notes.add_note(db, case_id=case.id, user_id=g.user.id, text=text, now=services.clock())
            notes.audit(db, action="note", user_id=g.user.id, case_id=case.id, now=services.clock())
    return redirect(url_for("console.case_detail", reference=reference), 303)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@login_required
def acknowledge(alert_id: int) -> ResponseReturnValue:
    """Mark an alert as seen."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        if alerts.acknowledge(db, alert_id, services.clock()):
            notes.audit(db, action="alert_acknowledged", user_id=g.user.id, detail=str(alert_id),
                        now=services.clock())
    return redirect(url_for("console.case_list"), 303)


def answer_summary(flow: Flow | None, answers: dict[str, str]) -> list[tuple[str, str]]:
    """Return the intake answers as (question, answer) pairs in the flow's order, in Dutch as advisors read."""
    pairs, seen = [], set()
    for step in flow.steps.values() if flow else ():
        if step.answer and step.answer in answers and step.answer not in seen:
            seen.add(step.answer)
            option = step.option(answers[step.answer])
            question = step.text.get("nl").splitlines()[0] if step.text else step.answer
            pairs.append((question, option.title.get("nl") if option else answers[step.answer]))
    return pairs + [(key, value) for key, value in answers.items() if key not in seen]


def _trail(db: Session, case_id: int) -> list[tuple[AuditEvent, str | None]]:
    """Return the case's audit trail as the page shows it: what was done (the log also keeps every view)."""
    return [(event, who) for event, who in notes.audit_for(db, case_id) if event.action != "case_viewed"]


def _case(db: Session, reference: str) -> Case:
    """Return the case or answer 404."""
    case = caselist.case_by_reference(db, reference)
    if case is None:
        abort(404)
    return case


def _act(reference: str, action: Callable[[Session, Case, User, datetime], None], done: str) -> ResponseReturnValue:
    """Run one advisor action in one transaction, then wake the sender so the user hears at once."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        action(db, _case(db, reference), db.get_one(User, g.user.id), services.clock())
    if services.jobs:
        services.jobs.wake()
    flash(done)
    return redirect(url_for("console.case_detail", reference=reference), 303)
