"""Handle one webhook event inside one transaction: de-duplicate, lock, run the engine, store, queue replies."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import engine, followup, outputs, texts
from bot.case import summarise
from bot.inputs import GET_STARTED, Input, Postback
from bot.outputs import Outcome
from bot.render import say
from bot.state import ConversationState
from flows.model import Flow
from handlers import metrics, reminders
from handlers.flow_library import FlowLibrary
from handlers.logformat import current_request_id
from handlers.logsafe import pseudonym
from handlers.messenger import Event, send_bodies, simulated
from handlers.reminders import Timing
from storage import alerts, cases, conversations, erasure, events, notes, outbox, tallies, transcript
from storage.models import Case, Contact, Conversation

log = logging.getLogger(__name__)
ENGINE_KINDS = ("message", "postback", "referral")
STORED_KINDS = ENGINE_KINDS + ("standby", "edit")
PAGE_INBOX_APPS = {"263902037430900", "26390203743090"}  # Meta's Page Inbox (the docs print both)
FLOOD_WINDOW = timedelta(seconds=10)  # nobody types 3 messages a second for 10 seconds; a script or a stuck key does
CASE_EFFECTS = {outputs.CASE_COMPLETED, outputs.HUMAN_REQUESTED, outputs.FLAGGED}


@dataclass(frozen=True)
class Intake:
    """What handling an event needs besides the session: the flows and a few settings."""

    flows: FlowLibrary
    case_prefix: str
    context: engine.Context
    timing: Timing = Timing()
    handover_app_id: str = ""  # HANDOVER_TARGET_APP_ID: where the thread goes when the user asks for an advisor
    erasure_grace: float = 86400.0  # ERASURE_GRACE: seconds advisors get on an open case before erasure
    flood_limit: int = 30  # FLOOD_LIMIT: more messages than this from one user within FLOOD_WINDOW is a flood


def needs_database(event: Event) -> bool:
    """Whether an event can change anything; receipts, reads and our own echoes need no transaction."""
    if event.app_id in PAGE_INBOX_APPS and event.kind in ("echo", "take_thread_control"):
        return True
    if event.kind == "pass_thread_control" and event.app_id not in PAGE_INBOX_APPS:
        return True
    return event.kind in STORED_KINDS and bool(event.sender)


def handle_event(session: Session, intake: Intake, event: Event, now: datetime) -> int:
    """Process one event; return how many Send API requests it queued (0 for a duplicate)."""
    if not needs_database(event):
        return 0
    if event.kind == "echo" and event.app_id in PAGE_INBOX_APPS:
        return _human_wrote(session, event, now)
    if event.kind == "take_thread_control" and event.app_id in PAGE_INBOX_APPS:
        return _thread_moved(session, event, paused=True, now=now)
    if event.kind == "pass_thread_control" and event.app_id not in PAGE_INBOX_APPS:
        return _thread_moved(session, event, paused=False, now=now)
    if event.key and not events.claim_event(session, event.key, now):
        log.info("duplicate %s event skipped", event.kind)
        return 0
    flow, lexicon = intake.flows.live(session)
    context = dataclasses.replace(intake.context, lexicon=lexicon)
    contact, row, case = conversations.lock_conversation(session, event.sender, flow.id, flow.version, now)
    # every inbound message sets last_inbound_at: none for FLOOD_WINDOW means no flood to count
    quiet_before = contact.last_inbound_at is None or contact.last_inbound_at < now - FLOOD_WINDOW
    contact.last_inbound_at = now
    flow = _flow_for(session, intake.flows, contact, row, flow)
    if event.referral:
        row.referral = event.referral
    if event.referral and case is not None and case.status != "closed" and not case.referral:
        case.referral = event.referral  # the m.me link was opened with a case already running
    # counted before this message is added, so that its insert goes out with the reply's, in one statement
    flood = _flood_count(session, intake, contact, now) if event.kind == "message" and not quiet_before else 0
    if event.kind != "referral":
        transcript.record(session, contact_id=contact.id, case_id=case.id if case else None, direction="in",
                          kind=event.transcript_kind, text=event.text, mid=event.mid, now=now)
    event_input = event.input
    if event.kind == "referral":  # opening the thread from an m.me link starts an intake if none runs
        event_input = Postback(GET_STARTED) if row.step is None and not row.completed else None
    open_case = case is not None and case.status != "closed" and intake.erasure_grace > 0
    context = dataclasses.replace(context, erasure_grace=intake.erasure_grace, erasure_waits=open_case)
    state = conversations.to_state(row, case.reference if case else None)
    if event.kind == "standby":  # another app (the Page Inbox) owns the thread: the bot stays silent
        if not row.paused:
            row.paused = True
            notes.audit(session, action="page_inbox_took_over", user_id=None, case_id=row.case_id, now=now)
        if event_input is not None:  # still read for danger and crime, so the case is flagged
            silent = _step(state.update(paused=True), event_input, flow, context)
            _apply_effects(session, intake, flow, contact, row, case, silent, now)
        return 0
    if event_input is None or event.kind not in ENGINE_KINDS:
        return 0
    if flood:
        return _while_flooding(session, intake, flow, contact, row, case, state, event_input, context, flood, now)
    outcome = _step(state, event_input, flow, context)
    log.info("engine step kind=%s from=%s to=%s replies=%d", event.kind, state.step or "-", outcome.state.step or "-",
             len(outcome.replies), extra={"step": outcome.state.step})  # flow step ids only, never the answer
    conversations.save_state(row, outcome.state)
    contact.locale = outcome.state.locale
    completed_before = case is not None and case.intake_complete
    asked_before = case is not None and case.needs_human
    case_before = row.case_id
    case = _apply_effects(session, intake, flow, contact, row, case, outcome, now)
    tallies.track_run(session, row, before=state.step, started=outputs.INTAKE_STARTED in outcome.effects,
                      completed=outputs.CASE_COMPLETED in outcome.effects, case_id=case.id if case else None,
                      case_opened=case is not None and case.id != case_before, test=simulated(contact.psid), now=now)
    if case is not None and outputs.CASE_COMPLETED in outcome.effects:
        reminders.schedule_after_intake(session, case, contact, intake.timing, now)
    elif case is not None and completed_before:
        reminders.user_wrote(session, case, contact, intake.timing, now)
    queued = _queue_replies(session, contact, case, outcome, now)
    if outputs.ERASURE_CONFIRMED in outcome.effects:
        _erasure_confirmed(session, contact, case, context.erasure_waits, intake.erasure_grace, now)
    if intake.handover_app_id and case is not None and case.needs_human and not asked_before:
        queued += _pass_thread(session, contact, intake.handover_app_id, now)
    return queued


def _step(state: ConversationState, event_input: Input, flow: Flow, context: engine.Context) -> Outcome:
    """Run the engine, counted and timed for /metrics (bot/ stays free of them)."""
    with metrics.engine_step(type(event_input).__name__.lower()):
        return engine.step(state, event_input, flow, context)


def _flood_count(session: Session, intake: Intake, contact: Contact, now: datetime) -> int:
    """Return how far over the flood limit the user is with one more message (0: not flooding)."""
    return max(0, transcript.inbound_since(session, contact.id, now - FLOOD_WINDOW) + 1 - intake.flood_limit)


def _while_flooding(session: Session, intake: Intake, flow: Flow, contact: Contact, row: Conversation,
                    case: Case | None, state: ConversationState, event_input: Input, context: engine.Context,
                    over: int, now: datetime) -> int:
    """A flood: the message is kept and read for danger and crime, but not answered; the user is told once.

    The flood's replies would otherwise take the Send API budget that every other user's replies share.
    """
    silent = _step(state.update(paused=True), event_input, flow, context)
    _apply_effects(session, intake, flow, contact, row, case, silent, now)
    if over > 1:
        return 0
    log.warning("a user is flooding the page: their messages are kept but not answered for now")
    notice = Outcome(state, (say(texts.SLOW_DOWN, state.locale),))
    return _queue_replies(session, contact, case, notice, now)


def _erasure_confirmed(session: Session, contact: Contact, case: Case | None, waits: bool, grace: float,
                       now: datetime) -> None:
    """Record the user's erasure request; with an open case the advisors are alerted and get `grace` seconds."""
    due_at = now + timedelta(seconds=grace) if waits else now
    erasure.request(session, contact_id=contact.id, source=erasure.CHAT, due_at=due_at, now=now)
    if case is not None:
        notes.audit(session, action="erasure_requested", user_id=None, case_id=case.id, detail=erasure.CHAT, now=now)
    if waits and case is not None:
        case.needs_human = True
        alerts.raise_alert(session, case_id=case.id, kind="erasure_requested", category=None,
                           severity=case.urgency, now=now)
    log.info("user %s: erasure requested (%s)", pseudonym(contact.psid),
             "after the advisors' grace" if waits else "now")


