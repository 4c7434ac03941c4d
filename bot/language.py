"""A light guess of the language of a first message (Meta does not send the user's locale)."""
from __future__ import annotations

import re

_ENGLISH = {"hi", "hello", "hey", "i", "i'm", "im", "my", "me", "the", "is", "are", "was", "someone",
            "please", "what", "how", "can", "you", "being", "bullied", "son", "daughter", "child", "it",
            "need", "want", "to", "report", "of", "and", "have", "has", "good", "morning", "evening"}
_DUTCH = {"hoi", "hallo", "hee", "ik", "mijn", "de", "het", "een", "is", "ben", "wordt", "iemand",
          "alsjeblieft", "wat", "hoe", "kan", "je", "jij", "zoon", "dochter", "kind", "heb", "wil",
          "melden", "van", "en", "goedemorgen", "goedemiddag", "goedenavond", "dag", "hulp"}
_WORD = re.compile(r"[a-z']+")


def guess_locale(text: str) -> str | None:
    """Return 'en' or 'nl' when the words clearly lean one way, else None."""
    words = _WORD.findall(text.lower())
    english = sum(w in _ENGLISH for w in words)
    dutch = sum(w in _DUTCH for w in words)
    if english > dutch:
        return "en"
    if dutch > english:
        return "nl"
    return None
