"""Whole intakes through the real webhook, the outbox sender and a loopback Graph API."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage import outbox
from storage.cases import export_cases
from storage.models import OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
DUTCH_ANSWERS = [("privacy", "yes"), ("reporter", "parent"), ("danger", "no"), ("category", "sextortion")]
AFTER_CATEGORY = [("platform", "instagram"), ("since", "this_week"), ("age", "12_15"), ("known", "no"),
                  ("reported", "no")]


def exported(services: Any) -> list[dict[str, Any]]:
    """Return the export of every case."""
    with services.sessions.begin() as session:
        return export_cases(session)


def run_intake(user: Any, first: str, description: str) -> list[str]:
    """Answer every question of the default intake; return every reply text."""
    replies = user.say(first)
    for step, value in DUTCH_ANSWERS + AFTER_CATEGORY:
        replies += user.choose(step, value)
    replies += user.say(description)
    replies += user.choose("urgency", "urgent")
    replies += user.choose("contact_method", "email")
    replies += user.say("ouder@example.nl")
    return replies


def test_dutch_intake_reaches_a_stored_case_with_every_answer(user: Any, services: Any, graph: Any) -> None:
    replies = run_intake(user, "Hoi, ik wil iets melden", "Iemand dreigt de foto's van mijn dochter te delen.")
    [case] = exported(services)
    assert case["reference"].startswith("IDA-") and case["reference"].endswith("-00001")
    assert case["user_id"] == user.psid and case["status"] == "new" and case["category"] == "sextortion"
    assert case["urgency"] == "urgent" and case["contact_method"] == "email" and case["intake_complete"]
    assert case["answers"] == {
        "privacy": "yes", "reporter": "parent", "danger": "no", "category": "sextortion", "platform": "instagram",
        "since": "this_week", "age": "12_15", "known": "no", "reported": "no",
        "description": "Iemand dreigt de foto's van mijn dochter te delen.", "urgency": "urgent",
        "contact_method": "email", "email": "ouder@example.nl",
    }
    assert {f["category"] for f in case["flags"]} == {"sextortion"}
    typed = 1 + len(DUTCH_ANSWERS + AFTER_CATEGORY) + 4
    assert case["messages"] == typed + len(replies)  # every message in and out is in the case's transcript
    assert any("Politie" in r for r in replies), "criminal category must get police advice"
    assert any(case["reference"] in r for r in replies), "the user is given the case reference"
    assert any("24 uur" in r for r in replies) and any("112" in r for r in replies)
    assert any("https://" in r for r in replies[-2:]), "useful links are sent at the end"


def test_english_intake_is_answered_in_english(user: Any, services: Any, graph: Any) -> None:
    replies = user.say("Hello, I need help, my son is being bullied")
    replies += user.choose("privacy", "yes")
    assert "Who" in replies[-1] or "who" in replies[-1]
    for step, value in [("reporter", "parent"), ("danger", "no"), ("category", "bullying")] + AFTER_CATEGORY:
        replies += user.choose(step, value)
    replies += user.say("Kids in his class post mean memes about him in a group chat.")
    replies += user.choose("urgency", "normal")
    replies += user.choose("contact_method", "messenger")
    [case] = exported(services)
    assert case["category"] == "bullying" and case["urgency"] == "normal" and case["intake_complete"]
    assert case["answers"]["description"].startswith("Kids in his class")
    assert any(case["reference"] in r and "24 hours" in r for r in replies)
    dutch_words = (" je ", " het ", " een ", "Bel ")
    assert not [r for r in replies if any(w in r for w in dutch_words)], "English users get English texts"


def test_typing_english_switches_language_and_nederlands_back(user: Any) -> None:
    user.say("hoi")
    assert "Language" not in user.say("english")[0]
    assert user.buttons()[0] == "Yes, continue"
    user.say("nederlands")
    assert user.buttons()[0] == "Ja, ga verder"


def test_graph_api_500_keeps_the_message_in_the_outbox_until_it_recovers(user: Any, services: Any,
                                                                         graph: Any) -> None:
    graph.fail_always(status=500, code=2)
    assert user.say("hoi") == []
    assert user.say("Ja, ga verder") == []  # its reply is queued behind the first one
    with services.sessions.begin() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert len(rows) > 1 and all(r.status == outbox.PENDING for r in rows)
        assert "500" in rows[0].last_error and rows[0].attempts == 1  # tried once, waits to be retried
        assert all(r.attempts == 0 for r in rows[1:])  # the user's later replies wait their turn
    graph.recover()
    now = services.sender.clock
    services.sender.clock = lambda: now() + timedelta(hours=1)  # past every back-off
    services.drain()
    assert graph.texts(user.psid), "the queued replies arrive once the Graph API is back"
    with services.sessions.begin() as session:
        assert outbox.pending_count(session) == 0


def test_terminal_chat_drives_a_full_intake(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"
    lines = ["hoi", "1", "1", "2", "4", "1", "2", "2", "2", "1",
             "Er wordt gedreigd met geweld tegen de school.", "1", "1", "/quit"]
    env = {**os.environ, "DATABASE_URL": database, "PAGE_ACCESS_TOKEN": "", "APP_SECRET": ""}
    chat = subprocess.run([sys.executable, "app.py", "chat"], input="\n".join(lines) + "\n", text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=60, check=True)
    assert "IDA-" in chat.stdout and "24 uur" in chat.stdout
    export = subprocess.run([sys.executable, "app.py", "cases", "export", "--json"], text=True,
                            capture_output=True, cwd=ROOT, env=env, timeout=60, check=True)
    [case] = json.loads(export.stdout)
    assert case["category"] == "threat" and case["intake_complete"] and case["user_id"] == "terminal-user"
    assert case["answers"]["description"] == "Er wordt gedreigd met geweld tegen de school."
