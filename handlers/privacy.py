"""GET /privacy: the public privacy statement, in Dutch (default) or English, filled in from the settings."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from handlers.settings import Settings

bp = Blueprint("privacy", __name__, template_folder="privacy_templates", static_folder="privacy_static",
               static_url_path="/privacy/static")
LANGUAGES = ("nl", "en")
MAX_AGE = 3600  # the page changes only with the settings; proxies and browsers may keep it an hour


@bp.get("/privacy")
@bp.get("/privacy/<any(nl, en):lang>")
def page(lang: str | None = None) -> ResponseReturnValue:
    """Render the privacy statement; ?lang=en or /privacy/en gives English."""
    lang = lang or request.args.get("lang", "nl")
    if lang not in LANGUAGES:
        lang = "nl"
    settings: Settings = current_app.extensions["intake"].settings
    html = render_template(f"privacy/{lang}.html", lang=lang, organisation=settings.organisation,
                           contact=settings.privacy_contact, retention_days=settings.retention_days,
                           abandoned_days=settings.abandoned_days, grace=duration(settings.erasure_grace, lang))
    headers = {"Cache-Control": f"public, max-age={MAX_AGE}", "Content-Language": lang}
    return html, 200, headers


def duration(seconds: float, lang: str) -> str:
    """Say a waiting time in words: '24 uur', '2 days', '30 minuten'; empty for no wait."""
    minutes = round(seconds / 60)
    if minutes <= 0:
        return ""
    if minutes % (24 * 60) == 0 and minutes > 24 * 60:
        count, nl, en = minutes // (24 * 60), "dagen", "days"
    elif minutes >= 60:
        count, nl, en = round(minutes / 60), "uur", "hours"
    else:
        count, nl, en = minutes, "minuten", "minutes"
    if count == 1:
        nl, en = {"dagen": "dag", "uur": "uur", "minuten": "minuut"}[nl], en[:-1]
    return f"{count} {nl if lang == 'nl' else en}"
