"""The factory, the settings rules and the command line, including `serve` as a real process."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from handlers.settings import Settings, SettingsError, load_settings
from storage.db import normalise_url
from tests.conftest import APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN
from tests.support import messenger
from tests.support.graph_server import GraphServer

ROOT = Path(__file__).resolve().parent.parent


def test_a_page_token_without_app_secret_is_refused_with_what_to_set() -> None:
    with pytest.raises(SettingsError, match="APP_SECRET"):
        load_settings({"PAGE_ACCESS_TOKEN": "token"})


def test_settings_have_safe_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("instance/bot.db")
    assert settings.case_prefix == "IDA" and not settings.sends_for_real
    assert settings.graph_api_url.startswith("https://graph.facebook.com/v")


@pytest.mark.parametrize("raw", ["PORT=abc", "CASE_PREFIX=IDA-X"])
def test_invalid_values_are_refused(raw: str) -> None:
    name, value = raw.split("=")
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(("given", "used"), [
    ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ("postgres://u:p@db.example/app", "postgresql+psycopg://u:p@db.example/app"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_plain_postgres_urls_get_the_psycopg_driver(given: str, used: str) -> None:
    assert normalise_url(given) == used


def test_cli_refuses_an_insecure_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "PAGE_ACCESS_TOKEN": "x", "APP_SECRET": "", "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    result = subprocess.run([sys.executable, "app.py", "serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "APP_SECRET" in result.stderr and "Traceback" not in result.stderr


def test_cli_reports_a_broken_flow_with_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "intake.yaml").write_text("id: intake\nversion: 1\nstart: a\nsteps:\n  - id: a\n    type: nope\n")
    env = {**os.environ, "FLOWS_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    result = subprocess.run([sys.executable, "app.py", "chat"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, input="")
    assert result.returncode == 2 and "line 6" in result.stderr and "nope" in result.stderr


def test_db_upgrade_command(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    result = subprocess.run([sys.executable, "app.py", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and (tmp_path / "b.db").exists()


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(db_url: str, graph: GraphServer) -> Iterator[str]:
    """Run `python app.py serve` as a real process against the loopback Graph API."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "APP_SECRET": APP_SECRET, "VERIFY_TOKEN": VERIFY_TOKEN,
           "PAGE_ACCESS_TOKEN": PAGE_TOKEN, "GRAPH_API_URL": graph.url}
    process = subprocess.Popen([sys.executable, "app.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not start")
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output
    assert "geen knop" not in output and "7391046258314702" not in output, "no message text or ids in the log"


def test_serve_answers_signed_events_through_the_background_sender(served: str, graph: GraphServer) -> None:
    raw = messenger.encode(messenger.envelope(messenger.text_item("7391046258314702", "geen knop")))
    response = requests.post(served + "/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET),
                             timeout=10)
    assert response.status_code == 200
    graph.wait_for(lambda g: g.sent_messages("7391046258314702"), timeout=10)
    assert graph.sent_messages("7391046258314702")[-1]["message"]["quick_replies"]  # the privacy question
    challenge = requests.get(served + "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                          "hub.challenge": "42"}, timeout=10)
    assert challenge.text == "42"
    assert requests.post(served + "/webhook", data=raw, timeout=10).status_code == 403


def test_cases_export_lists_every_case_as_json(tmp_path: Path, user: Any, settings: Settings) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    result = subprocess.run([sys.executable, "app.py", "cases", "export", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    [case] = json.loads(result.stdout)
    assert case["needs_human"] and not case["intake_complete"] and case["user_id"] == user.psid
    assert set(case) >= {"reference", "user_id", "status", "category", "urgency", "answers", "flags", "messages",
                         "created_at"}
    assert case["messages"] >= 4


@pytest.mark.parametrize(("url", "host", "port", "security", "user", "password"), [
    ("smtp://alerts%40org.nl:s3cret%21@mail.example.org:2525", "mail.example.org", 2525, "starttls", "alerts@org.nl",
     "s3cret!"),
    ("smtps://mail.example.org", "mail.example.org", 465, "ssl", "", ""),
    ("smtp+plain://127.0.0.1", "127.0.0.1", 25, "none", "", ""),
])
def test_smtp_url_gives_every_smtp_setting_in_one_line(url: str, host: str, port: int, security: str, user: str,
                                                       password: str) -> None:
    smtp = load_settings({"SMTP_URL": url, "ALERT_EMAILS": "a@b.nl", "SMTP_FROM": "bot@b.nl"}).smtp
    assert (smtp.host, smtp.port, smtp.security, smtp.user, smtp.password) == (host, port, security, user, password)
    assert smtp.configured


def test_a_malformed_smtp_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="SMTP_URL"):
        load_settings({"SMTP_URL": "http://mail.example.org"})
