"""The public /privacy page: both languages, the configured figures, the contact, escaping, caching."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from app import create_app
from handlers.privacy import duration
from handlers.settings import Settings

Get = Callable[..., Any]


@pytest.fixture
def get(sqlite_url: str) -> Iterator[Get]:
    """Return a function that builds the app with these settings and fetches a path (the page uses no data)."""
    apps: list[Any] = []

    def fetch(path: str, **overrides: Any) -> Any:
        settings = replace(Settings(database_url=sqlite_url, secret_key="test"), **overrides)
        app = create_app(settings, start_background=False)
        apps.append(app)
        return app.test_client().get(path)

    yield fetch
    for app in apps:
        app.extensions["intake"].sender.close()
        app.extensions["intake"].close()


def test_the_page_is_dutch_by_default_and_links_to_english(get: Get) -> None:
    response = get("/privacy")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<html lang="nl">' in page and "Wat bewaren we?" in page and "Ida Social Media Coach" in page
    assert 'href="/privacy/en"' in page and "112" in page
    assert "verwijder mijn gegevens" in page and "Stuur nooit naaktfoto" in page


@pytest.mark.parametrize("path", ["/privacy/en", "/privacy?lang=en"])
def test_english_at_both_addresses_links_back_to_dutch(get: Get, path: str) -> None:
    page = get(path).get_data(as_text=True)
    assert '<html lang="en">' in page and "What do we keep?" in page and "delete my data" in page
    assert 'href="/privacy"' in page and "Lees dit in het Nederlands" in page


def test_an_unknown_language_falls_back_to_dutch(get: Get) -> None:
    assert '<html lang="nl">' in get("/privacy?lang=fr").get_data(as_text=True)
    assert get("/privacy/fr").status_code == 404


def test_the_configured_figures_and_organisation_appear(get: Get) -> None:
    settings = {"organisation": "Stichting Veilig Online", "retention_days": 365, "abandoned_days": 14,
                "erasure_grace": 7200.0, "privacy_contact": "privacy@example.nl"}
    dutch = get("/privacy", **settings).get_data(as_text=True)
    assert "Stichting Veilig Online" in dutch and "Ida Social Media" not in dutch
    assert "365 dagen later" in dutch and "na 14 dagen" in dutch and "wachten we eerst 2 uur" in dutch
    assert 'href="mailto:privacy@example.nl"' in dutch
    english = get("/privacy/en", **settings).get_data(as_text=True)
    assert "365 days later" in english and "after 14" in english and "first wait 2 hours" in english
    assert "privacy@example.nl" in english


def test_without_a_contact_address_the_page_points_to_the_chat(get: Get) -> None:
    dutch = get("/privacy").get_data(as_text=True)
    assert "mailto:" not in dutch and "Stel je vraag in de Messenger-chat" in dutch
    english = get("/privacy/en").get_data(as_text=True)
    assert "mailto:" not in english and "Ask your question in the Messenger chat" in english


def test_no_grace_period_means_erasure_at_once(get: Get) -> None:
    assert "We wissen dan alles meteen." in get("/privacy", erasure_grace=0.0).get_data(as_text=True)
    assert "erase everything at once" in get("/privacy/en", erasure_grace=0.0).get_data(as_text=True)


def test_the_organisation_name_is_escaped(get: Get) -> None:
    page = get("/privacy", organisation='<script>alert("x")</script> & Co').get_data(as_text=True)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; Co" in page


def test_the_page_is_cacheable_without_inline_script_or_style(get: Get) -> None:
    response = get("/privacy")
    page = response.get_data(as_text=True)
    assert "public" in response.headers["Cache-Control"] and "max-age" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers
    assert "<script" not in page and "<style" not in page and "style=" not in page
    stylesheet = get("/privacy/static/privacy.css")
    stylesheet.close()  # a static file is streamed from an open file
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"


@pytest.mark.parametrize(("seconds", "nl", "en"), [
    (86400, "24 uur", "24 hours"), (3600, "1 uur", "1 hour"), (172800, "2 dagen", "2 days"),
    (1800, "30 minuten", "30 minutes"), (60, "1 minuut", "1 minute"), (0, "", ""),
])
def test_waiting_times_are_said_in_words(seconds: float, nl: str, en: str) -> None:
    assert duration(seconds, "nl") == nl and duration(seconds, "en") == en
