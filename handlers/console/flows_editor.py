"""Admin pages to edit flows and the safety lexicon: draft, check, diagram, diff, publish, approve, roll back.

The rules are handlers.flow_admin's, the same as on the command line; these views only read forms and redirect.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.diagram import mermaid
from bot.safety import Detection, classify
from flows.lexicon import load_lexicon_text
from flows.loader import FlowError, load_flow_text
from handlers import flow_admin, security_headers
from handlers.console import bp
from handlers.console.auth import admin_required
from handlers.console.simulator import simulator_psid
from handlers.flow_library import FLOW, LEXICON
from storage import conversations, flow_versions
from storage.models import FlowVersion

MAX_SOURCE = 500_000  # characters; the shipped intake flow is about 40,000
MAX_COMMENT = 500
MAX_TEST_TEXT = 2000


@dataclass(frozen=True)
class Listed:
    """One line of the flow list."""

    kind: str
    name: str
    live: int | None
    draft: bool
    pending: int


@dataclass(frozen=True)
class TestResult:
    """What the draft and the live lexicon find in a test message (the text itself is never stored)."""

    draft: list[Detection] | None
    draft_problem: str
    live: list[Detection]


def _route(action: str, path: str, methods: tuple[str, ...] = ("POST",),
           lexicon: bool = True) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """Register an admin view under /flows/<name><path> and, unless lexicon=False, under /lexicon<path>."""
    def register(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        guarded = admin_required(view)
        bp.add_url_rule(f"/flows/<name>{path}", f"flow_{action}", guarded, methods=list(methods),
                        defaults={"kind": FLOW})
        if lexicon:
            bp.add_url_rule(f"/lexicon{path}", f"lexicon_{action}", guarded, methods=list(methods),
                            defaults={"kind": LEXICON, "name": LEXICON})
        return guarded
    return register


def editor_url(kind: str, name: str, action: str = "editor", **values: Any) -> str:
    """Return the URL of an editor action for a flow or for the lexicon."""
    if kind == LEXICON:
        return url_for(f"console.lexicon_{action}", **values)
    return url_for(f"console.flow_{action}", name=name, **values)


@bp.get("/flows")
@admin_required
def flow_list() -> ResponseReturnValue:
    """List the flows and the lexicon with their live version and whether a draft or approval waits."""
    with current_app.extensions["intake"].sessions.begin() as db:
        numbers = flow_versions.live_numbers(db)
        rows = [_listed(db, FLOW, name, numbers) for name in flow_versions.names(db, FLOW)]
        rows.append(_listed(db, LEXICON, LEXICON, numbers))
        return render_template("console/flows.html", rows=rows, editor_url=editor_url)


def _listed(db: Session, kind: str, name: str, numbers: dict[tuple[str, str], int]) -> Listed:
    pending = sum(row.status == flow_versions.PENDING for row in flow_versions.history(db, kind, name))
    return Listed(kind, name, numbers.get((kind, name)), flow_versions.draft(db, kind, name) is not None, pending)


@_route("editor", "", methods=("GET",))
def editor(kind: str, name: str) -> ResponseReturnValue:
    """Show the working draft (or the live text) with its problems, diagram, diff, history and approvals."""
    return _render_editor(kind, name)


def _render_editor(kind: str, name: str, test: TestResult | None = None) -> ResponseReturnValue:
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        live, draft = _known(db, kind, name)
        source = draft.source if draft else (live.source if live else "")
        check = flow_admin.check_source(kind, source)
        history = flow_versions.history(db, kind, name)
        mermaid_source = _diagram(source) if kind == FLOW and check.ok else ""
        if mermaid_source:
            security_headers.allow_inline_styles()  # Mermaid styles its SVG inline; scripts stay 'self' only
        return render_template(
            "console/flow_editor.html", kind=kind, name=name, draft=draft, live=live, source=source,
            what="safety lexicon" if kind == LEXICON else f"flow {name}",
            check=check, problem_lines=sorted({p.line for p in check.problems}),
            mermaid_source=mermaid_source,
            diff=_diff(live, draft), history=history, test=test,
            pending=[row for row in history if row.status == flow_versions.PENDING],
            two_person=services.settings.flow_approval == flow_admin.TWO_PERSON,
            url=lambda action="editor", **values: editor_url(kind, name, action, **values))


def _known(db: Session, kind: str, name: str) -> tuple[FlowVersion | None, FlowVersion | None]:
    """Return the live version and the draft; 404 for a flow that has no revision at all."""
    live, draft = flow_versions.live(db, kind, name), flow_versions.draft(db, kind, name)
    if live is None and draft is None and name not in flow_versions.names(db, kind):
        abort(404)
    return live, draft


def _diagram(source: str) -> str:
    """Return the Mermaid source of a flow text, or an empty string if it does not load."""
    try:
        return mermaid(load_flow_text(source))
    except FlowError:
        return ""


def _diff(live: FlowVersion | None, draft: FlowVersion | None) -> str | None:
    """Return a side-by-side HTML table of the draft against the live text; None when nothing changed.

    difflib escapes the lines itself (&, <, >), so the table is safe to show as it is.
    """
    if draft is None or live is None or draft.source == live.source:
        return None
    return difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        live.source.splitlines(), draft.source.splitlines(), fromdesc=f"live v{live.version}",
        todesc="draft", context=True, numlines=3)


@_route("save", "/save")
def save(kind: str, name: str) -> ResponseReturnValue:
    """Store the textarea as the working draft, valid or not, and show it with its problems."""
    source = request.form.get("source", "").replace("\r\n", "\n")
    if len(source) > MAX_SOURCE:
        return _back(kind, name, f"The text is longer than {MAX_SOURCE} characters; nothing was saved.")
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        _known(db, kind, name)
        flow_versions.save_draft(db, kind=kind, name=name, source=source, author=g.user.email, now=services.clock())
    problems = flow_admin.check_source(kind, source).problems
    return _back(kind, name, f"Draft saved with {len(problems)} problem(s)." if problems else "Draft saved.")


@_route("discard", "/discard")
def discard(kind: str, name: str) -> ResponseReturnValue:
    """Throw the working draft away; the editor shows the live text again."""
    with current_app.extensions["intake"].sessions.begin() as db:
        _known(db, kind, name)
        gone = flow_versions.discard_draft(db, kind, name)
    return _back(kind, name, "Draft discarded." if gone else "There was no draft.")


@_route("publish", "/publish")
def publish(kind: str, name: str) -> ResponseReturnValue:
    """Publish the saved draft as the next version, or submit it for a second admin's approval."""
    comment = request.form.get("comment", "").strip()[:MAX_COMMENT]
    if not comment:
        return _back(kind, name, "Say in a comment what changed; nothing was published.")
    services = current_app.extensions["intake"]
    try:
        with services.sessions.begin() as db:
            _, draft = _known(db, kind, name)
            if draft is None:
                return _back(kind, name, "There is no draft: save your changes first.")
            row = flow_admin.publish(db, kind=kind, source=draft.source, comment=comment, editor=_editor(),
                                     approval=services.settings.flow_approval, now=services.clock(), name=name,
                                     draft=draft)
            done = (f"Published version {row.version}: it is live from the next new conversation on."
                    if row.status == flow_versions.PUBLISHED else
                    f"Revision #{row.id} is waiting for a second admin to approve it.")
    except flow_admin.Refused as refused:
        return _back(kind, name, f"Not published: {refused}.")
    return _back(kind, name, done)


