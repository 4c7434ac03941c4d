"""Compile the lexicon's small pattern language into regular expressions over prepared text.

Prepared text is lower case words separated by single spaces, with a space before the first and after the
last word; each compiled word eats its trailing space, so patterns line up on whole words.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

TOKEN = re.compile(r"\.\.\.|[()\[\]|#&]|[a-z0-9]+\*?|\S")
GAP = r"(?:[a-z0-9]+ ){0,3}"
# Words in almost every message: a poor index key (a pattern is indexed by its rarest required word)
COMMON = frozenset("""
ik je jij u hij ze zij we wij jullie het de een en of in op aan van met voor naar bij om te is ben bent was
zijn heeft heb hebt had niet geen wel ook nog al nu dan als dat die dit er me mij mijn m mn n haar hem ons
wat wie waar hoe zo maar kan wil gaat ga gaan doet doen zegt zei
i you he she it we they me my his her our your the a an and or in on at of to for with is am are was
were be been have has had not no do does did so but can will just now then that this what who how
""".split())


class PatternError(ValueError):
    """A pattern does not follow the syntax; the message says where."""


@dataclass(frozen=True, eq=False)
class Compiled:
    """A compiled pattern and the words a message must contain before its regex is worth running."""

    regex: re.Pattern[str]
    required: tuple[frozenset[str], ...]  # per mandatory element, its words (`word*` for a prefix): one must occur
    also: tuple[re.Pattern[str], ...] = ()  # `a & b`: these must match somewhere in the same message too

    def search(self, prepared: str, start: int = 0) -> re.Match[str] | None:
        """Return the next match of the first part, when every `&` part matches somewhere too."""
        if self.also and any(other.search(prepared) is None for other in self.also):
            return None
        return self.regex.search(prepared, start)


def compile_pattern(pattern: str) -> Compiled:
    """Compile one pattern (parts joined by `&` must all occur, in any order); raise PatternError if malformed."""
    tokens = TOKEN.findall(pattern.strip())
    if not tokens:
        raise PatternError("empty pattern")
    parts: list[list[str]] = [[]]
    for token in tokens:
        parts[-1].append(token) if token != "&" else parts.append([])
    compiled = [_compile_part(part) for part in parts]
    required = tuple(element for _, elements in compiled for element in elements)
    return Compiled(compiled[0][0], required, also=tuple(regex for regex, _ in compiled[1:]))


def _compile_part(tokens: list[str]) -> tuple[re.Pattern[str], list[frozenset[str]]]:
    """Compile one `&`-free part; return its regex and the word sets of its mandatory elements."""
    if not tokens:
        raise PatternError("empty part around '&'")
    parser = _Parser(tokens)
    body, _ = parser.sequence(top=True)
    if parser.position != len(tokens):
        raise PatternError(f"unexpected '{tokens[parser.position]}'")
    return re.compile(" " + body), parser.required


def _rarity(words: frozenset[str]) -> tuple[int, int, int]:
    """Order word sets from most telling (few everyday words, long words, few alternatives) to least."""
    plain = [w.rstrip("*") for w in words]
    return (sum(w in COMMON or len(w) < 3 for w in plain), -min(len(w) for w in plain), len(plain))


class _Parser:
    """Recursive descent over pattern tokens; also works out, per element, words one of which every match holds."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.position = tokens, 0
        self.required: list[frozenset[str]] = []  # top-level mandatory elements whose words are known

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def sequence(self, top: bool = False) -> tuple[str, frozenset[str] | None]:
        """Parse elements up to a closing bracket or bar; return the regex and its most telling word set."""
        parts: list[str] = []
        telling: list[frozenset[str]] = []
        while self.peek() not in (None, ")", "]", "|", "&"):
            regex, words, optional = self.element()
            parts.append(regex)
            if not optional and words:
                telling.append(words)
                if top:
                    self.required.append(words)
        if not parts:
            raise PatternError("empty alternative")
        return "".join(parts), min(telling, key=_rarity) if telling else None

    def element(self) -> tuple[str, frozenset[str] | None, bool]:
        """Parse one element; return its regex, the words one of which it always holds, and if it may be empty."""
        token = self.tokens[self.position]
        self.position += 1
        if token == "...":
            return GAP, None, True
        if token == "#":
            return r"[0-9]+ ", None, False
        if token in ("(", "["):
            return self.group(token)
        if re.fullmatch(r"[a-z0-9]+\*?", token):
            if token.endswith("*") and len(token) < 3:
                raise PatternError(f"'{token}': a prefix needs at least two letters")
            word = re.escape(token.rstrip("*"))
            return (word + r"[a-z0-9]* " if token.endswith("*") else word + " "), frozenset({token}), False
        raise PatternError(f"unexpected '{token}' (write lower case words without punctuation)")

    def group(self, opener: str) -> tuple[str, frozenset[str] | None, bool]:
        """Parse `(a|b)` or `[a|b]`: each alternative contributes its most telling words."""
        closer = ")" if opener == "(" else "]"
        alternatives: list[str] = []
        words: set[str] = set()
        known = True
        while True:
            regex, telling = self.sequence()
            alternatives.append(regex)
            if telling is None:
                known = False  # an alternative of only gaps or numbers: no word can be required
            else:
                words |= telling
            token = self.peek()
            self.position += 1
            if token == "|":
                continue
            if token != closer:
                raise PatternError(f"'{opener}' is not closed with '{closer}'")
            break
        optional = opener == "["
        regex = "(?:" + "|".join(alternatives) + ")" + ("?" if optional else "")
        return regex, frozenset(words) if known and words else None, optional


