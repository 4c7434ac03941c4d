"""Meta's data deletion callback: a signed request to erase a user's data, and a page that shows its status.

Meta posts a `signed_request` (base64url HMAC-SHA256 signature, a dot, base64url JSON with the user id) when a
user removes the app in Facebook's settings and asks for their data to be deleted. We answer with a status URL and
a confirmation code.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from storage import erasure
from storage.models import Case, Contact

log = logging.getLogger(__name__)
bp = Blueprint("data_deletion", __name__, template_folder="deletion_templates")


class BadSignedRequest(ValueError):
    """The signed_request is malformed or its signature does not match."""


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parse_signed_request(signed_request: str, secret: str) -> dict[str, Any]:
    """Return the payload of a signed_request whose HMAC-SHA256 signature matches the app secret."""
    try:
        signature, payload = signed_request.split(".", 1)
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
        if not secret or not hmac.compare_digest(_b64decode(signature), expected):
            raise BadSignedRequest("the signature does not match")
        data = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise BadSignedRequest(str(exc)) from exc
    if not isinstance(data, dict) or str(data.get("algorithm", "")).upper() != "HMAC-SHA256" \
            or not isinstance(data.get("user_id"), str | int):
        raise BadSignedRequest("not an HMAC-SHA256 request with a user id")
    return data


def sign_request(payload: dict[str, Any], secret: str) -> str:
    """Build a signed_request as Meta does (for tests and for trying the callback by hand)."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode() + "." + body


@bp.post("/facebook/data-deletion")
def deletion_callback() -> ResponseReturnValue:
    """Verify Meta's request, record the erasure (at once, or after the advisors' grace on an open case)."""
    services = current_app.extensions["intake"]
    try:
        data = parse_signed_request(request.form.get("signed_request", ""), services.settings.app_secret)
    except BadSignedRequest:
        log.warning("data deletion callback with a bad signed_request refused")
        return jsonify(error="invalid signed_request"), 400
    now = services.clock()
    with services.sessions.begin() as session:
        contact = session.scalars(select(Contact).where(Contact.psid == str(data["user_id"]))).one_or_none()
        waits = contact is not None and services.settings.erasure_grace > 0 and bool(session.scalar(
            select(Case.id).where(Case.contact_id == contact.id, Case.status != "closed").limit(1)))
        due_at = now + timedelta(seconds=services.settings.erasure_grace) if waits else now
        row = erasure.request(session, contact_id=contact.id if contact else None, source=erasure.META,
                              due_at=due_at, now=now)
        code = row.code
    log.info("data deletion callback: erasure recorded (%s)", "a conversation found" if contact else "no data held")
    services.jobs.wake_erasure() if services.jobs else None
    base = services.settings.public_url or request.host_url.rstrip("/")
    return jsonify(url=base + url_for("data_deletion.deletion_status", code=code), confirmation_code=code)


@bp.get("/facebook/data-deletion/<code>")
def deletion_status(code: str) -> ResponseReturnValue:
    """Tell the requester, in Dutch and English, whether the erasure is done or when it will be."""
    services = current_app.extensions["intake"]
    if not code.isalnum() or len(code) > 32:
        abort(404)
    with services.sessions.begin() as session:
        row = erasure.by_code(session, code)
        if row is None:
            abort(404)
        status = {"done": row.status == erasure.DONE, "done_at": row.done_at, "due_at": row.due_at,
                  "found": row.contact_id is not None or row.cases_erased > 0 or row.source != erasure.META
                  or row.status != erasure.DONE}
    return render_template("deletion_status.html", code=code, organisation=services.settings.organisation,
                           **status)
