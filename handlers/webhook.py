"""The Messenger webhook: the verification handshake and event delivery. Thin: verify, parse, store, answer."""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from handlers import metrics
from handlers.logformat import current_request_id, new_request_id, request_context
from handlers.messenger import BadEvent, iter_items
from handlers.security_headers import HEADERS, content_security_policy
from handlers.signature import verify_signature

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from handlers.services import Services

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)
ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # half of an emoji's pair, or a lone half
SURROGATE = re.compile("[\ud800-\udfff]")  # left after parsing only when its pair was missing
STATUS_LINES = {status.value: f"{status.value} {status.phrase.upper()}" for status in HTTPStatus}  # as Werkzeug's
RESPONSE_HEADERS = [("Content-Security-Policy", content_security_policy()), *HEADERS.items()]


@bp.get("/webhook")
def verify() -> ResponseReturnValue:
    """Answer Meta's subscription handshake with the challenge when the verify token matches."""
    token = current_app.extensions["intake"].settings.verify_token
    if (request.args.get("hub.mode") == "subscribe" and token
            and request.args.get("hub.verify_token") == token and request.args.get("hub.challenge")):
        return Response(request.args["hub.challenge"], mimetype="text/plain")
    log.warning("webhook verification refused")
    return Response("verification failed", status=403, mimetype="text/plain")


class WebhookPosts:
    """POST /webhook as plain WSGI in front of Flask: Meta's deliveries are most of the app's requests.

    Meta wants each answer within 5 s and has waited for it before sending the next event, so a slow answer delays
    the whole page; this path does only what the answer needs: check, parse, store, answer. Flask's request
    context, session, routing, CSRF check and hooks cost more than all of that; every other request (GET
    /webhook's handshake too) goes on to Flask.
    """

    def __init__(self, flask_app: WSGIApplication, services: Services, max_body: int) -> None:
        self.flask_app, self.services, self.max_body = flask_app, services, max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/webhook" or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_app(environ, start_response)
        started = time.perf_counter()
        with request_context(new_request_id()):  # the events, their replies and their sends inherit it
            try:
                status, text, outcome = self._answer(environ)
            except Exception:  # a bug: Meta gets a 500 and delivers the batch again later
                log.exception("webhook request failed")
                status, text, outcome = 500, "internal error", "error"
        metrics.webhook_counted(outcome, time.perf_counter() - started)
        body = text.encode()
        start_response(STATUS_LINES[status], [("Content-Type", "text/plain; charset=utf-8"),
                                              ("Content-Length", str(len(body))), *RESPONSE_HEADERS])
        return [body]

    def _answer(self, environ: WSGIEnvironment) -> tuple[int, str, str]:
        """Return (status, text, metrics outcome) for one delivery."""
        raw = _body(environ, self.max_body)
        if raw is None:
            log.warning("request body over %s bytes refused on /webhook", self.max_body)
            return 413, "request body too large", "too_large"
        return receive(self.services, raw, environ.get("HTTP_X_HUB_SIGNATURE_256"))


def receive(services: Services, raw: bytes, signature: str | None) -> tuple[int, str, str]:
    """Check the signature, store the events in the inbox; return the HTTP status, its text and the outcome
    for the metrics. Workers handle the events."""
    if not verify_signature(raw, signature, services.settings.app_secret):
        log.warning("webhook refused: missing or wrong X-Hub-Signature-256")
        return 403, "bad signature", "bad_signature"
    if b"\\u0000" in raw:  # NUL means nothing in Messenger text, and PostgreSQL refuses to store it
        raw = raw.replace(b"\\u0000", b"\\ufffd")
    try:
        # strict: json.loads(bytes) would let encoded surrogates through. NaN and Infinity are no JSON, but Python
        # reads them, and PostgreSQL's json type refuses to store them: as null, the rest of the batch is stored
        body = json.loads(raw.decode("utf-8"), parse_constant=lambda _name: None)
        if ESCAPED_SURROGATE.search(raw):
            body = _without_lone_surrogates(body)
        items = iter_items(body)
    except (ValueError, BadEvent, RecursionError) as exc:  # ValueError: bad JSON or UTF-8; RecursionError: nesting
        log.warning("webhook body refused: %s", type(exc).__name__)
        return 400, "bad request", "bad_body"
    if body.get("object") != "page":
        log.info("webhook object %r ignored", body.get("object"))
        return 200, "EVENT_RECEIVED", "ignored"
    try:
        # stored before the 200 (Meta does not send an acknowledged event again), each with this request's id
        stored = services.accept(items, current_request_id())
    except SQLAlchemyError as exc:  # the database is down: no 200, so that Meta delivers the batch again later
        log.exception("webhook batch could not be stored")
        metrics.database_error(exc, "webhook")
        return 503, "try again later", "unavailable"
    # DEBUG: the worker's lines under the same request id say what became of the events. At INFO this line cost
    # a fifth of a webhook request's CPU (the benchmark, 2026-12-07); a refused request is a WARNING above
    log.debug("webhook stored events=%d", stored, extra={"events": stored})
    return 200, "EVENT_RECEIVED", "ok"


def _body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """Return the request body, or None when it is longer than `limit` bytes."""
    stream = environ["wsgi.input"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length > limit:
        return None
    if length >= 0:
        return bytes(stream.read(length))
    if not environ.get("wsgi.input_terminated"):  # no length and a stream that may not end: nothing to read
        return b""
    raw = bytes(stream.read(limit + 1))  # chunked
    return None if len(raw) > limit else raw


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """Answer a body over MAX_BODY_BYTES with a short 413 (any route), logged as a warning only."""
    log.warning("request body over %s bytes refused on %s", current_app.config["MAX_CONTENT_LENGTH"], request.path)
    return Response("request body too large", status=413, mimetype="text/plain")


def _without_lone_surrogates(body: Any) -> Any:
    """Replace each half of a surrogate pair that has no other half: no database can store one."""
    text = json.dumps(body, ensure_ascii=False)
    return json.loads(SURROGATE.sub("\ufffd", text)) if SURROGATE.search(text) else body
