"""The Messenger webhook: the verification handshake and event delivery. Thin: verify, parse, store, answer."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from handlers.messenger import BadEvent, iter_items
from handlers.signature import verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.get("/webhook")
def verify() -> ResponseReturnValue:
    """Answer Meta's subscription handshake with the challenge when the verify token matches."""
    token = current_app.extensions["intake"].settings.verify_token
    if (request.args.get("hub.mode") == "subscribe" and token
            and request.args.get("hub.verify_token") == token and request.args.get("hub.challenge")):
        return Response(request.args["hub.challenge"], mimetype="text/plain")
    log.warning("webhook verification refused")
    return Response("verification failed", status=403, mimetype="text/plain")


@bp.post("/webhook")
def receive() -> ResponseReturnValue:
    """Check the signature, store the events in the inbox and answer 200; workers handle them."""
    services = current_app.extensions["intake"]
    raw = request.get_data(cache=True)
    if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), services.settings.app_secret):
        log.warning("webhook refused: missing or wrong X-Hub-Signature-256")
        return Response("bad signature", status=403, mimetype="text/plain")
    if b"\\u0000" in raw:  # NUL means nothing in Messenger text, and PostgreSQL refuses to store it
        raw = raw.replace(b"\\u0000", b"\\ufffd")
    try:
        body = json.loads(raw)
        items = iter_items(body)
    except (ValueError, BadEvent) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("webhook body refused: %s", type(exc).__name__)
        return Response("bad request", status=400, mimetype="text/plain")
    if body.get("object") != "page":
        log.info("webhook object %r ignored", body.get("object"))
        return Response("EVENT_RECEIVED", mimetype="text/plain")
    try:
        services.accept(items)  # stored before the 200: Meta does not send an acknowledged event again
    except SQLAlchemyError:  # the database is down: no 200, so that Meta delivers the batch again later
        log.exception("webhook batch could not be stored")
        return Response("try again later", status=503, mimetype="text/plain")
    return Response("EVENT_RECEIVED", mimetype="text/plain")
