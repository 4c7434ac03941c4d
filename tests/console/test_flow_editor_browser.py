"""An admin edits the intake flow in a real browser: a broken draft shows its error at its line, the fixed draft
draws its diagram with Mermaid, and publishing makes a new live version."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage import flow_versions
from tests.console.conftest import PASSWORD, add_user

INTAKE = (Path(__file__).parents[2] / "flows" / "intake.yaml").read_text(encoding="utf-8")
BROKEN = INTAKE.replace("    next: reporter\n", "    next: nowhere_step\n", 1)
BROKEN_LINE = INTAKE[:INTAKE.index("    next: reporter\n")].count("\n") + 1


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Run the browser test on SQLite only: the other tests cover PostgreSQL."""
    return sqlite_url


def live_number(services: Any) -> int:
    with services.sessions.begin() as session:
        return flow_versions.live_numbers(session)[("flow", "intake")]


def test_an_admin_fixes_a_broken_flow_sees_the_diagram_and_publishes_in_the_browser(page: Any, served: str,
                                                                                      services: Any) -> None:
    admin = add_user(services, "ada@example.org", "admin")
    before = live_number(services)
    page.goto(f"{served}/console/")
    page.fill("input[name=email]", admin)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.click("nav a:has-text('Flows')")
    page.click("table.flows a:has-text('intake') >> nth=0")
    page.wait_for_selector("pre.mermaid svg", timeout=30_000)  # the live flow's diagram

    page.fill("textarea[name=source]", BROKEN)
    page.click("button:has-text('Save draft')")
    problem = page.wait_for_selector(f"ul.problems li[data-line='{BROKEN_LINE}']")
    assert f"line {BROKEN_LINE}, column" in problem.inner_text() and "nowhere_step" in problem.inner_text()
    assert page.is_visible(f".gutter span.bad[data-line='{BROKEN_LINE}']")
    assert page.query_selector("pre.mermaid") is None
    problem.click()  # selects the line in the textarea
    selected = page.eval_on_selector("textarea[name=source]",
                                     "t => t.value.substring(t.selectionStart, t.selectionEnd)")
    assert selected == "    next: nowhere_step"

    page.fill("textarea[name=source]", INTAKE.replace("Wie ben jij?", "Wie ben jij eigenlijk?", 1))
    page.click("button:has-text('Save draft')")
    page.wait_for_selector("text=No problems:")
    assert page.query_selector("ul.problems") is None and page.query_selector(".gutter span.bad") is None
    page.wait_for_selector("pre.mermaid svg", timeout=30_000)
    assert page.is_visible("table.diff")

    page.fill("input[name=comment]", "a friendlier question")
    page.click("button:has-text('Publish')")
    page.wait_for_selector(f"text=Published version {before + 1}")
    assert page.is_visible(f"text=version {before + 1}") and page.is_visible("text=No changes.")
    assert live_number(services) == before + 1
