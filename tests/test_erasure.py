"""Erasure: on the user's request in the chat, through Meta's deletion callback, and by retention. Afterwards the
database holds neither the user's page-scoped id nor anything they typed; an anonymous record of the case stays."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, select, update

from handlers.data_deletion import sign_request
from handlers.services import utc_now
from storage.models import Alert, Base, Case, CaseFlag, Contact, ErasureRequest
from tests.conftest import APP_SECRET
from tests.test_app import ROOT
from tests.test_intake_e2e import run_intake

SECRET_WORDS = "mijn buurjongen Kees zet filmpjes van mij online"  # the description: typed, personal


def holding(services: Any, needle: str) -> list[str]:
    """Return the tables (of the database and of SQLite's inbox file) that hold `needle` anywhere."""
    found = []
    for engine in {services.engine, services.inbox_engine}:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                if table.name == "inbox" and engine is services.engine and services.inbox_engine is not engine:
                    continue
                for row in connection.execute(select(table)):
                    if any(needle in str(value) for value in row):
                        found.append(table.name)
                        break
    return found


def later(services: Any, **delta: float) -> None:
    """Move the erasure worker's clock forward."""
    now = services.erasure.clock
    services.erasure.clock = lambda: now() + timedelta(**delta)


def test_erasure_from_the_chat_leaves_no_trace_of_the_user(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("ik ben Kees")
    assert holding(services, user.psid) and holding(services, "ik ben Kees")
    asked = user.say("verwijder mijn gegevens")
    assert "Weet je het zeker?" in asked[-1] and user.buttons() == ["Ja, wis alles", "Nee, toch niet"]
    done = user.tap("Ja, wis alles")
    assert "we wissen je gegevens nu" in done[-1] and "112" in done[-1]
    assert services.erasure.run_due() == 1
    assert holding(services, user.psid) == [] and holding(services, "Kees") == []
    with services.sessions.begin() as session:
        request = session.scalars(select(ErasureRequest)).one()
        assert (request.status, request.source, request.contact_id) == ("done", "chat", None)


def test_cancelling_erases_nothing(user: Any, services: Any) -> None:
    user.say("hoi")
    user.say("delete my data")
    assert "niets" in user.tap("Nee, toch niet")[0]
    assert services.erasure.run_due() == 0 and holding(services, user.psid)


def test_an_open_case_gives_advisors_the_grace_period_then_keeps_only_an_anonymous_record(
        user: Any, services: Any) -> None:
    run_intake(user, "hoi", SECRET_WORDS)
    user.say("iemand dreigt mijn naaktfoto te delen")  # a flag with matched words
    user.say("wis mijn gegevens")
    answer = user.tap("Ja, wis alles")
    assert "24 uur" in answer[-1] and "112" in answer[-1]
    with services.sessions.begin() as session:
        assert session.scalars(select(Alert.kind).where(Alert.kind == "erasure_requested")).all()
    assert services.erasure.run_due() == 0  # the advisors' day is not over
    assert holding(services, user.psid)
    later(services, seconds=services.settings.erasure_grace + 1)
    assert services.erasure.run_due() == 1
    assert holding(services, user.psid) == [] and holding(services, "Kees") == [] \
        and holding(services, "ouder@example.nl") == []
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        assert case.category and case.urgency == "urgent" and case.created_at  # the anonymous record
        assert case.erased_at is not None and case.status == "closed" and case.contact_id is None
        assert case.answers == {}
        flags = session.scalars(select(CaseFlag)).all()
        assert flags and all(flag.matched is None for flag in flags)


def test_with_no_grace_an_open_case_is_erased_at_once(settings: Any, user: Any, services: Any) -> None:
    services.intake = services.intake.__class__(**{**services.intake.__dict__, "erasure_grace": 0.0})
    services.inbox.intake = services.intake
    run_intake(user, "hoi", SECRET_WORDS)
    user.say("verwijder mijn gegevens")
    assert "we wissen je gegevens nu" in user.tap("Ja, wis alles")[-1]
    assert services.erasure.run_due() == 1 and holding(services, user.psid) == []


def callback(user: Any, payload: dict[str, Any], secret: str = APP_SECRET) -> Any:
    return user.client.post("/facebook/data-deletion", data={"signed_request": sign_request(payload, secret)})


def test_metas_signed_deletion_request_erases_and_the_status_page_says_so(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("ik ben Kees")
    answer = callback(user, {"algorithm": "HMAC-SHA256", "user_id": user.psid, "issued_at": 1_790_000_000})
    assert answer.status_code == 200
    code = answer.json["confirmation_code"]
    assert code.isalnum() and answer.json["url"].endswith(f"/facebook/data-deletion/{code}")
    assert services.erasure.run_due() == 1
    assert holding(services, user.psid) == [] and holding(services, "Kees") == []
    page = user.client.get(f"/facebook/data-deletion/{code}")
    assert page.status_code == 200 and "Klaar" in page.text and "Done" in page.text and code in page.text


def test_a_deletion_request_for_an_open_case_shows_when_it_will_be_done(user: Any, services: Any) -> None:
    run_intake(user, "hoi", SECRET_WORDS)
    answer = callback(user, {"algorithm": "HMAC-SHA256", "user_id": user.psid})
    page = user.client.get(answer.json["url"].split("localhost", 1)[-1])
    assert page.status_code == 200 and "Uiterlijk op" in page.text and "112" in page.text
    assert services.erasure.run_due() == 0 and holding(services, user.psid)


def test_a_deletion_request_for_someone_we_never_heard_from_is_done_at_once(user: Any) -> None:
    answer = callback(user, {"algorithm": "HMAC-SHA256", "user_id": "123456789"})
    page = user.client.get(f"/facebook/data-deletion/{answer.json['confirmation_code']}")
    assert "geen gesprek" in page.text


def test_a_forged_or_garbled_deletion_request_is_refused(user: Any, services: Any) -> None:
    user.say("hoi")
    forged = callback(user, {"algorithm": "HMAC-SHA256", "user_id": user.psid}, secret="not-our-secret")
    assert forged.status_code == 400
    for garbage in ["", "abc", "a.b.c", "!!!.###", sign_request({"user_id": user.psid}, APP_SECRET) + "x",
                    sign_request({"algorithm": "HMAC-SHA256"}, APP_SECRET)]:
        assert user.client.post("/facebook/data-deletion", data={"signed_request": garbage}).status_code == 400
    assert services.erasure.run_due() == 0 and holding(services, user.psid)
    assert user.client.get("/facebook/data-deletion/nosuchcode").status_code == 404
    assert user.client.get("/facebook/data-deletion/..%2f..%2fetc").status_code == 404


def test_retention_erases_old_closed_cases_and_abandoned_conversations_and_a_dry_run_only_tells(
        user: Any, make_user: Any, services: Any) -> None:
    run_intake(user, "hoi", SECRET_WORDS)  # a case that will be closed long ago
    recent = make_user("5550009990001112")
    run_intake(recent, "hoi", "nog een verhaal")  # a case closed yesterday
    quiet = make_user("5550009990001113")
    quiet.say("hoi")  # never got as far as a case
    now = services.clock()
    with services.sessions.begin() as session:
        session.execute(update(Case).values(status="closed", closed_at=now - timedelta(days=1)))
        old = session.scalars(select(Case).join(Contact, Case.contact_id == Contact.id)
                              .where(Contact.psid == user.psid)).one()
        old.closed_at = now - timedelta(days=services.settings.retention_days + 1)
    later(services, days=services.settings.abandoned_days + 0.5)
    preview = services.erasure.expired()
    assert preview.closed_cases == [old.reference] and len(preview.abandoned_contacts) == 1
    assert holding(services, user.psid) and holding(services, quiet.psid)  # a dry run erases nothing
    services.erasure.purge()
    assert holding(services, user.psid) == [] and holding(services, "Kees") == []
    assert holding(services, quiet.psid) == []
    assert holding(services, recent.psid) and holding(services, "nog een verhaal")
    assert services.erasure.expired().closed_cases == []  # nothing is found twice


def test_the_purge_command_dry_run_lists_and_the_real_run_erases(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    env = {**os.environ, "DATABASE_URL": url, "ABANDONED_DAYS": "1"}
    chat = subprocess.run([sys.executable, "app.py", "chat", "--user", "5550001"], cwd=ROOT, env=env, input="hoi\n",
                          capture_output=True, text=True, timeout=60)
    assert chat.returncode == 0
    engine = create_engine(url)
    with engine.begin() as connection:  # the user went quiet two days ago
        connection.execute(update(Contact).values(created_at=utc_now() - timedelta(days=2), last_inbound_at=None))
    engine.dispose()
    run = [sys.executable, "app.py", "purge"]
    dry = subprocess.run([*run, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "would erase 1 conversation(s) abandoned for 1 days" in dry.stdout
    real = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert real.returncode == 0 and "erased 1 conversation(s)" in real.stdout
    again = subprocess.run([*run, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "would erase 0 conversation(s)" in again.stdout
