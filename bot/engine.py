"""The conversation engine: (state, input, flow) -> new state, replies and effects. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from bot import commands, followup, outputs, safety, texts
from bot import links as useful_links
from bot.advice import advise, merge
from bot.answers import Match, match_choice, match_text
from bot.case import summarise
from bot.inputs import GET_STARTED, Input, Media, Postback, Text
from bot.language import guess_locale
from bot.machine import next_step
from bot.outputs import Outcome, QuickReply, Reply
from bot.render import fill, links_reply, say, step_reply
from bot.state import ConversationState
from flows.knowledge import Knowledge
from flows.lexicon import Lexicon
from flows.model import Flow, Step

MAX_AUTOMATIC_STEPS = 50  # info and branch steps in a row; more means a loop in the flow
STUCK_AFTER = 2  # re-prompts on one question before the bot offers a human
PROBLEM_TEXTS = {
    "not_understood": texts.NOT_UNDERSTOOD, "type_answer": texts.TYPE_ANSWER, "empty": texts.EMPTY,
    "too_short": texts.TOO_SHORT, "too_long": texts.TOO_LONG, "bad_email": texts.BAD_EMAIL,
    "bad_phone": texts.BAD_PHONE,
}
VISUAL_MEDIA = {"image", "video", "file", "reel", "ig_reel", "post", "ig_post"}


class FlowLoopError(RuntimeError):
    """A flow moved through too many steps without asking anything."""


@dataclass(frozen=True)
class Context:
    """Values from outside the engine that texts may mention."""

    retention_days: int = 180
    lexicon: Lexicon | None = None
    erasure_grace: float = 86400.0  # seconds advisors get before an open case is erased
    erasure_waits: bool = False  # whether an erasure would wait for that grace (the user has an open case)
    privacy_url: str = ""  # the public privacy page; a text line that names it is left out when empty
    links: Knowledge | None = None  # the useful links offered without an intake


def step(state: ConversationState, event: Input, flow: Flow, context: Context = Context()) -> Outcome:
    """Process one user input and return what happens next."""
    found = _detect(event, context)
    if state.paused:  # an advisor has the conversation: no bot reply, but the case is still flagged
        return _while_paused(state, event, flow, context, found)
    state = _detect_locale(state, event)
    return _with_advice(_dispatch(state, event, flow, context, found), found, flow, context)


def _while_paused(state: ConversationState, event: Input, flow: Flow, context: Context,
                  found: tuple[safety.Detection, ...]) -> Outcome:
    """During a take-over only the menu's emergency and data items answer; other menu taps say who has it."""
    command = commands.command_for(event)
    if command in commands.PAUSED_COMMANDS:
        outcome = _run_command(command, state, flow, context)
        return Outcome(state, outcome.replies, outcome.effects, found)
    tapped = isinstance(event, Postback) and (event.payload in commands.POSTBACKS or event.payload == "LINKS") \
        or isinstance(event, Text) and event.payload in commands.QUICK_REPLIES  # a menu item or our own button
    replies = (say(texts.ADVISOR_HAS_IT, state.locale),) if tapped else ()
    return Outcome(state, replies, (outputs.FLAGGED,) if found else (), found)


def _dispatch(state: ConversationState, event: Input, flow: Flow, context: Context,
              found: tuple[safety.Detection, ...]) -> Outcome:
    """Route an input: a global command, a picture, a new conversation, or an answer."""
    offer = useful_links.requested(event, context.links, state.locale)  # the links menu or a topic tap
    command = None if offer else commands.command_for(event)
    if command:
        return _run_command(command, state, flow, context)
    answer = followup.followup_answer(event.payload) if isinstance(event, Text) else None
    if answer:
        return _followup(state, answer, flow, context)
    offer = offer or useful_links.offered(state, event, flow, context.links, found)  # a question naming a topic
    if offer:  # never starts an intake; one under way asks its question again
        return _with_question(state, flow, context, offer) if state.in_intake else Outcome(state, (offer,))
    if isinstance(event, Media):
        return _media(state, event, flow, context)
    if not state.in_intake:
        return _outside_intake(state, event, flow, context)
    if isinstance(event, Postback):
        return _reprompt(state, flow, context, "not_understood")
    return _answer(state, event, flow, context, found)


def _followup(state: ConversationState, answer: str, flow: Flow, context: Context) -> Outcome:
    """Take the answer to the follow-up question: the handler updates the case from the effect."""
    if answer == followup.ADVISOR:
        return _run_command(commands.HUMAN, state, flow, context)
    reply = say(followup.ANSWERS[answer], state.locale)
    return Outcome(state, (reply,), (outputs.FOLLOWUP_PREFIX + answer,))


def _detect(event: Input, context: Context) -> tuple[safety.Detection, ...]:
    """Classify what the user typed (a tapped quick reply is judged by the flow's own mapping)."""
    typed = event.text if isinstance(event, (Text, Media)) and not getattr(event, "payload", None) else ""
    if not typed or context.lexicon is None:
        return ()
    return tuple(safety.classify(typed, context.lexicon))