@_route("approve", "/approve/<int:revision_id>")
def approve(kind: str, name: str, revision_id: int) -> ResponseReturnValue:
    """Publish a revision another admin submitted."""
    def act(db: Session, services: Any) -> str:
        row = flow_admin.approve(db, revision_id, _editor(), services.clock())
        return f"Approved: version {row.version} is live."
    return _act(kind, name, revision_id, act)


@_route("reject", "/reject/<int:revision_id>")
def reject(kind: str, name: str, revision_id: int) -> ResponseReturnValue:
    """Turn down a revision that waits for approval."""
    def act(db: Session, services: Any) -> str:
        flow_admin.reject(db, revision_id, _editor(), services.clock())
        return f"Revision #{revision_id} rejected."
    return _act(kind, name, revision_id, act)


@_route("rollback", "/rollback/<int:version>")
def rollback(kind: str, name: str, version: int) -> ResponseReturnValue:
    """Publish an earlier version again as a new number."""
    comment = request.form.get("comment", "").strip()[:MAX_COMMENT]

    def act(db: Session, services: Any) -> str:
        row = flow_admin.rollback(db, kind=kind, name=name, version=version, comment=comment, editor=_editor(),
                                  now=services.clock())
        return f"Version {version} is live again as version {row.version}."
    return _act(kind, name, None, act)


