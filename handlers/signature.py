"""Check Meta's X-Hub-Signature-256 header over the raw request body."""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Return whether the header is the HMAC-SHA256 of the exact body bytes under the app secret."""
    if not app_secret or not header or not header.startswith(PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
    given = header[len(PREFIX):].strip().lower().encode("utf-8", "replace")  # bytes: any header text is safe
    return hmac.compare_digest(expected, given)


def sign(raw_body: bytes, app_secret: str) -> str:
    """Return the header value Meta would send for this body (for tests and the load generator)."""
    return PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
