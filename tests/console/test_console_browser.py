"""One advisor's round trip in a real browser: log in, find the case, take over, reply, hand back, close."""
from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import PASSWORD, add_user, open_case


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Run the browser test on SQLite only: the other tests cover PostgreSQL."""
    return sqlite_url


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
    services.drain()
    graph.wait_for(lambda g: "Hoi, ik ben Sam. Vertel maar." in g.texts(user.psid))
    [sent] = [b for b in graph.sent_messages(user.psid) if b["message"].get("text") == "Hoi, ik ben Sam. Vertel maar."]
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent  # inside the 24-hour window
    assert user.say("Dank je Sam, het gaat om mijn dochter") == []  # the bot is silent now
    page.wait_for_selector("text=Dank je Sam, het gaat om mijn dochter", timeout=20_000)  # arrives live
    page.click("button:has-text('Hand back to the bot')")
    page.click("button:has-text('Close case')")
    assert page.is_visible("text=Case closed.")
    assert f"{reference} closed" in " ".join(page.inner_text("h1").split())
