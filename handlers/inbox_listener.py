"""Wake the inbox loop when any process stores webhook events (PostgreSQL), instead of at its next look."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from storage import inbox_wakeup

log = logging.getLogger(__name__)
WAIT = 0.25  # seconds per wait for a notification: how soon stop() is noticed
# after a wake-up, let the notifications of the next few ms gather: each read of them costs the thread about
# 70 µs of CPU, and in a burst every webhook commit sends one (measured: 20 µs per notification with the pause)
GATHER = 0.005
RECONNECT = 5.0  # seconds before a lost listening connection is opened again


class InboxListener:
    """A thread that LISTENs for the inbox's notifications and calls `wake` for each.

    The inbox loop keeps looking every INBOX_INTERVAL as well: that finds events put back in line for later, and
    every event while the listening connection is lost.
    """

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self.engine, self.wake = engine, wake
        self.listening = threading.Event()  # set while LISTEN is in force
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-listener", daemon=True)

    def start(self) -> None:
        """Start listening in a thread of its own."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (within WAIT seconds)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with inbox_wakeup.listening(self.engine) as wait:
                    self.listening.set()
                    self.wake()  # events stored while nobody listened
                    while not self._stopping.is_set():
                        if wait(WAIT):
                            self.wake()  # a round that is running runs once more: it leases what came meanwhile
                            self._stopping.wait(GATHER)
            except Exception as exc:  # noqa: BLE001 - a lost connection: the loop's own looks go on meanwhile
                log.warning("listening for new inbox events failed (%s); again in %g s", type(exc).__name__,
                            RECONNECT)
            finally:
                self.listening.clear()
            self._stopping.wait(RECONNECT)
