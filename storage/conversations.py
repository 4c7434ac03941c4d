"""Contacts and their conversation state, locked for the length of one event."""
from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.state import ConversationState
from storage.models import Contact, Conversation
from storage.upsert import insert_ignore


def lock_contact(session: Session, psid: str, now: datetime) -> Contact:
    """Return the contact for a PSID, created if new, with its row locked until commit."""
    # FOR NO KEY UPDATE serialises two events of one user on PostgreSQL (SQLite already holds the write lock) yet
    # lets other transactions insert or update rows that refer to the contact (their foreign-key check takes FOR KEY
    # SHARE): with FOR UPDATE, a round holding several users' contacts deadlocked with the sender
    locked = select(Contact).where(Contact.psid == psid).with_for_update(key_share=True)
    contact = session.scalars(locked).one_or_none()
    if contact is None:  # a new user (two first events at once: the loser of the insert finds the winner's row)
        insert_ignore(session, Contact, psid=psid, locale="nl", created_at=now)
        contact = session.scalars(locked).one()
    return contact


def load_conversation(session: Session, contact: Contact, flow_id: str, flow_version: int) -> Conversation:
    """Return the contact's conversation row, created empty if there is none yet."""
    row = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id)).one_or_none()
    if row is None:
        row = Conversation(contact_id=contact.id, flow_id=flow_id, flow_version=flow_version, answers={},
                           locale=contact.locale)
        session.add(row)
        session.flush()
    return row


def to_state(row: Conversation, case_reference: str | None) -> ConversationState:
    """Return the engine's view of a stored conversation."""
    return ConversationState(
        flow_id=row.flow_id, flow_version=row.flow_version, step=row.step,
        answers=MappingProxyType(dict(row.answers or {})), locale=row.locale, locale_chosen=row.locale_chosen,
        completed=row.completed, paused=row.paused, reprompts=row.reprompts, case_reference=case_reference,
        advised=frozenset(row.advised or ()),
    )


def save_state(row: Conversation, state: ConversationState) -> None:
    """Copy the engine's new state onto the stored row."""
    row.flow_id, row.flow_version, row.step = state.flow_id, state.flow_version, state.step
    row.answers = dict(state.answers)
    row.locale, row.locale_chosen = state.locale, state.locale_chosen
    row.completed, row.paused, row.reprompts = state.completed, state.paused, state.reprompts
    row.advised = sorted(state.advised)
