"""Webhook load benchmark: the bot under gunicorn against a bare ceiling app, on SQLite and PostgreSQL.

Run: .venv/bin/python bench/webhook_load.py [--databases sqlite,postgres] [--workers 2] [--threads auto]
                                            [--clients 2] [--concurrency 16] [--seconds 20] [--rate 100]
                                            [--graph-delay 0.05] [--memory-conversations 50000] [--quick]
Everything runs on loopback: a Graph API stub (tests/support/graph_server.py, in this process), the app under
gunicorn (web workers that store each event and answer) with `python app.py worker` processes beside it
(--background-workers, at --worker-priority), and the load generator (bench/loadgen.py) in --clients processes.
See docs/performance.md.
"""
from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import MIX  # noqa: E402
from tests.support import graph_server  # noqa: E402
from tests.support.graph_server import GraphServer  # noqa: E402
from tests.support.scratch_schema import scratch_schema  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
PAGE_TOKEN = "bench-page-token"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CHILDREN: list[subprocess.Popen[bytes]] = []


# ----------------------------------------------------------------------------------------------------------------
# The Graph API stub: GraphServer, plus the arrival time and recipient of every call.

@dataclass(frozen=True)
class Call:
    """One Graph API request: when it arrived (time.time(), before the stub's delay), for whom, what, the answer."""

    at: float
    recipient: str | None
    message: bool  # a message (not a sender_action)
    status: int
    code: int | None


class BenchGraph(GraphServer):
    """GraphServer that also keeps a compact log of every call with its arrival time."""

    def __init__(self, token: str, delay: float) -> None:
        super().__init__(token=token)
        self.delay = delay
        self.calls: list[Call] = []
        self._arrival = threading.local()

    def start(self) -> BenchGraph:
        self._httpd = _BenchHTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def mark_arrival(self) -> None:
        self._arrival.at = time.time()

    def answer(self, method: str, target: str, content_type: str, raw: bytes) -> graph_server.Reply:
        at = getattr(self._arrival, "at", time.time())
        status, response = super().answer(method, target, content_type, raw)
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            body = graph_server.parse_body(content_type, raw) or {}
        recipient = body.get("recipient", {}).get("id") if isinstance(body.get("recipient"), dict) else None
        code = response.get("error", {}).get("code") if status != 200 else None
        call = Call(at, str(recipient) if recipient else None, "message" in body, status, code)
        with self._lock:
            self.calls.append(call)
            self._records.clear()  # the compact log is enough; keep memory flat
        return status, response

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def last_arrival(self) -> float:
        with self._lock:
            return self.calls[-1].at if self.calls else 0.0


class _BenchHandler(graph_server._Handler):
    def _serve(self) -> None:
        self.server.graph.mark_arrival()  # type: ignore[attr-defined]
        super()._serve()

    do_GET = do_POST = do_DELETE = _serve


class _BenchHTTPServer(graph_server._HTTPServer):
    def __init__(self, graph: BenchGraph) -> None:
        graph_server.ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), _BenchHandler)
        self.graph = graph


# ----------------------------------------------------------------------------------------------------------------
# Processes: gunicorn, the load clients; everything is killed on exit.

BOT_TARGET = "app:create_app(start_background=False)"  # the web workers only store and answer
# How the `python app.py worker` processes are started: acknowledging Meta comes first, handling gets the rest.
# Each child runs in a session of its own, and with autogroup (on by default in Debian's and Ubuntu's kernels)
# Linux shares the CPU between sessions first: a process's nice value then only counts inside its own session.
# So the worker's session gets the nice value too (the same thing systemd's CPUWeight= does for a unit).
PRIORITIES = {"nice": (["nice", "-n", "10"], 10), "idle": (["chrt", "--idle", "0"], 19), "normal": ([], 0)}
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup_enabled() -> bool:
    try:
        return AUTOGROUP.read_text().strip() == "1"
    except OSError:
        return False


