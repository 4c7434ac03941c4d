"""Settings from environment variables (a .env file may set them); the only place that reads them."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v25.0"


class SettingsError(Exception):
    """The configuration is unsafe or invalid; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its surroundings."""

    database_url: str = f"sqlite:///{ROOT / 'instance' / 'bot.db'}"
    app_secret: str = ""
    verify_token: str = ""
    page_access_token: str = ""
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    secret_key: str = ""
    port: int = 8000
    case_prefix: str = "IDA"
    flows_dir: Path = ROOT / "flows"
    retention_days: int = 180
    send_interval: float = 1.0
    graph_timeout: float = 10.0
    extra: Mapping[str, str] = field(default_factory=dict)

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
        page_access_token=env.get("PAGE_ACCESS_TOKEN", ""),
        graph_api_url=(env.get("GRAPH_API_URL") or DEFAULT_GRAPH_API_URL).rstrip("/"),
        secret_key=env.get("SECRET_KEY", ""), port=_int(env, "PORT", defaults.port),
        case_prefix=env.get("CASE_PREFIX") or defaults.case_prefix,
        flows_dir=Path(env.get("FLOWS_DIR") or defaults.flows_dir),
        retention_days=_int(env, "RETENTION_DAYS", defaults.retention_days),
    )
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Refuse settings that would run the bot unsafely."""
    if settings.page_access_token and not settings.app_secret:
        raise SettingsError("PAGE_ACCESS_TOKEN is set but APP_SECRET is not: without it anyone could post fake "
                            "Messenger events. Set APP_SECRET to your Meta app's secret (App settings > Basic).")
    if not settings.case_prefix.isalnum():
        raise SettingsError(f"CASE_PREFIX must be letters and digits only, not {settings.case_prefix!r}")
