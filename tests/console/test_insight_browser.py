"""The insight page in a real headless Chromium: log in, see the SVG charts, open a table, on a phone too."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, add_user
from tests.storage.test_insight_figures import NOW, v2_source
from tests.storage.test_insight_figures import known as known  # noqa: F401 - the fixture of known figures, reused
from tests.test_flow_versions import publish


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Run the browser test on SQLite only: the other insight tests cover PostgreSQL."""
    return sqlite_url


@pytest.fixture
def db(services: Any) -> Iterator[Any]:
    """Yield a session on the app's database, for the known figures."""
    with services.sessions() as session:
        yield session


def test_an_advisor_sees_the_charts_and_opens_a_table_in_the_browser(page: Any, served: str, services: Any,
                                                                      known: Any) -> None:
    publish(services, v2_source(), "no danger question")
    services.clock = lambda: NOW
    advisor = add_user(services, "sam@example.org")
    page.goto(f"{served}/console/")
    page.fill("input[name=email]", advisor)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.click("nav >> text=Inzicht")
    page.select_option("select[name=weeks]", "4")
    page.click("button:has-text('Toon')")
    assert page.locator("h1").inner_text() == "Inzicht"
    assert page.locator("figure.chart svg").count() == 7
    assert page.locator("svg title", has_text="Trechter: intake versie 2").count() == 1
    assert page.locator("svg[role=img]").count() == 7  # each chart is an image with a name
    box = page.locator("figure.chart svg").first.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150  # drawn at a readable size
    table = page.locator("#promise details table")
    assert not table.is_visible()
    page.click("#promise details summary")
    assert table.is_visible()
    assert "30.0" in table.inner_text()
    page.set_viewport_size({"width": 375, "height": 800})  # a phone: the chart still shows, wide enough to read
    phone = page.locator("figure.chart svg").first.bounding_box()
    assert phone is not None and phone["width"] >= 400 * 0.9
