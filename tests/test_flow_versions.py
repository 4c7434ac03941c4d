"""Published flow and lexicon versions: a running conversation keeps its version, rollback, approval, export,
and a version published by one process is used by another from its next new conversation on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from app import create_app
from handlers import flow_admin
from handlers.flow_admin import Editor, Refused
from handlers.flow_library import FLOW, LEXICON
from storage import flow_versions, users
from storage.models import FlowVersion
from tests.test_intake_e2e import exported

ROOT = Path(__file__).resolve().parent.parent
OLD_DANGER = "Is er op dit moment iemand in gevaar?"
NEW_DANGER = "Is iemand nu in gevaar? (nieuwe versie)"
ADMIN = Editor("anna@example.org")


def intake_source() -> str:
    """Return the shipped intake flow's YAML."""
    return (ROOT / "flows" / "intake.yaml").read_text(encoding="utf-8")


def publish(services: Any, source: str, comment: str = "test", editor: Editor = ADMIN, approval: str = "none",
            kind: str = FLOW) -> FlowVersion:
    """Publish through the same rules as the command line and the console."""
    with services.sessions.begin() as session:
        row = flow_admin.publish(session, kind=kind, source=source, comment=comment, editor=editor,
                                 approval=approval, now=services.clock())
        session.expunge(row)
        return row


def live(services: Any, kind: str = FLOW, name: str = "intake") -> int:
    """Return the live version number."""
    with services.sessions.begin() as session:
        return flow_versions.live_numbers(session)[(kind, name)]


def test_a_fresh_installation_starts_from_the_files_in_flows(services: Any, settings: Any) -> None:
    with services.sessions.begin() as session:
        rows = session.scalars(select(FlowVersion).order_by(FlowVersion.kind)).all()
        assert [(r.kind, r.name, r.version, r.status) for r in rows] == [
            (FLOW, "intake", 1, "published"), (LEXICON, LEXICON, 1, "published")]
        assert rows[0].source == intake_source()
    second = create_app(settings, start_background=False)  # a second start (or worker) seeds nothing more
    second.extensions["intake"].close()
    with services.sessions.begin() as session:
        assert len(session.scalars(select(FlowVersion)).all()) == 2


