"""GET /metrics: the series after a whole intake, parsed by prometheus_client's own parser; access; multiprocess mode.

prometheus_client's default registry belongs to the test process and keeps counting across tests, so each test
compares a scrape after with a scrape before.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import text

from app import create_app
from handlers.settings import Settings
from storage import db
from tests.conftest import APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN
from tests.support import messenger
from tests.support.graph_server import GraphServer
from tests.support.processes import AppProcess
from tests.test_app import free_port
from tests.test_intake_e2e import AFTER_CATEGORY, DUTCH_ANSWERS

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CRIME = "hij dreigt mijn naaktfoto te verspreiden als ik niet betaal"  # sextortion and intimate images
TOKEN = "metrics-test-token"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The usual test settings with promises of 0 s, so that a completed intake's advisor reminders are due at once."""
    return dataclasses.replace(settings, advisor_sla=0.0, urgent_sla=0.0)


def parse(exposition: str) -> list[Sample]:
    """Return every sample of a scrape, read by prometheus_client's parser."""
    return [sample for family in text_string_to_metric_families(exposition) for sample in family.samples]


def scrape(client: Any, **kwargs: Any) -> list[Sample]:
    """GET /metrics through the test client (from 127.0.0.1) and parse it."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=")
    return parse(response.get_data(as_text=True))


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Return the sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def delta(before: list[Sample], after: list[Sample], name: str, **labels: str) -> float:
    """Return how much a series grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def receipt(psid: str, kind: str) -> dict[str, Any]:
    """Return a read or delivery receipt item (dropped by the webhook, counted by type)."""
    return {"sender": {"id": psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": 1_781_000_000_000,
            kind: {"watermark": 1_781_000_000_000}}


def test_an_intake_through_the_webhook_shows_in_every_series(app: Any, services: Any, graph: GraphServer,
                                                              user: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    assert user.post(messenger.envelope(messenger.text_item(user.psid, "Hoi, ik wil iets melden"))).status_code == 200
    waiting = scrape(client)  # handled, replies queued, nothing sent yet
    assert value(waiting, "ida_outbox_depth") > 0 and value(waiting, "ida_outbox_oldest_age_seconds") >= 0
    services.sender.deliver_all()
    for step, answer in DUTCH_ANSWERS + AFTER_CATEGORY:
        user.choose(step, answer)
    user.say(CRIME)  # the free description
    user.choose("urgency", "urgent")
    user.choose("contact_method", "email")
    user.say("ouder@example.nl")
    user.post(messenger.envelope(receipt(user.psid, "read"), receipt(user.psid, "delivery")))
    posts, typed, taps = 15, 3, len(DUTCH_ANSWERS + AFTER_CATEGORY) + 2
    after = scrape(client)

    assert delta(before, after, "ida_webhook_requests_total", outcome="ok") == posts
    assert delta(before, after, "ida_webhook_request_duration_seconds_count", outcome="ok") == posts
    assert delta(before, after, "ida_webhook_events_total", type="message") == typed
    assert delta(before, after, "ida_webhook_events_total", type="quick_reply") == taps
    assert delta(before, after, "ida_webhook_events_total", type="read") == 1
    assert delta(before, after, "ida_webhook_events_total", type="delivery") == 1
    assert delta(before, after, "ida_engine_steps_total") == typed + taps
    assert delta(before, after, "ida_engine_step_duration_seconds_count") == typed + taps
    assert delta(before, after, "ida_safety_detections_total", category="sextortion") >= 1
    assert delta(before, after, "ida_safety_detections_total", category="intimate_images") >= 1
    accepted = [r for r in graph.requests if r.status == 200]
    assert accepted and delta(before, after, "ida_sends_total", result="ok") == len(accepted)
    assert delta(before, after, "ida_send_duration_seconds_count") == len(accepted)
    assert value(after, "ida_outbox_depth") == 0 and value(after, "ida_outbox_oldest_age_seconds") == 0
    assert value(after, "ida_database_up") == 1 and value(after, "ida_page_token_refused") == 0
    assert value(after, "ida_inbox_depth") == 0
    # the completed urgent intake's advisor reminders (promises of 0 s) wait for the reminder worker
    assert value(after, "ida_reminders_due", kind="advisor") == 1
    assert value(after, "ida_reminders_due", kind="nearing") == 1
    assert value(after, "ida_reminders_due", kind="followup") == 0

    services.reminders.run_due()  # the overdue alert, once more (round 2), and the "nearing" warning
    fired = scrape(client)
    assert value(fired, "ida_reminders_due") == 0
    assert delta(after, fired, "ida_reminders_fired_total", kind="advisor", result="done") == 2
    assert delta(after, fired, "ida_reminders_fired_total", kind="nearing", result="done") == 1
    assert delta(after, fired, "ida_reminder_lateness_seconds_count") == 3
    assert delta(after, fired, "ida_reminders_late_total") == 0


def test_refused_posts_count_under_their_outcome(app: Any, user: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    assert user.post(messenger.envelope(messenger.text_item(user.psid, "hoi")), secret="wrong").status_code == 403
    assert user.post(b"not json").status_code == 400
    assert user.post({"object": "instagram", "entry": []}).status_code == 200
    challenge = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    assert client.get("/webhook", query_string=challenge).status_code == 200
    assert client.get("/webhook", query_string={**challenge, "hub.verify_token": "no"}).status_code == 403
    after = scrape(client)
    for outcome in ("bad_signature", "bad_body", "ignored", "verify", "verify_refused"):
        assert delta(before, after, "ida_webhook_requests_total", outcome=outcome) == 1, outcome
    assert delta(before, after, "ida_webhook_requests_total", outcome="ok") == 0


def test_a_graph_error_counts_under_its_code(app: Any, services: Any, graph: GraphServer, user: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    graph.fail_next(1, status=400, code=551)  # "this person isn't available": final, kept with its reason
    user.post(messenger.envelope(messenger.text_item(user.psid, "hoi")))
    services.sender.deliver_all()
    after = scrape(client)
    assert delta(before, after, "ida_sends_total", result="551") == 1


def test_the_page_token_refused_is_a_gauge(app: Any, services: Any, graph: GraphServer, user: Any) -> None:
    graph.fail_always(status=400, code=190)
    user.post(messenger.envelope(messenger.text_item(user.psid, "hoi")))
    services.sender.deliver_all()
    samples = scrape(app.test_client())
    assert value(samples, "ida_page_token_refused") == 1 and value(samples, "ida_outbox_depth") > 0
    assert value(samples, "ida_sends_total", result="190") >= 1


def test_database_errors_are_counted_where_they_are_caught(app: Any, services: Any, user: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    with services.inbox_engine.begin() as connection:  # the webhook can no longer store events
        connection.execute(text("ALTER TABLE inbox RENAME TO inbox_gone"))
    raw = messenger.encode(messenger.envelope(messenger.text_item(user.psid, "hoi")))
    assert client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET)).status_code == 503
    with services.engine.begin() as connection:  # /healthz reads it and has no handler of its own: a 500
        connection.execute(text("ALTER TABLE system_status RENAME TO system_status_gone"))
    assert client.get("/healthz").status_code == 500
    after = scrape(client)
    assert delta(before, after, "ida_webhook_requests_total", outcome="unavailable") == 1
    assert delta(before, after, "ida_database_errors_total", where="webhook") >= 1
    assert delta(before, after, "ida_database_errors_total", where="request") == 1
    assert value(after, "ida_database_up") == 0  # the scrape still answers, with the counters
    assert value(scrape(client), "ida_database_errors_total", where="metrics") >= 1


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Any]:
    """A second app in this process, with METRICS_TOKEN set: its series are the same, never registered twice."""
    flask_app = create_app(dataclasses.replace(settings, metrics_token=TOKEN), start_background=False)
    yield flask_app.test_client()
    flask_app.extensions["intake"].close()


def test_with_a_token_a_bearer_header_is_needed_from_anywhere(guarded: Any) -> None:
    missing = guarded.get("/metrics")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = guarded.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "ida_" not in wrong.get_data(as_text=True)
    assert guarded.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    far = {"REMOTE_ADDR": "192.0.2.7"}
    samples = scrape(guarded, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=far)
    assert value(samples, "ida_database_up") == 1


def test_without_a_token_only_direct_loopback_may_scrape(app: Any) -> None:
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 403
    relayed = {"X-Forwarded-For": "203.0.113.9"}  # nginx on this machine connects from 127.0.0.1 too
    assert client.get("/metrics", headers=relayed).status_code == 403
    assert client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics").status_code == 200


# ----------------------------------------------------------------------------------------------------------------
# Multiprocess mode: gunicorn with two workers and a `python app.py worker` on one PROMETHEUS_MULTIPROC_DIR.

@dataclasses.dataclass
class Gunicorn:
    """A gunicorn master started with -c gunicorn.conf.py, and its base URL."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def workers(self) -> list[int]:
        """Return the pids of the master's worker processes."""
        pids: list[int] = []
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                pids += [int(pid) for pid in children.read_text().split()]
        return sorted(set(pids))

    def scrape(self) -> list[Sample]:
        """GET /metrics over HTTP from loopback."""
        response = requests.get(self.base + "/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return parse(response.text)


def wait_until(predicate: Callable[[], object], what: Callable[[], str], timeout: float = 60.0) -> None:
    """Poll until predicate() is true; fail with what() after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or a worker still starting
        return False


@pytest.fixture
def cluster(db_url: str, graph: GraphServer, tmp_path: Path) -> Iterator[tuple[Gunicorn, Path]]:
    """Start gunicorn (2 web workers) and one `python app.py worker`, sharing a multiprocess directory."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999999.db").write_bytes(b"")  # left by a process long gone: removed at start
    env = {**os.environ, "DATABASE_URL": db_url, "APP_SECRET": APP_SECRET, "VERIFY_TOKEN": VERIFY_TOKEN,
           "PAGE_ACCESS_TOKEN": PAGE_TOKEN, "GRAPH_API_URL": graph.url, "SECRET_KEY": "test-shared-secret-key",
           "PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": "", "SMTP_HOST": "", "SMTP_URL": "",
           "APP_ID": "", "HANDOVER_TARGET_APP_ID": ""}
    port, log = free_port(), tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen([GUNICORN, "-c", "gunicorn.conf.py", "-w", "2", "-b", f"127.0.0.1:{port}",
                                    "app:create_app(start_background=False)"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", log)
    worker = None
    try:
        wait_until(lambda: len(server.workers()) == 2 and _answers(server.base + "/healthz"),
                   lambda: f"gunicorn did not start: {log.read_text()[-3000:]}")
        worker = AppProcess(["worker"], tmp_path / "worker.log", env)
        wait_until(lambda: "worker running" in worker.output(),
                   lambda: f"the worker did not start: {worker.output()[-3000:]}")
        yield server, directory
    finally:
        if worker is not None:
            assert "Traceback" not in worker.stop()
        process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def _counted_by(directory: Path, pid: int) -> float:
    """Return the webhook requests one process counted, read from its own file."""
    path = directory / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(s.value for family in MultiProcessCollector.merge([str(path)]) for s in family.samples
               if s.name == "ida_webhook_requests_total" and s.labels.get("outcome") == "ok")


def test_under_gunicorn_the_counters_of_every_process_add_up(cluster: tuple[Gunicorn, Path],
                                                             graph: GraphServer) -> None:
    server, directory = cluster
    assert not (directory / "counter_999999999.db").exists()
    sent = 0

    def post(n: int) -> int:
        raw = messenger.encode(messenger.envelope(messenger.text_item(str(8_200_000_000_000_000 + n), "hoi")))
        headers = {**messenger.signed_headers(raw, APP_SECRET), "Connection": "close"}  # a new connection each
        return requests.post(server.base + "/webhook", data=raw, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        while sent < 200 and (sent < 40 or not all(_counted_by(directory, pid) for pid in server.workers())):
            assert set(pool.map(post, range(sent, sent + 8))) == {200}
            sent += 8
    assert all(_counted_by(directory, pid) for pid in server.workers()), "both workers took requests"

    # the app.py worker handles the events and sends the replies; gunicorn's scrape shows its counts too
    wait_until(lambda: value(server.scrape(), "ida_engine_steps_total") == sent
               and value(server.scrape(), "ida_outbox_depth") == 0,
               lambda: f"not handled and sent: {[s for s in server.scrape() if 'depth' in s.name]}")
    samples = server.scrape()
    assert value(samples, "ida_webhook_requests_total", outcome="ok") == sent
    assert value(samples, "ida_webhook_request_duration_seconds_count", outcome="ok") == sent
    assert value(samples, "ida_webhook_events_total", type="message") == sent
    assert value(samples, "ida_sends_total", result="ok") == len([r for r in graph.requests if r.status == 200])
    assert value(samples, "ida_inbox_depth") == 0

    victim = server.workers()[0]  # a worker that dies: gunicorn starts another, its counts stay in the sum
    os.kill(victim, 9)
    wait_until(lambda: victim not in server.workers() and len(server.workers()) == 2,
               lambda: f"gunicorn did not replace the worker: {server.log.read_text()[-3000:]}")
    wait_until(lambda: _answers(server.base + "/healthz"), lambda: "gunicorn stopped answering")
    assert value(server.scrape(), "ida_webhook_requests_total", outcome="ok") == sent


def test_a_health_check_and_a_scrape_do_not_wait_for_the_writers(app: Any, services: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe or a scrape during a burst must not queue behind the webhook's writes and the worker's, nor hold
    them up: on SQLite they read without the file's write lock (a writer would wait here WRITE_WAIT)."""
    monkeypatch.setattr(db, "WRITE_WAIT", 0.5)
    client = app.test_client()
    with services.engine.begin() as writing, services.inbox_engine.begin() as storing:  # mid-transaction
        writing.execute(text("SELECT 1"))
        storing.execute(text("SELECT 1"))
        health = client.get("/healthz")
        samples = scrape(client)
    assert health.status_code == 200 and health.get_json()["database"] == "ok", health.data
    assert value(samples, "ida_database_up") == 1
