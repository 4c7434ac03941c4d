"""`python app.py links validate|show`: check the useful-links file before it goes live, see what users get."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flows.knowledge import Knowledge, load_knowledge_file
from flows.loader import FlowError
from handlers.settings import load_settings


def add_parser(commands: Any) -> None:
    """Add the `links` command to the CLI's subcommands."""
    links = commands.add_parser("links", help="check and show the useful-links file (LINKS_FILE)").add_subparsers(
        dest="action", required=True)
    validate = links.add_parser("validate", help="check a links file; list every problem with its line")
    validate.add_argument("file", nargs="?", help="default: $LINKS_FILE or flows/links.yml")
    show = links.add_parser("show", help="print each topic with its words and links in one language")
    show.add_argument("file", nargs="?", help="default: $LINKS_FILE or flows/links.yml")
    show.add_argument("--locale", choices=("nl", "en"), default="nl")


def run(args: argparse.Namespace) -> int:
    """Check the file; print its problems (exit 1) or what it holds (exit 0)."""
    path = Path(args.file) if args.file else load_settings().links_file
    try:
        knowledge = load_knowledge_file(path)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except FlowError as exc:
        for problem in exc.problems:
            print(f"{path}:{problem.line}:{problem.column}: error: {problem.message}")
        print(f"{path}: {len(exc.problems)} problem(s); the bot will not start with this file")
        return 1
    if args.action == "show":
        print(describe(knowledge, args.locale))
        return 0
    links = sum(len(topic.links) for topic in knowledge.topics)
    print(f"{path}: valid links file: {len(knowledge.topics)} topics, {links} links")
    return 0


def describe(knowledge: Knowledge, locale: str) -> str:
    """Return the topics as plain text: title, the words that offer it, and its links."""
    lines = [knowledge.intro.get(locale), ""]
    for topic in knowledge.topics:
        lines.append(f"{topic.id}: {topic.title.get(locale)}")
        lines.append(f"  words: {', '.join(dict.fromkeys(topic.words))}")
        lines += [f"  - {link.title.get(locale)}: {link.url}" for link in topic.links]
    return "\n".join(lines)
