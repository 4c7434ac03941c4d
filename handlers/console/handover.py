"""What an advisor does to a conversation: take over, reply within Messenger's windows, hand back, close."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.outputs import Reply
from handlers import reminders
from handlers.logformat import current_request_id
from handlers.messenger import send_bodies, split_text
from storage import conversations, notes, outbox, transcript
from storage.models import Case, Contact, Conversation, User

log = logging.getLogger(__name__)
STANDARD_WINDOW = timedelta(hours=24)  # Meta: any reply within 24 hours of the user's last message
HUMAN_AGENT_WINDOW = timedelta(days=7)  # Meta: a person may answer up to 7 days later with the HUMAN_AGENT tag

JOINED = {"nl": "Hoi, een adviseur van ons team is er nu bij en antwoordt je hier zelf.",
          "en": "Hi, an advisor from our team has joined and will answer you here in person."}
BACK = {"nl": "De adviseur heeft het gesprek afgerond. Ik ben er weer: typ 'menu' als je opnieuw wilt beginnen.",
        "en": "The advisor has finished for now. I'm back: type 'menu' if you want to start again."}


class ReplyRefused(Exception):
    """The reply cannot be sent; the message says why, for the advisor."""


def messaging(last_inbound_at: datetime | None, now: datetime) -> dict[str, str]:
    """Return how Meta lets us send a person's reply now, or raise ReplyRefused."""
    if last_inbound_at is None:
        raise ReplyRefused("This person has never written to the page, so Messenger does not allow a reply.")
    waited = now - last_inbound_at
    if waited <= STANDARD_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if waited <= HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    raise ReplyRefused("The user last wrote more than 7 days ago. Messenger only allows a reply within 7 days of "
                       "their last message; it can be sent once they write again.")


def take_over(session: Session, case: Case, user: User, now: datetime) -> None:
    """Pause the bot, tell the user an advisor joined, assign the case and stop the advisor reminders."""
    contact, conversation = parties(session, case)
    if conversation is not None:
        conversation.paused = True
    case.assignee_id = user.id
    reminders.advisor_replied(session, case, now)
    if contact is not None:
        try:
            _bot_says(session, case, contact, _locale(contact, conversation), JOINED,
                      messaging(contact.last_inbound_at, now), now)
        except ReplyRefused:
            pass  # too late for any message: the advisor sees the reason when replying
    notes.audit(session, action="take_over", user_id=user.id, case_id=case.id, now=now)


def reply(session: Session, case: Case, user: User, text: str, now: datetime) -> None:
    """Queue the advisor's text, with the messaging type the time since the user's last message allows."""
    contact, _ = parties(session, case)
    if contact is None:
        raise ReplyRefused("This case has no Messenger contact any more.")
    how = messaging(contact.last_inbound_at, now)
    transcript.record(session, contact_id=contact.id, case_id=case.id, direction="out", kind="advisor", text=text,
                      mid=None, now=now)
    for part in split_text(text):
        _enqueue(session, contact, {"recipient": {"id": contact.psid}, **how, "message": {"text": part}}, now)
    reminders.advisor_replied(session, case, now)
    notes.audit(session, action="reply", user_id=user.id, case_id=case.id, detail=how["messaging_type"], now=now)
    log.info("case %s: advisor reply queued (%s)", case.reference, how["messaging_type"])


def hand_back(session: Session, case: Case, user: User, now: datetime) -> None:
    """Let the bot answer again and tell the user so."""
    contact, conversation = parties(session, case)
    if conversation is not None:
        conversation.paused = False
    if contact is not None and contact.last_inbound_at and now - contact.last_inbound_at <= STANDARD_WINDOW:
        # outside the 24-hour window Meta allows no bot message at all
        _bot_says(session, case, contact, _locale(contact, conversation), BACK, {"messaging_type": "RESPONSE"}, now)
    notes.audit(session, action="hand_back", user_id=user.id, case_id=case.id, now=now)


def wait_for_user(session: Session, case: Case, user: User, now: datetime) -> None:
    """Mark the case as waiting for the user's answer."""
    case.status = "waiting"
    notes.audit(session, action="waiting", user_id=user.id, case_id=case.id, now=now)


def assign(session: Session, case: Case, user: User, assignee: User, now: datetime) -> None:
    """Give the case to an advisor, recording who gave it to whom."""
    case.assignee_id = assignee.id
    notes.audit(session, action="assign", user_id=user.id, case_id=case.id, detail=assignee.email, now=now)


def close(session: Session, case: Case, user: User, now: datetime) -> None:
    """Close the case and cancel what is still scheduled for it."""
    reminders.case_closed(session, case, now)
    notes.audit(session, action="close", user_id=user.id, case_id=case.id, now=now)


def parties(session: Session, case: Case) -> tuple[Contact | None, Conversation | None]:
    """Return the case's contact and conversation."""
    contact = session.get(Contact, case.contact_id) if case.contact_id is not None else None
    conversation = conversations.find_conversation(session, contact.id) if contact else None
    return contact, conversation


def _locale(contact: Contact, conversation: Conversation | None) -> str:
    """Return the language the user talks with the bot in."""
    return conversation.locale if conversation is not None else contact.locale


def _bot_says(session: Session, case: Case, contact: Contact, locale: str, texts: dict[str, str],
              how: dict[str, str], now: datetime) -> None:
    """Queue a fixed bot text in the user's language and keep it in the transcript."""
    text = texts.get(locale, texts["nl"])
    transcript.record(session, contact_id=contact.id, case_id=case.id, direction="out", kind="text", text=text,
                      mid=None, now=now)
    for body in send_bodies(contact.psid, Reply(text)):
        _enqueue(session, contact, {**body, **how}, now)


def _enqueue(session: Session, contact: Contact, body: dict[str, Any], now: datetime) -> None:
    """Queue one Send API body for the contact; its send is logged under the console request's id."""
    outbox.enqueue(session, contact_id=contact.id, recipient=contact.psid, body=body, now=now,
                   request_id=current_request_id())
