"""What the bot says when it recognises danger or a crime: each category's advice once per case."""
from __future__ import annotations

from bot.outputs import Reply
from bot.render import say
from bot.safety import Detection
from bot.state import ConversationState
from flows.lexicon import Lexicon


def merge(*groups: tuple[Detection, ...]) -> tuple[Detection, ...]:
    """Return the detections with one per category, the first one found kept."""
    seen: dict[str, Detection] = {}
    for group in groups:
        for detection in group:
            seen.setdefault(detection.category, detection)
    return tuple(seen.values())


def advise(state: ConversationState, detections: tuple[Detection, ...],
           lexicon: Lexicon | None) -> tuple[ConversationState, tuple[Reply, ...]]:
    """Return the state that remembers what was advised, and the advice not given yet in this case."""
    new = [d for d in detections if d.category not in state.advised]
    if not new or lexicon is None:
        return state, ()
    replies = [say(lexicon.categories[d.category].advice, state.locale) for d in new
               if d.category in lexicon.categories]
    if any(d.criminal for d in new) and "police" not in state.advised:
        replies.append(say(lexicon.police_advice, state.locale))
    advised = state.advised | {d.category for d in new} | ({"police"} if any(d.criminal for d in new) else set())
    return state.update(advised=frozenset(advised)), tuple(replies)
