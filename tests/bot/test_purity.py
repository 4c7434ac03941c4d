"""bot/ and flows/ stay pure: no web framework, database, HTTP, scheduler, environment or clock."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "flows")
FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "alembic", "requests", "urllib3", "apscheduler", "psycopg",
             "psycopg2")
IMPURE_CALLS = re.compile(r"os\.environ|getenv|datetime\.now|datetime\.utcnow|date\.today|time\.time\(|"
                          r"\bsleep\(|import logging|import random")

IMPORT_ALL = """
import importlib, json, pkgutil, sys
names = []
for package in {packages!r}:
    names.append(package)
    names += [f"{{package}}.{{m.name}}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)]
for name in names:
    importlib.import_module(name)
print(json.dumps({{"imported": names, "loaded": sorted(sys.modules)}}))
"""


def sources() -> list[Path]:
    """Return every Python file of the pure packages."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).glob("*.py"))


def test_importing_every_pure_module_loads_no_io_library() -> None:
    code = IMPORT_ALL.format(packages=PACKAGES)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = {f"{path.parent.name}.{path.stem}" for path in sources() if path.stem != "__init__"}
    assert expected <= set(report["imported"]) and {"bot.engine", "flows.loader"} <= expected
    loaded = {name.split(".")[0] for name in report["loaded"]}
    assert sorted(loaded & set(FORBIDDEN)) == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pure_modules_read_no_environment_clock_or_randomness(path: Path) -> None:
    found = IMPURE_CALLS.findall(path.read_text(encoding="utf-8"))
    assert found == [], f"{path.name} uses {found}"