def _with_advice(outcome: Outcome, found: tuple[safety.Detection, ...], flow: Flow, context: Context) -> Outcome:
    """Put the advice for newly seen categories before the next question and flag the case."""
    detections = merge(found, outcome.detections)
    if not detections:
        return outcome
    detections = safety.escalate(detections, summarise(flow, outcome.state.answers).minor)
    state, advice = advise(outcome.state, detections, context.lexicon)
    effects = outcome.effects + (() if outputs.FLAGGED in outcome.effects else (outputs.FLAGGED,))
    return Outcome(state, advice + outcome.replies, effects, detections)


def start(state: ConversationState, flow: Flow, context: Context, lead: tuple[Reply, ...] = ()) -> Outcome:
    """Begin the flow from its first step with no answers."""
    fresh = ConversationState(flow_id=flow.id, flow_version=flow.version, locale=state.locale,
                              locale_chosen=state.locale_chosen, case_reference=None)
    outcome = _enter(fresh, flow.start, flow, context)
    return Outcome(outcome.state, lead + outcome.replies, (outputs.INTAKE_STARTED, *outcome.effects),
                   outcome.detections)


def _detect_locale(state: ConversationState, event: Input) -> ConversationState:
    """Guess the language from the very first message, unless the user chose one."""
    if state.locale_chosen or state.in_intake or state.completed or not isinstance(event, Text):
        return state
    return state.update(locale=guess_locale(event.text) or state.locale)


def _run_command(command: str, state: ConversationState, flow: Flow, context: Context) -> Outcome:
    """Carry out a global command."""
    locale = state.locale
    if command == commands.RESTART:
        return start(state, flow, context, (say(texts.RESTARTING, locale),))
    if command in (commands.ENGLISH, commands.DUTCH):
        state = state.update(locale="en" if command == commands.ENGLISH else "nl", locale_chosen=True)
        return _with_question(state, flow, context, say(texts.LANGUAGE_SET, state.locale))
    if command == commands.HELP:
        return _with_question(state, flow, context, say(texts.HELP, locale))
    if command == commands.REPORT:  # the menu's report button: during an intake, go on or start again
        if not state.in_intake:
            return start(state, flow, context)
        buttons = (QuickReply(texts.GO_ON.get(locale), "REPORT_CONTINUE"),
                   QuickReply(texts.START_AGAIN.get(locale), "RESTART"))
        return Outcome(state, (Reply(texts.REPORT_RUNNING.get(locale), buttons),))
    if command == commands.CONTINUE:
        return _with_question(state, flow, context) if state.in_intake or state.paused else \
            _outside_intake(state, Text(""), flow, context)
    if command == commands.EMERGENCY:
        outcome = _with_question(state, flow, context, say(texts.EMERGENCY, locale))
        return Outcome(outcome.state, outcome.replies, (outputs.HUMAN_REQUESTED, outputs.URGENT), outcome.detections)
    if command == commands.MY_DATA:
        buttons = (QuickReply(texts.ERASE_BUTTON.get(locale), "ERASE"),
                   QuickReply(texts.GO_ON.get(locale), "REPORT_CONTINUE"))
        return Outcome(state, (Reply(fill(texts.MY_DATA.get(locale), vars(context)), buttons),))
    if command == commands.ERASE:  # explain what goes, and ask to confirm with a button
        buttons = (QuickReply(texts.ERASE_YES.get(locale), "ERASE_CONFIRM"),
                   QuickReply(texts.ERASE_NO.get(locale), "ERASE_CANCEL"))
        return Outcome(state, (Reply(texts.ERASURE_ASK.get(locale), buttons),))
    if command == commands.ERASE_CONFIRM:  # the handler carries it out, at once or after the advisors' grace
        hours = max(1, round(context.erasure_grace / 3600))
        text = say(texts.ERASURE_AFTER_GRACE, locale, hours=hours) if context.erasure_waits \
            else say(texts.ERASURE_NOW, locale)
        return Outcome(state, (text,), (outputs.ERASURE_CONFIRMED,))
    if command == commands.ERASE_CANCEL:
        return _with_question(state, flow, context, say(texts.ERASURE_CANCELLED, locale))
    lead = (say(texts.ADVISOR_REQUESTED, locale),)
    if state.in_intake:
        lead += (say(texts.ADVISOR_CONTINUE, locale),)
    outcome = _with_question(state, flow, context, *lead)
    return Outcome(outcome.state, outcome.replies, (outputs.HUMAN_REQUESTED,))


def _with_question(state: ConversationState, flow: Flow, context: Context, *lead: Reply) -> Outcome:
    """Return the lead replies followed by the pending question, if there is one."""
    if state.paused:  # an advisor has the conversation: no question from the bot
        return Outcome(state, lead)
    if not state.in_intake and not state.completed:
        return start(state, flow, context, lead)  # a first message of 'help' or 'english' still begins
    if not state.in_intake:
        return Outcome(state, lead)
    question = step_reply(flow.step(state.step), state.answers, state.locale, vars(context))
    return Outcome(state, (*lead, question))


