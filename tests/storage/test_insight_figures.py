"""The insight figures against a fixture of known cases, runs, reminders and Send API errors, on both databases."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.loader import load_flow_text
from storage import erasure, insight, tallies
from storage.db import READ_ONLY_OPTION, make_engine, make_session_factory, upgrade
from storage.insight import Filters
from storage.models import (
    Case,
    CaseFlag,
    Contact,
    Conversation,
    IntakeRun,
    IntakeStep,
    OutboxMessage,
    Reminder,
    SendError,
)
from tests.test_flow_versions import intake_source

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)  # a Thursday in ISO week 2026-W11
LAST_4_WEEKS = Filters(since=datetime(2026, 2, 16, tzinfo=UTC), until=datetime(2026, 3, 16, tzinfo=UTC))
SLA, URGENT_SLA = timedelta(hours=24), timedelta(hours=1)
V1_STEPS = ["privacy", "reporter", "danger", "category", "platform", "since", "age", "known", "reported",
            "description", "urgency", "contact_method", "ask_phone", "ask_email"]
V2_STEPS = [step for step in V1_STEPS if step != "danger"]


def at(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> datetime:
    """Return a UTC time in 2026 (March unless said otherwise)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    """Yield a session on a migrated, empty database; everything it adds is committed at the end of `known`."""
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def add_case(db: Session, number: int, created: datetime, category: str | None, *, urgent: bool = False,
             answered_after: timedelta | None = None, flags: tuple[str, ...] = (), referral: str | None = None,
             test: bool = False, answer: str | None = None) -> Case:
    """Store a case with exact times and its safety flags."""
    case = Case(reference=f"IDA-2026-{number:05d}", year=2026, number=number, flow_id="intake", flow_version=1,
                category=category, urgency="urgent" if urgent else "normal", referral=referral, test=test,
                created_at=created, updated_at=created, followup_answer=answer,
                first_response_at=created + answered_after if answered_after is not None else None)
    db.add(case)
    db.flush()
    db.add_all(CaseFlag(case_id=case.id, category=flag, source="message", created_at=created) for flag in flags)
    return case


def add_run(db: Session, started: datetime, version: int, steps: list[str], *, completed: bool = False,
            referral: str | None = None, test: bool = False) -> None:
    """Store an intake run that reached these steps (the last one is where it is or stopped)."""
    run = IntakeRun(flow_id="intake", flow_version=version, started_at=started, last_step=steps[-1],
                    completed=completed, test=test, referral=referral)
    db.add(run)
    db.flush()
    db.add_all(IntakeStep(run_id=run.id, step=step, reached_at=started) for step in steps)


def add_followup(db: Session, case: Case, status: str, done: datetime, reason: str | None = None,
                 kind: str = "followup") -> None:
    db.add(Reminder(case_id=case.id, kind=kind, due_at=done, status=status, done_at=done, last_error=reason,
                    created_at=done - timedelta(hours=20)))


