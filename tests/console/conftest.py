"""Console fixtures: stored users and a test client that logs in through the real form with its CSRF token."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handlers.console.auth import hash_password
from handlers.services import utc_now
from storage import users
from storage.models import Case

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: the tests never download a browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def open_case(user: Any) -> str:
    """Let the Messenger user ask for an advisor early in the intake; return the case reference."""
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    with user.services.sessions.begin() as session:
        return session.scalars(select(Case.reference)).one()


def add_user(services: Any, email: str, role: str = "advisor") -> str:
    """Store a console user with PASSWORD and return the e-mail."""
    with services.sessions.begin() as session:
        users.add_user(session, email=email, password_hash=hash_password(PASSWORD), role=role, now=utc_now())
    return email


class Console:
    """A browser-like test client for the console: it keeps the session cookie and sends the CSRF token."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str) -> Any:
        """GET a page and remember its CSRF token."""
        response = self.client.get(path)
        found = TOKEN.search(response.get_data(as_text=True))
        self.token = found.group(1) if found else self.token
        return response

    def post(self, path: str, **data: str) -> Any:
        """POST a form with the last CSRF token seen."""
        return self.client.post(path, data={"csrf_token": self.token, **data})

    def login(self, email: str, password: str = PASSWORD) -> Any:
        """Log in through the form."""
        self.get("/console/login")
        return self.post("/console/login", email=email, password=password)


@pytest.fixture
def advisor(services: Any) -> str:
    """Return the e-mail of a stored advisor (password PASSWORD)."""
    return add_user(services, "advisor@example.org")


@pytest.fixture
def console(app: Any) -> Console:
    """Return a console client that is not logged in yet."""
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client talks plain http
    return Console(app.test_client())


@pytest.fixture
def logged_in(console: Console, advisor: str) -> Console:
    """Return a console client logged in as the advisor."""
    assert console.login(advisor).status_code == 302
    return console


@pytest.fixture
def insecure_cookies(app: Any) -> None:
    """Let the session cookie travel over the loopback's plain http, as on a local installation."""
    app.config["SESSION_COOKIE_SECURE"] = False


@pytest.fixture
def page(insecure_cookies: None, served: str) -> Iterator[Any]:
    """Open a headless Chromium page; without Chromium fail in CI and skip elsewhere."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: the browser test must run")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page()
        refused: list[str] = []  # the Content-Security-Policy must never have to block anything on our pages
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        yield page
        browser.close()
        assert refused == [], "the console broke its own Content-Security-Policy"