def _outside_intake(state: ConversationState, event: Input, flow: Flow, context: Context) -> Outcome:
    """Answer a user who is not in an intake: start one, or acknowledge a finished one."""
    if isinstance(event, Postback) and event.payload == GET_STARTED or not state.completed:
        return start(state, flow, context)
    if state.case_reference:
        return Outcome(state, (say(texts.AFTER_COMPLETION, state.locale, case_reference=state.case_reference),))
    return Outcome(state, (say(texts.AFTER_DECLINE, state.locale),))


def _media(state: ConversationState, event: Media, flow: Flow, context: Context) -> Outcome:
    """Warn about pictures, thank for stickers, and ask the current question again."""
    if VISUAL_MEDIA & set(event.kinds):
        lead = texts.NO_PICTURES
    elif "location" in event.kinds:
        lead = texts.NO_LOCATION
    else:
        lead = texts.TEXT_ONLY
    if not state.in_intake:
        return _with_question(state, flow, context, say(lead, state.locale))
    return _ask_again(state, flow, context, say(lead, state.locale))


def _reprompt(state: ConversationState, flow: Flow, context: Context, problem: str) -> Outcome:
    """Explain what did not fit and ask the same question again."""
    current = flow.step(state.step)
    if problem == "not_understood" and current.type == "text":
        problem = "type_answer"  # there are no buttons to point at
    return _ask_again(state, flow, context, say(PROBLEM_TEXTS[problem], state.locale,
                                                limit=current.validate.max_length))


def _ask_again(state: ConversationState, flow: Flow, context: Context, lead: Reply) -> Outcome:
    """Count a miss on the current question and ask it again, offering a human after a few misses."""
    state = state.update(reprompts=state.reprompts + 1)
    stuck = (say(texts.STILL_STUCK, state.locale),) if state.reprompts > STUCK_AFTER else ()
    return _with_question(state, flow, context, lead, *stuck)


def _answer(state: ConversationState, event: Text, flow: Flow, context: Context,
            found: tuple[safety.Detection, ...]) -> Outcome:
    """Store a fitting answer and move on; or re-ask, quietly when the message was about a danger or crime."""
    current = flow.step(state.step)
    matched: Match = match_choice(current, event) if current.type == "choice" else match_text(current, event)
    value = matched.value if matched.value is not None else _answer_from_detection(current, found)
    if value is None:
        if found:  # the advice comes first; then simply the same question, no "I didn't get that"
            return _with_question(state, flow, context)
        return _reprompt(state, flow, context, matched.problem or "not_understood")
    state = state.with_answer(current.answer, value)
    option = current.option(value)
    flagged: tuple[safety.Detection, ...] = ()
    if option and option.flags:  # only a flagged answer needs the summary (whether a minor is involved)
        minor = summarise(flow, state.answers).minor
        flagged = tuple(safety.from_answer(f, option.title.nl, minor) for f in option.flags)
    outcome = _advance(state, current.id, flow, context)
    return Outcome(outcome.state, outcome.replies, outcome.effects, flagged)


def _answer_from_detection(current: Step, found: tuple[safety.Detection, ...]) -> str | None:
    """Read a choice from what the message was recognised as (a typed sextortion story picks 'sextortion')."""
    if current.type != "choice":
        return None
    return next((d.category for d in found if current.option(d.category)), None)


def _advance(state: ConversationState, from_step: str, flow: Flow, context: Context) -> Outcome:
    """Move past a step and enter the next one."""
    target = next_step(flow, from_step, state.answers)
    if target is None:
        return Outcome(state.update(step=None))
    return _enter(state, target, flow, context)


def _enter(state: ConversationState, step_id: str, flow: Flow, context: Context) -> Outcome:
    """Run steps from `step_id` until one waits for the user or the flow ends."""
    replies: list[Reply] = []
    for _ in range(MAX_AUTOMATIC_STEPS):
        current = flow.step(step_id)
        if current.type != "branch":
            replies.append(step_reply(current, state.answers, state.locale, vars(context)))
        if current.waits:
            return Outcome(state.update(step=step_id, flow_version=flow.version), tuple(replies))
        if current.type == "end":
            return _finish(state, current.creates_case, current.sends_links, flow, replies)
        step_id = next_step(flow, step_id, state.answers) or ""
        if not step_id:
            return _finish(state, False, False, flow, replies)
    raise FlowLoopError(f"flow {flow.id} v{flow.version} loops without a question near step {step_id}")


def _finish(state: ConversationState, creates_case: bool, sends_links: bool, flow: Flow,
            replies: list[Reply]) -> Outcome:
    """End the intake: mark it completed and add the links that fit."""
    category = summarise(flow, state.answers).category
    links = links_reply(flow, category, state.locale) if sends_links else None
    effects = (outputs.CASE_COMPLETED,) if creates_case else ()
    done = state.update(step=None, completed=True)
    return Outcome(done, tuple(replies) + ((links,) if links else ()), effects)

