"""Log lines never carry a page-scoped id, a name or message text; a psid is logged as a short keyed hash."""
from __future__ import annotations

import hashlib
import hmac
import secrets

_key = secrets.token_bytes(32)  # until configure(): the same user gets the same pseudonym within this process


def configure(secret: str) -> None:
    """Key the pseudonyms with a secret every process shares, so log lines of several workers correlate."""
    global _key
    if secret:
        _key = hashlib.sha256(b"ida log pseudonym\0" + secret.encode()).digest()


def pseudonym(psid: str | None) -> str:
    """Return 10 hex characters that stand for a psid in a log line ('-' for none); not reversible without the key."""
    if not psid:
        return "-"
    return hmac.new(_key, str(psid).encode(), hashlib.sha256).hexdigest()[:10]
