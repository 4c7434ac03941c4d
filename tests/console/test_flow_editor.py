"""The flow and lexicon editor in the console: drafts, problems at their lines, diagram, diff, publish, approval,
rollback, download, trying a draft in the simulator and testing the lexicon."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handlers.flow_admin import TWO_PERSON
from storage import flow_versions
from storage.models import Conversation, FlowVersion
from tests.console.conftest import Console, add_user

INTAKE = (Path(__file__).parents[2] / "flows" / "intake.yaml").read_text(encoding="utf-8")
GREETING = "Hoi! Je chat met de chatbot"
BROKEN = INTAKE.replace("    next: reporter\n", "    next: nowhere_step\n", 1)
BROKEN_LINE = INTAKE[:INTAKE.index("    next: reporter\n")].count("\n") + 1
ROUTES = [("get", "/console/flows"), ("get", "/console/flows/intake"), ("get", "/console/lexicon"),
          ("get", "/console/flows/intake/versions/1"), ("get", "/console/lexicon/versions/1"),
          ("post", "/console/flows/intake/save"), ("post", "/console/flows/intake/discard"),
          ("post", "/console/flows/intake/publish"), ("post", "/console/flows/intake/approve/1"),
          ("post", "/console/flows/intake/reject/1"), ("post", "/console/flows/intake/rollback/1"),
          ("post", "/console/flows/intake/simulate"), ("post", "/console/lexicon/save"),
          ("post", "/console/lexicon/publish"), ("post", "/console/lexicon/test")]


@pytest.fixture
def admin(console: Console, services: Any) -> Console:
    """Return a console client logged in as an admin."""
    assert console.login(add_user(services, "ada@example.org", "admin")).status_code == 302
    return console


def live(services: Any, kind: str = "flow", name: str = "intake") -> FlowVersion:
    with services.sessions.begin() as session:
        row = flow_versions.live(session, kind, name)
        session.expunge(row)
        return row


def save(client: Console, source: str, path: str = "/console/flows/intake") -> str:
    """Save a draft through the form and return the editor page it redirects to."""
    client.get(path)
    response = client.post(f"{path}/save", source=source)
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    return client.get(path).get_data(as_text=True)


def publish(client: Console, comment: str, path: str = "/console/flows/intake") -> str:
    client.get(path)
    assert client.post(f"{path}/publish", comment=comment).status_code == 303
    return client.get(path).get_data(as_text=True)


def two_person(services: Any) -> None:
    services.settings = dataclasses.replace(services.settings, flow_approval=TWO_PERSON)


def test_advisors_get_403_on_every_editor_route(logged_in: Console) -> None:
    assert 'href="/console/flows"' not in logged_in.get("/console/").get_data(as_text=True)
    for method, path in ROUTES:
        response = logged_in.get(path) if method == "get" else logged_in.post(path, source="x", comment="x",
                                                                               text="x")
        assert response.status_code == 403, path


def test_the_flows_link_is_for_admins(admin: Console) -> None:
    assert 'href="/console/flows"' in admin.get("/console/").get_data(as_text=True)


def test_the_list_shows_flows_and_lexicon_with_live_version_and_draft(admin: Console) -> None:
    save(admin, INTAKE + "\n")
    page = admin.get("/console/flows").get_data(as_text=True)
    assert 'href="/console/flows/intake"' in page and 'href="/console/lexicon"' in page
    assert "v1" in page and "draft" in page


def test_a_broken_draft_is_stored_and_its_problems_shown_at_their_lines(admin: Console, services: Any) -> None:
    page = save(admin, BROKEN)
    assert f'data-line="{BROKEN_LINE}"' in page and f"line {BROKEN_LINE}, column" in page
    assert "nowhere_step" in page and 'class="mermaid"' not in page
    with services.sessions.begin() as session:
        assert flow_versions.draft(session, "flow", "intake").source == BROKEN
    page = save(admin, INTAKE)
    assert "No problems:" in page and "steps" in page and "data-line=" not in page.split("<h2>Diagram")[0][-2000:]
    diagram = re.search(r'<pre class="mermaid">(.*?)</pre>', page, re.S)
    assert diagram and "stateDiagram-v2" in diagram.group(1)
    assert "mermaid-11.17.2.min.js" in page and "flow_editor.js" in page


def test_publishing_the_draft_makes_a_new_live_version_and_the_diff_shows_the_change(admin: Console,
                                                                                       services: Any) -> None:
    page = save(admin, INTAKE.replace(GREETING, "Hallo daar! Je chat met de chatbot", 1))
    assert 'class="diff"' in page and "Hallo daar!" in page
    page = publish(admin, "a warmer greeting")
    assert "Published version 2" in page and "No changes." in page
    row = live(services)
    assert row.version == 2 and row.comment == "a warmer greeting" and row.author == "ada@example.org"
    assert "Hallo daar!" in row.source


def test_publishing_needs_a_comment_and_a_valid_draft(admin: Console, services: Any) -> None:
    save(admin, INTAKE.replace(GREETING, "Hallo! Je chat met de chatbot", 1))
    assert "Say in a comment" in publish(admin, "  ")
    save(admin, BROKEN)
    assert "Not published" in publish(admin, "broken")
    assert live(services).version == 1


def test_two_person_publishing_waits_for_a_second_admin(admin: Console, app: Any, services: Any) -> None:
    two_person(services)
    save(admin, INTAKE.replace(GREETING, "Hallo twee! Je chat met de chatbot", 1))
    page = publish(admin, "needs approval")
    assert "waiting for a second admin" in page
    with services.sessions.begin() as session:
        [pending] = [r.id for r in flow_versions.history(session, "flow", "intake") if r.status == "pending"]
    assert f"/approve/{pending}" not in page  # the author has no Approve button
    admin.post(f"/console/flows/intake/approve/{pending}")
    assert "a second admin must approve" in admin.get("/console/flows/intake").get_data(as_text=True)
    assert live(services).version == 1
    second = Console(app.test_client())
    second.login(add_user(services, "bo@example.org", "admin"))
    assert f"/approve/{pending}" in second.get("/console/flows/intake").get_data(as_text=True)
    assert second.post(f"/console/flows/intake/approve/{pending}").status_code == 303
    row = live(services)
    assert row.version == 2 and row.approved_by == "bo@example.org" and "Hallo twee!" in row.source


def test_a_waiting_revision_can_be_rejected(admin: Console, app: Any, services: Any) -> None:
    two_person(services)
    save(admin, INTAKE.replace(GREETING, "Hallo nee! Je chat met de chatbot", 1))
    publish(admin, "to be rejected")
    with services.sessions.begin() as session:
        [pending] = [r.id for r in flow_versions.history(session, "flow", "intake") if r.status == "pending"]
    second = Console(app.test_client())
    second.login(add_user(services, "bo@example.org", "admin"))
    second.get("/console/flows/intake")
    second.post(f"/console/flows/intake/reject/{pending}")
    assert f"Revision #{pending} rejected" in second.get("/console/flows/intake").get_data(as_text=True)
    with services.sessions.begin() as session:
        assert flow_versions.revision(session, pending).status == "rejected"
    assert live(services).version == 1


def test_rolling_back_publishes_the_old_source_again(admin: Console, services: Any) -> None:
    save(admin, INTAKE.replace(GREETING, "Hallo terug! Je chat met de chatbot", 1))
    publish(admin, "v2")
    page = admin.get("/console/flows/intake").get_data(as_text=True)
    assert "/console/flows/intake/rollback/1" in page and "/console/flows/intake/rollback/2" not in page
    admin.post("/console/flows/intake/rollback/1", comment="v2 was a mistake")
    assert "Version 1 is live again as version 3" in admin.get("/console/flows/intake").get_data(as_text=True)
    row = live(services)
    assert row.version == 3 and row.rollback_of == 1 and row.source == INTAKE and row.comment == "v2 was a mistake"


def test_a_version_downloads_as_yaml(admin: Console) -> None:
    response = admin.get("/console/flows/intake/versions/1")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert 'filename="intake-v1.yaml"' in response.headers["Content-Disposition"]
    assert "version: 1" in response.get_data(as_text=True) and "id: intake" in response.get_data(as_text=True)
    assert admin.get("/console/flows/intake/versions/9").status_code == 404
    assert admin.get("/console/lexicon/versions/1").status_code == 200
    assert admin.get("/console/flows/nosuchflow").status_code == 404


def test_a_draft_runs_in_the_simulator_until_the_published_flow_is_chosen(admin: Console, services: Any) -> None:
    save(admin, INTAKE.replace(GREETING, "Hoi PUBLISHED! Je chat met de chatbot", 1))
    publish(admin, "published greeting")
    save(admin, INTAKE.replace(GREETING, "Hoi DRAFT! Je chat met de chatbot", 1))
    admin.get("/console/flows/intake")
    response = admin.post("/console/flows/intake/simulate")
    assert response.status_code == 303 and response.headers["Location"].endswith("/console/simulator")
    with services.sessions.begin() as session:
        draft_id = flow_versions.draft(session, "flow", "intake").id
    page = admin.get("/console/simulator").get_data(as_text=True)
    assert f"Running draft #{draft_id} of intake" in page and "Use the published flow" in page
    admin.post("/console/simulator", text="hoi")
    page = admin.get("/console/simulator").get_data(as_text=True)
    assert "Hoi DRAFT!" in page and "Hoi PUBLISHED!" not in page
    admin.post("/console/simulator/published")
    page = admin.get("/console/simulator").get_data(as_text=True)
    assert "Running intake v2" in page and "Use the published flow" not in page
    admin.post("/console/simulator", text="hoi")
    assert "Hoi PUBLISHED!" in admin.get("/console/simulator").get_data(as_text=True)
    with services.sessions.begin() as session:
        assert session.scalars(select(Conversation.flow_version)).one() == 2


def test_a_draft_that_does_not_load_is_not_tried(admin: Console) -> None:
    save(admin, BROKEN)
    admin.post("/console/flows/intake/simulate")
    assert "does not load" in admin.get("/console/flows/intake").get_data(as_text=True)


def test_the_lexicon_test_box_compares_the_draft_with_the_live_lexicon(admin: Console, services: Any) -> None:
    lexicon = live(services, "lexicon", "lexicon").source
    head = "    patterns:\n      nl:\n"
    at = lexicon.index(head, lexicon.index("\n  bullying:\n")) + len(head)
    page = save(admin, lexicon[:at] + '        - "flurbelwoord"\n' + lexicon[at:], "/console/lexicon")
    assert "No problems:" in page and "Test a message" in page and 'class="mermaid"' not in page
    response = admin.post("/console/lexicon/test", text="hij noemt me steeds flurbelwoord")
    page = response.get_data(as_text=True)
    draft, live_part = page.split("<h3>Draft lexicon</h3>")[1].split("<h3>Live lexicon</h3>")
    assert response.status_code == 200 and "bullying" in draft and "Nothing found." in live_part
    with services.sessions.begin() as session:
        assert "flurbelwoord" not in str(session.scalars(select(FlowVersion.comment)).all())


def test_a_script_in_a_draft_is_escaped_everywhere(admin: Console) -> None:
    page = save(admin, INTAKE.replace(GREETING, "<script>alert(1)</script> Je chat met de chatbot", 1))
    assert "<script>alert(1)" not in page
    diff = page.split('class="diff"')[1].split("</table>")[0]
    assert "<script" not in diff  # difflib escapes the lines; it marks the changed characters with spans
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in re.sub(r"</?span[^>]*>", "", diff)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.split("<textarea")[1]
    page = save(admin, "id: intake\nsteps: <script>alert(1)</script>\n")
    assert "<script>alert(1)" not in page
