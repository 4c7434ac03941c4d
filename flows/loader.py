"""Turn a YAML flow file into a checked Flow, collecting every problem with its line and column."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from flows.graph import check_graph
from flows.model import (
    CASE_FIELDS,
    LOCALES,
    PLACEHOLDERS,
    SAFETY_CATEGORIES,
    STEP_TYPES,
    BranchCase,
    Flow,
    Link,
    Option,
    Step,
    Texts,
    Validation,
    Variant,
)

MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_TEXT = 2000
STEP_KEYS = {
    "choice": {"text", "options", "next", "answer", "allow_text", "case_field", "variants"},
    "text": {"text", "next", "answer", "validate", "case_field", "variants"},
    "info": {"text", "next", "variants"},
    "branch": {"on", "cases", "default"},
    "end": {"text", "case", "links", "variants"},
}
OPTION_KEYS = {"value", "title", "next", "flags", "urgency", "synonyms", "minor"}
TOP_KEYS = {"id", "version", "start", "steps", "links", "link_sets"}
LINK_KEYS = {"id", "title", "url"}
CASE_KEYS = {"when", "next"}
VARIANT_KEYS = {"when", "text"}
VALIDATE_KEYS = {"kind", "min_length", "max_length"}
VALIDATE_KINDS = ("any", "email", "phone")
URGENCIES = ("urgent", "normal")
MAX_LINK_TITLE = 80
ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a flow file, where it is."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class FlowError(Exception):
    """A flow file has problems; `problems` lists all of them."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        super().__init__(f"{source}: " + "; ".join(map(str, self.problems)))


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line, p.column))


@dataclass(frozen=True)
class FlowReport:
    """What checking a flow found: the flow (None when it has problems), its problems and its warnings.

    Problems stop a flow from being used; warnings point at something that is probably a mistake but
    still works. Both lists are sorted by line and column.
    """

    flow: Flow | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the flow has no problems (it may still have warnings)."""
        return not self.problems


class Node(dict):
    """A YAML mapping that remembers where it and each of its keys stand."""

    line = 0
    column = 0
    key_marks: dict[str, tuple[int, int]]

    def where(self, key: str | None = None) -> tuple[int, int]:
        """Return (line, column) of a key, or of the mapping itself."""
        return self.key_marks.get(key, (self.line, self.column)) if key else (self.line, self.column)


class LocatingLoader(yaml.SafeLoader):
    """A safe loader whose mappings carry 1-based line and column numbers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[Problem] = []  # duplicate keys: PyYAML keeps the last one without a word

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Node:  # type: ignore[override]
        self._report_duplicate_keys(node)
        mapping = Node(super().construct_mapping(node, deep=True))
        mapping.line, mapping.column = node.start_mark.line + 1, node.start_mark.column + 1
        mapping.key_marks = {
            str(k.value): (k.start_mark.line + 1, k.start_mark.column + 1) for k, _ in node.value
        }
        return mapping

    def _report_duplicate_keys(self, node: yaml.MappingNode) -> None:
        """Record a problem at every key that repeats an earlier key of the same mapping."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                mark = key_node.start_mark
                self.problems.append(Problem(mark.line + 1, mark.column + 1, f"duplicate key '{key}'"))
            seen.add(key)


class Items(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers the line and column of each item."""

    marks: list[tuple[int, int]]


def _construct_items(loader: LocatingLoader, node: yaml.SequenceNode) -> Items:
    items = Items(loader.construct_sequence(node, deep=True))
    items.marks = [(n.start_mark.line + 1, n.start_mark.column + 1) for n in node.value]
    return items


LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LocatingLoader.construct_mapping
)
LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_items)
# YAML 1.2 scalars: admins write `on:`, `yes`, `no` and `12_15` and mean the words, not a boolean or 1215
LocatingLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LocatingLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                      list("tTfF"))
LocatingLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))


def load_flow_file(path: str | Path) -> Flow:
    """Read and check one flow file; raise FlowError listing every problem."""
    path = Path(path)
    return load_flow_text(path.read_text(encoding="utf-8"), source=str(path))


