"""The lexicon's pattern language: what each piece of syntax matches, and clear errors."""
from __future__ import annotations

import pytest

from flows.patterns import PatternError, TriggerIndex, compile_pattern


def matches(pattern: str, text: str) -> bool:
    """Return whether a pattern matches prepared text (words with spaces around)."""
    return compile_pattern(pattern).regex.search(f" {text} ") is not None


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("ik weet waar je woont", "ik weet waar je woont echt", True),
    ("ik weet waar je woont", "ik weet waar jij woont", False),
    ("dreig*", "hij dreigde ermee", True),
    ("dreig*", "bedreiging", False),  # whole words: a prefix must start the word
    ("ik (maak|steek) je (dood|neer)", "ik steek je neer", True),
    ("ik (maak|steek) je (dood|neer)", "ik maak je blij", False),
    ("[hij|ze] wil afspreken", "wil afspreken", True),
    ("[hij|ze] wil afspreken", "ze wil afspreken", True),
    ("stuur ... naakt*", "stuur mij nu een naaktfoto", True),
    ("stuur ... naakt*", "stuur me even vier vijf zes naaktfoto", False),  # more than three words apart
    ("# jaar", "ze is 14 jaar", True),
    ("# jaar", "ze is veertien jaar", False),
    ("kill", "skill", False),
])
def test_syntax_matches_whole_words(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected


@pytest.mark.parametrize(("pattern", "message"), [
    ("(a|b", "not closed"), ("[a|b)", "not closed"), ("Ik", "unexpected 'I'"), ("a, b", "unexpected ','"),
    ("", "empty"), ("a (|b)", "empty alternative"), ("a )", "unexpected ')'"),
])
def test_malformed_patterns_say_what_is_wrong(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_pattern(pattern)


def test_required_words_are_what_every_match_needs() -> None:
    compiled = compile_pattern("[ze|hij] (dreigt|dreigde) ... foto* & (geld|tikkie)")
    assert compiled.required == (frozenset({"dreigt", "dreigde"}), frozenset({"foto*"}), frozenset({"geld", "tikkie"}))
    index = TriggerIndex([("threat", compiled)])
    assert index.candidates(frozenset("hij dreigt met een foto voor geld".split())) == [("threat", compiled)]
    assert index.candidates(frozenset("hij dreigt met een foto".split())) == []  # no word for `geld|tikkie`
    assert compile_pattern("... [x]").required == ()


def test_both_sides_of_an_ampersand_must_occur_in_any_order() -> None:
    compiled = compile_pattern("(mes|wapen) & (steken|schieten)")
    assert compiled.search(" hij wil hem steken met een mes ") is not None
    assert compiled.search(" een mes in de keuken ") is None
