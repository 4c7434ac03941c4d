"""Loopback stand-in for Meta's Graph API: records every call and enforces Send API rules."""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JsonDict = dict[str, Any]
Reply = tuple[int, JsonDict]
Route = Callable[[dict[str, str], JsonDict], Reply]

API_VERSION = "v25.0"
MAX_TEXT, MAX_METADATA, MAX_QUICK_REPLIES = 2000, 1000, 13
MAX_QUICK_REPLY_TITLE, MAX_QUICK_REPLY_PAYLOAD = 20, 1000
MAX_TEMPLATE_TEXT, MAX_BUTTONS, MAX_BUTTON_TITLE, MAX_POSTBACK_PAYLOAD = 640, 3, 20, 1000
BUTTON_TYPES = frozenset({"web_url", "postback", "phone_number"})
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
# Meta answers these tags with error 100 since 2026-04-27.
RETIRED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"})
ALLOWED_TAGS = frozenset({"HUMAN_AGENT", "CUSTOMER_FEEDBACK"})
QUICK_REPLY_TYPES = frozenset({"text", "user_phone_number", "user_email"})
ATTACHMENT_TYPES = frozenset({"image", "audio", "video", "file", "template"})
# Messenger Profile API: 10 calls per 10 minutes per page; greeting 160, menu 20 items of 30, 4 ice breakers
PROFILE_CALLS, PROFILE_WINDOW = 10, 600.0
MAX_GREETING, MAX_PROFILE_PAYLOAD, MAX_ICE_BREAKERS = 160, 1000, 4
MAX_MENU_ITEMS, MAX_MENU_TITLE = 20, 30
MENU_ITEM_TYPES = frozenset({"postback", "web_url"})
MESSAGES = {
    1: "An unknown error occurred", 2: "Service temporarily unavailable",
    4: "Application request limit reached", 10: "This message is sent outside of allowed window.",
    190: "Invalid OAuth access token.", 551: "This person isn't available right now.",
    613: "Calls to this api have exceeded the rate limit.",
    1200: "Temporary send message failure. Please try again later",
}
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/|$)")
_NODE_EDGE = re.compile(r"/(?P<node>[^/]+)/(?P<edge>[^/]+)/?")


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw and answered it (path without the /vNN.N prefix)."""

    method: str
    path: str
    query: dict[str, str]
    body: JsonDict | None
    status: int
    response: JsonDict
    at: float


@dataclass(frozen=True)
class Fault:
    """An injected Graph error answered instead of a send."""

    status: int
    code: int
    subcode: int | None
    message: str


def graph_error(code: int, message: str, subcode: int | None = None) -> JsonDict:
    """Build an error body in Meta's shape; like Meta, omit error_subcode when there is none."""
    error: JsonDict = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error | {"fbtrace_id": "A" + uuid.uuid4().hex[:22]}}


def validate_send(body: JsonDict) -> str | None:
    """Return why Meta would reject this Send API body, or None when it is valid."""
    if _recipient_id(body) is None:
        return "param recipient[id] must be non-empty."
    if "message" in body and "sender_action" in body:
        return "message and sender_action cannot be sent in the same request."
    if "sender_action" in body:
        if body["sender_action"] not in SENDER_ACTIONS:
            return f"param sender_action must be one of {sorted(SENDER_ACTIONS)}."
        return None
    if "message" not in body:
        return "param message or sender_action is required."
    return _check_messaging_type(body) or _check_message(body["message"])


def _check_messaging_type(body: JsonDict) -> str | None:
    """Require a known messaging_type and, with MESSAGE_TAG, a tag Meta still accepts."""
    kind, tag = body.get("messaging_type"), body.get("tag")
    if kind not in MESSAGING_TYPES:
        return f"param messaging_type must be one of {sorted(MESSAGING_TYPES)}."
    if kind == "MESSAGE_TAG" and tag in RETIRED_TAGS:
        return f"tag {tag} is no longer supported since 2026-04-27."
    if kind == "MESSAGE_TAG" and tag not in ALLOWED_TAGS:
        return f"param tag must be one of {sorted(ALLOWED_TAGS)} with MESSAGE_TAG."
    return None


