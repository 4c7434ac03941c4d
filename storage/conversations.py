"""Contacts and their conversation state, locked for the length of one event."""
from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.state import ConversationState
from storage.models import Case, Contact, Conversation
from storage.upsert import insert_ignore

# Built once: every event runs these, and building a statement anew (and its cache key) cost as much as running it.
# FOR NO KEY UPDATE serialises two events of one user on PostgreSQL (SQLite already holds the write lock) yet lets
# other transactions insert or update rows that refer to the contact (their foreign-key check takes FOR KEY SHARE):
# with FOR UPDATE, a round holding several users' contacts deadlocked with the sender
_LOCKED_CONTACT = select(Contact).where(Contact.psid == bindparam("psid")).with_for_update(key_share=True)
_CONVERSATION = select(Conversation).where(Conversation.contact_id == bindparam("contact_id"))
# an event's contact, conversation and case in one query; only the contact's row is locked (OF contacts)
_LOCKED_WITH_CONVERSATION = (select(Contact, Conversation, Case).select_from(Contact)
                             .outerjoin(Conversation, Conversation.contact_id == Contact.id)
                             .outerjoin(Case, Case.id == Conversation.case_id)
                             .where(Contact.psid == bindparam("psid"))
                             .with_for_update(key_share=True, of=Contact.__table__))


def lock_contact(session: Session, psid: str, now: datetime) -> Contact:
    """Return the contact for a PSID, created if new, with its row locked until commit."""
    contact = session.scalars(_LOCKED_CONTACT, {"psid": psid}).one_or_none()
    if contact is None:  # a new user
        _add_contact(session, psid, now)
        contact = session.scalars(_LOCKED_CONTACT, {"psid": psid}).one()
    return contact


def lock_conversation(session: Session, psid: str, flow_id: str, flow_version: int,
                      now: datetime) -> tuple[Contact, Conversation, Case | None]:
    """Return the contact (locked until commit, as `lock_contact`), its conversation, both created if new, and the
    conversation's case, if any."""
    found = session.execute(_LOCKED_WITH_CONVERSATION, {"psid": psid}).one_or_none()
    if found is None:
        _add_contact(session, psid, now)
        found = session.execute(_LOCKED_WITH_CONVERSATION, {"psid": psid}).one()
    contact, row, case = found
    if row is None:
        return contact, _new_conversation(session, contact, flow_id, flow_version), None
    return contact, row, case


def _add_contact(session: Session, psid: str, now: datetime) -> None:
    """Insert a new user's contact (two first events at once: the loser of the insert finds the winner's row)."""
    insert_ignore(session, Contact, psid=psid, locale="nl", created_at=now)


def find_conversation(session: Session, contact_id: int) -> Conversation | None:
    """Return the contact's conversation row, if it has one."""
    return session.scalars(_CONVERSATION, {"contact_id": contact_id}).one_or_none()


def load_conversation(session: Session, contact: Contact, flow_id: str, flow_version: int) -> Conversation:
    """Return the contact's conversation row, created empty if there is none yet."""
    row = find_conversation(session, contact.id)
    return row if row is not None else _new_conversation(session, contact, flow_id, flow_version)


def _new_conversation(session: Session, contact: Contact, flow_id: str, flow_version: int) -> Conversation:
    """Add an empty conversation for a contact (flushed: the event's other rows refer to it)."""
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
