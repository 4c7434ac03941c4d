"""The Graph API client: Send API calls with timeouts, and errors that say whether a retry can help."""
from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import requests

log = logging.getLogger(__name__)
# Meta's transient codes: 1/2 unknown/service, 4/17/32/613 rate limits, 1200 temporary send failure
RETRYABLE_CODES = {1, 2, 4, 17, 32, 341, 613, 1200}
HANDOVER_ENDPOINTS = {"pass_thread_control"}  # outbox bodies that go elsewhere than /me/messages


class GraphError(Exception):
    """A failed Graph API call, with Meta's error code and whether trying again later can help."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 subcode: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status, self.code, self.subcode, self.retryable = status, code, subcode, retryable

    def __str__(self) -> str:
        return f"{self.args[0]} (http {self.status}, code {self.code}, subcode {self.subcode})"


class Sender(Protocol):
    """Anything that can deliver one Send API body and return Meta's message id."""

    def send(self, body: dict[str, Any]) -> str | None: ...


class GraphClient:
    """Calls `POST {GRAPH_API_URL}/me/messages` with a pooled `requests` session."""

    def __init__(self, base_url: str, access_token: str, timeout: float = 10.0, connections: int = 10) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self._token = access_token
        self._session = requests.Session()  # thread-safe for these calls: the sender's threads share its pool
        self._session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=connections))
        self._session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=connections))

    def send(self, body: dict[str, Any]) -> str | None:
        """Send one message or sender action, or a handover request (marked by _endpoint); raise GraphError."""
        endpoint = body.get("_endpoint")
        if endpoint in HANDOVER_ENDPOINTS:
            self.post(f"/me/{endpoint}", {k: v for k, v in body.items() if k != "_endpoint"})
            return None
        return self.post("/me/messages", body).get("message_id")

    def subscribed_apps(self) -> list[str]:
        """Return the ids of the apps subscribed to the page's webhooks."""
        try:
            response = self._session.get(self.base_url + "/me/subscribed_apps",
                                         params={"access_token": self._token}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GraphError(f"network error: {type(exc).__name__}") from exc
        return [str(app.get("id")) for app in _decode(response).get("data", []) if isinstance(app, dict)]

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET a Graph path with query parameters and return the decoded answer."""
        try:
            response = self._session.get(self.base_url + path, params={**(params or {}), "access_token": self._token},
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise GraphError(f"network error: {type(exc).__name__}") from exc
        return _decode(response)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to a Graph path and return the decoded answer."""
        try:
            response = self._session.post(self.base_url + path, params={"access_token": self._token},
                                          json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GraphError(f"network error: {type(exc).__name__}") from exc
        return _decode(response)


def _decode(response: requests.Response) -> dict[str, Any]:
    """Return the JSON answer of a successful call, or raise a GraphError describing the failure."""
    try:
        data = response.json()
    except (json.JSONDecodeError, requests.exceptions.JSONDecodeError):
        data = {}
    if response.ok and isinstance(data, dict) and "error" not in data:
        return data
    error = data.get("error", {}) if isinstance(data, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    retryable = code in RETRYABLE_CODES if code is not None else response.status_code >= 500
    raise GraphError(str(error.get("message") or response.reason or "Graph API error")[:200],
                     status=response.status_code, code=code, subcode=error.get("error_subcode"),
                     retryable=retryable)


class PrintingSender:
    """Stands in for the Graph API when no PAGE_ACCESS_TOKEN is set: prints replies instead of sending."""

    def __init__(self, write: Any = print) -> None:
        self._write = write

    def send(self, body: dict[str, Any]) -> str | None:
        """Print a message body (sender actions are skipped)."""
        message = body.get("message")
        if message:
            buttons = " | ".join(q["title"] for q in message.get("quick_replies", []))
            self._write(f"[to {body['recipient']['id']}] {message.get('text', '')}"
                        + (f"\n    [{buttons}]" if buttons else ""))
        return None