@pytest.fixture
def known(db: Session) -> Session:
    """Store the known figures: cases in ISO weeks 6, 9 and 11, runs of two flow versions, follow-ups, errors."""
    hour = timedelta(hours=1)
    old = add_case(db, 1, at(2, 9, month=2), "bullying")  # 2026-W06: outside the last 4 weeks
    c1 = add_case(db, 2, at(23, 10, month=2), "bullying", answered_after=2 * hour, referral="school-a",
                  answer="resolved")
    c2 = add_case(db, 3, at(24, 9, month=2), "bullying", answered_after=30 * hour, flags=("bullying",),
                  answer="need_help")
    c3 = add_case(db, 4, at(25, 8, month=2), "sextortion", urgent=True, answered_after=timedelta(minutes=30),
                  flags=("sextortion", "threat"), referral="school-a")
    c4 = add_case(db, 5, at(1, 23, 30), "hacking")  # Sunday night, never answered: the promise was missed
    test = add_case(db, 6, at(26, 9, month=2), "bullying", answered_after=hour, flags=("danger",), test=True)
    c5 = add_case(db, 7, at(9, 8), "sextortion", urgent=True, answered_after=2 * hour, flags=("sextortion",))
    add_case(db, 8, at(12, 10), "bullying")  # 2 hours old, not answered yet: still within its time
    add_case(db, 9, at(10, 12), "=1+1", answered_after=24 * hour)  # exactly on time; a formula-like category

    add_run(db, at(1, 10, month=2), 1, ["privacy"])  # outside the period
    add_run(db, at(24, 10, month=2), 1, ["privacy", "reporter", "danger", "category"], referral="school-a")
    add_run(db, at(25, 10, month=2), 1, ["privacy"])
    add_run(db, at(10, 10), 1, ["privacy", "reporter", "danger", "category", "description", "urgency",
                                "contact_method"], completed=True, referral="school-a")
    add_run(db, at(10, 11), 1, ["privacy", "reporter"], test=True)
    add_run(db, at(11, 10), 2, ["privacy", "reporter", "category"])
    add_run(db, at(11, 11), 2, ["privacy", "reporter", "category", "urgency"], completed=True)

    add_followup(db, c1, "done", at(24, 10, month=2))
    add_followup(db, c2, "done", at(25, 9, month=2))
    add_followup(db, c3, "skipped", at(27, 9, month=2), "messaging window closed at 2026-02-26 08:00:00+00:00")
    add_followup(db, c4, "skipped", at(3, 9), "the contact is gone")  # not the window: not counted
    add_followup(db, c5, "done", at(10, 9))
    add_followup(db, test, "done", at(27, 9, month=2))
    add_followup(db, c1, "done", at(24, 10, month=2), kind="advisor")
    add_followup(db, old, "done", at(3, 9, month=2))  # outside the period

    db.add_all(SendError(code=code, created_at=when) for code, when in [
        (551, at(10)), (551, at(11)), (None, at(20, month=2)), (613, at(1)), (190, at(5, month=1))])
    contact = Contact(psid="7000000000000001", created_at=at(12, 8))
    db.add(contact)
    db.flush()
    db.add_all(OutboxMessage(contact_id=contact.id, recipient=contact.psid, body={}, status=status,
                             created_at=NOW - age) for status, age in [
        ("pending", timedelta(minutes=30)), ("sending", timedelta(minutes=5)), ("sent", timedelta(hours=2))])
    db.commit()
    return db


def v2_source() -> str:
    """Return the shipped intake without its danger question: the flow's version 2 here."""
    source = intake_source().replace("next: danger", "next: category")
    start = source.index("  - id: danger\n")
    return source[:start] + source[source.index("  - id: ", start + 1):]


def flow_steps(flow_id: str, version: int) -> list[str]:
    """Return the waiting steps of the shipped intake (v1) and of v2, in flow order."""
    source = v2_source() if version == 2 else intake_source()
    return [step.id for step in load_flow_text(source).steps.values() if step.waits]


def test_cases_per_week_by_category_count_flagged_cases_once_and_leave_test_cases_out(known: Session) -> None:
    table = insight.cases_by_category(known, LAST_4_WEEKS)
    assert table.columns == ("week", "categorie", "meldingen", "met veiligheidssignaal")
    assert table.rows == (
        ("2026-W09", "bullying", 2, 1), ("2026-W09", "hacking", 1, 0), ("2026-W09", "sextortion", 1, 1),
        ("2026-W11", "=1+1", 1, 0), ("2026-W11", "bullying", 1, 0), ("2026-W11", "sextortion", 1, 1))


def test_the_promise_gives_median_p90_and_shares_within_the_promise_per_week(known: Session) -> None:
    table = insight.promise(known, LAST_4_WEEKS, NOW, SLA, URGENT_SLA)
    assert table.columns == ("week", "meldingen", "beantwoord", "mediaan (uur)", "90e percentiel (uur)",
                             "binnen 24 uur", "telt mee (24 uur)", "% binnen 24 uur", "spoed binnen 1 uur",
                             "spoed telt mee (1 uur)", "% spoed binnen 1 uur")
    # W09: answered after 0.5 h, 2 h and 30 h, one missed; W11: 2 h and exactly 24 h, one still has time
    assert table.rows == (("2026-W09", 4, 3, 2.0, 30.0, 2, 4, 50, 1, 1, 100),
                          ("2026-W11", 3, 2, 2.0, 24.0, 2, 2, 100, 0, 1, 0))