def _act(kind: str, name: str, revision_id: int | None,
         act: Callable[[Session, Any], str]) -> ResponseReturnValue:
    """Run one flow_admin action in a transaction; a refusal becomes the message."""
    services = current_app.extensions["intake"]
    try:
        with services.sessions.begin() as db:
            _known(db, kind, name)
            if revision_id is not None:
                row = flow_versions.revision(db, revision_id)
                if row is None or (row.kind, row.name) != (kind, name):
                    abort(404)
            done = act(db, services)
    except flow_admin.Refused as refused:
        return _back(kind, name, f"Refused: {refused}.")
    return _back(kind, name, done)


@_route("version", "/versions/<int:version>", methods=("GET",))
def version_source(kind: str, name: str, version: int) -> ResponseReturnValue:
    """Download one published version's YAML, with its version line set to its number."""
    with current_app.extensions["intake"].sessions.begin() as db:
        row = flow_versions.published(db, kind, name, version)
        if row is None:
            abort(404)
        text = flow_admin.export(row)
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{name}-v{version}.yaml"'})


@_route("simulate", "/simulate", lexicon=False)
def try_in_simulator(kind: str, name: str) -> ResponseReturnValue:
    """Pin the admin's simulator contact to the saved draft and open the simulator."""
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        _, draft = _known(db, kind, name)
        if draft is None:
            return _back(kind, name, "There is no draft to try: save your changes first.")
        if services.intake.flows.get(db, name, -draft.id) is None:
            return _back(kind, name, "The draft does not load: fix its problems before you try it.")
        now = services.clock()
        contact = conversations.lock_contact(db, simulator_psid(g.user.id), now)
        row = conversations.load_conversation(db, contact, name, -draft.id)
        row.flow_id, row.flow_version, row.step, row.completed = name, -draft.id, None, False
        row.answers, row.paused, row.case_id, row.reprompts = {}, False, None, 0
    flash(f"The simulator runs draft #{draft.id} of {name}: say hello to start.")
    return redirect(url_for("console.simulator"), 303)


@bp.post("/lexicon/test")
@admin_required
def lexicon_test() -> ResponseReturnValue:
    """Show what the draft and the live lexicon find in a message; the message is neither stored nor logged."""
    text = request.form.get("text", "")[:MAX_TEST_TEXT]
    services = current_app.extensions["intake"]
    with services.sessions.begin() as db:
        draft = flow_versions.draft(db, LEXICON, LEXICON)
        live = services.intake.flows.lexicon(db)
        source = draft.source if draft else None
    found, problem = None, ""
    if source is None:
        problem = "There is no draft: the live lexicon is all there is."
    else:
        try:
            found = classify(text, load_lexicon_text(source))
        except FlowError as error:
            problem = f"The draft does not load ({len(error.problems)} problem(s)), so it finds nothing."
    return _render_editor(LEXICON, LEXICON, TestResult(found, problem, classify(text, live)))


def _editor() -> flow_admin.Editor:
    return flow_admin.Editor(label=g.user.email, user_id=g.user.id)


def _back(kind: str, name: str, message: str) -> ResponseReturnValue:
    """Show a message on the editor page (POST, then redirect)."""
    flash(message)
    return redirect(editor_url(kind, name), 303)