def set_session_nice(pid: int, nice: int) -> None:
    """Give a child's autogroup (its session) a nice value; without autogroup the file does nothing."""
    if nice and autogroup_enabled():
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def start_child(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    CHILDREN.append(child)
    return child


def stop_child(child: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(5)
    if child in CHILDREN:
        CHILDREN.remove(child)


def stop_all() -> None:
    for child in list(CHILDREN):
        stop_child(child, timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_pids(master: int) -> list[int]:
    pids: list[int] = []
    for children in Path(f"/proc/{master}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in children.read_text().split()]
    return sorted(set(pids))


def proc_kb(pid: int, field_name: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return float(line.split()[1])
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """Return the user and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """One gunicorn master with its port, environment and log."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)  # `python app.py worker` processes
    background_logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def workers(self) -> list[int]:
        return worker_pids(self.process.pid)

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of gunicorn (master and workers) and of the `app.py worker` processes."""
        return (cpu_seconds([self.process.pid, *self.workers()]),
                cpu_seconds([child.pid for child in self.background]))

    def memory_mb(self, field_name: str) -> list[float]:
        return [proc_kb(pid, field_name) / 1024 for pid in self.workers()]

    def background_mb(self, field_name: str) -> list[float]:
        return [proc_kb(child.pid, field_name) / 1024 for child in self.background]

    def log_problems(self) -> int:
        logs = [self.log, *self.background_logs]
        text = "".join(log.read_text(errors="replace") for log in logs if log.exists())
        return len(re.findall(r"Traceback|\bERROR\b|\[CRITICAL\]", text))


def start_server(name: str, target: str, env: dict[str, str], args: argparse.Namespace, workdir: Path,
                 db_kind: str) -> Server:
    port = free_port()
    log = workdir / f"{name}-{port}.log"
    command = [GUNICORN, "-w", str(args.workers), "--threads", str(request_threads(args, db_kind)),
               "-b", f"127.0.0.1:{port}",
               "--log-level", "warning", target]
    server = Server(name, start_child(command, env, log), port, log)
    ready_path = "/healthz" if name == "bot" else "/webhook"
    deadline = time.time() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited at start; its log:\n{log.read_text(errors='replace')[-3000:]}")
        if time.time() > deadline:
            raise RuntimeError(f"{name} not ready after 60 s; its log:\n{log.read_text(errors='replace')[-3000:]}")
        if len(server.workers()) >= args.workers and _answers(f"http://127.0.0.1:{port}{ready_path}", name):
            break
        time.sleep(0.1)
    for _ in range(4 * args.workers):  # several answers in a row: every worker is likely up
        _answers(f"http://127.0.0.1:{port}{ready_path}", name)
    return server


def request_threads(args: argparse.Namespace, db_kind: str) -> int:
    """Return gunicorn's --threads for both apps on this database: --threads, or as docs/deployment.md advises:
    4 on SQLite (one writer per file), 16 on PostgreSQL (the webhook waits for its commit's round trip; more
    threads fill each group commit)."""
    if args.threads != "auto":
        return int(args.threads)
    return 4 if db_kind == "sqlite" else 16


def background_workers(args: argparse.Namespace, db_kind: str) -> int:
    """Return how many `app.py worker` processes run beside the bot: --background-workers, or as
    docs/deployment.md advises: one on SQLite (one writer per file), two on PostgreSQL (their round trips overlap)."""
    if args.background_workers != "auto":
        return int(args.background_workers)
    return 1 if db_kind == "sqlite" else 2


def start_bot(env: dict[str, str], args: argparse.Namespace, workdir: Path, db_kind: str) -> Server:
    """The bot as docs/deployment.md runs it: gunicorn web workers that store each event and answer, and
    `python app.py worker` processes (at a lower CPU priority) that handle the inbox and send the replies."""
    server = start_server("bot", BOT_TARGET, env, args, workdir, db_kind)
    for number in range(background_workers(args, db_kind)):
        log = workdir / f"worker-{server.port}-{number}.log"
        prefix, session_nice = PRIORITIES[args.worker_priority]
        child = start_child([*prefix, PYTHON, "app.py", "worker"], env, log)
        server.background.append(child)
        set_session_nice(child.pid, session_nice)
        server.background_logs.append(log)
    deadline = time.time() + 60
    while not all(log.exists() and "worker running" in log.read_text(errors="replace")
                  for log in server.background_logs):
        if time.time() > deadline or any(child.poll() is not None for child in server.background):
            logs = "".join(log.read_text(errors="replace")[-2000:] for log in server.background_logs if log.exists())
            raise RuntimeError(f"a worker did not start; the logs:\n{logs}")
        time.sleep(0.1)
    return server


def _answers(url: str, name: str) -> bool:
    """Tell whether the app answers: /healthz 200 for the bot; any HTTP answer (405 to a GET) for the ceiling."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        return name != "bot" and exc.code == 405
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------------------------
# Databases.

@contextlib.contextmanager
def database(kind: str, args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh, empty database; drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'bot-{uuid.uuid4().hex[:8]}.db'}"
        return
    with scratch_schema(args.postgres_url, prefix="bench") as url:
        yield url


def _driver(url: str) -> str:
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def postgres_version(url: str) -> str:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(_driver(url))
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar())
        engine.dispose()
        return version
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


# ----------------------------------------------------------------------------------------------------------------
# Running the clients.

def run_clients(mode: str, server: Server, args: argparse.Namespace, workdir: Path, tag: str,
                **extra: Any) -> dict[str, Any]:
    """Run --clients load processes in this mode, all starting at the same moment; merge their results.

    Users and message ids derive from `tag`: the same tag gives the same users (prime, then rate).
    """
    start_at = time.time() + 1.0 + 0.2 * args.clients
    name = f"{tag}-{mode}"
    clients, results = [], []
    for index in range(args.clients):
        spec = {"mode": mode, "url": server.url, "secret": args.app_secret, "start_at": start_at,
                "seconds": args.seconds, "concurrency": args.concurrency, "tag": f"{tag}c{index}",
                "psid_base": 7_000_000_000_000_000 + hash(tag) % 1000 * 10**12 + index * 10**10,
                "seed": index + 1, "mix": args.weights} | extra
        if mode in ("rate", "prime"):
            spec["rate"] = args.rate / args.clients
            spec["pool"] = max(1, extra.get("pool", args.pool) // args.clients)
        elif mode == "throughput":
            spec["pool"] = args.throughput_users
        spec_file, result_file = workdir / f"{name}-{index}.spec.json", workdir / f"{name}-{index}.result.json"
        spec_file.write_text(json.dumps(spec))
        results.append(result_file)
        clients.append(start_child([PYTHON, str(ROOT / "bench" / "loadgen.py"), str(spec_file), str(result_file)],
                                   log=workdir / f"{name}-{index}.client.log"))
    for index, client in enumerate(clients):
        client.wait()
        CHILDREN.remove(client)
        if client.returncode != 0:
            log = (workdir / f"{name}-{index}.client.log").read_text(errors="replace")
            raise RuntimeError(f"load client {index} failed:\n{log[-3000:]}")
    merged: dict[str, Any] = {"latencies": [], "errors": {}, "kinds": {}, "expected": [], "lag": [],
                              "start_at": start_at}
    for result_file in results:
        part = json.loads(result_file.read_text())
        merged["latencies"] += part["latencies"]
        merged["expected"] += part["expected"]
        merged["lag"] += part["lag"]
        for key in ("errors", "kinds"):
            for name, count in part[key].items():
                merged[key][name] = merged[key].get(name, 0) + count
    return merged


def drain(graph: BenchGraph, quiet: float, cap: float, server: Server | None = None) -> float:
    """Wait until the bot's inbox is empty (when `server` is the bot) and then until the Graph stub has had no call
    for `quiet` seconds, at most `cap` seconds in all; return the seconds waited.

    Quiet alone is not enough: workers that get little CPU during a burst can leave a pause of seconds in the
    calls while thousands of events still wait.
    """
    start = time.time()
    while server is not None and server.name == "bot" and time.time() - start < cap and inbox_waiting(server):
        time.sleep(0.5)
    while time.time() - start < cap:
        if time.time() - max(graph.last_arrival(), start) >= quiet:
            break
        time.sleep(0.1)
    return time.time() - start


def inbox_waiting(server: Server) -> int:
    """The events stored but not yet handled, from the bot's /healthz (-1 when it does not answer)."""
    try:
        with urllib.request.urlopen(server.url.replace("/webhook", "/healthz"), timeout=5) as response:
            return int(json.load(response)["inbox"]["waiting"])
    except (OSError, ValueError, KeyError):
        return -1


# ----------------------------------------------------------------------------------------------------------------
# Figures.

def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def match_replies(expected: list[list[Any]], calls: list[Call]) -> tuple[list[Reply], dict[str, list[int]]]:
    """Match each event expecting a reply to the first message sent to that user after its POST.

    Return the matched replies and, per event kind, [matched, expected].
    """
    arrivals: dict[str, list[float]] = {}
    for call in calls:
        if call.message and call.recipient and call.status == 200:
            arrivals.setdefault(call.recipient, []).append(call.at)
    replies, per_kind = [], {}
    for psid, sent, kind in expected:
        counts = per_kind.setdefault(kind, [0, 0])
        counts[1] += 1
        times = arrivals.get(psid, [])
        i = bisect.bisect_left(times, sent)
        if i < len(times):
            counts[0] += 1
            replies.append(Reply(psid, sent, times[i]))
    return replies, per_kind


@dataclass(frozen=True)
class Reply:
    """An event's POST and the arrival of the first message to its user after it (time.time() seconds)."""

    psid: str
    sent: float
    arrived: float

    @property
    def delay(self) -> float:
        return self.arrived - self.sent


HANDLED_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO handlers\.inbox_worker "
                          r"\[req=([0-9a-f-]+)\]: event handled")


def reply_stages(db_url: str, server: Server, replies: list[Reply]) -> dict[str, float]:
    """Split each reply's delay where a worker had handled its event: POST to handled (the inbox wait, the lease,
    the round's events before it) and handled to the Graph API (the rest of the round, its commit, the sender's
    lease, pacing, HTTP).

    The event is the one whose request id the reply's outbox row carries; the worker logs the moment it has handled
    it ("event handled", with that id). Return p50 and p99 of both parts and their means over the slowest 1 % of
    replies: where the p99 goes.
    """
    from sqlalchemy import select

    from storage.db import make_engine
    from storage.models import OutboxMessage

    handled: dict[str, float] = {}
    for log in server.background_logs:
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if match := HANDLED_LINE.match(line):
                stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
                handled.setdefault(match[2], stamp.timestamp())  # asctime is local time, like .timestamp()
    if not replies or not handled:
        return {}
    since = datetime.fromtimestamp(min(r.sent for r in replies) - 1, UTC)
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(OutboxMessage.recipient, OutboxMessage.created_at,
                                             OutboxMessage.request_id)
                                      .where(OutboxMessage.created_at >= since)
                                      .order_by(OutboxMessage.id)).all()
    finally:
        engine.dispose()
    stored: dict[str, list[tuple[float, str | None]]] = {}  # the event's storage time (created_at) and its id
    for recipient, created, request_id in rows:
        at = (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
        stored.setdefault(recipient, []).append((at, request_id))
    splits = []  # (total, POST to handled, handled to Graph)
    for reply in replies:
        events = stored.get(reply.psid, [])
        i = bisect.bisect_left(events, (reply.sent, ""))
        if i < len(events) and events[i][1] in handled:
            at = handled[events[i][1]]
            if reply.sent <= at <= reply.arrived:
                splits.append((reply.delay, at - reply.sent, reply.arrived - at))
    if not splits:
        return {}
    slowest = sorted(splits)[-max(1, len(splits) // 100):]
    return {"split": len(splits),
            "handled_p50": pct([s[1] for s in splits], 50), "handled_p99": pct([s[1] for s in splits], 99),
            "out_p50": pct([s[2] for s in splits], 50), "out_p99": pct([s[2] for s in splits], 99),
            "tail_handled": sum(s[1] for s in slowest) / len(slowest),
            "tail_out": sum(s[2] for s in slowest) / len(slowest), "tail": len(slowest)}


@dataclass
class Row:
    """The figures of one app on one database."""

    database: str
    app: str
    figures: dict[str, Any] = field(default_factory=dict)


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "0"


# ----------------------------------------------------------------------------------------------------------------
# One app on one database.

def bench_app(app: str, db_kind: str, db_url: str, args: argparse.Namespace, graph: BenchGraph,
              workdir: Path) -> Row:
    env = app_env(db_url, args, graph)
    if app == "bot":
        migrate(env, workdir)
    server = start_bot(env, args, workdir, db_kind) if app == "bot" else \
        start_server(app, "bench.ceiling_app:create_app()", env, args, workdir, db_kind)
    row = Row(db_kind, app)
    tag = f"{db_kind[:2]}{app[:2]}{uuid.uuid4().hex[:6]}"
    try:
        run_clients("conversations", server, args, workdir, f"{tag}w", first=0, count=10, concurrency=2)
        drain(graph, 1.0, 10, server)
        # (b) first: a throughput run leaves an outbox backlog (the Graph API allows 300 calls/s) that would
        # otherwise spill into the fixed-rate figures.
        say(f"  {db_kind}/{app}: fixed rate {args.rate}/s for {args.seconds} s ...")
        run_clients("prime", server, args, workdir, f"{tag}r", concurrency=8)
        drain(graph, 1.0, args.drain_cap, server)
        first_call = len(graph.snapshot())
        rate = run_clients("rate", server, args, workdir, f"{tag}r", primed=True)
        waited = drain(graph, 2.0, args.drain_cap, server)
        calls = graph.snapshot()[first_call:]
        replies, per_kind = match_replies(rate["expected"], calls) if app == "bot" else ([], {})
        delays = [reply.delay for reply in replies]
        row.figures["rate"] = {
            "sent": len(rate["latencies"]), "p50": pct(rate["latencies"], 50), "p99": pct(rate["latencies"], 99),
            "errors": rate["errors"], "reply_p50": pct(delays, 50), "reply_p99": pct(delays, 99),
            "matched": sum(m for m, _ in per_kind.values()), "expected": sum(e for _, e in per_kind.values()),
            "per_kind": per_kind, "e613": sum(1 for c in calls if c.code == 613),
            "graph_calls": len(calls), "drain": waited, "lag_p99": pct(rate["lag"], 99),
            "stages": reply_stages(db_url, server, replies)}
        say(f"  {db_kind}/{app}: throughput, {args.clients} clients x {args.concurrency} connections "
            f"for {args.seconds} s ...")
        run_clients("prime", server, args, workdir, f"{tag}t", concurrency=8,
                    pool=args.throughput_users * args.clients)
        drain(graph, 1.0, args.drain_cap, server)
        first_call = len(graph.snapshot())
        cpu_before = server.cpu()
        load = run_clients("throughput", server, args, workdir, f"{tag}t", primed=True)
        web_cpu, background_cpu = (after - before for after, before in zip(server.cpu(), cpu_before, strict=True))
        requests = max(1, len(load["latencies"]))
        row.figures["throughput"] = {
            "web_cpu_us": web_cpu / requests * 1e6, "background_cpu_us": background_cpu / requests * 1e6,
            "requests": len(load["latencies"]), "rps": len(load["latencies"]) / args.seconds,
            "p50": pct(load["latencies"], 50), "p95": pct(load["latencies"], 95),
            "p99": pct(load["latencies"], 99), "errors": load["errors"], "kinds": load["kinds"]}
        row.figures["memory"] = {"hwm": server.memory_mb("VmHWM"), "rss": server.memory_mb("VmRSS"),
                                 "background_hwm": server.background_mb("VmHWM")}
        waited = drain(graph, 2.0, args.drain_cap, server)
        calls = graph.snapshot()[first_call:]
        row.figures["throughput"] |= {"left": inbox_waiting(server) if app == "bot" else 0,
                                      "e613": sum(1 for c in calls if c.code == 613), "drain": waited,
                                      "graph_calls": len(calls)}
        row.figures["log_problems"] = server.log_problems()
    finally:
        stop_server(server)
    return row


def bench_memory(db_kind: str, db_url: str, args: argparse.Namespace, graph: BenchGraph, workdir: Path) -> dict:
    """RSS of the workers after 100 and after N conversations, on a fresh bot and database."""
    env = app_env(db_url, args, graph)
    migrate(env, workdir)
    server = start_bot(env, args, workdir, db_kind)
    tag = f"{db_kind[:2]}mem{uuid.uuid4().hex[:6]}"
    try:
        run_clients("conversations", server, args, workdir, f"{tag}a", first=0, count=100 // args.clients,
                    concurrency=4)
        drain(graph, 2.0, args.drain_cap, server)
        small, small_background = server.memory_mb("VmRSS"), server.background_mb("VmRSS")
        say(f"  {db_kind}: {args.memory_conversations} conversations for the memory figure ...")
        count = (args.memory_conversations - 100) // args.clients
        started = time.time()
        result = run_clients("conversations", server, args, workdir, f"{tag}b", first=10**6, count=count,
                             concurrency=args.concurrency)
        drain(graph, 2.0, args.drain_cap, server)
        large, large_background = server.memory_mb("VmRSS"), server.background_mb("VmRSS")
        return {"small": small, "large": large, "small_background": small_background,
                "large_background": large_background, "errors": result["errors"],
                "seconds": time.time() - started}
    finally:
        stop_server(server)


def stop_server(server: Server) -> None:
    for child in server.background:
        stop_child(child, timeout=30)
    stop_child(server.process, timeout=15)


def app_env(db_url: str, args: argparse.Namespace, graph: BenchGraph) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "ALERT_", "APP_ID", "HANDOVER_"))}
    return env | {"DATABASE_URL": db_url, "APP_SECRET": args.app_secret, "VERIFY_TOKEN": "bench-verify",
                  "PAGE_ACCESS_TOKEN": PAGE_TOKEN, "GRAPH_API_URL": graph.url, "SECRET_KEY": secrets.token_hex(32),
                  "PYTHONUNBUFFERED": "1"}


def migrate(env: dict[str, str], workdir: Path) -> None:
    """Create the schema once before the workers start, so that they do not race to migrate."""
    done = subprocess.run([PYTHON, "app.py", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


# ----------------------------------------------------------------------------------------------------------------
# Output.

def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine(args: argparse.Namespace) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    versions = ", ".join(f"{name} {_version(name)}" for name in ("gunicorn", "flask", "sqlalchemy", "psycopg",
                                                                  "aiohttp"))
    threads = ", ".join(f"{request_threads(args, db)} ({db})" for db in args.databases)
    lines = [f"machine   : {cpu}; {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable); "
             f"{platform.system()} {platform.release()}",
             f"python    : {platform.python_version()} ({platform.python_implementation()}); {versions}",
             f"databases : SQLite {sqlite3.sqlite_version}"
             + (f"; PostgreSQL {postgres_version(args.postgres_url)}" if "postgres" in args.databases else ""),
             f"settings  : {args.workers} workers x {threads} threads; {args.clients} clients x "
             f"{args.concurrency} connections; {args.seconds} s per phase; {args.rate} events/s; "
             f"Graph API delay {args.graph_delay * 1000:.0f} ms; bot: `app.py worker` x {args.background_workers} "
             f"at {args.worker_priority} priority",
             f"scheduler : autogroup {'on: nice values count within a session' if autogroup_enabled() else 'off'}"]
    with contextlib.suppress(OSError):
        load = os.getloadavg()
        lines.append(f"load avg  : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start (should be near 0)")
    return lines


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def micro() -> list[str]:
    """Run the engine and classifier micro-benchmarks and quote their key lines."""
    lines = []
    for script in ("engine_step.py", "safety_classify.py"):
        try:
            done = subprocess.run([PYTHON, str(ROOT / "bench" / script)], cwd=ROOT, capture_output=True, text=True,
                                  timeout=600)
        except subprocess.TimeoutExpired:
            lines.append(f"{script}: timed out")
            continue
        if done.returncode != 0:
            lines.append(f"{script}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        out = done.stdout
        if script == "engine_step.py":
            step = re.search(r"answer \+ next question\s*:\s*([\d.]+) us", out)
            reprompt = re.search(r"re-prompt\s*:\s*([\d.]+) us", out)
            lines.append(f"engine step (answer + next question): {step[1] if step else '?'} us, "
                         f"re-prompt: {reprompt[1] if reprompt else '?'} us   (target < 50 us)")
        else:
            rate = re.search(r"best ([\d,]+) messages/s", out)
            lines.append(f"safety classifier: {rate[1] if rate else '?'} messages/s on one core   "
                         f"(target >= 20,000)")
    return lines


def report(rows: list[Row], memory: dict[str, dict], micro_lines: list[str], args: argparse.Namespace) -> None:
    print()
    print(f"(a) THROUGHPUT: closed loop, {args.clients} clients x {args.concurrency} connections, "
          f"{args.seconds} s; webhook latency in ms")
    head = f"{'database':9} {'app':8} {'requests':>9} {'req/s':>8} {'p50':>7} {'p95':>7} {'p99':>7}  " \
           f"{'errors':10} {'613s':>5}  {'worker MB max/mean':>18}"
    print(head)
    print("-" * len(head))
    for row in rows:
        t, mem = row.figures["throughput"], row.figures["memory"]["hwm"]
        mem_text = f"{max(mem):.0f} / {sum(mem) / len(mem):.0f}" if mem else "-"
        print(f"{row.database:9} {row.app:8} {t['requests']:>9} {t['rps']:>8.1f} {ms(t['p50']):>7} "
              f"{ms(t['p95']):>7} {ms(t['p99']):>7}  {errors_text(t['errors']):10} "
              f"{t['e613'] if row.app == 'bot' else '-':>5}  {mem_text:>18}")
    for row in rows:
        if row.app == "bot":
            kinds = row.figures["throughput"]["kinds"]
            total = sum(kinds.values()) or 1
            print(f"  {row.database}/bot sent: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in
                                                             sorted(kinds.items(), key=lambda kv: -kv[1])))
            t = row.figures["throughput"]
            left = t["left"] if t["left"] >= 0 else "?"
            capped = f" (--drain-cap reached: {left} events still waiting)" if t["left"] else ""
            print(f"  {row.database}/bot backlog: the workers went on answering for {max(0, t['drain'] - 2):.1f} s "
                  f"after the phase{capped}; {t['graph_calls']} Graph calls for the phase's events")
    for db in dict.fromkeys(r.database for r in rows):
        bot = next((r for r in rows if r.database == db and r.app == "bot"), None)
        ceiling = next((r for r in rows if r.database == db and r.app == "ceiling"), None)
        if bot and ceiling and ceiling.figures["throughput"]["rps"]:
            ratio = bot.figures["throughput"]["rps"] / ceiling.figures["throughput"]["rps"]
            verdict = "meets" if ratio >= 0.5 else "BELOW"
            print(f"RATIO bot/ceiling on {db}: {ratio:.2f}  ({verdict} the target >= 0.50)")
            bot_cpu, ceiling_cpu = bot.figures["throughput"]["web_cpu_us"], ceiling.figures["throughput"]["web_cpu_us"]
            print(f"  CPU per request in gunicorn: bot {bot_cpu:.0f} µs, ceiling {ceiling_cpu:.0f} µs "
                  f"(ceiling/bot {ceiling_cpu / bot_cpu:.2f}); `app.py worker`s "
                  f"{bot.figures['throughput']['background_cpu_us']:.0f} µs per webhook request")
    print("worker MB = peak resident memory (VmHWM) of each gunicorn worker at the end of the run")
    for row in rows:
        background = row.figures["memory"].get("background_hwm")
        if background:
            print(f"  {row.database}/bot: `app.py worker` processes ({args.worker_priority} priority), peak MB: "
                  + " ".join(f"{v:.0f}" for v in background))
    print()
    print(f"(b) FIXED RATE: open loop, {args.rate} events/s for {args.seconds} s, pool of {args.pool} users; "
          f"Graph API answers in {args.graph_delay * 1000:.0f} ms; times in ms")
    head = f"{'database':9} {'app':8} {'sent':>6} {'hook p50':>9} {'hook p99':>9} {'errors':10} " \
           f"{'reply p50':>10} {'reply p99':>10} {'replies matched':>16} {'613s':>5}"
    print(head)
    print("-" * len(head))
    for row in rows:
        r = row.figures["rate"]
        matched = f"{r['matched']}/{r['expected']}" if row.app == "bot" else "-"
        print(f"{row.database:9} {row.app:8} {r['sent']:>6} {ms(r['p50']):>9} {ms(r['p99']):>9} "
              f"{errors_text(r['errors']):10} {ms(r['reply_p50']):>10} {ms(r['reply_p99']):>10} {matched:>16} "
              f"{r['e613'] if row.app == 'bot' else '-':>5}")
    print("targets: hook p99 < 50 ms; reply p99 < 300 ms; every reply matched; 613s = 0")
    for row in rows:
        r = row.figures["rate"]
        if row.app == "bot":
            kinds = ", ".join(f"{k} {m}/{e}" for k, (m, e) in sorted(r["per_kind"].items()))
            print(f"  {row.database}/bot: matched per kind: {kinds}; Graph calls {r['graph_calls']}; "
                  f"client send lag p99 {ms(r['lag_p99'])} ms; outbox drained {r['drain']:.1f} s after the phase; "
                  f"gunicorn log problems {row.figures['log_problems']}")
            if stages := r["stages"]:
                print(f"  {row.database}/bot: reply = POST to event handled p50 {ms(stages['handled_p50'])} / "
                      f"p99 {ms(stages['handled_p99'])} + handled to Graph API p50 {ms(stages['out_p50'])} / "
                      f"p99 {ms(stages['out_p99'])}; slowest {stages['tail']}: {ms(stages['tail_handled'])} + "
                      f"{ms(stages['tail_out'])} on average ({stages['split']} replies split)")
    if memory:
        print()
        print(f"MEMORY: RSS per worker after 100 and after {args.memory_conversations} conversations")
        for db, m in memory.items():
            small, large = m["small"], m["large"]
            ratio = (sum(large) / len(large)) / (sum(small) / len(small)) if small and large else float("nan")
            print(f"  {db}: after 100: {' '.join(f'{v:.0f}' for v in small)} MB; after "
                  f"{args.memory_conversations}: {' '.join(f'{v:.0f}' for v in large)} MB; ratio {ratio:.2f} "
                  f"(target <= 1.20); errors {errors_text(m['errors'])}; {m['seconds']:.0f} s")
            small, large = m["small_background"], m["large_background"]
            if small and large:
                print(f"  {db}: `app.py worker` processes: {' '.join(f'{v:.0f}' for v in small)} MB -> "
                      f"{' '.join(f'{v:.0f}' for v in large)} MB; ratio {sum(large) / sum(small):.2f}")
    if micro_lines:
        print()
        print("MICRO-BENCHMARKS (bench/engine_step.py, bench/safety_classify.py)")
        for line in micro_lines:
            print("  " + line)


# ----------------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--apps", default="bot,ceiling", help="comma-separated: bot, ceiling")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (-w)")
    parser.add_argument("--threads", default="auto",
                        help="gunicorn threads per worker, for bot and ceiling; auto: 4 on SQLite, 16 on PostgreSQL")
    parser.add_argument("--background-workers", default="auto",
                        help="`python app.py worker` processes beside gunicorn (bot only); auto: 1 on SQLite, "
                             "2 on PostgreSQL")
    parser.add_argument("--worker-priority", choices=sorted(PRIORITIES), default="nice",
                        help="CPU priority of those workers and of their session: nice (10), "
                             "idle (SCHED_IDLE, session at nice 19), normal")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per client (throughput phase)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--rate", type=float, default=100, help="events/s in the fixed-rate phase")
    parser.add_argument("--pool", type=int, default=0, help="fixed-rate pool users; 0: rate x 10")
    parser.add_argument("--throughput-users", type=int, default=400, help="users per client, throughput phase")
    parser.add_argument("--graph-delay", type=float, default=0.05, help="seconds the Graph API stub takes")
    parser.add_argument("--memory-conversations", type=int, default=0,
                        help="also measure worker RSS after 100 and after N conversations (slow; 50000)")
    parser.add_argument("--mix", default="", help="override weights of bench/loadgen.py MIX, e.g. echo=0,new=20")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--drain-cap", type=float, default=300,
                        help="max seconds to wait for the inbox and the outbox to empty after a phase")
    parser.add_argument("--skip-micro", action="store_true", help="do not run the micro-benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s phases, small pools")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.throughput_users, args.drain_cap = 3, 50, 20
        args.pool = args.pool or int(args.rate)
    args.pool = args.pool or int(args.rate * 10)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    args.apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    if set(args.databases) - {"sqlite", "postgres"} or set(args.apps) - {"bot", "ceiling"}:
        parser.error("--databases takes sqlite,postgres; --apps takes bot,ceiling")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) > 0):
        parser.error("--threads takes a positive number or auto")
    args.app_secret = "bench-app-secret-" + secrets.token_hex(8)
    args.weights = {kind: weight for kind, (weight, _) in MIX.items()}
    for part in filter(None, (p.strip() for p in args.mix.split(","))):
        kind, _, weight = part.partition("=")
        if kind not in MIX or not re.fullmatch(r"\d+(\.\d+)?", weight):
            parser.error(f"--mix: {part!r}; give kind=weight with a kind from {', '.join(MIX)}")
        args.weights[kind] = float(weight)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    for line in machine(args):
        print(line)
    sys.stdout.flush()
    rows: list[Row] = []
    memory: dict[str, dict] = {}
    graph = BenchGraph(PAGE_TOKEN, args.graph_delay).start()
    try:
        with tempfile.TemporaryDirectory(prefix="webhook-load-") as tmp:
            workdir = Path(tmp)
            for db_kind in args.databases:
                for app in args.apps:
                    with database(db_kind, args, workdir) as url:
                        rows.append(bench_app(app, db_kind, url, args, graph, workdir))
                if args.memory_conversations:
                    with database(db_kind, args, workdir) as url:
                        memory[db_kind] = bench_memory(db_kind, url, args, graph, workdir)
        micro_lines = [] if args.skip_micro else micro()
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        stop_all()
        graph.stop()
    report(rows, memory, micro_lines, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
