"""gunicorn settings (`gunicorn -c gunicorn.conf.py …`): the bookkeeping of prometheus_client's multiprocess mode.

With PROMETHEUS_MULTIPROC_DIR set, every process (each gunicorn worker, each `python app.py worker` on the machine)
writes its series to files named after its pid in that directory, and GET /metrics adds them up. prometheus_client
asks for two things (https://prometheus.github.io/client_python/multiprocess/): the directory is emptied before
the processes start, and `mark_process_dead` is called when a gunicorn worker exits. Every other gunicorn setting
stays on the command line. Without PROMETHEUS_MULTIPROC_DIR these hooks do nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    """Remove the files of processes that no longer run (a previous start); live `app.py worker`s keep theirs."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for path in Path(directory).glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus_client that a worker is gone (its live gauges leave the sum; its counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _running(pid: int) -> bool:
    """Tell whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