def _check_message(message: object) -> str | None:
    """Check text XOR attachment, the text and metadata lengths, then quick replies."""
    if not isinstance(message, dict) or ("text" in message) == ("attachment" in message):
        return "param message must contain exactly one of text or attachment."
    if "text" in message and not _fits(message["text"], MAX_TEXT):
        return f"param message[text] must have 1 to {MAX_TEXT} characters."
    if "attachment" in message and not _is_attachment(message["attachment"]):
        return "param message[attachment] needs a known type and a payload object."
    if "attachment" in message and message["attachment"]["type"] == "template":
        problem = _check_template(message["attachment"]["payload"])
        if problem:
            return problem
    if "metadata" in message and not _fits(message["metadata"], MAX_METADATA):
        return f"param message[metadata] must have 1 to {MAX_METADATA} characters."
    return _check_quick_replies(message.get("quick_replies", []))


def _check_quick_replies(replies: object) -> str | None:
    """Allow at most 13 quick replies; text ones need a short title and a payload."""
    if not isinstance(replies, list) or len(replies) > MAX_QUICK_REPLIES:
        return f"param message[quick_replies] must be a list of at most {MAX_QUICK_REPLIES}."
    for reply in replies:
        kind = reply.get("content_type") if isinstance(reply, dict) else None
        if kind not in QUICK_REPLY_TYPES:
            return f"quick reply content_type must be one of {sorted(QUICK_REPLY_TYPES)}."
        if kind == "text" and not _fits(reply.get("title"), MAX_QUICK_REPLY_TITLE):
            return f"quick reply title must have 1 to {MAX_QUICK_REPLY_TITLE} characters."
        if kind == "text" and not _fits(str(reply.get("payload", "")), MAX_QUICK_REPLY_PAYLOAD):
            return f"quick reply payload must have 1 to {MAX_QUICK_REPLY_PAYLOAD} characters."
    return None


def _check_template(payload: JsonDict) -> str | None:
    """Check a button template: text of 1 to 640 characters and 1 to 3 well-formed buttons."""
    if payload.get("template_type") != "button":
        return None  # other templates are not used by the bot; accept them as before
    if not _fits(payload.get("text"), MAX_TEMPLATE_TEXT):
        return f"param message[attachment][payload][text] must have 1 to {MAX_TEMPLATE_TEXT} characters."
    buttons = payload.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        return f"param message[attachment][payload][buttons] must be a list of 1 to {MAX_BUTTONS}."
    for button in buttons:
        problem = _check_button(button)
        if problem:
            return problem
    return None


