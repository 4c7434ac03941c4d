"""Settings from environment variables (a .env file may set them); the only place that reads them."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from handlers.mailer import SmtpSettings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v25.0"


class SettingsError(Exception):
    """The configuration is unsafe or invalid; the message says what to set."""


APPROVALS = ("none", "two-person")
LOG_FORMATS = ("text", "json")  # LOG_FORMAT: plain text for a terminal, JSON lines for a log system
META_SEND_RATE = 300.0  # Send API calls per second per page (../shared/reference/messenger.md)


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its surroundings."""

    database_url: str = f"sqlite:///{ROOT / 'instance' / 'bot.db'}"
    app_secret: str = ""
    verify_token: str = ""
    page_access_token: str = ""
    app_id: str = ""  # the Meta app's id: with it the bot checks that it is still subscribed to the page
    subscription_interval: float = 600.0
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    secret_key: str = ""
    port: int = 8000
    case_prefix: str = "IDA"
    flows_dir: Path = ROOT / "flows"
    lexicon_file: Path = ROOT / "flows" / "lexicon.yaml"
    links_file: Path = ROOT / "flows" / "links.yml"  # the useful links (docs/links.md)
    retention_days: int = 180  # closed cases are erased this many days after closing
    abandoned_days: int = 30  # conversations left mid-intake are erased after this many days of silence
    erasure_grace: float = 86400.0  # seconds advisors get to act on an open case before an erasure request runs
    flood_limit: int = 30  # messages from one user within 10 s above which the bot stops answering for a while
    max_body_bytes: int = 1_048_576  # a webhook body larger than this gets 413 (Meta's batches are far smaller)
    page_username: str = ""  # the page's @username, for m.me links (https://m.me/<username>?ref=<code>)
    public_url: str = ""  # where the public reaches this app (https://bot.example.nl): links in the privacy notice
    privacy_contact: str = ""  # the address the /privacy page names for questions and requests
    organisation: str = "Ida Social Media Coach"  # the name the /privacy page speaks for
    send_interval: float = 1.0
    inbox_interval: float = 0.05  # how often a process looks for webhook events another process stored
    send_rate: float = 250.0  # Send API calls per second for the whole installation; Meta allows about 300
    send_concurrency: int = 16  # Send API calls in flight at once per process (users served side by side)
    advisor_sla: float = 86400.0  # seconds: an advisor answers within 24 hours
    urgent_sla: float = 3600.0
    followup_after: float = 86400.0
    window_margin: float = 900.0  # follow up at least this long before the 24-hour window closes
    reminder_interval: float = 1.0
    graph_timeout: float = 10.0
    smtp: SmtpSettings = field(default_factory=lambda: SmtpSettings("", 587, "", ()))
    insecure_cookies: bool = False  # console cookies without Secure, for local http only
    handover_target_app_id: str = ""  # pass the thread to this app (the Page Inbox) when a user asks for an advisor
    flow_approval: str = "none"  # "two-person": a second admin approves a flow or lexicon before it goes live
    metrics_token: str = ""  # GET /metrics wants `Authorization: Bearer <this>`; unset: loopback only
    prometheus_multiproc_dir: str = ""  # prometheus_client's multiprocess mode: every process's series in files here
    log_format: str = "text"  # "json": one JSON object per log line, for a log system

    @property
    def sends_for_real(self) -> bool:
        """Whether replies go to the Graph API (else they are printed)."""
        return bool(self.page_access_token)


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read a whole number, with a clear error when it is not one."""
    raw = environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (and .env), refusing unsafe combinations."""
    if environ is None:
        from dotenv import dotenv_values

        environ = {**dotenv_values(ROOT / ".env"), **os.environ}  # real environment wins over .env
    env = {k: v for k, v in environ.items() if v is not None}
    defaults = Settings()
    settings = Settings(
        database_url=env.get("DATABASE_URL") or defaults.database_url,
        app_secret=env.get("APP_SECRET", ""), verify_token=env.get("VERIFY_TOKEN", ""),
        page_access_token=env.get("PAGE_ACCESS_TOKEN", ""), app_id=env.get("APP_ID", ""),
        graph_api_url=(env.get("GRAPH_API_URL") or DEFAULT_GRAPH_API_URL).rstrip("/"),
        secret_key=env.get("SECRET_KEY", ""), port=_int(env, "PORT", defaults.port),
        case_prefix=env.get("CASE_PREFIX") or defaults.case_prefix,
        flows_dir=Path(env.get("FLOWS_DIR") or defaults.flows_dir),
        retention_days=_int(env, "RETENTION_DAYS", defaults.retention_days),
        abandoned_days=_int(env, "ABANDONED_DAYS", defaults.abandoned_days),
        erasure_grace=_seconds(env, "ERASURE_GRACE", defaults.erasure_grace),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", defaults.max_body_bytes),
        flood_limit=_int(env, "FLOOD_LIMIT", defaults.flood_limit),
        public_url=env.get("PUBLIC_URL", "").strip().rstrip("/"),
        page_username=env.get("PAGE_USERNAME", "").strip().lstrip("@"),
        privacy_contact=env.get("PRIVACY_CONTACT", "").strip(),
        organisation=env.get("ORGANISATION", "").strip() or defaults.organisation,
        flow_approval=(env.get("FLOW_APPROVAL") or defaults.flow_approval).strip().lower(),
        send_rate=_seconds(env, "SEND_RATE", defaults.send_rate),
        inbox_interval=_seconds(env, "INBOX_INTERVAL", defaults.inbox_interval),
        send_concurrency=_int(env, "SEND_CONCURRENCY", defaults.send_concurrency),
        lexicon_file=Path(env.get("LEXICON_FILE") or defaults.lexicon_file), smtp=_smtp(env),
        links_file=Path(env.get("LINKS_FILE") or defaults.links_file),
        advisor_sla=_seconds(env, "ADVISOR_SLA", defaults.advisor_sla),
        urgent_sla=_seconds(env, "URGENT_SLA", defaults.urgent_sla),
        followup_after=_seconds(env, "FOLLOWUP_AFTER", defaults.followup_after),
        window_margin=_seconds(env, "WINDOW_MARGIN", defaults.window_margin),
        insecure_cookies=env.get("CONSOLE_INSECURE_COOKIES", "").strip().lower() in ("1", "true", "yes"),
        handover_target_app_id=env.get("HANDOVER_TARGET_APP_ID", "").strip(),
        metrics_token=env.get("METRICS_TOKEN", "").strip(),
        prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip(),
        log_format=(env.get("LOG_FORMAT") or defaults.log_format).strip().lower(),
    )
    check(settings)
    return settings


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """Read a duration in seconds (a positive number)."""
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from exc
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


