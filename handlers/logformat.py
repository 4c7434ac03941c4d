"""Log output: JSON lines or plain text, each record with the request id of the webhook event it belongs to.

The standard library's json and logging make one JSON object per line in a few lines; python-json-logger would add
a dependency (and its audit) for no feature we need.
"""
from __future__ import annotations

import contextvars
import json
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, g

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
# loggers that say too much: a tick or a state change at INFO, or (SQLAlchemy, urllib3 at DEBUG) SQL result rows and
# Send API URLs with the page token; their warnings still come through
NOISY = ("apscheduler", "transitions", "sqlalchemy", "urllib3")
_OURS = "_ida_handler"  # marks the handler configure_logging installed, so a second call replaces it
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id",
                                                                        "request_tag"}


def new_request_id() -> str:
    """Return a fresh random id of 16 hex characters: unique enough to grep for, short enough to read.

    Not a secret, so no system call per request for the OS's randomness (2 % of a web worker's time under a burst);
    `random` is seeded again in each forked worker, so two workers do not hand out the same ids.
    """
    return f"{random.getrandbits(64):016x}"


def current_request_id() -> str | None:
    """Return the request id of the work this thread does now, if any."""
    return _current.get()


def event_ids(post_id: str | None, count: int) -> list[str | None]:
    """Return an id per event of a webhook POST: the POST's own id for a single event, else `<id>-1`, `<id>-2`, …

    So grepping the POST's id finds its webhook line and every event it carried, and the common one-event POST
    has one id from webhook to Send API.
    """
    if post_id is None or count == 1:
        return [post_id] * count
    return [f"{post_id}-{n}" for n in range(1, count + 1)]


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Let every record logged in this block (in this thread) carry `request_id`."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Put the current request id on each record (`request_id`, and ` [req=…]` as `request_tag` for text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or _current.get()
        record.request_id = request_id
        record.request_tag = f" [req={request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, request_id, exc, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request_id = getattr(record, "request_id", None) or _current.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update((key, value) for key, value in vars(record).items()
                     if key not in _STANDARD and not key.startswith("_"))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)  # default: an odd extra becomes its str()


def make_handler(log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Return a stream handler (stderr by default) in the given format that adds the request id."""
    handler = logging.StreamHandler(stream)  # None: standard error
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT,
                                                                                defaults={"request_tag": ""})
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    setattr(handler, _OURS, True)
    return handler


def configure_logging(log_format: str = "text", level: int = logging.INFO, stream: IO[str] | None = None,
                      force: bool = False) -> logging.Handler | None:
    """Send every logger's records to one handler on the root logger; the one place logging is set up.

    Like logging.basicConfig it leaves a configuration made elsewhere alone (gunicorn's --log-config, pytest),
    unless `force` adds this handler beside it; a handler an earlier call installed is replaced, so the format can
    change once the settings are known. Return the handler, or None when it left things alone.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, _OURS, False)]
    if not force and len(ours) < len(root.handlers):
        return None
    for handler in ours:
        root.removeHandler(handler)
    handler = make_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    """Give every HTTP request a request id: the webhook's events and a console reply's messages inherit it."""

    @app.before_request
    def _start() -> None:
        g.request_id_token = _current.set(new_request_id())

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            _current.reset(token)