def _human_wrote(session: Session, event: Event, now: datetime) -> int:
    """A person answered from Meta's Page Inbox: keep the reply, pause the bot, stop the advisor reminders."""
    if not event.sender or (event.mid and not events.claim_event(session, f"mid:{event.mid}", now)):
        return 0
    contact = conversations.lock_contact(session, event.sender, now)
    row = conversations.find_conversation(session, contact.id)
    case = cases.case_by_id(session, row.case_id) if row else None
    transcript.record(session, contact_id=contact.id, case_id=case.id if case else None, direction="out",
                      kind="advisor", text=event.text, mid=event.mid, now=now)
    if row is not None and not row.paused:
        row.paused = True  # the bot stays silent while a person talks with the user
        log.info("user %s: conversation taken over from the Page Inbox", pseudonym(event.sender))
    if case is not None:
        reminders.advisor_replied(session, case, now)
    return 0


def _thread_moved(session: Session, event: Event, paused: bool, now: datetime) -> int:
    """The Page Inbox took the thread (the bot falls silent) or passed it back (the bot answers again)."""
    contact = session.scalars(select(Contact).where(Contact.psid == event.sender)).one_or_none() \
        if event.sender else None
    row = conversations.find_conversation(session, contact.id) if contact else None
    if row is None:
        return 0
    row.paused = paused
    action = "page_inbox_took_over" if paused else "page_inbox_handed_back"
    notes.audit(session, action=action, user_id=None, case_id=row.case_id, now=now)
    log.info("user %s: conversation %s", pseudonym(event.sender),
             "taken over from the Page Inbox" if paused else "handed back to the bot")
    return 0


