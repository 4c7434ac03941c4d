"""The Messenger profile file: check it against Meta's limits (every problem with its line) and build the POST body."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.loader import Items, Node, Problem, read_yaml

# Meta's limits for the Messenger Profile API (../shared/reference/messenger.md, section 8 and the limits table)
MAX_GREETING = 160
MAX_PAYLOAD = 1000
MAX_ICE_BREAKERS = 4
MAX_MENU_ITEMS = 20
MAX_MENU_TITLE = 30
MENU_TYPES = ("postback", "web_url")
FIELDS = ("get_started", "greeting", "ice_breakers", "persistent_menu")
DEFAULT_LOCALE = "default"
LOCALE = re.compile(r"^(?:default|[a-z]{2}_[A-Z]{2})$")
PAYLOAD = re.compile(r"^[A-Z][A-Z0-9_]*$")  # our convention, so the bot's postback table can match it exactly
URL = re.compile(r"^https?://[^\s/]+\S*$")
Where = tuple[int, int]


@dataclass(frozen=True)
class ProfileReport:
    """What checking a profile file found: the POST body (None when there is a problem) and every problem."""

    body: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the file has no problem."""
        return not self.problems


def check_profile_file(path: str | Path) -> ProfileReport:
    """Read and check a profile file (OSError when it cannot be read)."""
    return check_profile_text(Path(path).read_text(encoding="utf-8"))


def check_profile_text(text: str) -> ProfileReport:
    """Parse and check profile YAML; return the body for `POST /me/messenger_profile` or the problems."""
    data, problems = read_yaml(text)
    if data is None and problems:
        return ProfileReport(None, problems)
    checker = _Checker()
    body = checker.profile(data)
    found = sorted(problems + checker.problems, key=lambda p: (p.line, p.column))
    return ProfileReport(None if found else body, found)


def normalise(profile: dict[str, Any]) -> dict[str, Any]:
    """Keep the four properties we manage, each per-locale list sorted by locale, to compare two profiles."""
    result: dict[str, Any] = {}
    for name in FIELDS:
        value = profile.get(name)
        if isinstance(value, list):
            value = sorted(value, key=lambda item: (item.get("locale") != DEFAULT_LOCALE, str(item.get("locale")))
                           if isinstance(item, dict) else (True, ""))
        if value is not None:
            result[name] = value
    return result


