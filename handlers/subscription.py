"""Check that Meta still delivers the page's webhooks to this app: a silent unsubscription is the worst failure."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers.graph import GraphClient, GraphError
from storage import alerts, status

log = logging.getLogger(__name__)
UNSUBSCRIBED = "app_unsubscribed"


class SubscriptionCheck:
    """Asks the Graph API which apps are subscribed to the page and records it when ours is not."""

    def __init__(self, sessions: sessionmaker[Session], client: GraphClient, app_id: str,
                 clock: Callable[[], datetime]) -> None:
        self.sessions, self.client, self.app_id, self.clock = sessions, client, app_id, clock

    def run(self) -> bool | None:
        """Return whether our app is subscribed (None when Meta could not be asked); record the outcome."""
        try:
            subscribed = self.app_id in self.client.subscribed_apps()
        except GraphError as error:
            log.warning("could not check the webhook subscription: %s", error)
            return None
        with self.sessions.begin() as session:
            if subscribed:
                status.clear_status(session, UNSUBSCRIBED)
            elif status.set_status(session, UNSUBSCRIBED, f"- app {self.app_id} is not subscribed to the page's "
                                   "webhooks: subscribe it again in the app dashboard (Messenger > Settings)",
                                   self.clock()):
                alerts.raise_alert(session, case_id=None, kind="app_unsubscribed", category=None, severity="urgent",
                                   now=self.clock())
                log.error("the app is no longer subscribed to the page's webhooks")
        return subscribed
