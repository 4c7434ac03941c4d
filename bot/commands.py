"""Global commands that work at any point of a conversation, checked before the current step."""
from __future__ import annotations

import re

from bot.inputs import GET_STARTED, Input, Postback, Text

RESTART, HELP, HUMAN, ENGLISH, DUTCH, ERASE = "restart", "help", "human", "english", "dutch", "erase"
ERASE_CONFIRM, ERASE_CANCEL = "erase_confirm", "erase_cancel"  # the answers to "are you sure?"
REPORT, EMERGENCY, MY_DATA, CONTINUE = "report", "emergency", "my_data", "continue"  # the persistent menu's
PAUSED_COMMANDS = {EMERGENCY, MY_DATA, ERASE, ERASE_CONFIRM, ERASE_CANCEL}  # answered during an advisor's take-over

# One table, matched against the whole message (a word inside a sentence is an answer, not a command).
WORDS = {
    RESTART: ("stop", "menu", "opnieuw", "begin opnieuw", "opnieuw beginnen", "restart", "start again",
              "start over", "reset"),
    HELP: ("hulp", "help", "?", "uitleg"),
    HUMAN: ("adviseur", "advisor", "adviser", "mens", "medewerker", "human", "praat met adviseur",
            "talk to an advisor", "talk to advisor"),
    ENGLISH: ("english", "engels", "in english"),
    DUTCH: ("nederlands", "dutch", "in het nederlands"),
    REPORT: ("iets melden", "ik wil iets melden", "report something", "i want to report something"),
    MY_DATA: ("mijn gegevens", "my data", "my details"),
    ERASE: ("verwijder mijn gegevens", "wis mijn gegevens", "wis alles", "verwijder alles", "gegevens wissen",
            "delete my data", "erase my data", "delete everything", "erase everything"),
}
POSTBACKS = {"RESTART": RESTART, "HELP": HELP, "HUMAN": HUMAN, "ENGLISH": ENGLISH, "DUTCH": DUTCH, "ERASE": ERASE,
             "ERASE_CONFIRM": ERASE_CONFIRM, "ERASE_CANCEL": ERASE_CANCEL, "REPORT": REPORT, "REPORT_PARENT": REPORT,
             "EMERGENCY": EMERGENCY, "MY_DATA": MY_DATA,
             GET_STARTED: REPORT}  # tapped again after deleting the thread: like the report button, never a re-prompt
QUICK_REPLIES = {"ERASE_CONFIRM": ERASE_CONFIRM, "ERASE_CANCEL": ERASE_CANCEL, "ERASE": ERASE,  # the bot's own
                 "RESTART": RESTART, "REPORT_CONTINUE": CONTINUE}
_LOOKUP = {word: command for command, words in WORDS.items() for word in words}
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def normalise(text: str) -> str:
    """Lower-case, trim punctuation and emoji at the edges, fold spaces."""
    return " ".join(_EDGES.sub("", text.strip().lower()).split()) or text.strip().lower()


def command_for(event: Input) -> str | None:
    """Return the global command an input asks for, if any."""
    if isinstance(event, Postback):
        return POSTBACKS.get(event.payload)
    if isinstance(event, Text) and event.payload in QUICK_REPLIES:
        return QUICK_REPLIES[event.payload]
    if isinstance(event, Text) and event.payload is None and len(event.text) <= 40:
        return _LOOKUP.get(normalise(event.text))
    return None
