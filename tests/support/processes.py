"""`python app.py …` as a real child process for tests, its log in a file (a pipe would fill up and block it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    """One `python app.py ARGS` child process."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Return what the process logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a crash or an OOM kill."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """SIGTERM (a worker lets a running job finish), SIGKILL if it does not end; return the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.output()
