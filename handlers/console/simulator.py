"""The simulator: an advisor chats with the bot as a test contact, through the real engine and storage."""
from __future__ import annotations

import uuid

from flask import current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot.inputs import Text
from handlers.console import bp
from handlers.console.auth import login_required
from handlers.messenger import MAX_TEXT, SIMULATOR_PREFIX, Event
from storage import outbox, transcript
from storage.models import Contact


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
        return render_template("console/simulator.html", messages=messages, buttons=buttons)


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