def _pass_thread(session: Session, contact: Contact, app_id: str, now: datetime) -> int:
    """Queue a request to pass the thread to the app advisors answer in (after the bot's replies)."""
    body = {"_endpoint": "pass_thread_control", "recipient": {"id": contact.psid}, "target_app_id": app_id,
            "metadata": "advisor requested"}
    outbox.enqueue(session, contact_id=contact.id, recipient=contact.psid, body=body, now=now,
                   request_id=current_request_id())
    return 1


def _flow_for(session: Session, flows: FlowLibrary, contact: Contact, row: Conversation, current: Flow) -> Flow:
    """Keep a running intake on the flow version it started with; publishing never breaks a conversation.

    A simulator contact pinned to a draft (a negative version) stays on that draft, also for a new intake.
    """
    draft = row.flow_version < 0 and simulated(contact.psid)
    pinned = flows.get(session, row.flow_id, row.flow_version) if row.step is not None or draft else None
    if pinned is not None:
        return pinned
    if row.step is not None and row.step not in current.steps:
        row.step = None  # the step is gone from the new version: start again rather than fail
    return current


def _apply_effects(session: Session, intake: Intake, flow: Flow, contact: Contact, row: Conversation,
                   case: Case | None, outcome: Outcome, now: datetime) -> Case | None:
    """Open, update or detach the case as the engine's effects say."""
    effects = set(outcome.effects)
    if outputs.INTAKE_STARTED in effects:
        case = None  # a new intake becomes a new case; the old one keeps its transcript
        row.case_id, row.intake_started_at = None, now
    if case is None and effects & CASE_EFFECTS:
        case = cases.open_case(session, prefix=intake.case_prefix, contact_id=contact.id, flow_id=flow.id,
                               flow_version=flow.version, referral=row.referral, now=now)
        case.test = simulated(contact.psid)
        row.case_id = case.id
        transcript.attach_to_case(session, contact.id, case.id, row.intake_started_at)
        log.info("case %s opened", case.reference)
    if case is None:
        return None
    if row.step is not None or outputs.CASE_COMPLETED in effects:
        cases.apply_fields(case, summarise(flow, outcome.state.answers), dict(outcome.state.answers), now)
    _flag(session, case, outcome, now)
    if outputs.URGENT in effects:  # the menu's emergency item: urgent, and the advisors hear of it every time
        case.urgency, case.needs_human = "urgent", True
        alerts.raise_alert(session, case_id=case.id, kind="emergency", category=None, severity="urgent", now=now)
        reminders.advisor_promised(session, case, intake.timing, now, asked=True)
        log.info("case %s: the user tapped the emergency item", case.reference)
    if outputs.HUMAN_REQUESTED in effects:
        promised = reminders.advisor_promised(session, case, intake.timing, now, asked=True)  # "binnen 24 uur"
        if promised or not case.needs_human:  # the advisors hear of it, unless they already wait for this case
            case.needs_human = True
            alerts.raise_alert(session, case_id=case.id, kind="human_requested", category=None,
                               severity=case.urgency, now=now)
            log.info("case %s: advisor requested", case.reference)
    if outputs.CASE_COMPLETED in effects:
        case.intake_complete, case.completed_at = True, now
        log.info("case %s: intake completed", case.reference)
    _followup_answered(session, case, effects, intake.timing, now)
    return case


