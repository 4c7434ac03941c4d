"""The advisor console: a server-rendered blueprint under /console."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

from handlers.console import accounts, auth, case_export, cases, flows_editor, insight, simulator  # noqa: E402, F401  (the modules add their routes to bp)
