"""GET /healthz: is the database reachable."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from storage.db import ping
from storage.status import all_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report database reachability (503 when it does not answer) and problems that stop sending."""
    services = current_app.extensions["intake"]
    if not ping(services.engine):
        return jsonify(status="unavailable", database="unreachable"), 503
    with services.sessions.begin() as session:
        problems = [{"problem": s.key, "since": s.since.isoformat(), "detail": s.value.split(" ", 1)[-1]}
                    for s in all_status(session)]
    # degraded stays 200: a load balancer must keep routing Meta's webhooks here even while sends wait
    return jsonify(status="degraded" if problems else "ok", database="ok", problems=problems), 200
