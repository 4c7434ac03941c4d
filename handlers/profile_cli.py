"""`python app.py messenger-profile …`: validate the profile file, push it to Meta, show or diff what Meta holds."""
from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from flows.messenger_profile import FIELDS, ProfileReport, check_profile_file, normalise
from handlers.graph import GraphClient, GraphError
from handlers.settings import ROOT, SettingsError, load_settings

DEFAULT_FILE = ROOT / "flows" / "messenger_profile.yml"
PATH = "/me/messenger_profile"
RATE_LIMIT_CODES = {4, 17, 32, 613}
HINTS = {
    190: "the page token was refused: generate a new PAGE_ACCESS_TOKEN (Messenger > Settings > Access tokens)",
    200: "the token lacks a permission: it must be a page token with pages_messaging",
}
RATE_HINT = "Meta allows 10 Messenger Profile calls per 10 minutes per page: wait a few minutes and try again"


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `messenger-profile` command to the parser."""
    actions = commands.add_parser("messenger-profile", help="the page's Get Started, greeting, ice breakers and "
                                                            "menu, from flows/messenger_profile.yml") \
        .add_subparsers(dest="action", required=True)
    for action, text in (("validate", "check the file; list every problem with its line"),
                         ("push", "check the file and send it to Meta in one call"),
                         ("diff", "compare the file with what Meta holds (exit status 1 when they differ)")):
        actions.add_parser(action, help=text).add_argument("--file", type=Path, default=DEFAULT_FILE,
                                                           help=f"default: {DEFAULT_FILE.relative_to(ROOT)}")
    show = actions.add_parser("show", help="print the profile Meta holds now")
    show.add_argument("--json", action="store_true", help="as JSON (default: YAML)")


def run(args: argparse.Namespace) -> int:
    """Run one `messenger-profile` action."""
    if args.action == "show":
        return show(_client(), args.json)
    report = _checked(args.file)
    if report.body is None:
        return 1
    if args.action == "validate":
        print(f"{args.file}: valid Messenger profile: " + ", ".join(_summary(report.body)))
        return 0
    return push(_client(), report.body) if args.action == "push" else diff(_client(), report.body, args.file)


def push(client: GraphClient, body: dict[str, Any]) -> int:
    """Send the whole profile in one POST and print Meta's answer."""
    try:
        answer = client.post(PATH, body)
    except GraphError as exc:
        return _refused("Meta refused the profile", exc)
    print("pushed " + ", ".join(_summary(body)))
    print("Meta's answer: " + json.dumps(answer, ensure_ascii=False))
    return 0


def show(client: GraphClient, as_json: bool) -> int:
    """Print the profile Meta holds (the four properties this tool manages)."""
    try:
        current = _current(client)
    except GraphError as exc:
        return _refused("cannot read the profile from Meta", exc)
    if as_json:
        print(json.dumps(current, ensure_ascii=False, indent=2))
    else:
        print(yaml.safe_dump(current, allow_unicode=True, sort_keys=False, width=120), end="")
    return 0


def diff(client: GraphClient, body: dict[str, Any], path: Path) -> int:
    """Print how Meta's profile differs from the file; exit status 1 when it does, 0 (and nothing) when equal."""
    try:
        current = normalise(_current(client))
    except GraphError as exc:
        return _refused("cannot read the profile from Meta", exc)
    wanted = normalise(body)
    if current == wanted:
        return 0
    lines = difflib.unified_diff(_lines(current), _lines(wanted), fromfile="Meta (the page now)",
                                 tofile=str(path), lineterm="")
    print("\n".join(lines))
    return 1


def _current(client: GraphClient) -> dict[str, Any]:
    """GET the profile's managed properties; Meta answers {"data": [{...}]} or {"data": []}."""
    data = client.get(PATH, {"fields": ",".join(FIELDS)}).get("data")
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    return {name: first[name] for name in FIELDS if name in first}


def _client() -> GraphClient:
    """Build a Graph client from the settings; refuse without a page token."""
    settings = load_settings()
    if not settings.page_access_token:
        raise SettingsError("PAGE_ACCESS_TOKEN is not set: set it to the page's access token (Meta app > Messenger "
                            "> Settings > Access tokens) to push, show or diff the Messenger profile")
    return GraphClient(settings.graph_api_url, settings.page_access_token, timeout=settings.graph_timeout)


def _checked(path: Path) -> ProfileReport:
    """Check the file and print every problem with its line (nothing is sent when there is one)."""
    try:
        report = check_profile_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return ProfileReport(None, [])
    for problem in report.problems:
        print(f"{path}:{problem.line}:{problem.column}: error: {problem.message}")
    if report.problems:
        print(f"{path}: {len(report.problems)} problem(s); nothing was sent to Meta")
    return report


def _refused(what: str, exc: GraphError) -> int:
    """Print Meta's error with its code and what to do about it; return exit status 1."""
    details = [f"Meta error code {exc.code}"]
    if exc.subcode is not None:
        details.append(f"subcode {exc.subcode}")
    if exc.status is not None:
        details.append(f"http {exc.status}")
    print(f"error: {what}: {exc.args[0]} ({', '.join(details)})", file=sys.stderr)
    hint = RATE_HINT if exc.code in RATE_LIMIT_CODES else HINTS.get(exc.code or 0)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return 1


def _summary(body: dict[str, Any]) -> list[str]:
    """Name each property with its locales, e.g. 'greeting (default, en_US)'."""
    return [name + (f" ({', '.join(item['locale'] for item in value)})" if isinstance(value, list) else "")
            for name, value in body.items()]


def _lines(profile: dict[str, Any]) -> list[str]:
    """Render a profile as YAML lines with sorted keys, so only real differences show."""
    return yaml.safe_dump(profile, allow_unicode=True, sort_keys=True, width=120).splitlines()
