"""The figures of the console's insight page, as SQL aggregates by ISO week, each returned as a small Table.

The page's charts, its CSV downloads and the tests read the very same Table, so a chart never shows other numbers
than the table under it. Test cases and runs (from the simulator) are always left out.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot import followup
from storage import reminders
from storage.models import Case, CaseFlag, IntakeRun, IntakeStep, OutboxMessage, Reminder, SendError

NONE = "(geen)"  # a case without a category, a run that never reached a step
STARTED, COMPLETED = "(gestart)", "(afgerond)"  # the funnel's first and last line per flow version
ERROR_MEANINGS = {  # Meta's Send API error codes, in the words an advisor understands
    None: "netwerkfout of time-out", 1: "onbekende fout bij Meta", 2: "tijdelijke storing bij Meta",
    4: "te veel aanroepen (app)", 10: "buiten het berichtvenster", 100: "ongeldige aanvraag of ontvanger",
    190: "paginatoken geweigerd", 200: "geen toestemming", 230: "ontvanger niet bereikbaar",
    368: "tijdelijk geblokkeerd door Meta", 551: "persoon niet bereikbaar", 613: "te veel berichten tegelijk",
    1200: "tijdelijke verzendfout",
}


@dataclass(frozen=True)
class Filters:
    """What the figures are narrowed to: a period [since, until) in UTC, a case category, a referral code."""

    since: datetime
    until: datetime
    category: str | None = None
    referral: str | None = None


@dataclass(frozen=True)
class Table:
    """One figure's numbers: a name (its CSV file), a title, column headings and rows of plain values."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


class week_start(FunctionElement[str]):  # noqa: N801 - used like an SQL function
    """The Monday of the ISO week a UTC timestamp falls in (text on SQLite, a date on PostgreSQL)."""

    type = String()
    name = "week_start"
    inherit_cache = True


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as text: 'weekday 0' moves on to Sunday (or stays on it), minus 6 days is Monday
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # a date sorts and groups cheaper than its text
    return f"CAST(date_trunc('week', timezone('UTC', {compiler.process(element.clauses, **kw)})) AS DATE)"


class epoch(FunctionElement[int]):  # noqa: N801 - used like an SQL function
    """Whole seconds since 1970 of a timestamp, truncated the same way on both databases."""

    type = BigInteger()
    name = "epoch"
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def week_label(monday: str | date) -> str:
    """Return an ISO week name like 2026-W05 for the Monday the SQL gave."""
    year, week, _ = (monday if isinstance(monday, date) else date.fromisoformat(monday)).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(since: datetime, until: datetime) -> list[str]:
    """Return every ISO week from `since` up to (not including) `until`, for a chart's axis."""
    monday = since.date() - timedelta(days=since.weekday())
    weeks = []
    while datetime.combine(monday, datetime.min.time(), since.tzinfo) < until:
        weeks.append(week_label(monday.isoformat()))
        monday += timedelta(days=7)
    return weeks


def _cases(filters: Filters, dated: bool = True) -> list[ColumnElement[bool]]:
    """Return the conditions that narrow cases to the filters (with dated=False, not to the period); test cases
    never count."""
    conditions = [Case.test.is_(False)]
    if dated:
        conditions += [Case.created_at >= filters.since, Case.created_at < filters.until]
    if filters.category:
        conditions.append(Case.category == filters.category)
    if filters.referral:
        conditions.append(Case.referral == filters.referral)
    return conditions


def cases_by_category(session: Session, filters: Filters) -> Table:
    """Cases per week and category, and how many of them carry a safety flag."""
    week = week_start(Case.created_at)
    flagged = case((Case.id.in_(select(CaseFlag.case_id)), 1), else_=0)  # one set of flagged ids, not a probe per case
    statement = (select(week, Case.category, func.count(), func.sum(flagged)).where(*_cases(filters))
                 .group_by(week, Case.category))
    rows = sorted((week_label(monday), category or NONE, count, int(flags or 0))  # sorted here: not by collation
                  for monday, category, count, flags in session.execute(statement))
    return Table("cases", "Meldingen per week en categorie",
                 ("week", "categorie", "meldingen", "met veiligheidssignaal"), tuple(rows))