def test_the_funnel_counts_each_flow_version_in_its_own_step_order(known: Session) -> None:
    table = insight.funnel(known, LAST_4_WEEKS, flow_steps)
    assert flow_steps("intake", 1) == V1_STEPS and flow_steps("intake", 2) == V2_STEPS
    v1 = {"privacy": (3, 1), "reporter": (2, 0), "danger": (2, 0), "category": (2, 1), "description": (1, 0),
          "urgency": (1, 0), "contact_method": (1, 0)}
    v2 = {"privacy": (2, 0), "reporter": (2, 0), "category": (2, 1), "urgency": (1, 0)}
    assert table.rows == (
        ("intake", 1, "(gestart)", 3, 0), *(("intake", 1, s, *v1.get(s, (0, 0))) for s in V1_STEPS),
        ("intake", 1, "(afgerond)", 1, 0),
        ("intake", 2, "(gestart)", 2, 0), *(("intake", 2, s, *v2.get(s, (0, 0))) for s in V2_STEPS),
        ("intake", 2, "(afgerond)", 1, 0))


def test_a_step_the_flow_does_not_name_follows_the_known_ones(known: Session) -> None:
    table = insight.funnel(known, LAST_4_WEEKS, lambda flow_id, version: ["privacy", "reporter"])
    assert [row[2:] for row in table.rows if row[1] == 2] == [
        ("(gestart)", 2, 0), ("privacy", 2, 0), ("reporter", 2, 0), ("category", 2, 1), ("urgency", 1, 0),
        ("(afgerond)", 1, 0)]


def test_follow_ups_count_sent_skipped_for_the_window_and_the_answers(known: Session) -> None:
    table = insight.followups(known, LAST_4_WEEKS)
    assert table.columns == ("week", "verstuurd", "overgeslagen (venster dicht)", "opgelost", "nog hulp nodig")
    assert table.rows == (("2026-W09", 2, 1, 1, 1), ("2026-W11", 1, 0, 0, 0))


def test_delivery_health_counts_send_errors_by_code_and_the_waiting_outbox(known: Session) -> None:
    assert insight.send_errors(known, LAST_4_WEEKS).rows == (
        (551, "persoon niet bereikbaar", 2), (613, "te veel berichten tegelijk", 1),
        ("", "netwerkfout of time-out", 1))
    assert insight.outbox(known, NOW).rows == ((2, 30.0),)


def test_the_category_filter_narrows_cases_promise_and_follow_ups_but_not_the_funnel(known: Session) -> None:
    bullying = Filters(LAST_4_WEEKS.since, LAST_4_WEEKS.until, category="bullying")
    assert insight.cases_by_category(known, bullying).rows == (("2026-W09", "bullying", 2, 1),
                                                               ("2026-W11", "bullying", 1, 0))
    assert insight.promise(known, bullying, NOW, SLA, URGENT_SLA).rows == (
        ("2026-W09", 2, 2, 2.0, 30.0, 1, 2, 50, 0, 0, ""), ("2026-W11", 1, 0, "", "", 0, 0, "", 0, 0, ""))
    assert insight.followups(known, bullying).rows == (("2026-W09", 2, 0, 1, 1),)
    assert insight.funnel(known, bullying, flow_steps) == insight.funnel(known, LAST_4_WEEKS, flow_steps)


def test_the_referral_filter_narrows_cases_runs_and_follow_ups(known: Session) -> None:
    school = Filters(LAST_4_WEEKS.since, LAST_4_WEEKS.until, referral="school-a")
    assert insight.cases_by_category(known, school).rows == (("2026-W09", "bullying", 1, 0),
                                                             ("2026-W09", "sextortion", 1, 1))
    assert insight.followups(known, school).rows == (("2026-W09", 1, 1, 1, 0),)
    funnel = insight.funnel(known, school, flow_steps)
    assert {row[1] for row in funnel.rows} == {1}
    reached = {row[2]: row[3:] for row in funnel.rows}
    assert reached["(gestart)"] == (2, 0) and reached["privacy"] == (2, 0) and reached["category"] == (2, 1)
    assert reached["(afgerond)"] == (1, 0)


def test_the_period_filter_takes_the_days_asked_for(known: Session) -> None:
    february = Filters(at(1, 0, month=2), at(9, 0, month=2))
    assert insight.cases_by_category(known, february).rows == (("2026-W06", "bullying", 1, 0),)
    assert insight.followups(known, february).rows == (("2026-W06", 1, 0, 0, 0),)
    assert [row[2:] for row in insight.funnel(known, february, flow_steps).rows][:2] == [("(gestart)", 1, 0),
                                                                                        ("privacy", 1, 1)]
    assert insight.send_errors(known, february).rows == ()


