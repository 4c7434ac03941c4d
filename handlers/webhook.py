"""The Messenger webhook: the verification handshake and event delivery. Thin: verify, parse, store, answer."""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from handlers import metrics
from handlers.logformat import current_request_id
from handlers.messenger import BadEvent, iter_items
from handlers.signature import verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)
ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # half of an emoji's pair, or a lone half
SURROGATE = re.compile("[\ud800-\udfff]")  # left after parsing only when its pair was missing


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
        body = json.loads(raw.decode("utf-8"))  # strict: json.loads(bytes) would let encoded surrogates through
        if ESCAPED_SURROGATE.search(raw):
            body = _without_lone_surrogates(body)
        items = iter_items(body)
    except (ValueError, BadEvent, RecursionError) as exc:  # ValueError: bad JSON or UTF-8; RecursionError: nesting
        log.warning("webhook body refused: %s", type(exc).__name__)
        return Response("bad request", status=400, mimetype="text/plain")
    if body.get("object") != "page":
        log.info("webhook object %r ignored", body.get("object"))
        metrics.webhook_outcome("ignored")
        return Response("EVENT_RECEIVED", mimetype="text/plain")
    try:
        # stored before the 200 (Meta does not send an acknowledged event again), each with this request's id
        stored = services.accept(items, current_request_id())
    except SQLAlchemyError as exc:  # the database is down: no 200, so that Meta delivers the batch again later
        log.exception("webhook batch could not be stored")
        metrics.database_error(exc, "webhook")
        return Response("try again later", status=503, mimetype="text/plain")
    log.log(logging.INFO if stored else logging.DEBUG, "webhook stored events=%d", stored,
            extra={"events": stored})  # receipts and reads only: DEBUG, they are most of Meta's posts
    return Response("EVENT_RECEIVED", mimetype="text/plain")


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """Answer a body over MAX_BODY_BYTES with a short 413 (any route), logged as a warning only."""
    log.warning("request body over %s bytes refused on %s", current_app.config["MAX_CONTENT_LENGTH"], request.path)
    return Response("request body too large", status=413, mimetype="text/plain")


def _without_lone_surrogates(body: Any) -> Any:
    """Replace each half of a surrogate pair that has no other half: no database can store one."""
    text = json.dumps(body, ensure_ascii=False)
    return json.loads(SURROGATE.sub("\ufffd", text)) if SURROGATE.search(text) else body