def promise(session: Session, filters: Filters, now: datetime, sla: timedelta, urgent_sla: timedelta) -> Table:
    """Time from a case's creation to the first advisor reply, per week: median, 90th percentile, share within.

    Percentiles are nearest-rank ones from ROW_NUMBER() and COUNT() OVER the week's answered cases: window
    functions run the same on PostgreSQL and SQLite (3.25 and later), where percentile_cont does not exist, so
    both databases give the very same numbers. A case not answered counts as missed once its deadline passed,
    and does not count yet while it has time left.
    """
    answered = Case.first_response_at.is_not(None)
    base = select(week_start(Case.created_at).label("week"), case((answered, 1), else_=0).label("answered"),
                  (epoch(Case.first_response_at) - epoch(Case.created_at)).label("wait"),
                  case((Case.urgency == "urgent", 1), else_=0).label("urgent"),
                  case((Case.created_at <= now - sla, 1), else_=0).label("late"),
                  case((Case.created_at <= now - urgent_sla, 1), else_=0).label("urgent_late"),
                  ).where(*_cases(filters)).subquery()
    group = (base.c.week, base.c.answered)
    # both windows sorted alike (the count over the whole partition), so the database sorts the cases once
    ranked = select(base, func.row_number().over(partition_by=group, order_by=base.c.wait).label("place"),
                    func.count().over(partition_by=group, order_by=base.c.wait, rows=(None, None)).label("n"),
                    ).subquery()
    r = ranked.c
    done = r.answered == 1

    def percentile(percent: int) -> ColumnElement[Any]:
        return func.min(case((and_(done, r.place * 100 >= r.n * percent), r.wait)))

    def tally(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((and_(*conditions), 1), else_=0))

    seconds, urgent_seconds = int(sla.total_seconds()), int(urgent_sla.total_seconds())
    statement = select(
        r.week, func.count(), tally(done), percentile(50), percentile(90),
        tally(done, r.wait <= seconds), tally(or_(done, r.late == 1)),
        tally(r.urgent == 1, done, r.wait <= urgent_seconds), tally(r.urgent == 1, or_(done, r.urgent_late == 1)),
    ).group_by(r.week).order_by(r.week)
    rows = []
    for monday, count, n_answered, median, p90, within, due, urgent_within, urgent_due in session.execute(statement):
        rows.append((week_label(monday), count, int(n_answered), _hours(median), _hours(p90), int(within), int(due),
                     _share(within, due), int(urgent_within), int(urgent_due), _share(urgent_within, urgent_due)))
    promised, urgent = duration_label(sla), duration_label(urgent_sla)
    return Table("promise", "Tijd tot het eerste antwoord van een adviseur", (
        "week", "meldingen", "beantwoord", "mediaan (uur)", "90e percentiel (uur)", f"binnen {promised}",
        f"telt mee ({promised})", f"% binnen {promised}", f"spoed binnen {urgent}", f"spoed telt mee ({urgent})",
        f"% spoed binnen {urgent}"), tuple(rows))


def funnel(session: Session, filters: Filters, step_order: Callable[[str, int], Sequence[str]]) -> Table:
    """Per flow version: runs started, how many reached each step and stopped there, and how many completed.

    A run that has not completed counts as stopped at its last step (a run still under way too). The category
    filter does not apply: a run that stopped early has no category. `step_order` gives a version's steps in
    flow order; steps the runs reached that it does not name follow, most reached first.
    """
    runs = [IntakeRun.test.is_(False), IntakeRun.started_at >= filters.since, IntakeRun.started_at < filters.until]
    if filters.referral:
        runs.append(IntakeRun.referral == filters.referral)
    version = (IntakeRun.flow_id, IntakeRun.flow_version)
    reached: Counter[tuple[str, int, str]] = Counter()
    for flow_id, flow_version, step, count in session.execute(
            select(*version, IntakeStep.step, func.count()).join(IntakeRun, IntakeRun.id == IntakeStep.run_id)
            .where(*runs).group_by(*version, IntakeStep.step)):
        reached[(flow_id, flow_version, step)] = count
    started: Counter[tuple[str, int]] = Counter()
    completed: Counter[tuple[str, int]] = Counter()
    stopped: Counter[tuple[str, int, str]] = Counter()
    for flow_id, flow_version, last_step, done, count in session.execute(
            select(*version, IntakeRun.last_step, IntakeRun.completed, func.count()).where(*runs)
            .group_by(*version, IntakeRun.last_step, IntakeRun.completed)):
        started[(flow_id, flow_version)] += count
        if done:
            completed[(flow_id, flow_version)] += count
        else:
            stopped[(flow_id, flow_version, last_step or NONE)] += count
    rows: list[tuple[Any, ...]] = []
    for key in sorted(started):
        seen = [step for (*of, step) in (*reached, *stopped) if tuple(of) == key]
        rows.append((*key, STARTED, started[key], 0))
        rows += [(*key, step, reached[(*key, step)], stopped[(*key, step)])
                 for step in _ordered(step_order(*key), seen, reached, key)]
        rows.append((*key, COMPLETED, completed[key], 0))
    return Table("funnel", "Trechter van de intake per flowversie",
                 ("flow", "versie", "stap", "bereikt", "gestopt hier"), tuple(rows))