def _check_button(button: object) -> str | None:
    """Check one template button: a known type, a short title, an http(s) url or a payload."""
    kind = button.get("type") if isinstance(button, dict) else None
    if not isinstance(button, dict) or kind not in BUTTON_TYPES:
        return f"button type must be one of {sorted(BUTTON_TYPES)}."
    if not _fits(button.get("title"), MAX_BUTTON_TITLE):
        return f"button title must have 1 to {MAX_BUTTON_TITLE} characters."
    if kind == "web_url":
        parts = urlsplit(button.get("url") if isinstance(button.get("url"), str) else "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "param url must be a valid URL with http or https."
    elif not _fits(button.get("payload"), MAX_POSTBACK_PAYLOAD):
        return f"button payload must have 1 to {MAX_POSTBACK_PAYLOAD} characters."
    return None


def _is_attachment(value: object) -> bool:
    """Tell whether value is an attachment with a known type and a payload object."""
    return (isinstance(value, dict) and value.get("type") in ATTACHMENT_TYPES
            and isinstance(value.get("payload"), dict))


def _fits(value: object, limit: int) -> bool:
    """Tell whether value is a non-empty string of at most limit characters."""
    return isinstance(value, str) and 0 < len(value) <= limit


def _recipient_id(body: JsonDict) -> str | None:
    """Return recipient.id from a request body, if there is one."""
    recipient = body.get("recipient")
    return str(recipient["id"]) if isinstance(recipient, dict) and recipient.get("id") else None


def validate_profile(body: JsonDict) -> str | None:
    """Return why Meta would reject this Messenger Profile body, or None when it is valid."""
    checks: dict[str, Callable[[Any], str | None]] = {
        "get_started": _check_get_started, "greeting": _check_greeting,
        "ice_breakers": _check_ice_breakers, "persistent_menu": _check_menu}
    for name, value in body.items():
        error = checks[name](value) if name in checks else None
        if error is not None:
            return error
    return None


def _check_get_started(value: object) -> str | None:
    """Require {"payload": 1 to 1,000 characters}."""
    if not isinstance(value, dict) or not _fits(value.get("payload"), MAX_PROFILE_PAYLOAD):
        return f"param get_started[payload] must have 1 to {MAX_PROFILE_PAYLOAD} characters."
    return None


def _check_greeting(value: object) -> str | None:
    """Require a list of {locale, text} with a default locale and texts of at most 160 characters."""
    if not _locale_list(value):
        return "param greeting must be a list of {locale, text} including the default locale."
    for item in value:  # type: ignore[union-attr]
        if not _fits(item.get("text"), MAX_GREETING):
            return f"param greeting[text] must have 1 to {MAX_GREETING} characters."
    return None


def _check_ice_breakers(value: object) -> str | None:
    """Require the new format: per locale at most four {question, payload}."""
    if not _locale_list(value):
        return "param ice_breakers must be a list of {call_to_actions, locale} including the default locale."
    for item in value:  # type: ignore[union-attr]
        actions = item.get("call_to_actions")
        if not isinstance(actions, list) or not 0 < len(actions) <= MAX_ICE_BREAKERS:
            return f"param ice_breakers[call_to_actions] must have 1 to {MAX_ICE_BREAKERS} questions."
        for action in actions:
            if not isinstance(action, dict) or not _fits(action.get("question"), MAX_TEXT) \
                    or not _fits(action.get("payload"), MAX_PROFILE_PAYLOAD):
                return "each ice breaker needs a question and a payload of 1 to 1000 characters."
    return None


def _check_menu(value: object) -> str | None:
    """Require per locale at most 20 postback or web_url items with titles of at most 30 characters."""
    if not _locale_list(value):
        return "param persistent_menu must be a list of {locale, call_to_actions} including the default locale."
    for menu in value:  # type: ignore[union-attr]
        if not isinstance(menu.get("composer_input_disabled", False), bool):
            return "param persistent_menu[composer_input_disabled] must be a boolean."
        items = menu.get("call_to_actions")
        if not isinstance(items, list) or not 0 < len(items) <= MAX_MENU_ITEMS:
            return f"param persistent_menu[call_to_actions] must have 1 to {MAX_MENU_ITEMS} items."
        for item in items:
            error = _check_menu_item(item)
            if error is not None:
                return error
    return None


def _check_menu_item(item: object) -> str | None:
    """Check one persistent menu item's type, title and payload or url."""
    if not isinstance(item, dict) or item.get("type") not in MENU_ITEM_TYPES:
        return f"persistent menu item type must be one of {sorted(MENU_ITEM_TYPES)}."
    if not _fits(item.get("title"), MAX_MENU_TITLE):
        return f"persistent menu item title must have 1 to {MAX_MENU_TITLE} characters."
    if item["type"] == "postback" and not _fits(item.get("payload"), MAX_PROFILE_PAYLOAD):
        return f"persistent menu item payload must have 1 to {MAX_PROFILE_PAYLOAD} characters."
    if item["type"] == "web_url" and not str(item.get("url", "")).startswith(("http://", "https://")):
        return "persistent menu web_url item needs a url."
    return None


def _locale_list(value: object) -> bool:
    """Tell whether value is a list of objects with distinct locales, one of them default."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return False
    locales = [item.get("locale") for item in value]
    return "default" in locales and len(set(locales)) == len(locales)


def parse_body(content_type: str, raw: bytes) -> JsonDict | None:
    """Decode a JSON or form body (form fields may hold JSON); raise ValueError otherwise."""
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        return {k: _maybe_json(v) for k, v in parse_qsl(raw.decode(), keep_blank_values=True)}
    if content_type != "application/json":
        raise ValueError(f"Unsupported Content-Type {content_type}; send application/json.")
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    return body


def _maybe_json(value: str) -> Any:
    """Decode a form value holding a JSON object or list, as Meta does."""
    try:
        return json.loads(value) if value[:1] in ("{", "[") else value
    except ValueError:
        return value


class GraphServer:
    """Serve a fake Graph API for one Page on a free loopback port."""

    def __init__(self, token: str | None = None, rate_limit: int = 300,
                 app_id: str = "880123456789012") -> None:
        self.token, self.rate_limit, self.app_id = token, rate_limit, app_id
        self.delay = 0.0
        self._lock = threading.Lock()
        self._records: list[Recorded] = []
        self._window: deque[float] = deque()
        self._fault, self._fault_left = Fault(500, 2, None, MESSAGES[2]), 0.0  # how many to fail
        self._profile: JsonDict = {}
        self.profile_calls, self.profile_window = PROFILE_CALLS, PROFILE_WINDOW
        self._profile_log: deque[float] = deque()
        self._owners: dict[str, str | None] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[str, dict[str, Route]] = {
            "messages": {"POST": self._send},
            "messenger_profile": {"POST": self._set_profile, "GET": self._get_profile,
                                  "DELETE": self._delete_profile},
            "pass_thread_control": {"POST": functools.partial(self._control, "pass")},
            "take_thread_control": {"POST": functools.partial(self._control, "take")},
            "release_thread_control": {"POST": functools.partial(self._control, "release")},
            "thread_owner": {"GET": self._thread_owner},
            "subscribed_apps": {"GET": self._subscribed_apps},
        }
        self.subscribed = [app_id]  # apps subscribed to the page's webhooks; clear it to unsubscribe ours

    def start(self) -> GraphServer:
        """Bind a free port on 127.0.0.1 and serve from a background thread."""
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> GraphServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the versioned base URL the bot uses as GRAPH_API_URL."""
        if self._httpd is None:
            raise RuntimeError("GraphServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{API_VERSION}"

    def fail_next(self, n: int = 1, status: int = 500, code: int = 2, subcode: int | None = None,
                  message: str | None = None) -> None:
        """Answer the next n Send API calls with this Graph error."""
        if n < 1:
            raise ValueError("n must be at least 1")
        self._inject(n, status, code, subcode, message)

    def fail_always(self, status: int = 500, code: int = 2, subcode: int | None = None,
                    message: str | None = None) -> None:
        """Answer every Send API call with this Graph error until recover()."""
        self._inject(math.inf, status, code, subcode, message)

    def recover(self) -> None:
        """Stop injecting errors."""
        with self._lock:
            self._fault_left = 0.0

    @property
    def requests(self) -> list[Recorded]:
        """Return a copy of every recorded request, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def profile(self) -> JsonDict:
        """Return a copy of the Messenger Profile properties set so far."""
        with self._lock:
            return dict(self._profile)

    def thread_owner(self, recipient_id: str) -> str | None:
        """Return the app id owning the thread (our app until handed over), None when idle."""
        with self._lock:
            return self._owners.get(recipient_id, self.app_id)

    def sent_messages(self, recipient_id: str | None = None) -> list[JsonDict]:
        """Return the bodies of successful message sends (not sender actions), in order."""
        return [r.body for r in self.requests if r.body is not None and r.status == 200
                and r.path.endswith("/messages") and "message" in r.body
                and recipient_id in (None, _recipient_id(r.body))]

    def texts(self, recipient_id: str | None = None) -> list[str]:
        """Return the texts of successful message sends, in order."""
        return [b["message"]["text"] for b in self.sent_messages(recipient_id)
                if "text" in b["message"]]

    def wait_for(self, predicate: Callable[[GraphServer], object], timeout: float = 5.0) -> None:
        """Poll until predicate(self) is true; raise AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                seen = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]]
                raise AssertionError(f"condition not met within {timeout}s; last requests: {seen}")
            time.sleep(0.01)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._records.clear()

    def answer(self, method: str, target: str, content_type: str, raw: bytes) -> Reply:
        """Answer one HTTP request and record it."""
        parts = urlsplit(target)
        path = _VERSION_PREFIX.sub("", parts.path) or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            body, body_error = parse_body(content_type, raw), None
        except ValueError as exc:
            body, body_error = None, str(exc)
        status, response = self._route(method, path, query, body, body_error)
        with self._lock:
            self._records.append(Recorded(method, path, query, body, status, response, time.time()))
        return status, response

    def _route(self, method: str, path: str, query: dict[str, str], body: JsonDict | None,
               body_error: str | None) -> Reply:
        """Check path, method, token and body, then hand over to the edge's handler."""
        match = _NODE_EDGE.fullmatch(path)
        routes = self._routes.get(match["edge"]) if match else None
        if routes is None:
            return 404, graph_error(2500, f"Unknown path components: {path}")
        if method not in routes:
            return 400, graph_error(100, f"Unsupported {method.lower()} request.")
        token = query.get("access_token") or (body or {}).get("access_token")
        if not token or (self.token is not None and token != self.token):
            return 400, graph_error(190, MESSAGES[190])
        if body_error is not None:
            return 400, graph_error(100, body_error)
        return routes[method](query, body or {})

    def _send(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Answer a Send API call: rate limit, then validation, injected faults, success."""
        if not self._admit():
            return 400, graph_error(613, MESSAGES[613])
        error = validate_send(body)
        if error is not None:
            return 400, graph_error(100, error)
        fault = self._take_fault()
        if fault is not None:
            return fault.status, graph_error(fault.code, fault.message, fault.subcode)
        mid = {"message_id": f"m_{uuid.uuid4().hex}"} if "message" in body else {}
        return 200, {"recipient_id": _recipient_id(body)} | mid

    def _admit(self) -> bool:
        """Count a call in the sliding one-second window unless the window is full."""
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                return False
            self._window.append(now)
            return True

    def _inject(self, n: float, status: int, code: int, subcode: int | None,
                message: str | None) -> None:
        """Fail the next n Send API calls, with Meta's usual message when none is given."""
        fault = Fault(status, code, subcode, message or MESSAGES.get(code, MESSAGES[1]))
        with self._lock:
            self._fault, self._fault_left = fault, float(n)

    def _take_fault(self) -> Fault | None:
        """Return the fault for this call, if one is pending, and use it up."""
        with self._lock:
            if self._fault_left <= 0:
                return None
            self._fault_left -= 1
            return self._fault

    def _admit_profile(self) -> bool:
        """Count a Messenger Profile call (any method) unless the page used up its calls in the window."""
        now = time.monotonic()
        with self._lock:
            while self._profile_log and now - self._profile_log[0] >= self.profile_window:
                self._profile_log.popleft()
            if len(self._profile_log) >= self.profile_calls:
                return False
            self._profile_log.append(now)
            return True

    def _set_profile(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Overwrite only the Messenger Profile properties sent, as Meta does, if they are within its limits."""
        if not self._admit_profile():
            return 400, graph_error(613, MESSAGES[613])
        sent = {key: value for key, value in body.items() if key != "access_token"}
        if not sent:
            return 400, graph_error(100, "No Messenger Profile properties to set.")
        error = validate_profile(sent)
        if error is not None:
            return 400, graph_error(100, error)
        with self._lock:
            self._profile.update(sent)
        return 200, {"result": "success"}

    def _get_profile(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Return the properties named in ?fields= (all when absent)."""
        if not self._admit_profile():
            return 400, graph_error(613, MESSAGES[613])
        names = set(filter(None, query.get("fields", "").split(",")))
        found = {k: v for k, v in self.profile.items() if not names or k in names}
        return 200, {"data": [found] if found else []}

    def _delete_profile(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Remove the properties listed in the body's `fields`."""
        if not self._admit_profile():
            return 400, graph_error(613, MESSAGES[613])
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            return 400, graph_error(100, "param fields must be a non-empty list.")
        with self._lock:
            for name in fields:
                self._profile.pop(name, None)
        return 200, {"result": "success"}

    def _control(self, action: str, query: dict[str, str], body: JsonDict) -> Reply:
        """Pass, take or release a thread; a released thread is idle."""
        recipient, target = _recipient_id(body), body.get("target_app_id")
        if recipient is None or (action == "pass" and not target):
            return 400, graph_error(100, "param recipient[id] (and target_app_id) is required.")
        with self._lock:
            self._owners[recipient] = {"pass": str(target), "take": self.app_id}.get(action)
        return 200, {"success": True}

    def _subscribed_apps(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Answer GET /{page}/subscribed_apps like Meta: the apps that receive the page's webhooks."""
        return 200, {"data": [{"id": app, "name": f"app {app}", "subscribed_fields": ["messages"]}
                              for app in self.subscribed]}

    def _thread_owner(self, query: dict[str, str], body: JsonDict) -> Reply:
        """Report the owner of the thread with ?recipient=PSID; an idle thread has none."""
        if not query.get("recipient"):
            return 400, graph_error(100, "param recipient is required.")
        owner = self.thread_owner(query["recipient"])
        return 200, {"data": [{"thread_owner": {"app_id": owner}}] if owner else []}


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the GraphServer answering its requests."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's listen backlog of 5 let a burst of 20 connects be reset

    def __init__(self, graph: GraphServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.graph = graph


class _Handler(BaseHTTPRequestHandler):
    """Hand each HTTP request to the GraphServer and write its JSON reply."""

    server: _HTTPServer

    def _serve(self) -> None:
        """Read the body, wait `delay` seconds, answer."""
        graph = self.server.graph
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(graph.delay)
        kind = self.headers.get_content_type()
        status, payload = graph.answer(self.command, self.path, kind, raw)
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client stopped waiting (timeout tests); no one is left to answer

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""
