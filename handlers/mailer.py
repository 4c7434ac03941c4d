"""E-mail advisors about new alerts (when SMTP is configured); never with message text or user ids."""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from storage import alerts

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
SUBJECTS = {
    "safety": "[{severity}] Case {reference}: safety flag '{category}'",
    "human_requested": "Case {reference}: the user asks for an advisor",
    "emergency": "[urgent] Case {reference}: the user tapped 'Spoed' (someone may be in danger)",
    "erasure_requested": "Case {reference}: the user asks to erase their data (look before the grace ends)",
}


@dataclass(frozen=True)
class SmtpSettings:
    """Where alert e-mails go and how they are sent."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str = ""
    password: str = ""
    security: str = "starttls"  # starttls | ssl | none
    console_url: str = ""

    @property
    def configured(self) -> bool:
        """Whether alerts can be e-mailed at all."""
        return bool(self.host and self.recipients and self.sender)


def compose(settings: SmtpSettings, kind: str, reference: str | None, category: str | None,
            severity: str) -> EmailMessage:
    """Write the e-mail for one alert: what and which case, nothing the user wrote."""
    message = EmailMessage()
    subject = SUBJECTS.get(kind, "Case {reference}: {kind}")
    message["Subject"] = subject.format(severity=severity.upper(), reference=reference or "-", category=category,
                                        kind=kind)
    message["From"], message["To"] = settings.sender, ", ".join(settings.recipients)
    where = f"Open the case in the console: {settings.console_url}" if settings.console_url else \
        "Look the case up with: python app.py cases export --json"
    message.set_content(f"{message['Subject']}.\n\n{where}\n\nThis e-mail holds no message text on purpose.\n")
    return message


class AlertMailer:
    """Sends the e-mails of pending alerts, each once."""

    def __init__(self, sessions: sessionmaker[Session], settings: SmtpSettings) -> None:
        self.sessions, self.settings = sessions, settings

    def send_pending(self) -> int:
        """E-mail every pending alert; return how many were sent."""
        sent = 0
        with self.sessions.begin() as session:
            for alert, reference in alerts.claim_unmailed(session):
                if not self.settings.configured:
                    alert.email_status = alerts.OFF
                    continue
                alert.email_attempts += 1
                try:
                    self._send(compose(self.settings, alert.kind, reference, alert.category, alert.severity))
                except (OSError, smtplib.SMTPException) as exc:
                    log.warning("alert e-mail failed (%s)", type(exc).__name__)
                    if alert.email_attempts >= MAX_ATTEMPTS:
                        alert.email_status = alerts.FAILED
                    continue
                alert.email_status = alerts.SENT
                sent += 1
        return sent

    def _send(self, message: EmailMessage) -> None:
        """Deliver one e-mail over SMTP."""
        smtp_class = smtplib.SMTP_SSL if self.settings.security == "ssl" else smtplib.SMTP
        with smtp_class(self.settings.host, self.settings.port, timeout=10) as smtp:
            if self.settings.security == "starttls":
                smtp.starttls()
            if self.settings.user:
                smtp.login(self.settings.user, self.settings.password)
            smtp.send_message(message)
