"""Useful links without an intake: load and check flows/links.yml (every problem with its line)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flows.loader import ID_PATTERN, MAX_QUICK_REPLIES, MAX_TITLE, Checker, FlowError, Node, Problem, read_yaml
from flows.model import LOCALES, Texts

# .yml, not .yaml: every flows/*.yaml is published as a flow on a fresh installation
DEFAULT_FILE = Path(__file__).with_name("links.yml")
MAX_TOPIC_TEXT = 640  # Messenger's button template text
MAX_INTRO = 2000
MAX_BUTTONS = 3  # Messenger's button template
TOP_KEYS = {"version", "intro", "topics"}
TOPIC_KEYS = {"id", "title", "words", "text", "links"}
LINK_KEYS = {"title", "url"}
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


@dataclass(frozen=True)
class UsefulLink:
    """A web address with a short button title."""

    title: Texts
    url: str


@dataclass(frozen=True)
class Topic:
    """One subject the bot can answer with a short text and links."""

    id: str
    title: Texts
    words: tuple[str, ...]  # lower case, in both languages
    text: Texts
    links: tuple[UsefulLink, ...]


@dataclass(frozen=True, eq=False)
class Knowledge:
    """The checked links file."""

    version: int
    intro: Texts
    topics: tuple[Topic, ...]

    def topic(self, topic_id: str) -> Topic | None:
        """Return a topic by id, if there is one."""
        return next((t for t in self.topics if t.id == topic_id), None)


def well_formed_url(url: str) -> bool:
    """Tell whether a URL is https with a plausible host name and no spaces."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (parts.scheme == "https" and bool(_HOST.match(parts.hostname or "")) and not parts.username
            and not any(c.isspace() for c in url) and parts.port is None)


def load_knowledge_file(path: str | Path = DEFAULT_FILE) -> Knowledge:
    """Read and check a links file; raise FlowError listing every problem."""
    path = Path(path)
    return load_knowledge_text(path.read_text(encoding="utf-8"), source=str(path))


def load_knowledge_text(text: str, source: str = "<links>") -> Knowledge:
    """Check links YAML; raise FlowError listing every problem."""
    data, problems = read_yaml(text)
    if data is None and problems:
        raise FlowError(source, problems)
    checker = _KnowledgeChecker()
    knowledge = checker.knowledge(data)
    problems += checker.problems
    if problems or knowledge is None:
        raise FlowError(source, problems or [Problem(1, 1, "the file holds no topics")])
    return knowledge


class _KnowledgeChecker(Checker):
    """Build the knowledge while collecting problems, reusing the flow checker's text checks."""

    def knowledge(self, data: Any) -> Knowledge | None:
        """Check the top level and every topic."""
        if not isinstance(data, Node):
            self.report(data, None, "the file must be a mapping with version, intro and topics")
            return None
        self.unknown_keys(data, TOP_KEYS, "links file")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            self.report(data, "version", "version must be a whole number")
            version = 1
        intro = self.texts(data, "intro", MAX_INTRO)
        return Knowledge(version=version, intro=intro or Texts("", ""), topics=self.topics(data))

    def topics(self, data: Node) -> tuple[Topic, ...]:
        """Check the list of topics: 1 to 13 (one quick reply each), unique ids."""
        raw = data.get("topics")
        if not isinstance(raw, list) or not raw:
            self.report(data, "topics" if "topics" in data else None, "topics must be a non-empty list")
            return ()
        if len(raw) > MAX_QUICK_REPLIES:
            self.report(data, "topics", f"{len(raw)} topics; Messenger shows at most {MAX_QUICK_REPLIES} buttons")
        topics: list[Topic] = []
        for node in raw:
            topic = self.topic(node, data)
            if topic and any(t.id == topic.id for t in topics):
                self.report(node, "id", f"duplicate topic id '{topic.id}'")
            elif topic:
                topics.append(topic)
        return tuple(topics)

    def topic(self, node: Any, parent: Node) -> Topic | None:
        """Check one topic."""
        if not isinstance(node, Node):
            self.report(parent, "topics", "each topic must be a mapping with id, title, words, text and links")
            return None
        self.unknown_keys(node, TOPIC_KEYS, "topic")
        topic_id = str(node.get("id", ""))
        if not ID_PATTERN.match(topic_id):
            self.report(node, "id" if "id" in node else None, f"invalid or missing topic id '{topic_id}'")
        title = self.texts(node, "title", MAX_TITLE)
        text = self.texts(node, "text", MAX_TOPIC_TEXT)
        return Topic(id=topic_id, title=title or Texts("", ""), words=self.topic_words(node),
                     text=text or Texts("", ""), links=self.useful_links(node))

    def topic_words(self, node: Node) -> tuple[str, ...]:
        """Return the {nl: [...], en: [...]} words of a topic, lower case."""
        raw = node.get("words")
        if not isinstance(raw, Node):
            self.report(node, "words" if "words" in node else None, "'words' must map nl and en to lists of words")
            return ()
        self.unknown_keys(raw, set(LOCALES), "'words'")
        words = [w for locale in LOCALES for w in raw.get(locale) or ()]
        if not all(isinstance(w, str) and w.strip() for w in words):
            self.report(node, "words", "every topic word must be a non-empty text")
        return tuple(" ".join(str(w).lower().split()) for w in words if isinstance(w, str) and w.strip())

    def useful_links(self, node: Node) -> tuple[UsefulLink, ...]:
        """Check 1 to 3 links, each with a short title and an https URL."""
        raw = node.get("links")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BUTTONS:
            self.report(node, "links" if "links" in node else None,
                        f"a topic needs 1 to {MAX_BUTTONS} links (Messenger shows at most {MAX_BUTTONS} buttons)")
            return ()
        links = []
        for item in raw:
            if not isinstance(item, Node) or not {"title", "url"} <= set(item):
                self.report(item if isinstance(item, Node) else node, None if isinstance(item, Node) else "links",
                            "a link needs a title and a url")
                continue
            self.unknown_keys(item, LINK_KEYS, "link")
            url = item["url"]
            if not isinstance(url, str) or not well_formed_url(url):
                self.report(item, "url", f"'{url}' is not a well-formed https:// URL")
            title = self.texts(item, "title", MAX_TITLE)
            links.append(UsefulLink(title=title or Texts("", ""), url=str(url)))
        return tuple(links)