def _followup_answered(session: Session, case: Case, effects: set[str], timing: Timing, now: datetime) -> None:
    """Update the case from the user's answer to the follow-up question."""
    if outputs.FOLLOWUP_PREFIX + followup.RESOLVED in effects:
        case.followup_answer = followup.RESOLVED
        reminders.case_closed(session, case, now)
        log.info("case %s closed by the user's follow-up answer", case.reference)
    elif outputs.FOLLOWUP_PREFIX + followup.NEED_HELP in effects:
        case.followup_answer = followup.NEED_HELP
        case.needs_human = True
        case.status = "in_progress" if case.first_response_at else "new"
        alerts.raise_alert(session, case_id=case.id, kind="still_needs_help", category=None,
                           severity=case.urgency, now=now)
        reminders.advisor_promised(session, case, timing, now, asked=True)  # "reageert binnen 24 uur", again


def _flag(session: Session, case: Case, outcome: Outcome, now: datetime) -> None:
    """Store each detection as a flag on the case; a new flag alerts the advisors."""
    for detection in outcome.detections:
        metrics.safety_detection(detection.category, detection.severity)
        if cases.add_flag(session, case, category=detection.category, source=detection.source,
                          matched=detection.matched,
                          severity=detection.severity, now=now):
            alerts.raise_alert(session, case_id=case.id, kind="safety", category=detection.category,
                               severity=detection.severity, now=now)
            log.info("case %s flagged: %s (%s)", case.reference, detection.category, detection.severity)


def _queue_replies(session: Session, contact: Contact, case: Case | None, outcome: Outcome, now: datetime) -> int:
    """Write the replies to the transcript and the outbox.

    No typing indicator goes first: the reply is ready now, so the bubble would show for one Graph API round trip,
    delay the reply by that round trip and take half of a burst's share of Meta's 300 calls per second.
    """
    if not outcome.replies:
        return 0
    reference = case.reference if case else ""
    bodies: list[dict[str, Any]] = []
    for reply in outcome.replies:
        text = reply.text.replace("{case_reference}", reference)
        reply = dataclasses.replace(reply, text=text)
        transcript.record(session, contact_id=contact.id, case_id=case.id if case else None, direction="out",
                          kind="text", text=text, mid=None, now=now)
        bodies += send_bodies(contact.psid, reply)
    request_id = current_request_id()  # the event's: its sends are logged under it
    for body in bodies:
        outbox.enqueue(session, contact_id=contact.id, recipient=contact.psid, body=body, now=now,
                       request_id=request_id)
    return len(bodies)
