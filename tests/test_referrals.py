"""School and campaign links: an m.me ref arrives with Get Started or on an open conversation and tags the case;
codes get names with `refs add`, `refs list` counts cases per code, unknown codes are kept as they came."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import select

from storage import referrals
from storage.cases import export_cases
from storage.models import Case
from tests.console.conftest import Console, add_user
from tests.support import messenger
from tests.test_intake_e2e import AFTER_CATEGORY, DUTCH_ANSWERS, ROOT


def finish_intake(user: Any) -> None:
    """Answer every question after the privacy notice."""
    for step, value in DUTCH_ANSWERS[1:] + AFTER_CATEGORY:
        user.choose(step, value)
    user.say("Er gaan filmpjes rond van een leerling")
    user.choose("urgency", "normal")
    user.choose("contact_method", "messenger")


def test_an_m_me_link_on_get_started_tags_the_whole_intakes_case(user: Any, services: Any) -> None:
    user._exchange(messenger.postback_item(user.psid, "GET_STARTED", ref="school-de-linde"))
    user.choose("privacy", "yes")
    finish_intake(user)
    with services.sessions.begin() as session:
        (case,) = export_cases(session)
        assert case["referral"] == "school-de-linde"
        referrals.add(session, "school-de-linde", "OBS De Linde", services.clock())
    with services.sessions.begin() as session:
        assert [(u.code, u.label, u.cases) for u in referrals.usage(session)] == [
            ("school-de-linde", "OBS De Linde", 1)]


def test_the_console_names_the_school_a_case_came_in_through(user: Any, services: Any, app: Any) -> None:
    user._exchange(messenger.postback_item(user.psid, "GET_STARTED", ref="school-de-linde"))
    user.choose("privacy", "yes")
    user.say("adviseur")
    with services.sessions.begin() as session:
        referrals.add(session, "school-de-linde", "OBS De Linde", services.clock())
        reference = session.scalars(select(Case.reference)).one()
    app.config["SESSION_COOKIE_SECURE"] = False
    console = Console(app.test_client())
    console.login(add_user(services, "advisor@example.org"))
    page = console.get(f"/console/cases/{reference}").get_data(as_text=True)
    assert "came in via OBS De Linde (school-de-linde)" in page


def test_a_referral_on_an_open_conversation_tags_its_case(user: Any, services: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")  # a case is open
    user._exchange({"sender": {"id": user.psid}, "recipient": {"id": messenger.PAGE_ID},
                    "timestamp": 1_781_000_100_000,
                    "referral": {"ref": "poster_2026", "source": "SHORTLINK", "type": "OPEN_THREAD"}})
    with services.sessions.begin() as session:
        assert session.scalars(select(Case.referral)).one() == "poster_2026"
        assert [(u.code, u.label, u.cases) for u in referrals.usage(session)] == [("poster_2026", None, 1)]


def test_refs_commands_add_list_and_refuse_a_bad_code(tmp_path: Any) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/r.db", "PAGE_USERNAME": "IdaSocialMediaCoach"}

    def refs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "app.py", "refs", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    added = refs("add", "school-de-linde", "--label", "OBS De Linde")
    assert added.returncode == 0 and "https://m.me/IdaSocialMediaCoach?ref=school-de-linde" in added.stdout
    assert refs("add", "school-de-linde", "--label", "again").returncode == 2
    bad = refs("add", "school de linde!", "--label", "x")
    assert bad.returncode == 2 and "letters, digits" in bad.stderr and "Traceback" not in bad.stderr
    listed = refs("list")
    assert listed.returncode == 0
    assert listed.stdout.split("\t")[:3] == ["school-de-linde", "OBS De Linde", "0 case(s)"]
    assert refs("remove", "school-de-linde").returncode == 0 and refs("list").stdout == ""
