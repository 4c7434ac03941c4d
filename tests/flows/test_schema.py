"""flows/flow.schema.json: the shipped flow fits it, broken flows do not, and it keeps up with the loader."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from flows.loader import (
    CASE_KEYS,
    LINK_KEYS,
    MAX_LINK_TITLE,
    MAX_QUICK_REPLIES,
    MAX_TEXT,
    MAX_TITLE,
    OPTION_KEYS,
    STEP_KEYS,
    TOP_KEYS,
    URGENCIES,
    VALIDATE_KEYS,
    VALIDATE_KINDS,
    VARIANT_KEYS,
    parse_yaml,
)
from flows.model import CASE_FIELDS, SAFETY_CATEGORIES, STEP_TYPES

FLOWS = Path(__file__).resolve().parents[2] / "flows"
SCHEMA = json.loads((FLOWS / "flow.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

MINI = """\
    id: mini
    start: ask
    steps:
      - id: ask
        type: choice
        case_field: category
        text: {nl: "Wat is er gebeurd?", en: "What happened?"}
        options:
          - {value: threat, title: {nl: "Bedreiging", en: "Threats"}, flags: [threat], urgency: urgent}
          - {value: other, title: {nl: "Iets anders", en: "Something else"}}
        next: done
      - id: done
        type: end
        text: {nl: "Dank je.", en: "Thanks."}
"""


def plain(value: Any) -> Any:
    """Turn the loader's Node and Items into plain dicts and lists, as a JSON document would be."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def errors(source: str) -> list[str]:
    """Return the schema's complaints about flow YAML (the project's YAML 1.2 reading)."""
    document = plain(parse_yaml(textwrap.dedent(source), "<test>"))
    return [error.message for error in VALIDATOR.iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_shipped_intake_fits_the_schema() -> None:
    assert errors((FLOWS / "intake.yaml").read_text(encoding="utf-8")) == []


def test_a_small_valid_flow_fits_the_schema() -> None:
    assert errors(MINI) == []


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("type: end", "type: finish", "'finish' is not one of"),
    ("next: done\n", "next: done\n    colour: blue\n", "'colour' was unexpected"),
    ("flags: [threat]", "flags: [panic]", "'panic' is not one of"),
    ("urgency: urgent", "urgency: asap", "'asap' is not one of"),
    ("case_field: category", "case_field: mood", "'mood' is not one of"),
    ('en: "Threats"', f'en: "{"x" * (MAX_TITLE + 1)}"', "is too long"),
    ('en: "What happened?"', f'en: "{"x" * (MAX_TEXT + 1)}"', "is too long"),
    ('text: {nl: "Dank je.", en: "Thanks."}', 'text: {nl: "Dank je."}', "'en' is a required property"),
    ("start: ask\n", "start: ask\ncolour: blue\n", "'colour' was unexpected"),
    ("flags: [threat]", "flags: [threat], emoji: x", "'emoji' was unexpected"),
    ("start: ask\n", "", "'start' is a required property"),
])
def test_a_broken_flow_does_not_fit_the_schema(old: str, new: str, fragment: str) -> None:
    source = textwrap.dedent(MINI)
    assert old in source
    found = errors(source.replace(old, new, 1))
    assert any(fragment in message for message in found), found


def test_more_than_13_options_do_not_fit_the_schema() -> None:
    options = "".join(f'      - {{value: v{i}, title: {{nl: "V{i}", en: "V{i}"}}}}\n'
                      for i in range(MAX_QUICK_REPLIES + 1))
    source = textwrap.dedent(MINI).replace(
        '      - {value: other, title: {nl: "Iets anders", en: "Something else"}}\n', options)
    assert any("is too long" in message for message in errors(source))


def test_a_missing_version_fits_the_schema_but_a_word_does_not() -> None:
    assert errors(MINI) == []  # MINI has no version
    assert any("is not of type 'integer'" in m for m in errors("version: two\n" + textwrap.dedent(MINI)))


def defs() -> dict[str, Any]:
    return SCHEMA["$defs"]


def test_the_schema_allows_exactly_the_keys_the_loader_allows() -> None:
    assert set(STEP_TYPES) == set(STEP_KEYS)
    assert defs()["step"]["properties"]["type"]["enum"] == list(STEP_TYPES)
    for kind in STEP_TYPES:
        step = defs()[f"{kind}_step"]
        assert set(step["properties"]) == STEP_KEYS[kind] | {"id", "type"}, kind
        assert step["additionalProperties"] is False
        assert step["properties"]["type"] == {"const": kind}
    assert set(defs()["option"]["properties"]) == OPTION_KEYS
    for name, keys in (("link", LINK_KEYS), ("case", CASE_KEYS), ("variant", VARIANT_KEYS),
                       ("validate", VALIDATE_KEYS), ("option", OPTION_KEYS)):
        assert set(defs()[name]["properties"]) == keys, name
        assert defs()[name]["additionalProperties"] is False, name
    assert set(SCHEMA["properties"]) == TOP_KEYS and SCHEMA["additionalProperties"] is False


def test_the_schema_lists_the_loaders_categories_fields_kinds_and_limits() -> None:
    option = defs()["option"]["properties"]
    assert option["flags"]["items"]["enum"] == list(SAFETY_CATEGORIES)
    assert option["urgency"]["enum"] == list(URGENCIES)
    assert defs()["choice_step"]["properties"]["case_field"]["enum"] == list(CASE_FIELDS)
    assert defs()["text_step"]["properties"]["case_field"]["enum"] == list(CASE_FIELDS)
    assert defs()["validate"]["properties"]["kind"]["enum"] == list(VALIDATE_KINDS)
    assert defs()["choice_step"]["properties"]["options"]["maxItems"] == MAX_QUICK_REPLIES
    assert defs()["title"]["properties"]["en"]["maxLength"] == MAX_TITLE
    assert defs()["texts"]["properties"]["nl"]["maxLength"] == MAX_TEXT
    assert defs()["link_title"]["properties"]["nl"]["maxLength"] == MAX_LINK_TITLE


def test_the_example_flow_in_the_docs_fits_the_schema() -> None:
    docs = (FLOWS.parent / "docs" / "flows.md").read_text(encoding="utf-8")
    assert errors(docs.split("```yaml\n", 1)[1].split("```", 1)[0]) == []
