"""Group commit: the rows of several threads written in one transaction, each thread back once its rows are in.

A webhook request may answer Meta only after its events are stored, and a commit is the expensive part of storing
them (an fsync on SQLite, a WAL flush and a round trip on PostgreSQL, and SQLite's one write lock). Under a burst
the threads of a web worker would each wait for that lock and commit alone; here the first thread commits what all
waiting threads brought, and hands the lead to the next waiting thread when it is done.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Row = TypeVar("Row")


class _Ticket(Generic[Row]):
    """One thread's rows and how their write went."""

    __slots__ = ("rows", "done", "leads", "error")

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.done = threading.Event()  # set when the rows are written, failed, or this thread is to lead
        self.leads = False
        self.error: BaseException | None = None


class GroupCommit(Generic[Row]):
    """Hand `submit` rows from any thread; `write(rows)` runs in one caller's thread for everyone waiting."""

    def __init__(self, write: Callable[[list[Row]], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Ticket[Row]] = []
        self._busy = False

    def submit(self, rows: list[Row]) -> None:
        """Return once the rows are committed; raise the write's exception when their transaction failed."""
        ticket = _Ticket(rows)
        with self._lock:
            self._queue.append(ticket)
            ticket.leads, self._busy = not self._busy, True
        if not ticket.leads:
            ticket.done.wait()
        if ticket.leads:
            self._lead()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        """Write everything queued so far in one call, then pass the lead to the first thread that came since."""
        with self._lock:
            batch, self._queue = self._queue, []
        error: BaseException | None = None
        try:
            self._write([row for ticket in batch for row in ticket.rows])
        except Exception as exc:  # every thread of the batch gets it: none of their rows is stored
            error = exc
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._busy = False
            else:
                following.leads = True
        for ticket in batch:
            ticket.leads, ticket.error = False, error
            ticket.done.set()
        if following is not None:
            following.done.set()
