"""The simulator: an advisor chats with the bot as a test contact, through the real engine and storage."""
from __future__ import annotations

import uuid

from flask import current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.inputs import Text
from handlers.console import bp
from handlers.console.auth import login_required
from handlers.messenger import MAX_TEXT, SIMULATOR_PREFIX, Event
from storage import conversations, flow_versions, outbox, transcript
from storage.models import Contact, Conversation, OutboxMessage


def simulator_psid(user_id: int) -> str:
    """Return the test contact's PSID for a console user; the sender never sends its messages to Meta."""
    return f"{SIMULATOR_PREFIX}{user_id}"


@bp.get("/simulator")
@login_required
def simulator() -> ResponseReturnValue:
    """Show the test conversation and the quick replies of the bot's last message."""
    psid = simulator_psid(g.user.id)
    with current_app.extensions["intake"].sessions.begin() as db:
        contact = db.scalars(select(Contact).where(Contact.psid == psid)).one_or_none()
        messages = transcript.for_contact(db, contact.id) if contact else []
        buttons = outbox.last_quick_replies(db, psid) if contact else []
        links = _last_url_buttons(db, psid) if contact else []
        row = _conversation(db, contact)
        running, pinned = _running(db, row)
        return render_template("console/simulator.html", messages=messages, buttons=buttons, running=running,
                               pinned=pinned, links=links)


def _last_url_buttons(db: Session, psid: str) -> list[dict[str, str]]:
    """Return the url buttons (title, url) of the latest message queued for the test contact."""
    rows = db.scalars(select(OutboxMessage.body).where(OutboxMessage.recipient == psid)
                      .order_by(OutboxMessage.id.desc()).limit(20))
    message = next((body["message"] for body in rows if isinstance(body.get("message"), dict)), {})
    payload = (message.get("attachment") or {}).get("payload") or {}
    return [{"title": str(b.get("title", "")), "url": str(b["url"])}
            for b in payload.get("buttons", []) if b.get("type") == "web_url" and b.get("url")]


def _conversation(db: Session, contact: Contact | None) -> Conversation | None:
    """Return the test contact's conversation row, if it has one."""
    if contact is None:
        return None
    return conversations.find_conversation(db, contact.id)


def _running(db: Session, row: Conversation | None) -> tuple[str, bool]:
    """Say which flow version the simulator runs, and whether it is pinned to a draft (an editor's "try")."""
    if row is not None and row.flow_version < 0:
        return f"Running draft #{-row.flow_version} of {row.flow_id}", True
    name = row.flow_id if row is not None else "intake"
    if row is not None and row.step is not None:
        return f"Running {name} v{row.flow_version}", False  # a running intake keeps its version
    live = flow_versions.live_numbers(db).get(("flow", name))
    return (f"Running {name} v{live}" if live is not None else f"Nothing of {name} is published"), False


@bp.post("/simulator")
@login_required
def simulate() -> ResponseReturnValue:
    """Hand the typed text, or the tapped quick reply's payload, to the bot as the test contact."""
    text = request.form.get("text", "").strip()[:MAX_TEXT]
    payload = request.form.get("payload") or None
    if text or payload:
        services = current_app.extensions["intake"]
        now = services.clock()
        services.process([Event("message", simulator_psid(g.user.id), int(now.timestamp() * 1000),
                                key=f"sim:{uuid.uuid4()}", input=Text(text, payload),
                                transcript_kind="quick_reply" if payload else "text", text=text or None)])
    return redirect(url_for("console.simulator"), 303)


@bp.post("/simulator/published")
@login_required
def use_published() -> ResponseReturnValue:
    """Take the test contact off a draft: the next message starts the live version of the flow."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        contact = db.scalars(select(Contact).where(Contact.psid == simulator_psid(g.user.id))).one_or_none()
        row = _conversation(db, contact)
        live = flow_versions.live_numbers(db).get(("flow", row.flow_id)) if row is not None else None
        if row is not None and live is not None:
            row.flow_version, row.step, row.completed, row.answers, row.case_id = live, None, False, {}, None
            row.paused, row.reprompts = False, 0
    return redirect(url_for("console.simulator"), 303)
