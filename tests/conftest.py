"""Fixtures: settings on SQLite and PostgreSQL, the app, a loopback Graph API and a Messenger user helper."""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import create_app
from handlers.settings import Settings
from storage.db import normalise_url
from tests.support import messenger
from tests.support.graph_server import GraphServer
from tests.support.scratch_schema import scratch_schema

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PAGE_TOKEN = "test-page-token"


def postgres_url() -> str:
    """Return TEST_DATABASE_URL; in CI a missing PostgreSQL fails the test instead of skipping it."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set in CI: the PostgreSQL tests must run")
        pytest.skip("TEST_DATABASE_URL is not set (./run tests sets it)")
    return normalise_url(url)


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """Yield a URL whose connections use a new, empty schema; dropped afterwards."""
    with scratch_schema(postgres_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Yield a database URL for an empty database, once per supported database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return request.getfixturevalue("fresh_postgres")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return a URL for an empty SQLite file (for tests that need only one database)."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    """Run a loopback Graph API that records requests and enforces Meta's limits."""
    with GraphServer(token=PAGE_TOKEN) as server:
        yield server


@pytest.fixture
def settings(db_url: str, graph: GraphServer) -> Settings:
    """Return settings for a fully configured page pointing at the loopback Graph API."""
    return Settings(database_url=db_url, app_secret=APP_SECRET, verify_token=VERIFY_TOKEN,
                    page_access_token=PAGE_TOKEN, graph_api_url=graph.url, secret_key="test")


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    """Create the app without background threads; tests deliver the outbox themselves."""
    flask_app = create_app(settings, start_background=False)
    yield flask_app
    flask_app.extensions["intake"].sender.close()
    flask_app.extensions["intake"].close()


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    """Serve the app on loopback with a thread per request (like gunicorn's threads); yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def services(app: Any) -> Any:
    """Return the app's services (database sessions, sender, flows)."""
    return app.extensions["intake"]


class User:
    """One Messenger user talking to the page through the real webhook."""

    def __init__(self, client: Any, services: Any, graph: GraphServer, psid: str) -> None:
        self.client, self.services, self.graph, self.psid = client, services, graph, psid

    def post(self, body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> Any:
        """Post a signed webhook body, let a worker handle what the webhook stored, and return the response."""
        raw = messenger.encode(body)
        response = self.client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, secret))
        self.services.inbox.process_all()
        return response

    def say(self, text: str) -> list[str]:
        """Type a message; return the texts the bot sent back."""
        return self._exchange(messenger.text_item(self.psid, text))

    def tap(self, title: str) -> list[str]:
        """Tap the quick reply with this title on the bot's last message; return the replies."""
        buttons = self.graph.sent_messages(self.psid)[-1]["message"].get("quick_replies", [])
        payload = next((b["payload"] for b in buttons if b["title"] == title), None)
        assert payload, f"no button {title!r} in {[b['title'] for b in buttons]}"
        return self._exchange(messenger.text_item(self.psid, title, payload))

    def choose(self, step: str, value: str) -> list[str]:
        """Tap the quick reply that answers `step` with `value`; return the replies."""
        buttons = self.graph.sent_messages(self.psid)[-1]["message"].get("quick_replies", [])
        button = next((b for b in buttons if b["payload"] == f"Q:{step}:{value}"), None)
        assert button, f"no button for {step}={value} in {[b['payload'] for b in buttons]}"
        return self._exchange(messenger.text_item(self.psid, button["title"], button["payload"]))

    def press(self, payload: str) -> list[str]:
        """Press a postback button (Get Started, menu); return the replies."""
        return self._exchange(messenger.postback_item(self.psid, payload))

    def _exchange(self, item: dict[str, Any]) -> list[str]:
        """Post one item, deliver the outbox and return the new texts for this user."""
        before = len(self.graph.texts(self.psid))
        response = self.post(messenger.envelope(item))
        assert response.status_code == 200, response.data
        self.services.drain()
        return self.graph.texts(self.psid)[before:]

    def buttons(self) -> list[str]:
        """Return the quick-reply titles of the bot's last message."""
        return [b["title"] for b in self.graph.sent_messages(self.psid)[-1]["message"].get("quick_replies", [])]


@pytest.fixture
def user(app: Any, services: Any, graph: GraphServer) -> User:
    """Return a Messenger user with a fresh page-scoped id."""
    return User(app.test_client(), services, graph, psid=str(7_000_000_000_000_000 + uuid.uuid4().int % 10**15))


@pytest.fixture
def make_user(app: Any, services: Any, graph: GraphServer) -> Any:
    """Return a factory for more users in the same app."""
    return lambda psid: User(app.test_client(), services, graph, psid)

