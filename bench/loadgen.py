"""The load generator of bench/webhook_load.py: signed Messenger webhook events in a page's realistic mix.

webhook_load.py starts one process per client: `python bench/loadgen.py SPEC.json RESULT.json`. The spec says the
mode, the target and the timing; the result holds the raw figures (latencies, errors, the events that expect a reply)
for the parent to merge. Three modes:

- throughput: closed loop, `concurrency` connections, each with its own users, sending as fast as answers come back;
- rate: open loop at `rate` events/s over a round-robin pool of users (so each has at most one event in flight);
- prime: each user of a pool says "hoi" (run before `rate` or `throughput` with "primed", so that the mix applies
  from the first event instead of every user starting with "hoi");
- conversations: users `first`..`first+count-1` each send "hoi" and then accept the privacy notice.

MIX (below) is the default mix of event kinds; the parent may pass other weights in the spec.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.support.messenger import PAGE_ID, encode, signed_headers  # noqa: E402

# The realistic mix of what a page's webhook receives, as weights (they need not add up to 100).
# Each kind: (weight, expects a reply from the bot).
MIX: dict[str, tuple[float, bool]] = {
    "new": (8, True),          # a new user opens the conversation: "hoi"
    "quick_reply": (30, True),  # a tap on the quick reply that answers the current intake question
    "text": (10, True),        # free text (the description, or text where a button was asked: a re-prompt)
    "sticker": (3, False),     # a thumbs-up sticker (re-prompt; not counted for the reply latency)
    "image": (2, False),       # a photo (attachment URL only; the bot never downloads it)
    "echo": (17, False),       # the echo of one of our own sent messages (app_id = ours)
    "delivery": (15, False),   # delivery receipt
    "read": (12, False),       # read receipt
    "redelivery": (3, False),  # Meta sends the same message (same mid) again: must be ignored
}
OUR_APP_ID = 880123456789012
# What one user answers, in order: (text, quick-reply payload or None for typed text).
SCRIPT: list[tuple[str, str | None]] = [
    ("Ja, ga verder", "Q:privacy:yes"), ("Ouder", "Q:reporter:parent"), ("Nee", "Q:danger:no"),
    ("Pesten", "Q:category:bullying"), ("Instagram", "Q:platform:instagram"), ("Deze week", "Q:since:this_week"),
    ("12-15", "Q:age:12_15"), ("Ja", "Q:known:yes"), ("Nog niet", "Q:reported:no"),
    ("Mijn dochter wordt al weken gepest in een groepsapp van haar klas.", None),
    ("Het kan even wachten", "Q:urgency:normal"), ("Via Messenger", "Q:contact_method:messenger"),
]
FREE_TEXTS = ["ik weet het niet precies", "wat moet ik doen?", "ok", "dank je", "Kan iemand mij helpen?",
              "het gebeurt elke dag op school", "ze hebben foto's van mij gedeeld zonder te vragen"]


@dataclass
class Slot:
    """One place in the pool: the user talking there now and how far their intake is."""

    psid: str = ""
    step: int = 0
    last_body: bytes | None = None
    sent_mids: list[str] = field(default_factory=list)


class Events:
    """Build signed webhook bodies for one client; ids are unique per run, phase and client."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.secret, self.tag = spec["secret"], spec["tag"]
        weights = spec.get("mix") or {k: w for k, (w, _) in MIX.items()}
        self.kinds = [k for k in weights if weights[k] > 0]
        self.weights = [weights[k] for k in self.kinds]
        self.rng = random.Random(spec.get("seed", 1))
        self.ids = itertools.count(1)
        self.base = spec["psid_base"]

    def _n(self) -> int:
        return next(self.ids)

    def new_psid(self) -> str:
        return str(self.base + self._n())

    def pick(self, slot: Slot) -> str:
        """Return the kind of the slot's next event (a fresh slot or a finished intake opens a new one)."""
        if not slot.psid or slot.step >= len(SCRIPT):
            return "new"
        kind = self.rng.choices(self.kinds, self.weights)[0]
        return "new" if kind == "redelivery" and slot.last_body is None else kind

    def build(self, slot: Slot, kind: str) -> bytes:
        """Return the raw body of one event of this kind for the slot's user, and move the slot on."""
        n, now = self._n(), int(time.time() * 1000)
        if kind == "redelivery":
            assert slot.last_body is not None
            return slot.last_body
        if kind == "new":
            slot.psid, slot.step, slot.sent_mids = self.new_psid(), 0, []
            item = _message(slot.psid, now, {"mid": f"m_{self.tag}_{n}", "text": "hoi"})
        elif kind == "quick_reply":
            title, payload = SCRIPT[slot.step]
            slot.step += 1
            message: dict[str, Any] = {"mid": f"m_{self.tag}_{n}", "text": title}
            if payload is not None:
                message["quick_reply"] = {"payload": payload}
            item = _message(slot.psid, now, message)
        elif kind == "text":
            text = SCRIPT[slot.step][0] if SCRIPT[slot.step][1] is None else self.rng.choice(FREE_TEXTS)
            slot.step += SCRIPT[slot.step][1] is None
            item = _message(slot.psid, now, {"mid": f"m_{self.tag}_{n}", "text": text})
        elif kind in ("sticker", "image"):
            url = f"https://scontent.xx.fbcdn.net/v/{self.tag}_{n}.png"
            extra = {"sticker_id": 369239263222822} if kind == "sticker" else {}
            item = _message(slot.psid, now, {"mid": f"m_{self.tag}_{n}",
                                             "attachments": [{"type": "image", "payload": {"url": url} | extra}]})
        elif kind == "echo":
            mid = f"m_{self.tag}_echo_{n}"
            slot.sent_mids.append(mid)
            item = {"sender": {"id": PAGE_ID}, "recipient": {"id": slot.psid}, "timestamp": now,
                    "message": {"is_echo": True, "app_id": OUR_APP_ID, "metadata": "intake", "mid": mid,
                                "text": "Dank je. Wie schrijft er?"}}
        elif kind == "delivery":
            mids = slot.sent_mids[-2:] or [f"m_{self.tag}_out_{n}"]
            item = {"sender": {"id": slot.psid}, "recipient": {"id": PAGE_ID},
                    "delivery": {"mids": mids, "watermark": now - 50}}
        elif kind == "read":
            item = {"sender": {"id": slot.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now,
                    "read": {"watermark": now - 50}}
        else:
            raise ValueError(f"unknown event kind {kind}")
        raw = encode({"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [item]}]})
        if "message" in item and not item["message"].get("is_echo"):
            slot.last_body = raw
        return raw


def _message(psid: str, now: int, message: dict[str, Any]) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now, "message": message}


def expects_reply(kind: str, spec: dict[str, Any]) -> bool:
    """Tell whether the reply latency counts this kind (only messages and quick replies that get an answer)."""
    return MIX.get(kind, (0, False))[1]


class Result:
    """The raw figures of one client."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.kinds: dict[str, int] = {}
        self.expected: list[tuple[str, float, str]] = []  # (psid, time.time() before the POST, kind)
        self.lag: list[float] = []  # how late the open loop started each send, seconds

    async def post(self, session: aiohttp.ClientSession, url: str, raw: bytes, secret: str, kind: str) -> float:
        """POST one body; record its latency and any error; return the wall time it was sent."""
        sent = time.time()
        start = time.perf_counter()
        try:
            async with session.post(url, data=raw, headers=signed_headers(raw, secret)) as response:
                await response.read()
                if response.status != 200:
                    self.errors[str(response.status)] = self.errors.get(str(response.status), 0) + 1
        except (TimeoutError, aiohttp.ClientError) as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        self.latencies.append(time.perf_counter() - start)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return sent

    def to_json(self) -> dict[str, Any]:
        return {"latencies": self.latencies, "errors": self.errors, "kinds": self.kinds,
                "expected": self.expected, "lag": self.lag}


async def wait_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def throughput(spec: dict[str, Any], session: aiohttp.ClientSession, result: Result) -> None:
    """Closed loop: each connection sends its next event as soon as the last one is answered."""
    events, deadline = Events(spec), spec["start_at"] + spec["seconds"]

    async def connection(slots: list[Slot]) -> None:
        for slot in itertools.cycle(slots):
            if time.time() >= deadline:
                return
            kind = events.pick(slot)
            await result.post(session, spec["url"], events.build(slot, kind), spec["secret"], kind)

    count = max(spec["pool"], spec["concurrency"])
    slots = [Slot() for _ in range(count)]
    if spec.get("primed"):  # the users of `prime` are at the privacy question: the mix applies from the start
        slots = [Slot(psid=str(spec["psid_base"] + i + 1)) for i in range(spec["pool"])] + slots[spec["pool"]:]
        events.ids = itertools.count(count + 1)
    await wait_until(spec["start_at"])
    await asyncio.gather(*(connection(slots[c::spec["concurrency"]]) for c in range(spec["concurrency"])))


async def fixed_rate(spec: dict[str, Any], session: aiohttp.ClientSession, result: Result) -> None:
    """Open loop: send at the given rate whatever the answers do; users round-robin over the pool."""
    events, rate = Events(spec), spec["rate"]
    slots = [Slot() for _ in range(spec["pool"])]
    if spec.get("primed"):  # the users of `prime` are at the privacy question: the mix applies from the start
        slots = [Slot(psid=str(spec["psid_base"] + i + 1)) for i in range(spec["pool"])]
        events.ids = itertools.count(spec["pool"] + 1)
    total = int(rate * spec["seconds"])
    tasks: set[asyncio.Task[None]] = set()

    async def one(slot: Slot, kind: str) -> None:
        raw = events.build(slot, kind)
        psid = slot.psid
        sent = await result.post(session, spec["url"], raw, spec["secret"], kind)
        if expects_reply(kind, spec):
            result.expected.append((psid, sent, kind))

    await wait_until(spec["start_at"])
    for i in range(total):
        at = spec["start_at"] + i / rate
        await wait_until(at)
        result.lag.append(max(0.0, time.time() - at))
        slot = slots[i % len(slots)]
        task = asyncio.create_task(one(slot, events.pick(slot)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)


async def prime(spec: dict[str, Any], session: aiohttp.ClientSession, result: Result) -> None:
    """Open the conversations of a pool ("hoi" from each), before a measured phase."""
    numbers = iter(range(1, spec["pool"] + 1))

    async def worker() -> None:
        for number in numbers:
            psid = str(spec["psid_base"] + number)
            hello = encode({"object": "page", "entry": [{"id": PAGE_ID, "time": 0, "messaging": [_message(
                psid, int(time.time() * 1000), {"mid": f"m_{spec['tag']}_prime_{number}", "text": "hoi"})]}]})
            await result.post(session, spec["url"], hello, spec["secret"], "new")

    await wait_until(spec["start_at"])
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))


async def conversations(spec: dict[str, Any], session: aiohttp.ClientSession, result: Result) -> None:
    """Users first..first+count-1 each say "hoi" and accept the privacy notice; `concurrency` at a time."""
    events = Events(spec)
    psids = iter(range(spec["first"], spec["first"] + spec["count"]))

    async def worker() -> None:
        for number in psids:
            slot = Slot(psid=str(spec["psid_base"] + number))
            hello = encode({"object": "page", "entry": [{"id": PAGE_ID, "time": 0, "messaging": [_message(
                slot.psid, int(time.time() * 1000), {"mid": f"m_{spec['tag']}_hoi_{number}", "text": "hoi"})]}]})
            await result.post(session, spec["url"], hello, spec["secret"], "new")
            await result.post(session, spec["url"], events.build(slot, "quick_reply"), spec["secret"],
                              "quick_reply")

    await wait_until(spec["start_at"])
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))


async def run(spec: dict[str, Any]) -> Result:
    result = Result()
    connector = aiohttp.TCPConnector(limit=spec.get("connections", 512), force_close=False)
    timeout = aiohttp.ClientTimeout(total=spec.get("timeout", 30))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        modes = {"throughput": throughput, "rate": fixed_rate, "prime": prime, "conversations": conversations}
        await modes[spec["mode"]](spec, session, result)
    return result


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(run(spec))
    Path(argv[1]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