def test_a_flow_published_mid_conversation_leaves_that_conversation_on_its_version(
        services: Any, user: Any, make_user: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    assert publish(services, intake_source().replace(OLD_DANGER, NEW_DANGER), "clearer danger question").version == 2
    assert OLD_DANGER in user.choose("reporter", "parent")  # started on v1: stays on v1
    newcomer = make_user("7100000000000001")
    newcomer.say("hoi")
    newcomer.choose("privacy", "yes")
    assert NEW_DANGER in newcomer.choose("reporter", "student")
    run_intake_rest(user)
    run_intake_rest(newcomer)
    versions = {case["user_id"]: case["flow_version"] for case in exported(services)}
    assert versions == {user.psid: 1, newcomer.psid: 2}


def run_intake_rest(user: Any) -> None:
    """Answer the default intake from the danger question to the end."""
    for step, value in [("danger", "no"), ("category", "bullying"), ("platform", "instagram"),
                        ("since", "this_week"), ("age", "12_15"), ("known", "no"), ("reported", "no")]:
        user.choose(step, value)
    user.say("Ze schelden me uit in een groepsapp.")
    user.choose("urgency", "normal")
    assert any("IDA-" in text for text in user.choose("contact_method", "messenger"))


def test_a_conversation_keeps_its_version_when_the_new_one_drops_its_step(services: Any, user: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.choose("reporter", "parent")
    source = intake_source().replace("next: danger", "next: category")
    start = source.index("  - id: danger\n")
    without_danger = source[:start] + source[source.index("  - id: ", start + 1):]
    publish(services, without_danger, "no danger question")
    assert live(services) == 2
    run_intake_rest(user)  # the old version still has the danger step and answers it
    assert exported(services)[0]["flow_version"] == 1


def test_rollback_publishes_the_old_text_as_the_next_version(services: Any, user: Any) -> None:
    publish(services, intake_source().replace(OLD_DANGER, NEW_DANGER))
    with services.sessions.begin() as session:
        row = flow_admin.rollback(session, kind=FLOW, name="intake", version=1, comment="the new wording confused",
                                  editor=ADMIN, now=services.clock())
        assert (row.version, row.rollback_of, row.source) == (3, 1, intake_source())
    user.say("hoi")
    user.choose("privacy", "yes")
    assert OLD_DANGER in user.choose("reporter", "parent")
    with services.sessions.begin() as session, pytest.raises(Refused, match="no published version 9"):
        flow_admin.rollback(session, kind=FLOW, name="intake", version=9, comment="", editor=ADMIN,
                            now=services.clock())


def test_an_invalid_flow_is_refused_with_every_problem_and_nothing_is_stored(services: Any) -> None:
    broken = intake_source().replace("next: danger", "next: dangr").replace("type: text", "type: txt", 1)
    with pytest.raises(Refused) as refused:
        publish(services, broken)
    messages = [p.message for p in refused.value.problems]
    assert any("'dangr', which does not exist" in m for m in messages)
    assert any("unknown step type 'txt'" in m for m in messages)
    assert live(services) == 1


def test_two_person_approval(services: Any, user: Any) -> None:
    pending = publish(services, intake_source().replace(OLD_DANGER, NEW_DANGER), approval="two-person")
    assert pending.version is None and pending.status == "pending" and live(services) == 1
    with services.sessions.begin() as session, pytest.raises(Refused, match="second admin"):
        flow_admin.approve(session, pending.id, ADMIN, services.clock())
    with services.sessions.begin() as session:
        row = flow_admin.approve(session, pending.id, Editor("bram@example.org"), services.clock())
        assert (row.version, row.author, row.approved_by) == (2, ADMIN.label, "bram@example.org")
    user.say("hoi")
    user.choose("privacy", "yes")
    assert NEW_DANGER in user.choose("reporter", "parent")


def test_export_gives_back_the_yaml_with_its_number(services: Any) -> None:
    row = publish(services, intake_source().replace(OLD_DANGER, NEW_DANGER))
    text = flow_admin.export(row)
    data = yaml.safe_load(text)
    assert data["version"] == 2 and data["id"] == "intake"
    assert text.replace("version: 2", "version: 1", 1) == intake_source().replace(OLD_DANGER, NEW_DANGER)


def test_a_published_lexicon_is_used_from_the_next_message_on(services: Any, user: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    source = (ROOT / "flows" / "lexicon.yaml").read_text(encoding="utf-8")
    assert "zorbulon" not in source
    marker = "  threat:\n"
    index = source.index(marker)
    patterns = source.index("      nl:\n", source.index("patterns:", index)) + len("      nl:\n")
    changed = source[:patterns] + '        - "zorbulon"\n' + source[patterns:]
    before = user.say("zorbulon")
    assert not any("Politie" in text for text in before)
    assert publish(services, changed, kind=LEXICON).version == 2
    after = user.say("ik zeg zorbulon tegen je")
    assert any("Politie" in text for text in after)


def test_a_version_published_by_another_process_is_used_by_this_one(services: Any, settings: Any,
                                                                     user: Any) -> None:
    other = create_app(settings, start_background=False)  # another machine on the same database
    try:
        publish(other.extensions["intake"], intake_source().replace(OLD_DANGER, NEW_DANGER))
    finally:
        other.extensions["intake"].close()
    user.say("hoi")
    user.choose("privacy", "yes")
    assert NEW_DANGER in user.choose("reporter", "parent")


def cli(settings: Any, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python app.py …` on the test database."""
    environ = {**os.environ, "DATABASE_URL": settings.database_url, **env}
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120, input=stdin)


def test_the_command_line_publishes_lists_shows_exports_and_rolls_back(services: Any, settings: Any,
                                                                       tmp_path: Path) -> None:
    changed = tmp_path / "intake.yaml"
    changed.write_text(intake_source().replace(OLD_DANGER, NEW_DANGER), encoding="utf-8")
    result = cli(settings, "flows", "publish", str(changed), "--comment", "clearer", "--author", "anna@example.org")
    assert result.returncode == 0, result.stderr
    assert "published version 2" in result.stdout
    listing = cli(settings, "flows", "list").stdout.splitlines()
    assert "v2" in listing[0] and "live" in listing[0] and "clearer" in listing[0] and "anna@example.org" in listing[0]
    assert "v1" in listing[1] and "live" not in listing[1]
    shown = cli(settings, "flows", "show", "2").stdout
    assert "clearer" in shown and NEW_DANGER in shown
    exported_text = cli(settings, "flows", "export", "1").stdout
    assert OLD_DANGER in exported_text and "version: 1" in exported_text
    result = cli(settings, "flows", "rollback", "1", "--comment", "back")
    assert result.returncode == 0 and "live again as version 3" in result.stdout
    assert live(services) == 3
    missing = cli(settings, "flows", "show", "7")
    assert missing.returncode == 1 and "no published version 7" in missing.stderr


def test_the_command_line_refuses_to_publish_a_broken_flow(services: Any, settings: Any, tmp_path: Path) -> None:
    broken = tmp_path / "intake.yaml"
    broken.write_text(intake_source().replace("next: danger", "next: dangr"), encoding="utf-8")
    result = cli(settings, "flows", "publish", str(broken), "--comment", "oops")
    assert result.returncode == 1
    assert f"{broken}:" in result.stdout and "'dangr', which does not exist" in result.stdout
    assert live(services) == 1


def test_the_command_line_four_eyes_rule(services: Any, settings: Any, tmp_path: Path) -> None:
    with services.sessions.begin() as session:
        users.add_user(session, email="bram@example.org", password_hash="x", role="admin", now=services.clock())
        users.add_user(session, email="sam@example.org", password_hash="x", role="advisor", now=services.clock())
    changed = tmp_path / "intake.yaml"
    changed.write_text(intake_source().replace(OLD_DANGER, NEW_DANGER), encoding="utf-8")
    result = cli(settings, "flows", "publish", str(changed), "--comment", "c", "--author", "bram@example.org",
                 FLOW_APPROVAL="two-person")
    assert result.returncode == 0 and "waits for a second admin" in result.stdout
    revision = result.stdout.split("revision #")[1].split()[0]
    assert live(services) == 1
    assert "waiting for approval" in cli(settings, "flows", "list").stdout
    advisor = cli(settings, "flows", "approve", revision, "--by", "sam@example.org")
    assert advisor.returncode == 1 and "not an active admin" in advisor.stderr
    own = cli(settings, "flows", "approve", revision, "--by", "bram@example.org")
    assert own.returncode == 1 and "second admin" in own.stderr
    assert live(services) == 1
    with services.sessions.begin() as session:
        users.add_user(session, email="anna@example.org", password_hash="x", role="admin", now=services.clock())
    approved = cli(settings, "flows", "approve", revision, "--by", "anna@example.org")
    assert approved.returncode == 0 and "published as version 2" in approved.stdout
    assert live(services) == 2


def test_the_lexicon_has_the_same_commands(services: Any, settings: Any) -> None:
    listing = cli(settings, "lexicon", "list")
    assert listing.returncode == 0 and "v1" in listing.stdout and "live" in listing.stdout
    assert "police_advice" in cli(settings, "lexicon", "export", "1").stdout
