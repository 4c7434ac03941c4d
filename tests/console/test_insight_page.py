"""The insight page: who may see it, its filters, its charts, CSV that equals the table, and real intakes in the
funnel."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from handlers.console.insight import safe_cell
from storage import insight
from storage.insight import Filters
from storage.models import IntakeRun
from tests.console.conftest import add_user
from tests.storage.test_insight_figures import LAST_4_WEEKS, NOW, SLA, URGENT_SLA, flow_steps, v2_source
from tests.storage.test_insight_figures import known as known  # noqa: F401 - the fixture of known figures, reused
from tests.test_flow_versions import publish
from tests.test_intake_e2e import run_intake

TABLES = ("cases", "promise", "funnel", "followups", "send_errors", "outbox")


@pytest.fixture
def db(services: Any) -> Any:
    """Yield a session on the app's database (the known figures go in there)."""
    with services.sessions() as session:
        yield session


@pytest.fixture
def at_now(services: Any) -> None:
    """Publish the fixture's flow version 2 and stop the app's clock at its NOW (a Thursday in 2026-W11)."""
    publish(services, v2_source(), "no danger question")
    services.clock = lambda: NOW


def rows_of(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_log_in_page(console: Any) -> None:
    for path in ("/console/insight", "/console/insight/cases.csv"):
        response = console.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["advisor", "admin"])
def test_advisors_and_admins_see_the_charts_with_their_tables(console: Any, services: Any, role: str, known: Any,
                                                              at_now: None) -> None:
    assert console.login(add_user(services, f"{role}@example.org", role)).status_code == 302
    response = console.get("/console/insight?weeks=4")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("<svg") == 7  # cases, wait, share in time, funnel v1 and v2, follow-ups, send errors
    assert page.count("<details") == 6
    for title in ("Meldingen per week en categorie", "Tijd tot het eerste antwoord (uur)",
                  "Trechter: intake versie 1", "Trechter: intake versie 2", "Vervolgvragen per week",
                  "Fouten van de Send API per code"):
        assert f">{title}</title>" in page
    assert "2026-W09" in page and "<td class=\"num\">30.0</td>" in page  # the promise table's 90th percentile
    assert '<strong>2</strong> berichten wachten nu; het oudste wacht <strong>30.0</strong> minuten' in page
    assert "/console/insight/funnel.csv?weeks=4" in page
    assert 'href="/console/insight">Inzicht</a>' in page  # in the navigation


def test_each_csv_equals_its_table_with_formulas_defused(logged_in: Any, services: Any, known: Any,
                                                         at_now: None) -> None:
    tables = {"cases": insight.cases_by_category(known, LAST_4_WEEKS),
              "promise": insight.promise(known, LAST_4_WEEKS, NOW, SLA, URGENT_SLA),
              "funnel": insight.funnel(known, LAST_4_WEEKS, flow_steps),
              "followups": insight.followups(known, LAST_4_WEEKS),
              "send_errors": insight.send_errors(known, LAST_4_WEEKS), "outbox": insight.outbox(known, NOW)}
    known.rollback()  # end the read: on SQLite every transaction holds the one write lock
    for name in TABLES:
        response = logged_in.get(f"/console/insight/{name}.csv?weeks=4")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert f'filename="insight-{name}.csv"' in response.headers["Content-Disposition"]
        table = tables[name]
        expected = [list(table.columns)] + [[str(safe_cell(v)) for v in row] for row in table.rows]
        assert rows_of(response.get_data(as_text=True)) == expected
    cases = rows_of(logged_in.get("/console/insight/cases.csv?weeks=4").get_data(as_text=True))
    assert ["2026-W11", "'=1+1", "1", "0"] in cases  # a spreadsheet shows the text, it does not run it


def test_the_page_and_the_csv_apply_the_filters(logged_in: Any, known: Any, at_now: None) -> None:
    bullying = rows_of(logged_in.get("/console/insight/cases.csv?weeks=4&category=bullying").get_data(as_text=True))
    assert bullying == [["week", "categorie", "meldingen", "met veiligheidssignaal"],
                        ["2026-W09", "bullying", "2", "1"], ["2026-W11", "bullying", "1", "0"]]
    school = rows_of(logged_in.get("/console/insight/cases.csv?weeks=4&ref=school-a").get_data(as_text=True))
    assert school[1:] == [["2026-W09", "bullying", "1", "0"], ["2026-W09", "sextortion", "1", "1"]]
    february = rows_of(logged_in.get("/console/insight/cases.csv?from=2026-02-01&to=2026-02-08")
                       .get_data(as_text=True))
    assert february[1:] == [["2026-W06", "bullying", "1", "0"]]
    page = logged_in.get("/console/insight?from=2026-02-01&to=2026-02-08&category=bullying").get_data(as_text=True)
    assert 'value="2026-02-01"' in page and '<option value="bullying" selected>' in page
    assert "/console/insight/cases.csv?from=2026-02-01&amp;to=2026-02-08&amp;category=bullying" in page