def test_weeks_are_iso_weeks_on_both_databases(db: Session) -> None:
    for number, when in enumerate([at(28, 23, 59, month=12) - timedelta(days=365), at(4, 23, 59, month=1),
                                   at(5, 0, 0, month=1), at(1, 0, 1)], start=1):  # Sun 28-12-2025 .. Sun 1-3
        add_case(db, number, when, "bullying")
    db.commit()
    everything = Filters(at(1, 0, month=1) - timedelta(days=30), NOW)
    assert [row[0] for row in insight.cases_by_category(db, everything).rows] == [
        "2025-W52", "2026-W01", "2026-W02", "2026-W09"]
    assert insight.weeks_between(LAST_4_WEEKS.since, LAST_4_WEEKS.until) == [
        "2026-W08", "2026-W09", "2026-W10", "2026-W11"]


def test_retention_purges_old_runs_and_send_errors_but_keeps_recent_ones(known: Session) -> None:
    assert tallies.purge(known, at(15, month=2)) == (1, 1)  # the run of 1 February, the error of 5 January
    known.commit()
    assert known.scalar(select(func.count()).select_from(IntakeRun)) == 6
    assert known.scalar(select(func.count()).select_from(SendError)) == 4
    assert known.scalar(select(func.count()).select_from(IntakeStep)) == 21


def test_the_retention_job_purges_the_tallies_with_the_cases(known: Session) -> None:
    erasure.purge(known, NOW, retention_days=30, abandoned_days=30)
    known.commit()
    assert known.scalar(select(func.min(IntakeRun.started_at))) >= NOW - timedelta(days=30)
    assert known.scalar(select(func.min(SendError.created_at))) >= NOW - timedelta(days=30)


def test_an_erased_case_leaves_its_run_without_the_referral(known: Session) -> None:
    case_id = known.scalar(select(Case.id).where(Case.number == 2))
    known.execute(IntakeRun.__table__.update().where(IntakeRun.referral == "school-a").values(case_id=case_id))
    erasure.anonymise_case(known, case_id, erasure.CHAT, NOW)
    known.commit()
    assert known.scalar(select(func.count()).where(IntakeRun.referral.is_not(None))) == 0


def test_a_run_records_each_new_step_once_and_its_end(db: Session) -> None:
    contact = Contact(psid="7000000000000002", created_at=NOW)
    db.add(contact)
    db.flush()
    row = Conversation(contact_id=contact.id, flow_id="intake", flow_version=1, step="privacy", answers={},
                       referral="school-b")
    db.add(row)
    db.flush()
    track = tallies.track_run
    track(db, row, before=None, started=True, completed=False, case_id=None, case_opened=False, test=False, now=NOW)
    row.step = "privacy"  # asked again: nothing new
    track(db, row, before="privacy", started=False, completed=False, case_id=None, case_opened=False, test=False,
          now=NOW)
    row.step = "reporter"
    track(db, row, before="privacy", started=False, completed=False, case_id=None, case_opened=False, test=False,
          now=NOW)
    case = add_case(db, 1, NOW, "bullying")
    row.step = None
    track(db, row, before="reporter", started=False, completed=True, case_id=case.id, case_opened=True,
          test=False, now=NOW)
    db.commit()
    run = db.get_one(IntakeRun, row.intake_run_id)
    assert (run.last_step, run.completed, run.case_id, run.referral) == ("reporter", True, case.id, "school-b")
    assert db.scalars(select(IntakeStep.step).order_by(IntakeStep.id)).all() == ["privacy", "reporter"]


def test_a_read_only_transaction_leaves_sqlite_free_to_write(sqlite_url: str, tmp_path: Any) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    try:
        with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as reader, reader.begin():
            assert reader.execute(select(func.count()).select_from(Case)).scalar() == 0  # the insight page reads
            writer = sqlite3.connect(tmp_path / "bot.db", timeout=0.5)  # the bot writes meanwhile, without waiting
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO send_errors (code, created_at) VALUES (551, '2026-03-12 12:00:00.000000')")
            writer.commit()
            writer.close()
    finally:
        engine.dispose()
