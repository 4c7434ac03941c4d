"""GET /healthz: is the database reachable."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from storage import inbox
from storage.db import ping, reading
from storage.status import all_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report database reachability (503 when it does not answer), problems, and the events waiting in the inbox."""
    services = current_app.extensions["intake"]
    if not ping(services.engine):
        return jsonify(status="unavailable", database="unreachable"), 503
    with reading(services.sessions) as session:  # reads only: no SQLite write lock, whatever the webhook does
        problems = [{"problem": s.key, "since": s.since.isoformat(), "detail": s.value.split(" ", 1)[-1]}
                    for s in all_status(session)]
    with reading(services.inbox.inbox_sessions) as session:
        events = inbox.counts(session)
    if events[inbox.FAILED]:  # kept, not lost: the worker log has each one's traceback
        problems.append({"problem": "inbox_events_set_aside", "since": None,
                         "detail": f"{events[inbox.FAILED]} webhook events failed to be handled; see the worker log"})
    # degraded stays 200: a load balancer must keep routing Meta's webhooks here even while sends wait
    return jsonify(status="degraded" if problems else "ok", database="ok", problems=problems,
                   inbox={"waiting": events[inbox.PENDING] + events[inbox.PROCESSING]}), 200
