"""GET /healthz: is the database reachable."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from storage.db import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report database reachability (503 when it does not answer)."""
    ok = ping(current_app.extensions["intake"].engine)
    return jsonify(status="ok" if ok else "unavailable", database="ok" if ok else "unreachable"), 200 if ok else 503