@pytest.mark.parametrize("query", ["weeks=5", "weeks=x", "from=2026-13-01", "from=2026-03-01&to=2026-02-01",
                                   "from=2020-01-01&to=2026-01-01", "from=9999-12-01&to=9999-12-31"])
def test_a_filter_that_cannot_be_is_refused(logged_in: Any, query: str) -> None:
    assert logged_in.get(f"/console/insight?{query}").status_code == 400


def test_an_unknown_table_is_not_found(logged_in: Any) -> None:
    assert logged_in.get("/console/insight/contacts.csv").status_code == 404


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+31", "-x", "@sum", "\tx", "bullying", -3, 2.5, "")] == [
        "'=1+1", "'+31", "'-x", "'@sum", "'\tx", "bullying", -3, 2.5, ""]


def test_an_empty_database_draws_empty_charts(logged_in: Any) -> None:
    page = logged_in.get("/console/insight").get_data(as_text=True)
    assert page.count("<svg") == 5 and "Geen gegevens in deze periode" in page and "Geen intakes" in page


def test_intakes_through_the_webhook_show_in_the_funnel(logged_in: Any, user: Any, make_user: Any,
                                                        services: Any) -> None:
    run_intake(user, "Hoi, ik wil iets melden", "Iemand dreigt de foto's van mijn dochter te delen.")
    stopper = make_user("7100000000000002")
    stopper.say("hoi")
    stopper.choose("privacy", "yes")
    stopper.choose("reporter", "student")  # and then nothing more: stopped at the danger question
    third = make_user("7100000000000003")
    third.say("hoi")  # only the privacy question
    funnel = rows_of(logged_in.get("/console/insight/funnel.csv").get_data(as_text=True))
    reached = {row[2]: (int(row[3]), int(row[4])) for row in funnel[1:]}
    assert [row[2] for row in funnel[1:]][:5] == ["(gestart)", "privacy", "reporter", "danger", "category"]
    assert reached["(gestart)"] == (3, 0) and reached["(afgerond)"] == (1, 0)
    assert reached["privacy"] == (3, 1) and reached["reporter"] == (2, 0) and reached["danger"] == (2, 1)
    assert reached["category"] == (1, 0) and reached["contact_method"] == (1, 0) and reached["ask_email"] == (1, 0)
    assert reached["ask_phone"] == (0, 0)
    cases = rows_of(logged_in.get("/console/insight/cases.csv").get_data(as_text=True))
    week = insight.weeks_between(services.clock(), services.clock() + timedelta(seconds=1))
    assert cases[1:] == [[*week, "sextortion", "1", "1"]]


def test_the_answer_to_the_follow_up_is_counted(services: Any, user: Any) -> None:
    run_intake(user, "Hoi", "Iemand dreigt de foto's van mijn dochter te delen.")
    later = services.clock() + timedelta(hours=23, minutes=50)  # the follow-up goes just before the window closes
    services.reminders.clock = services.sender.clock = lambda: later
    assert services.reminders.run_due() >= 1
    services.drain()
    user.tap("Nog hulp nodig")
    with services.sessions() as session:
        table = insight.followups(session, Filters(later - timedelta(days=30), later + timedelta(days=1)))
    assert [row[1:] for row in table.rows] == [(1, 0, 0, 1)]


def test_a_simulator_conversation_is_recorded_as_a_test_run_and_left_out(logged_in: Any, services: Any) -> None:
    logged_in.get("/console/simulator")
    for text in ("hoi", "adviseur"):  # an intake begins, and a test case opens
        logged_in.post("/console/simulator", text=text)
    with services.sessions() as session:
        assert session.execute(select(IntakeRun.test, IntakeRun.last_step, IntakeRun.case_id.is_not(None))).all() == [
            (True, "privacy", True)]
    assert rows_of(logged_in.get("/console/insight/funnel.csv").get_data(as_text=True))[1:] == []
    assert rows_of(logged_in.get("/console/insight/cases.csv").get_data(as_text=True))[1:] == []


def test_each_refused_send_is_counted_by_its_code(logged_in: Any, user: Any, graph: Any, services: Any) -> None:
    graph.fail_next(1, status=400, code=551, subcode=1545041)  # the person is not available: final
    user.say("hoi")  # the first reply is refused for good; the rest go on
    services.sender.clock = lambda: services.clock() + timedelta(hours=1)  # past every back-off
    services.drain()
    errors = rows_of(logged_in.get("/console/insight/send_errors.csv").get_data(as_text=True))
    assert errors == [["code", "betekenis", "aantal"], ["551", "persoon niet bereikbaar", "1"]]
