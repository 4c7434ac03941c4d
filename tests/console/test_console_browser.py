"""One advisor's round trip in a real browser: log in, find the case, take over, reply, hand back, close."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, add_user, open_case

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Run the browser test on SQLite only: the other tests cover PostgreSQL."""
    return sqlite_url


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
        yield browser.new_page()
        browser.close()


def test_an_advisor_takes_over_replies_hands_back_and_closes_in_the_browser(page: Any, served: str, user: Any,
                                                                             services: Any, graph: Any) -> None:
    advisor = add_user(services, "sam@example.org")
    page.goto(f"{served}/console/")
    page.fill("input[name=email]", advisor)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    reference = open_case(user)  # the case arrives while the advisor looks at the list
    page.wait_for_selector(f"table.cases a:has-text('{reference}')", timeout=20_000)
    page.click(f"table.cases a:has-text('{reference}')")
    page.click("button:has-text('Take over')")
    assert page.is_visible("text=bot is silent")
    page.fill("textarea[name=text] >> nth=0", "Hoi, ik ben Sam. Vertel maar.")
    page.click("button:has-text('Send reply')")
    services.sender.deliver_all()
    graph.wait_for(lambda g: "Hoi, ik ben Sam. Vertel maar." in g.texts(user.psid))
    [sent] = [b for b in graph.sent_messages(user.psid) if b["message"].get("text") == "Hoi, ik ben Sam. Vertel maar."]
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent  # inside the 24-hour window
    assert user.say("Dank je Sam, het gaat om mijn dochter") == []  # the bot is silent now
    page.wait_for_selector("text=Dank je Sam, het gaat om mijn dochter", timeout=20_000)  # arrives live
    page.click("button:has-text('Hand back to the bot')")
    page.click("button:has-text('Close case')")
    assert page.is_visible("text=Case closed.")
    assert f"{reference} closed" in " ".join(page.inner_text("h1").split())