class _Checker:
    """Build the body from the loaded YAML while collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, where: Where, message: str) -> None:
        """Record a problem at a place."""
        self.problems.append(Problem(where[0], where[1], message))

    def profile(self, data: Any) -> dict[str, Any]:
        """Check the top level and each property."""
        if not isinstance(data, Node):
            self.report((1, 1), "the file must be a mapping with " + ", ".join(FIELDS))
            return {}
        for key in data:
            if key not in FIELDS:
                self.report(data.where(key), f"unknown key '{key}' (allowed: {', '.join(FIELDS)})")
        for key in FIELDS:
            if key not in data:
                self.report(data.where(), f"missing '{key}'")
        body: dict[str, Any] = {}
        if "get_started" in data:
            body["get_started"] = self.get_started(data.get("get_started"), data.where("get_started"))
        for key, check in (("greeting", self.greeting), ("ice_breakers", self.ice_breakers),
                           ("persistent_menu", self.menu)):
            if key in data:
                body[key] = [check(locale, value, where)
                             for locale, value, where in self.locales(data, key)]
        return body

    def get_started(self, value: Any, where: Where) -> dict[str, Any]:
        """Check `get_started: {payload: ...}`."""
        if not isinstance(value, Node) or set(value) != {"payload"}:
            self.report(where, "get_started must be a mapping with only 'payload'")
            return {}
        return {"payload": self.payload(value.get("payload"), value.where("payload"), "get_started payload")}

    def locales(self, data: Node, key: str) -> list[tuple[str, Any, Where]]:
        """Check a mapping of locale to value (a `default` is required); return (locale, value, place) triples."""
        value = data.get(key)
        if not isinstance(value, Node) or not value:
            self.report(data.where(key), f"{key} must be a mapping of locale ('{DEFAULT_LOCALE}', en_US, …) to its "
                                         "content")
            return []
        if DEFAULT_LOCALE not in value:
            self.report(data.where(key), f"{key} needs a '{DEFAULT_LOCALE}' locale (shown when no other matches)")
        for locale in value:
            if not isinstance(locale, str) or not LOCALE.match(locale):
                self.report(value.where(str(locale)), f"{key}: '{locale}' is not a locale such as "
                                                      f"'{DEFAULT_LOCALE}', nl_NL or en_US")
        return [(str(locale), content, value.where(str(locale))) for locale, content in value.items()]

    def greeting(self, locale: str, text: Any, where: Where) -> dict[str, Any]:
        """Check one locale's greeting text."""
        if not isinstance(text, str) or not text.strip():
            self.report(where, f"greeting {locale}: the text must be a non-empty string")
        elif len(text) > MAX_GREETING:
            self.report(where, f"greeting {locale}: {len(text)} characters, Meta allows at most {MAX_GREETING}")
        return {"locale": locale, "text": text}

    def ice_breakers(self, locale: str, items: Any, where: Where) -> dict[str, Any]:
        """Check one locale's ice breakers: at most four questions, each with a payload."""
        questions = []
        for item, place in self.items(items, where, f"ice_breakers {locale}", {"question", "payload"}):
            question = item.get("question")
            if not isinstance(question, str) or not question.strip():
                self.report(item.where("question") if "question" in item else place,
                            f"ice_breakers {locale}: each ice breaker needs a question (text)")
            payload = self.payload(item.get("payload"), item.where("payload") if "payload" in item else place,
                                   f"ice_breakers {locale} payload")
            questions.append({"question": question, "payload": payload})
        if len(questions) > MAX_ICE_BREAKERS:
            self.report(where, f"ice_breakers {locale}: {len(questions)} questions, Meta allows at most "
                               f"{MAX_ICE_BREAKERS}")
        return {"locale": locale, "call_to_actions": questions}

    def menu(self, locale: str, items: Any, where: Where) -> dict[str, Any]:
        """Check one locale's persistent menu: at most 20 postback or web_url items with short titles."""
        actions = [self.menu_item(locale, item, place) for item, place in
                   self.items(items, where, f"persistent_menu {locale}", {"type", "title", "payload", "url"})]
        if len(actions) > MAX_MENU_ITEMS:
            self.report(where, f"persistent_menu {locale}: {len(actions)} items, Meta allows at most {MAX_MENU_ITEMS}")
        # typing stays possible: the intake asks for free text
        return {"locale": locale, "composer_input_disabled": False, "call_to_actions": actions}

    def menu_item(self, locale: str, item: Node, place: Where) -> dict[str, Any]:
        """Check one menu item (type postback by default)."""
        kind, title, what = item.get("type", "postback"), item.get("title"), f"persistent_menu {locale}"
        if kind not in MENU_TYPES:
            self.report(item.where("type"), f"{what}: type '{kind}' is not one of {', '.join(MENU_TYPES)}")
        if not isinstance(title, str) or not title.strip():
            self.report(item.where("title") if "title" in item else place, f"{what}: each item needs a title (text)")
        elif len(title) > MAX_MENU_TITLE:
            self.report(item.where("title"), f"{what}: title '{title}' has {len(title)} characters, Meta allows at "
                                             f"most {MAX_MENU_TITLE}")
        action: dict[str, Any] = {"type": kind, "title": title}
        if kind == "web_url":
            url = item.get("url")
            if not isinstance(url, str) or not URL.match(url) or "payload" in item:
                self.report(item.where("url") if "url" in item else place,
                            f"{what}: a web_url item needs a url (http:// or https://) and no payload")
            action["url"] = url
        else:
            if "url" in item:
                self.report(item.where("url"), f"{what}: a postback item has a payload, not a url")
            action["payload"] = self.payload(item.get("payload"), item.where("payload") if "payload" in item
                                             else place, f"{what} payload")
        return action

    def items(self, items: Any, where: Where, what: str, keys: set[str]) -> list[tuple[Node, Where]]:
        """Check a list of mappings with known keys; return the mappings with their places."""
        if not isinstance(items, Items):
            self.report(where, f"{what} must be a list")
            return []
        found = []
        for item, place in zip(items, items.marks, strict=True):
            if not isinstance(item, Node):
                self.report(place, f"{what}: each entry must be a mapping with {', '.join(sorted(keys))}")
                continue
            for key in item:
                if key not in keys:
                    self.report(item.where(key), f"{what}: unknown key '{key}' (allowed: {', '.join(sorted(keys))})")
            found.append((item, place))
        return found

    def payload(self, value: Any, where: Where, what: str) -> Any:
        """Check a postback payload: 1 to 1,000 characters of A-Z, 0-9 and _ (our convention)."""
        if not isinstance(value, str) or not value:
            self.report(where, f"{what} must be a non-empty text such as REPORT")
        elif len(value) > MAX_PAYLOAD:
            self.report(where, f"{what}: {len(value)} characters, Meta allows at most {MAX_PAYLOAD}")
        elif not PAYLOAD.match(value):
            self.report(where, f"{what} '{value}' must be capital letters, digits and _ (like REPORT_PARENT)")
        return value
