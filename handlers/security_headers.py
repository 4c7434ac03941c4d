"""Security headers on every response: a strict Content-Security-Policy, no framing, no sniffing, no referrer.

Console pages also get `Cache-Control: no-store`: they show what minors wrote, which must not stay in a shared
browser's or proxy's cache.
"""
from __future__ import annotations

from flask import Flask, Response, g, request

CONSOLE_PREFIX = "/console"
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # no 'unsafe-inline': every script is a file under handlers/console/static
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def allow_inline_styles() -> None:
    """Let this response's page apply inline styles (Mermaid styles the diagrams it draws); scripts stay strict."""
    g.inline_styles = True


def content_security_policy(inline_styles: bool = False) -> str:
    """Return the policy as a header value."""
    policy = dict(POLICY, **({"style-src": "'self' 'unsafe-inline'"} if inline_styles else {}))
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def add_headers(response: Response) -> Response:
    """Add the security headers; forbid caching under the console."""
    response.headers["Content-Security-Policy"] = content_security_policy(g.get("inline_styles", False))
    for name, value in HEADERS.items():
        response.headers[name] = value
    if request.path == CONSOLE_PREFIX or request.path.startswith(CONSOLE_PREFIX + "/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the headers for every response of the app."""
    app.after_request(add_headers)