def check_flow_file(path: str | Path) -> FlowReport:
    """Read and check one flow file; return every problem and warning (OSError when it cannot be read)."""
    path = Path(path)
    return check_flow_text(path.read_text(encoding="utf-8"), source=str(path))


def read_yaml(text: str) -> tuple[Any, list[Problem]]:
    """Parse YAML with line numbers on every mapping; return the data and the problems found while reading.

    A syntax error gives exactly one problem (and no data); a key repeated in one mapping gives a
    problem at the repeated key, and the data keeps the last value, as YAML readers do.
    """
    loader = None
    try:
        loader = LocatingLoader(text)  # the reader refuses a forbidden character at once
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(line, col, f"YAML syntax: {exc.problem}")]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a control character
        before = text[:exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return None, [Problem(line, col, f"YAML syntax: {exc.reason} (character #x{exc.character:04x})")]
    finally:
        if loader is not None:
            loader.dispose()
    return data, loader.problems


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML with line numbers on every mapping; raise FlowError on a syntax error or a duplicate key."""
    data, problems = read_yaml(text)
    if problems:
        raise FlowError(source, problems)
    return data


def check_flow_text(text: str, source: str = "<flow>") -> FlowReport:
    """Parse and check flow YAML; return the flow (None when there is any problem), problems and warnings.

    `source` names the text in FlowError messages of load_flow_text; the report itself holds only
    line and column.
    """
    data, problems = read_yaml(text)
    if problems and data is None:  # a syntax error: nothing further can be judged
        return FlowReport(flow=None, problems=_sorted(problems))
    checker = Checker()
    flow = checker.flow(data)
    if flow is not None:
        checker.problems.extend(check_graph(flow, data))
    problems = problems + checker.problems
    if flow is None and not problems:
        problems.append(Problem(1, 1, "the file holds no flow"))
    return FlowReport(flow=None if problems else flow, problems=_sorted(problems), warnings=_sorted(checker.warnings))


def load_flow_text(text: str, source: str = "<flow>") -> Flow:
    """Parse and check flow YAML; raise FlowError listing every problem (warnings do not count)."""
    report = check_flow_text(text, source)
    if report.problems or report.flow is None:
        raise FlowError(source, report.problems or [Problem(1, 1, "the file holds no flow")])
    return report.flow


class Checker:
    """Build model values from loaded YAML while collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def report(self, node: Any, key: str | None, message: str) -> None:
        """Record a problem at a key of a mapping (or at the mapping)."""
        line, col = node.where(key) if isinstance(node, Node) else (1, 1)
        self.problems.append(Problem(line, col, message))

    def warn(self, node: Any, key: str | None, message: str) -> None:
        """Record a warning at a key of a mapping (or at the mapping)."""
        line, col = node.where(key) if isinstance(node, Node) else (1, 1)
        self.warnings.append(Problem(line, col, message))

    def flow(self, data: Any) -> Flow | None:
        """Check the top level and every step."""
        if not isinstance(data, Node):
            self.report(data, None, "the file must be a mapping with id, start and steps")
            return None
        self.unknown_keys(data, TOP_KEYS, "flow")
        for key in ("id", "start", "steps"):
            if key not in data:
                self.report(data, None, f"missing '{key}'")
        version = data.get("version", 1)  # optional: the database numbers published versions
        if not isinstance(version, int) or isinstance(version, bool):
            self.report(data, "version", "version must be a whole number")
            version = 1
        steps = self.steps(data.get("steps"), data)
        links = self.links(data.get("links") or [], data)
        link_sets = self.link_sets(data.get("link_sets") or {}, data, links)
        return Flow(
            id=str(data.get("id", "")), version=version,
            start=str(data.get("start", "")), steps=MappingProxyType(steps),
            links=MappingProxyType(links), link_sets=MappingProxyType(link_sets),
        )

    def unknown_keys(self, node: Node, allowed: set[str], what: str) -> None:
        """Report keys a mapping must not have."""
        for key in node:
            if key not in allowed:
                self.report(node, key, f"unknown field '{key}' in {what}")

    def steps(self, raw: Any, parent: Node) -> dict[str, Step]:
        """Check the list of steps; duplicates are reported, the first one kept."""
        if not isinstance(raw, list) or not raw:
            self.report(parent, "steps", "steps must be a non-empty list")
            return {}
        steps: dict[str, Step] = {}
        marks = getattr(raw, "marks", [])
        for index, node in enumerate(raw):
            if not isinstance(node, Node) and index < len(marks):
                self.problems.append(Problem(*marks[index], "each step must be a mapping with an id and a type"))
                continue
            step = self.step(node)
            if step is None:
                continue
            if step.id in steps:
                self.report(node, "id", f"duplicate step id '{step.id}'")
            else:
                steps[step.id] = step
        return steps

    def step(self, node: Any) -> Step | None:
        """Check one step mapping and build its Step."""
        if not isinstance(node, Node):
            self.report(node, None, "each step must be a mapping")
            return None
        step_id, kind = str(node.get("id", "")), node.get("type")
        if not ID_PATTERN.match(step_id):
            self.report(node, "id" if "id" in node else None, f"invalid or missing step id '{step_id}'")
        if kind not in STEP_TYPES:
            self.report(node, "type" if "type" in node else None,
                        f"step '{step_id}': unknown step type '{kind}' (use one of {', '.join(STEP_TYPES)})")
            return Step(id=step_id, type=str(kind), next=self.optional_id(node, "next"))  # its id still exists
        self.unknown_keys(node, STEP_KEYS[kind] | {"id", "type"}, f"{kind} step '{step_id}'")
        return Step(
            id=step_id, type=kind, text=self.step_text(node, kind), next=self.optional_id(node, "next"),
            answer=str(node.get("answer", step_id)), options=self.options(node, kind),
            allow_text=self.flag(node, "allow_text", False), case_field=self.case_field(node),
            validate=self.validation(node), variants=self.variants(node),
            on=node.get("on"), cases=self.cases(node), default=self.optional_id(node, "default"),
            creates_case=self.flag(node, "case", True), sends_links=self.flag(node, "links", True),
        )

    def step_text(self, node: Node, kind: str) -> Texts | None:
        """Check the text of a step that sends one."""
        if kind == "branch":
            return None
        if "text" not in node:
            self.report(node, None, f"step '{node.get('id')}' needs a text in nl and en")
            return None
        return self.texts(node, "text", MAX_TEXT, allow_reference=kind == "end")

    def texts(self, node: Node, key: str, limit: int, allow_reference: bool = False) -> Texts | None:
        """Check a {nl, en} text: both present, within the limit, known placeholders."""
        raw = node.get(key)
        if not isinstance(raw, Node):
            self.report(node, key, f"'{key}' must have a text for each of: {', '.join(LOCALES)}")
            return None
        self.unknown_keys(raw, set(LOCALES), f"'{key}'")
        for locale in LOCALES:
            value = raw.get(locale)
            if not isinstance(value, str) or not value.strip():
                self.report(raw, locale if locale in raw else None, f"'{key}' has no {locale} text")
            elif len(value) > limit:
                self.report(raw, locale, f"'{key}' ({locale}) is {len(value)} characters; the limit is {limit}")
            else:
                self.placeholders(raw, locale, value, allow_reference)
        return Texts(nl=str(raw.get("nl", "")), en=str(raw.get("en", "")))

    def placeholders(self, node: Node, key: str, value: str, allow_reference: bool) -> None:
        """Report placeholders the bot cannot fill."""
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError:
            self.report(node, key, "unbalanced { or } (write {{ or }} for a literal brace)")
            return
        for name in sorted(names):
            if name not in PLACEHOLDERS:
                self.report(node, key, f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})")
            elif name == "case_reference" and not allow_reference:
                self.report(node, key, "{case_reference} is only known in an end step")

    def flag(self, node: Node, key: str, default: bool) -> bool:
        """Return a true/false field, reporting any other value."""
        value = node.get(key, default)
        if not isinstance(value, bool):
            self.report(node, key, f"'{key}' must be true or false")
            return default
        return value

    def optional_id(self, node: Node, key: str) -> str | None:
        """Return a step reference, reporting a non-string one."""
        value = node.get(key)
        if value is not None and not isinstance(value, str):
            self.report(node, key, f"'{key}' must be a step id")
            return None
        return value

    def options(self, node: Node, kind: str) -> tuple[Option, ...]:
        """Check the quick-reply options of a choice step."""
        if kind != "choice":
            return ()
        raw = node.get("options")
        if not isinstance(raw, list) or not raw:
            self.report(node, "options" if "options" in node else None, "a choice step needs options")
            return ()
        if len(raw) > MAX_QUICK_REPLIES:
            self.report(node, "options", f"{len(raw)} options; Messenger allows at most {MAX_QUICK_REPLIES}")
        seen: set[str] = set()
        options = []
        for item in raw:
            option = self.option(item)
            if option and option.value in seen:
                self.report(item, "value", f"duplicate option value '{option.value}'")
            elif option:
                seen.add(option.value)
                options.append(option)
        if node.get("case_field") == "category":
            self.safety_mapping(node, raw, options)
        return tuple(options)

    def safety_mapping(self, node: Node, raw: list[Any], options: list[Option]) -> None:
        """Warn when the incident-type question maps no answer, or an answer named after one, to a safety category."""
        step_id = node.get("id")
        if options and not any(o.flags for o in options):
            self.warn(node, "options", f"question '{step_id}' on the incident type maps no answer to a safety "
                                       "category: add 'flags' to answers such as extortion, threats or danger")
        for item in raw:
            if not isinstance(item, Node) or "value" not in item or item.get("flags"):
                continue
            value = re.sub(r"[\s-]+", "_", str(item["value"]).strip().lower())
            named = sorted((c for c in SAFETY_CATEGORIES if c in value), key=len, reverse=True)
            if named:
                self.warn(item, "value", f"answer '{item['value']}' of question '{step_id}' sounds like safety "
                                         f"category '{named[0]}' but has no 'flags': add flags: [{named[0]}] "
                                         "(or the categories it stands for)")

    def option(self, node: Any) -> Option | None:
        """Check one option."""
        if not isinstance(node, Node) or "value" not in node:
            self.report(node, None, "each option needs a value and a title")
            return None
        self.unknown_keys(node, OPTION_KEYS, "option")
        title = self.texts(node, "title", MAX_TITLE)
        flags = tuple(node.get("flags") or ())
        for flag in flags:
            if flag not in SAFETY_CATEGORIES:
                self.report(node, "flags", f"unknown safety category '{flag}'")
        if node.get("urgency") not in (None, *URGENCIES):
            self.report(node, "urgency", "urgency must be 'urgent' or 'normal'")
        synonyms = node.get("synonyms") or {}
        if isinstance(synonyms, Node):
            self.unknown_keys(synonyms, set(LOCALES), "'synonyms'")
        elif not isinstance(synonyms, dict):
            self.report(node, "synonyms", f"synonyms must map {' and '.join(LOCALES)} to lists of words")
            synonyms = {}
        words = tuple(str(w) for locale in LOCALES for w in (synonyms.get(locale) or ()))
        return Option(
            value=str(node["value"]), title=title or Texts("", ""), next=self.optional_id(node, "next"),
            flags=flags, urgency=node.get("urgency"), synonyms=words, minor=self.flag(node, "minor", False),
        )

    def case_field(self, node: Node) -> str | None:
        """Check that a case_field names a case column."""
        value = node.get("case_field")
        if value is not None and value not in CASE_FIELDS:
            self.report(node, "case_field", f"unknown case_field '{value}' (use one of {', '.join(CASE_FIELDS)})")
        return value

    def validation(self, node: Node) -> Validation:
        """Check the validate mapping of a text step."""
        raw = node.get("validate")
        if raw is None:
            return Validation()
        if not isinstance(raw, Node):
            self.report(node, "validate", "validate must be a mapping")
            return Validation()
        self.unknown_keys(raw, VALIDATE_KEYS, "validate")
        kind = raw.get("kind", "any")
        if kind not in VALIDATE_KINDS:
            self.report(raw, "kind", f"unknown kind '{kind}' (use one of {', '.join(VALIDATE_KINDS)})")
        low, high = raw.get("min_length", 1), raw.get("max_length", MAX_TEXT)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            self.report(raw, None, "min_length and max_length must be whole numbers, min <= max")
            low, high = 1, MAX_TEXT
        return Validation(kind=str(kind), min_length=low, max_length=high)

    def variants(self, node: Node) -> tuple[Variant, ...]:
        """Check the alternative wordings of a step."""
        variants = []
        raw = node.get("variants") or []
        if not isinstance(raw, list):
            self.report(node, "variants", "variants must be a list of {when: {answer: value}, text: {nl, en}}")
            raw = []
        for item in raw:
            if not isinstance(item, Node) or not isinstance(item.get("when"), dict):
                self.report(item if isinstance(item, Node) else node, None, "a variant needs 'when' and 'text'")
                continue
            self.unknown_keys(item, VARIANT_KEYS, "variant")
            text = self.texts(item, "text", MAX_TEXT, allow_reference=node.get("type") == "end")
            when = {str(k): str(v) for k, v in item["when"].items()}
            if text:
                variants.append(Variant(when=MappingProxyType(when), text=text))
        return tuple(variants)

    def cases(self, node: Node) -> tuple[BranchCase, ...]:
        """Check the cases of a branch step."""
        if node.get("type") != "branch":
            return ()
        if not node.get("on"):
            self.report(node, None, f"branch '{node.get('id')}' needs 'on' (an answer key)")
        cases = []
        raw = node.get("cases") or []
        if not isinstance(raw, list):
            self.report(node, "cases", "cases must be a list of {when: [answers], next: step}")
            raw = []
        for item in raw:
            if not isinstance(item, Node) or "when" not in item or "next" not in item:
                self.report(item if isinstance(item, Node) else node, None, "a branch case needs 'when' and 'next'")
                continue
            self.unknown_keys(item, CASE_KEYS, "branch case")
            values = item["when"] if isinstance(item["when"], list) else [item["when"]]
            cases.append(BranchCase(values=tuple(str(v) for v in values), next=str(item["next"])))
        if "default" not in node:
            self.report(node, None, f"branch '{node.get('id')}' needs a 'default' step")
        return tuple(cases)

    def links(self, raw: Any, parent: Node) -> dict[str, Link]:
        """Check the list of useful links."""
        links: dict[str, Link] = {}
        for node in raw if isinstance(raw, list) else ():
            if not isinstance(node, Node) or not {"id", "title", "url"} <= set(node):
                self.report(node if isinstance(node, Node) else parent, None, "a link needs id, title and url")
                continue
            self.unknown_keys(node, LINK_KEYS, "link")
            if not str(node["url"]).startswith("https://"):
                self.report(node, "url", "link urls must start with https://")
            title = self.texts(node, "title", MAX_LINK_TITLE)
            links[str(node["id"])] = Link(id=str(node["id"]), title=title or Texts("", ""), url=str(node["url"]))
        return links

    def link_sets(self, raw: Any, parent: Node, links: dict[str, Link]) -> dict[str, tuple[str, ...]]:
        """Check that link sets name existing links."""
        if not isinstance(raw, dict):  # an absent link_sets is the empty dict
            self.report(parent, "link_sets", "link_sets must map a category to a list of link ids")
            return {}
        sets = {}
        for category, ids in raw.items():
            ids = tuple(str(i) for i in ids or ())
            for link_id in ids:
                if link_id not in links:
                    self.report(raw, category, f"link set '{category}' names unknown link '{link_id}'")
            sets[str(category)] = tuple(i for i in ids if i in links)
        return sets
