"""The insight page: is the team keeping its promises, and where does the intake lose people.

Each figure is a storage.insight Table; the page draws it as an SVG chart with the table under it, and
/console/insight/<table>.csv downloads the same table with the same filters.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from handlers.console import bp, charts
from handlers.console.auth import login_required
from storage import insight, referrals
from storage.db import reading as read_only
from storage.insight import Filters, Table

PERIODS = (4, 12, 26, 52)  # weeks the period menu offers
DEFAULT_WEEKS = 12
MAX_DAYS = 3 * 366  # a longer custom period would draw more weeks than a chart can show
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a text cell that starts like this


@dataclass(frozen=True)
class Query:
    """The filters as the form shows them."""

    weeks: int | None
    start: str
    end: str
    category: str
    referral: str


def read_filters(now: datetime) -> tuple[Filters, Query]:
    """Read the period, category and referral code from the query string; 400 for values that cannot be."""
    args = request.args
    category, referral = args.get("category", "")[:40], args.get("ref", "")[:200]
    start, end = args.get("from", ""), args.get("to", "")
    if start or end:
        until = _day(end) + timedelta(days=1) if end else _monday(now) + timedelta(days=7)
        since = _day(start) if start else until - timedelta(weeks=DEFAULT_WEEKS)
        if since >= until or (until - since).days > MAX_DAYS:
            abort(400)
        query = Query(None, since.date().isoformat(), (until - timedelta(days=1)).date().isoformat(), category,
                      referral)
    else:
        weeks = args.get("weeks") or str(DEFAULT_WEEKS)
        if not weeks.isdigit() or int(weeks) not in PERIODS:
            abort(400)
        until = _monday(now) + timedelta(days=7)  # up to the end of this week: all of it that happened so far
        since = until - timedelta(weeks=int(weeks))
        query = Query(int(weeks), "", "", category, referral)
    return Filters(since, until, category or None, referral or None), query


def _day(text: str) -> datetime:
    """Return the start of a YYYY-MM-DD day in UTC; 400 for anything else, or a year far from now."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(400)
    if not 2000 <= day.year <= 2999:
        abort(400)
    return datetime.combine(day, time(), UTC)


def _monday(now: datetime) -> datetime:
    return datetime.combine(now.date() - timedelta(days=now.weekday()), time(), UTC)


@contextmanager
def reading() -> Iterator[Session]:
    """Open a transaction that only reads: on SQLite it takes no write lock, so a long page never holds up the bot."""
    with read_only(current_app.extensions["intake"].sessions) as db:
        yield db


def _builders(db: Session, filters: Filters, now: datetime) -> dict[str, Callable[[], Table]]:
    """Return how to compute each table by its name (the CSV computes only the one asked for)."""
    services = current_app.extensions["intake"]
    settings, flows = services.settings, services.intake.flows

    def step_order(flow_id: str, version: int) -> list[str]:
        flow = flows.get(db, flow_id, version)
        return [step.id for step in flow.steps.values() if step.waits] if flow is not None else []

    return {
        "cases": lambda: insight.cases_by_category(db, filters),
        "promise": lambda: insight.promise(db, filters, now, timedelta(seconds=settings.advisor_sla),
                                           timedelta(seconds=settings.urgent_sla)),
        "funnel": lambda: insight.funnel(db, filters, step_order),
        "followups": lambda: insight.followups(db, filters),
        "send_errors": lambda: insight.send_errors(db, filters),
        "outbox": lambda: insight.outbox(db, now),
    }


@bp.get("/insight")
@login_required
def insight_page() -> ResponseReturnValue:
    """Show every figure as a chart with its table, for the period, category and referral code chosen."""
    services = current_app.extensions["intake"]
    now = services.clock()
    filters, query = read_filters(now)
    with reading() as db:
        tables = {name: build() for name, build in _builders(db, filters, now).items()}
        choices = {"categories": insight.categories(db), "referrals": referrals.usage(db)}
    weeks = insight.weeks_between(filters.since, filters.until)
    drawn = draw(tables, weeks, timedelta(seconds=services.settings.advisor_sla),
                 timedelta(seconds=services.settings.urgent_sla))
    return render_template("console/insight.html", tables=tables, charts=drawn, query=query,
                           periods=PERIODS, choices=choices, args=request.args.to_dict())


@bp.get("/insight/<name>.csv")
@login_required
def insight_csv(name: str) -> ResponseReturnValue:
    """Download one figure's table as CSV, with the page's filters."""
    services = current_app.extensions["intake"]
    now = services.clock()
    filters, _ = read_filters(now)
    with reading() as db:
        build = _builders(db, filters, now).get(name)
        if build is None:
            abort(404)
        table = build()
    return to_csv(table), 200, {"Content-Type": "text/csv; charset=utf-8",
                                "Content-Disposition": f'attachment; filename="insight-{name}.csv"'}