class TriggerIndex:
    """Finds, for a message's words, the few patterns worth running (most messages trigger none).

    Every distinct required element (a set of words) gets a number, and a bit of that number; a message satisfies
    the elements one of whose words it holds, and a pattern is a candidate only when all its elements are satisfied.
    Each pattern is filed under one key element, so only the patterns of satisfied keys are looked at, each with one
    test of its bits. What each word satisfies is remembered, since the words of chat messages repeat a lot.
    """

    CACHE_LIMIT = 200_000

    def __init__(self, patterns: list[tuple[str, Compiled]]) -> None:
        self.patterns = patterns
        ids: dict[frozenset[str], int] = {}
        self.by_word: dict[str, set[int]] = {}
        self.by_prefix: dict[str, set[int]] = {}
        self.by_key: dict[int, list[tuple[int, int]]] = {}  # key element: (pattern, bits of the others it needs)
        self.always: list[int] = []
        # how many patterns use each word: a popular word makes a poor key (its list is walked for every message)
        use = Counter(word for _, pattern in patterns for element in pattern.required for word in element)
        filed: list[tuple[int, int, list[int]]] = []
        for i, (_, pattern) in enumerate(patterns):
            # elements with everyday words filter little and cost time: leave them to the regex when the
            # pattern has a better element, keep the least everyday one when it has none
            telling = [element for element in pattern.required if not _everyday(element)] or \
                sorted(pattern.required, key=_everyday_words)[:1]
            # the everyday elements of whole words are still checked, by the same bit test, before the regex runs
            plain = [e for e in pattern.required if e not in telling and not any(w.endswith("*") for w in e)]
            needed = [self._element_id(ids, element) for element in telling + plain]
            if telling:
                key = ids[min(telling, key=lambda element: sum(use[w] for w in element))]
                filed.append((key, i, [element for element in needed if element != key]))
            else:
                self.always.append(i)
        # only the elements some pattern needs besides its key get a bit, so the bit sets stay small
        self.bit = {}
        for _, _, others in filed:
            for element in others:
                self.bit.setdefault(element, 1 << len(self.bit))
        for key, i, others in filed:
            self.by_key.setdefault(key, []).append((i, sum({self.bit[element] for element in others})))
        self.lengths = sorted({len(p) for p in self.by_prefix})
        self._bits: dict[str, int] = {}  # per word: the bits of the elements it satisfies
        self._keys: dict[str, frozenset[int]] = {}  # per word: the key elements it satisfies

    def _element_id(self, ids: dict[frozenset[str], int], element: frozenset[str]) -> int:
        """Number an element the first time it is seen and index its words."""
        if element not in ids:
            ids[element] = len(ids)
            for word in element:
                table = self.by_prefix if word.endswith("*") else self.by_word
                table.setdefault(word.rstrip("*"), set()).add(ids[element])
        return ids[element]

    def _elements_of(self, word: str) -> frozenset[int]:
        """Return the elements one word satisfies, exactly or by prefix."""
        hits = set(self.by_word.get(word, ()))
        for length in self.lengths:
            if length > len(word):
                break
            hits |= self.by_prefix.get(word[:length], set())
        return frozenset(hits)

    def _learn(self, word: str) -> tuple[int, frozenset[int]]:
        """Return, and remember, the bits and the key elements of a word."""
        if len(self._bits) >= self.CACHE_LIMIT:
            self._bits.clear()
            self._keys.clear()
        elements = self._elements_of(word)
        bits = self._bits[word] = sum(self.bit[element] for element in elements if element in self.bit)
        keys = self._keys[word] = frozenset(element for element in elements if element in self.by_key)
        return bits, keys

    def satisfied(self, words: frozenset[str]) -> set[int]:
        """Return the elements a message's words satisfy."""
        return set().union(*[self._elements_of(word) for word in words])

    def candidates(self, words: frozenset[str]) -> list[tuple[str, Compiled]]:
        """Return the (key, pattern) pairs the message can match, in their original order."""
        bits, keys = self._bits, self._keys
        try:  # the usual case: every word seen before
            masks, found = [bits[word] for word in words], [keys[word] for word in words]
        except KeyError:
            learnt = [self._learn(word) for word in words]
            masks, found = [mask for mask, _ in learnt], [elements for _, elements in learnt]
        satisfied = 0
        for mask in masks:
            satisfied |= mask
        keyed = self.by_key
        hits = [i for element in frozenset().union(*found)
                for i, needs in keyed[element] if not needs or needs & satisfied == needs]
        if self.always:
            hits += self.always
        patterns = self.patterns
        return [patterns[i] for i in sorted(hits)]


def _everyday_words(element: frozenset[str]) -> int:
    """Return how many words of an element are so common that they tell little about a message."""
    return sum(w.rstrip("*") in COMMON or len(w.rstrip("*")) < 3 for w in element)


def _everyday(element: frozenset[str]) -> bool:
    """Return whether an element has an everyday word (a message holding it says little)."""
    return _everyday_words(element) > 0