def _ordered(order: Sequence[str], seen: list[str], reached: Counter[tuple[str, int, str]],
             key: tuple[str, int]) -> list[str]:
    """Return the flow's steps in order, then any other step the runs reached or stopped at, most reached first."""
    known = list(order)
    others = sorted(set(seen) - set(known), key=lambda step: (-reached[(*key, step)], step))
    return known + others


def followups(session: Session, filters: Filters) -> Table:
    """Follow-up questions per week (by when they went or were skipped): sent, skipped because Messenger's window
    had closed, and what the users answered."""
    week = week_start(Reminder.done_at)
    sent = Reminder.status == reminders.DONE
    skipped = and_(Reminder.status == reminders.SKIPPED, Reminder.last_error.startswith(reminders.WINDOW_CLOSED))

    def tally(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((and_(*conditions), 1), else_=0))

    statement = (select(week, tally(sent), tally(skipped), tally(sent, Case.followup_answer == followup.RESOLVED),
                        tally(sent, Case.followup_answer == followup.NEED_HELP))
                 .join(Case, Case.id == Reminder.case_id)
                 .where(Reminder.kind == reminders.FOLLOWUP,
                        or_(sent, skipped),
                        Reminder.done_at >= filters.since, Reminder.done_at < filters.until,
                        *_cases(filters, dated=False))
                 .group_by(week).order_by(week))
    rows = [(week_label(monday), *(int(v or 0) for v in values)) for monday, *values in session.execute(statement)]
    return Table("followups", "Vervolgvragen aan gebruikers",
                 ("week", "verstuurd", "overgeslagen (venster dicht)", "opgelost", "nog hulp nodig"), tuple(rows))


def send_errors(session: Session, filters: Filters) -> Table:
    """Send API calls Meta refused (or that failed on the network) in the period, by error code."""
    statement = (select(SendError.code, func.count())
                 .where(SendError.created_at >= filters.since, SendError.created_at < filters.until)
                 .group_by(SendError.code))
    counts = sorted(session.execute(statement), key=lambda row: (-row[1], row[0] is None, row[0] or 0))
    rows = [(code if code is not None else "", ERROR_MEANINGS.get(code, "andere fout"), n) for code, n in counts]
    return Table("send_errors", "Fouten van de Send API per code", ("code", "betekenis", "aantal"), tuple(rows))


def outbox(session: Session, now: datetime) -> Table:
    """Messages waiting in the outbox now (also those set for a retry) and the age of the oldest, in minutes."""
    waiting, oldest = session.execute(select(func.count(), func.min(OutboxMessage.created_at))
                                      .where(OutboxMessage.status.in_(("pending", "sending")))).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive UTC for an aggregate
        oldest = oldest.replace(tzinfo=now.tzinfo)
    age = round((now - oldest).total_seconds() / 60, 1) if oldest is not None else None
    return Table("outbox", "Uitgaande berichten die nu wachten", ("wachtend", "oudste (minuten)"),
                 ((waiting, age if age is not None else ""),))


def categories(session: Session) -> list[str]:
    """Return the categories cases have, for the filter menu."""
    return sorted(session.scalars(select(Case.category).where(Case.category.is_not(None)).distinct()))


def _hours(seconds: int | None) -> float | str:
    return round(seconds / 3600, 1) if seconds is not None else ""


def _share(part: int | None, whole: int | None) -> int | str:
    return round(100 * (part or 0) / whole) if whole else ""


def duration_label(span: timedelta) -> str:
    """Return a promise's time as the page says it: "24 uur", "1 uur", "30 min"."""
    hours = span.total_seconds() / 3600
    return f"{hours:g} uur" if hours >= 1 else f"{span.total_seconds() / 60:g} min"

