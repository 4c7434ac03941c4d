"""The ceiling for the webhook benchmark: the least a Messenger webhook can do, under the same gunicorn settings.

One route, POST /webhook: check X-Hub-Signature-256 (HMAC-SHA256 of the raw body under APP_SECRET, compared with
hmac.compare_digest), parse the JSON and answer 200 "EVENT_RECEIVED". No database, no engine, no outbox.

Run: APP_SECRET=... gunicorn -w 2 --threads 4 -b 127.0.0.1:8001 'bench.ceiling_app:create_app()'
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

PREFIX = "sha256="


def create_app() -> Flask:
    """Return the bare webhook app; APP_SECRET comes from the environment."""
    secret = os.environ["APP_SECRET"].encode()
    app = Flask(__name__)

    @app.post("/webhook")
    def webhook() -> ResponseReturnValue:
        raw = request.get_data()
        header = request.headers.get("X-Hub-Signature-256", "")
        expected = hmac.new(secret, raw, hashlib.sha256).hexdigest().encode()
        given = header[len(PREFIX):].strip().lower().encode("utf-8", "replace") if header.startswith(PREFIX) else b""
        if not hmac.compare_digest(expected, given):
            return Response("bad signature", status=403, mimetype="text/plain")
        try:
            json.loads(raw)
        except ValueError:
            return Response("bad request", status=400, mimetype="text/plain")
        return Response("EVENT_RECEIVED", mimetype="text/plain")

    return app