def _smtp(env: Mapping[str, str]) -> SmtpSettings:
    """Read the SMTP settings for alert e-mails (all optional); SMTP_URL, when set, gives them in one line."""
    if env.get("SMTP_URL"):
        env = {**env, **_smtp_url(env["SMTP_URL"])}
    security = env.get("SMTP_SECURITY", "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        raise SettingsError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    recipients = tuple(a.strip() for a in env.get("ALERT_EMAILS", "").split(",") if a.strip())
    return SmtpSettings(host=env.get("SMTP_HOST", ""), port=_int(env, "SMTP_PORT", 587),
                        sender=env.get("SMTP_FROM", ""), recipients=recipients, user=env.get("SMTP_USER", ""),
                        password=env.get("SMTP_PASSWORD", ""), security=security,
                        console_url=env.get("CONSOLE_URL", ""))


def _smtp_url(url: str) -> dict[str, str]:
    """Split smtp://user:password@host:587 (STARTTLS), smtps://… (TLS) or smtp+plain://… into the SMTP_* settings."""
    parts = urlsplit(url)
    schemes = {"smtp": "starttls", "smtps": "ssl", "smtp+plain": "none"}
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError("SMTP_URL must look like smtp://user:password@host:587 (or smtps://, smtp+plain://)")
    try:
        port = parts.port
    except ValueError as exc:
        raise SettingsError("SMTP_URL has an invalid port") from exc
    default_port = {"smtp": 587, "smtps": 465, "smtp+plain": 25}[parts.scheme]
    return {"SMTP_HOST": parts.hostname, "SMTP_PORT": str(port or default_port),
            "SMTP_USER": unquote(parts.username or ""), "SMTP_PASSWORD": unquote(parts.password or ""),
            "SMTP_SECURITY": schemes[parts.scheme]}


def check(settings: Settings) -> None:
    """Refuse settings that would run the bot unsafely."""
    if not (0 < settings.send_rate <= META_SEND_RATE) or settings.send_concurrency < 1:
        raise SettingsError(f"SEND_RATE must be above 0 and at most {META_SEND_RATE} (Meta's limit per page), "
                            "SEND_CONCURRENCY at least 1")
    if settings.log_format not in LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {settings.log_format!r}")
    if settings.flow_approval not in APPROVALS:
        raise SettingsError(f"FLOW_APPROVAL must be one of {', '.join(APPROVALS)}, not {settings.flow_approval!r}")
    if settings.page_access_token and not settings.app_secret:
        raise SettingsError("PAGE_ACCESS_TOKEN is set but APP_SECRET is not: without it anyone could post fake "
                            "Messenger events. Set APP_SECRET to your Meta app's secret (App settings > Basic).")
    target = settings.handover_target_app_id
    if target and not target.isdigit():
        raise SettingsError(f"HANDOVER_TARGET_APP_ID must be an app id (digits only), not {target!r}")
    if settings.max_body_bytes < 1024:
        raise SettingsError("MAX_BODY_BYTES must be at least 1024 (a webhook batch from Meta is a few kB)")
    if settings.retention_days < 1 or settings.abandoned_days < 1 or settings.flood_limit < 1:
        raise SettingsError("RETENTION_DAYS, ABANDONED_DAYS and FLOOD_LIMIT must be at least 1")
    if settings.prometheus_multiproc_dir and not Path(settings.prometheus_multiproc_dir).is_dir():
        raise SettingsError(f"PROMETHEUS_MULTIPROC_DIR {settings.prometheus_multiproc_dir!r} is not a directory: "
                            "create it (empty) before starting gunicorn and the workers")
    if not settings.case_prefix.isalnum():
        raise SettingsError(f"CASE_PREFIX must be letters and digits only, not {settings.case_prefix!r}")