def to_csv(table: Table) -> str:
    """Write a table as CSV; a text cell a spreadsheet would run as a formula is quoted with a leading '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(column) for column in table.columns])
    writer.writerows([safe_cell(value) for value in row] for row in table.rows)
    return out.getvalue()


def safe_cell(value: Any) -> Any:
    """Return a cell for CSV: numbers as they are, text that starts like a formula behind a '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def draw(tables: dict[str, Table], weeks: list[str], sla: timedelta,
         urgent_sla: timedelta) -> dict[str, list[charts.Chart]]:
    """Turn the tables into the page's charts (the funnel draws one chart per flow version)."""
    return {"cases": [_cases_chart(tables["cases"], weeks)],
            "promise": _promise_charts(tables["promise"], weeks, sla, urgent_sla),
            "funnel": _funnel_charts(tables["funnel"]), "followups": [_followups_chart(tables["followups"], weeks)],
            "send_errors": [_errors_chart(tables["send_errors"])]}


def _by_week(table: Table, weeks: list[str], column: int) -> list[float | None]:
    """Return one column of a per-week table laid out over every week of the period (None where missing)."""
    values = {row[0]: row[column] for row in table.rows}
    return [values[w] if values.get(w, "") != "" else None for w in weeks]


def _cases_chart(table: Table, weeks: list[str]) -> charts.Chart:
    totals: dict[str, int] = {}
    for _, category, count, _ in table.rows:
        totals[category] = totals.get(category, 0) + count
    order = sorted(totals, key=lambda c: (-totals[c], c))
    cells = {(row[0], row[1]): row[2] for row in table.rows}
    series = [(category, [cells.get((w, category), 0) for w in weeks]) for category in order]
    flagged = [sum(row[3] for row in table.rows if row[0] == w) for w in weeks]
    total, flags = sum(totals.values()), sum(flagged)
    return charts.stacked_bars("chart-cases", "Meldingen per week en categorie",
                               f"{total} meldingen in {len(weeks)} weken, {flags} met een veiligheidssignaal.",
                               weeks, series, ("met veiligheidssignaal", flagged))


def _promise_charts(table: Table, weeks: list[str], sla: timedelta, urgent_sla: timedelta) -> list[charts.Chart]:
    promised, urgent = insight.duration_label(sla), insight.duration_label(urgent_sla)
    medians, p90s = _by_week(table, weeks, 3), _by_week(table, weeks, 4)
    answered = sum(row[2] for row in table.rows)
    wait = charts.line_chart(
        "chart-wait", "Tijd tot het eerste antwoord (uur)",
        f"Mediaan en 90e percentiel per week over {answered} beantwoorde meldingen; de stippellijn is de belofte.",
        weeks, [("mediaan", medians), ("90e percentiel", p90s)],
        (f"belofte: {promised}", sla.total_seconds() / 3600), unit=" uur")
    within, due = sum(row[5] for row in table.rows), sum(row[6] for row in table.rows)
    share = charts.line_chart(
        "chart-within", "Aandeel op tijd beantwoord (%)",
        f"{within} van {due} meldingen binnen {promised} beantwoord; spoedmeldingen binnen {urgent} apart.",
        weeks, [(f"binnen {promised}", _by_week(table, weeks, 7)),
                (f"spoed binnen {urgent}", _by_week(table, weeks, 10))], top=100, unit="%")
    return [wait, share]


def _funnel_charts(table: Table) -> list[charts.Chart]:
    versions: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
    for row in table.rows:
        versions.setdefault((row[0], row[1]), []).append(row)
    drawn = []
    for (flow_id, version), rows in versions.items():
        labels = [row[2] for row in rows]
        stopped = [row[4] for row in rows]
        on = [row[3] - row[4] for row in rows]
        started, completed = rows[0][3], rows[-1][3]
        drawn.append(charts.horizontal_bars(
            f"chart-funnel-{flow_id}-{version}", f"Trechter: {flow_id} versie {version}",
            f"{started} keer gestart, {completed} afgerond; per stap hoeveel gesprekken er kwamen en stopten.",
            labels, [("verder gegaan", on), ("gestopt hier", stopped)]))
    return drawn


def _followups_chart(table: Table, weeks: list[str]) -> charts.Chart:
    cells = {row[0]: row for row in table.rows}

    def column(i: int) -> list[float | None]:
        return [cells[w][i] if w in cells else 0 for w in weeks]

    silent = [cells[w][1] - cells[w][3] - cells[w][4] if w in cells else 0 for w in weeks]
    sent, skipped = sum(row[1] for row in table.rows), sum(row[2] for row in table.rows)
    return charts.stacked_bars(
        "chart-followups", "Vervolgvragen per week",
        f"{sent} vervolgvragen verstuurd, {skipped} overgeslagen omdat het berichtvenster dicht was.",
        weeks, [("opgelost", column(3)), ("nog hulp nodig", column(4)), ("geen antwoord", silent),
                ("overgeslagen (venster dicht)", column(2))])


def _errors_chart(table: Table) -> charts.Chart:
    labels = [f"{row[0]} {row[1]}".strip() if row[0] != "" else row[1] for row in table.rows]
    total = sum(row[2] for row in table.rows)
    return charts.horizontal_bars("chart-errors", "Fouten van de Send API per code",
                                  f"{total} geweigerde of mislukte aanroepen van de Send API in de periode.",
                                  labels, [("aantal", [row[2] for row in table.rows])])
