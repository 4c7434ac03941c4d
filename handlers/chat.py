"""Talk to the bot in a terminal, through the same intake path and database as the webhook."""
from __future__ import annotations

import sys
import textwrap
import uuid
from typing import Any, TextIO

from bot.inputs import Text
from handlers.messenger import Event
from handlers.services import Services

QUIT_WORDS = {"/quit", "/exit"}


class TerminalSender:
    """Prints replies as a chat would show them and remembers the last quick replies, numbered."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.quick_replies: list[dict[str, str]] = []

    def send(self, body: dict[str, Any]) -> str | None:
        """Show one message; sender actions (typing) are not shown."""
        message = body.get("message")
        if not message:
            return None
        template = (message.get("attachment") or {}).get("payload") or {}
        for line in message.get("text", template.get("text", "")).splitlines() or [""]:
            self.out.write(textwrap.fill(line, 100, initial_indent="bot> ", subsequent_indent="     ") + "\n")
        for button in template.get("buttons", []):  # url buttons: the title, and the address to open
            self.out.write(f"     [{button.get('title')} -> {button.get('url') or button.get('payload')}]\n")
        self.quick_replies = list(message.get("quick_replies", []))
        for number, button in enumerate(self.quick_replies, 1):
            self.out.write(f"     [{number}] {button['title']}\n")
        return None


def as_input(line: str, buttons: list[dict[str, str]]) -> Text:
    """Turn a typed line into input; a button's number taps that quick reply."""
    if line.strip().isdigit() and 1 <= int(line) <= len(buttons):
        button = buttons[int(line) - 1]
        return Text(button["title"], button["payload"])
    return Text(line)


def run_chat(services: Services, terminal: TerminalSender, user: str, lines: TextIO = sys.stdin) -> None:
    """Read lines until end of input, handing each to the bot and printing its replies."""
    terminal.out.write("Type a message (for example 'hoi' or 'hello'); a number taps a button; /quit ends.\n")
    for line in _prompted(lines, terminal.out):
        if line.strip() in QUIT_WORDS:
            break
        event_input = as_input(line, terminal.quick_replies)
        now = services.clock()
        event = Event("message", user, int(now.timestamp() * 1000), key=f"chat:{uuid.uuid4()}",
                      input=event_input, transcript_kind="quick_reply" if event_input.payload else "text",
                      text=event_input.text)
        services.process([event])
        services.sender.deliver_all()
        if services.erasure.run_due():  # no scheduler runs here: a confirmed erasure is carried out at once
            terminal.out.write("     (your data has been erased)\n")


def _prompted(lines: TextIO, out: TextIO) -> Any:
    """Yield input lines, showing a prompt before each when a person is typing."""
    while True:
        if lines.isatty():
            out.write("you> ")
            out.flush()
        line = lines.readline()
        if not line:
            return
        yield line.rstrip("\n")
