"""Behaviour of the loopback Graph API server that stands in for Meta in tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.graph_server import GraphServer, validate_profile, validate_send

TOKEN = "test-page-token"
PSID = "24000000000000001"


@pytest.fixture
def server() -> Iterator[GraphServer]:
    """Run a GraphServer that only accepts TOKEN."""
    with GraphServer(token=TOKEN) as graph:
        yield graph


def text_body(text: str = "hello", **message: Any) -> dict[str, Any]:
    """Build a valid Send API body carrying a text message."""
    return {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
            "message": {"text": text, **message}}


def quick_replies(count: int, title: str = "Yes") -> list[dict[str, str]]:
    """Build count text quick replies with the given title."""
    return [{"content_type": "text", "title": title, "payload": f"P{i}"} for i in range(count)]


def send(graph: GraphServer, body: dict[str, Any], token: str | None = TOKEN,
         path: str = "/me/messages") -> requests.Response:
    """POST a JSON body to the Send API of graph."""
    params = {"access_token": token} if token else {}
    return requests.post(graph.url + path, params=params, json=body, timeout=5)


def test_valid_text_send_succeeds_and_is_recorded(server: GraphServer) -> None:
    response = send(server, text_body("hello"))

    assert response.status_code == 200
    assert response.json()["recipient_id"] == PSID
    assert response.json()["message_id"].startswith("m_")
    assert server.texts() == ["hello"]
    assert server.texts(recipient_id="someone-else") == []
    [recorded] = server.requests
    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/me/messages", 200)
    assert recorded.query["access_token"] == TOKEN


def test_message_ids_are_unique(server: GraphServer) -> None:
    ids = {send(server, text_body(f"n{i}")).json()["message_id"] for i in range(5)}

    assert len(ids) == 5


def without(key: str) -> dict[str, Any]:
    """Build a valid text body minus one top-level key."""
    return {k: v for k, v in text_body().items() if k != key}


TAGGED = {"messaging_type": "MESSAGE_TAG"}
BOTH = {"text": "hi", "attachment": {"type": "image", "payload": {}}}
INVALID_BODIES = {  # id: (body, words the error message must contain)
    "text-2001-chars": (text_body("x" * 2001), "message[text]"),
    "empty-text": (text_body(""), "message[text]"),
    "14-quick-replies": (text_body(quick_replies=quick_replies(14)), "quick_replies"),
    "title-21-chars": (text_body(quick_replies=quick_replies(1, "t" * 21)), "title"),
    "reply-no-payload": (text_body(quick_replies=[{"content_type": "text", "title": "Y"}]),
                         "payload"),
    "location-reply": (text_body(quick_replies=[{"content_type": "location"}]), "content_type"),
    "metadata-1001-chars": (text_body(metadata="m" * 1001), "metadata"),
    "message-and-action": (text_body() | {"sender_action": "typing_on"}, "same request"),
    "unknown-action": ({"recipient": {"id": PSID}, "sender_action": "wave"}, "sender_action"),
    "missing-recipient": (without("recipient"), "recipient[id]"),
    "missing-messaging-type": (without("messaging_type"), "messaging_type"),
    "missing-tag": (text_body() | TAGGED, "param tag"),
    "account-update-tag": (text_body() | TAGGED | {"tag": "ACCOUNT_UPDATE"}, "2026-04-27"),
    "event-update-tag": (text_body() | TAGGED | {"tag": "CONFIRMED_EVENT_UPDATE"}, "2026-04-27"),
    "purchase-tag": (text_body() | TAGGED | {"tag": "POST_PURCHASE_UPDATE"}, "2026-04-27"),
    "text-and-attachment": (without("message") | {"message": BOTH}, "exactly one of text"),
}


@pytest.mark.parametrize(("body", "reason"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_invalid_send_bodies_are_rejected_with_code_100(
    server: GraphServer, body: dict[str, Any], reason: str
) -> None:
    response = send(server, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (100, "OAuthException")
    assert reason in error["message"]
    assert error["fbtrace_id"]
    assert server.sent_messages() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(text_body("x" * 2000), id="text-2000-chars"),
        pytest.param(text_body(quick_replies=quick_replies(13, "t" * 20)),
                     id="13-replies-20-chars"),
        pytest.param(text_body() | {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"},
                     id="human-agent-tag"),
        pytest.param({"recipient": {"id": PSID}, "messaging_type": "UPDATE",
                      "message": {"attachment": {"type": "image", "payload": {"url": "u"}}}},
                     id="attachment"),
    ],
)
def test_bodies_at_the_limits_are_accepted(server: GraphServer, body: dict[str, Any]) -> None:
    assert send(server, body).status_code == 200
    assert server.sent_messages() == [body]


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "wrong"])
def test_bad_token_is_rejected_with_code_190(server: GraphServer, token: str | None) -> None:
    response = send(server, text_body(), token=token)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 190
    assert server.sent_messages() == []


def test_form_encoded_body_with_token_field_is_accepted(server: GraphServer) -> None:
    form = {key: json.dumps(value) if isinstance(value, dict) else value
            for key, value in text_body("via form").items()}
    response = requests.post(f"{server.url}/me/messages", data=form | {"access_token": TOKEN},
                             timeout=5)

    assert response.status_code == 200
    assert server.texts() == ["via form"]


def test_json_without_json_content_type_is_rejected(server: GraphServer) -> None:
    response = requests.post(f"{server.url}/me/messages", params={"access_token": TOKEN},
                             data=json.dumps(text_body()), headers={"Content-Type": "text/plain"},
                             timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_sender_action_answers_recipient_only_and_is_no_message(server: GraphServer) -> None:
    response = send(server, {"recipient": {"id": PSID}, "sender_action": "typing_on"})

    assert response.status_code == 200
    assert response.json() == {"recipient_id": PSID}
    assert server.sent_messages() == []


@pytest.mark.parametrize("path", ["/v19.0/me/messages", "/me/messages", "/1234567890/messages"])
def test_any_version_prefix_and_page_id_reach_the_send_api(server: GraphServer, path: str) -> None:
    root = server.url.removesuffix("/v25.0")
    response = requests.post(root + path, params={"access_token": TOKEN}, json=text_body(),
                             timeout=5)

    assert response.status_code == 200
    assert server.requests[0].path == path.removeprefix("/v19.0")


def test_unknown_path_answers_graph_style_404(server: GraphServer) -> None:
    response = requests.get(f"{server.url}/me/nothing_here", params={"access_token": TOKEN},
                            timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "OAuthException"
    assert server.requests[0].status == 404


def test_rate_limit_trips_613_and_recovers_after_a_second() -> None:
    with GraphServer(rate_limit=5) as graph:
        codes = [send(graph, text_body(f"n{i}")).status_code for i in range(6)]
        last = graph.requests[-1].response
        time.sleep(1.05)
        after = send(graph, text_body("later")).status_code

    assert codes == [200] * 5 + [400]
    assert last["error"]["code"] == 613
    assert after == 200


def test_fail_next_fails_exactly_that_many_calls(server: GraphServer) -> None:
    server.fail_next(2)
    responses = [send(server, text_body(f"n{i}")) for i in range(3)]

    assert [r.status_code for r in responses] == [500, 500, 200]
    assert responses[0].json()["error"]["code"] == 2
    assert server.texts() == ["n2"]


def test_fail_next_can_close_the_messaging_window(server: GraphServer) -> None:
    server.fail_next(1, status=400, code=10, subcode=2018278)
    error = send(server, text_body()).json()["error"]

    assert (error["code"], error["error_subcode"]) == (10, 2018278)
    assert "outside of allowed window" in error["message"]


def test_fail_always_fails_until_recover(server: GraphServer) -> None:
    server.fail_always(status=400, code=551)
    failed = [send(server, text_body()).status_code for _ in range(3)]
    server.recover()

    assert failed == [400, 400, 400]
    assert send(server, text_body()).status_code == 200


def test_delay_makes_a_short_client_timeout_expire(server: GraphServer) -> None:
    server.delay = 0.5

    with pytest.raises(requests.Timeout):
        requests.post(f"{server.url}/me/messages", params={"access_token": TOKEN},
                      json=text_body(), timeout=0.1)


def test_wait_for_returns_once_a_late_message_arrives(server: GraphServer) -> None:
    threading.Timer(0.1, send, args=(server, text_body("late"))).start()

    server.wait_for(lambda graph: graph.texts() == ["late"], timeout=5)

    assert server.texts() == ["late"]


def test_wait_for_times_out_with_assertion_error(server: GraphServer) -> None:
    send(server, text_body("only this"))

    with pytest.raises(AssertionError, match=r"within 0.2s.*POST /me/messages -> 200"):
        server.wait_for(lambda graph: len(graph.texts()) == 2, timeout=0.2)


def test_clear_forgets_recorded_requests(server: GraphServer) -> None:
    send(server, text_body())
    server.clear()

    assert server.requests == []


def test_messenger_profile_sets_reads_and_deletes(server: GraphServer) -> None:
    url, params = f"{server.url}/me/messenger_profile", {"access_token": TOKEN}
    posted = requests.post(url, params=params, json={"get_started": {"payload": "GO"}}, timeout=5)
    read = requests.get(url, params=params | {"fields": "get_started"}, timeout=5)
    requests.delete(url, params=params, json={"fields": ["get_started"]}, timeout=5)

    assert posted.json() == {"result": "success"}
    assert read.json() == {"data": [{"get_started": {"payload": "GO"}}]}
    assert server.profile == {}


def test_thread_control_moves_the_thread_owner(server: GraphServer) -> None:
    def control(action: str, **extra: str) -> None:
        body: dict[str, Any] = {"recipient": {"id": PSID}, **extra}
        reply = requests.post(f"{server.url}/1234/{action}_thread_control",
                              params={"access_token": TOKEN}, json=body, timeout=5)
        assert reply.json() == {"success": True}

    def owner() -> list[Any]:
        params = {"access_token": TOKEN, "recipient": PSID}
        reply = requests.get(f"{server.url}/1234/thread_owner", params=params, timeout=5)
        return list(reply.json()["data"])

    control("pass", target_app_id="263902037430900")
    assert owner() == [{"thread_owner": {"app_id": "263902037430900"}}]
    control("take")
    assert server.thread_owner(PSID) == server.app_id
    control("release")
    assert owner() == []


def test_stopped_server_refuses_connections() -> None:
    with GraphServer() as graph:
        url = graph.url

    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/me/messages", json=text_body(), timeout=1)


def test_validate_send_accepts_a_plain_text_body() -> None:
    assert validate_send(text_body()) is None


def test_concurrent_sends_are_all_recorded(server: GraphServer) -> None:
    threads = [threading.Thread(target=send, args=(server, text_body(f"n{i}"))) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(server.texts()) == sorted(f"n{i}" for i in range(20))


def profile_post(server: GraphServer, body: dict[str, Any]) -> requests.Response:
    """POST a Messenger Profile body to graph."""
    return requests.post(f"{server.url}/me/messenger_profile", params={"access_token": TOKEN}, json=body, timeout=5)


def menu(count: int = 1, title: str = "Melden", kind: str = "postback") -> list[dict[str, Any]]:
    """Build a default-locale persistent menu of count items."""
    items = [{"type": kind, "title": title, "payload": f"P{i}"} for i in range(count)]
    return [{"locale": "default", "composer_input_disabled": False, "call_to_actions": items}]


def ice_breakers(count: int) -> list[dict[str, Any]]:
    """Build default-locale ice breakers with count questions."""
    return [{"locale": "default", "call_to_actions": [{"question": f"Q{i}", "payload": f"P{i}"} for i in range(count)]}]


@pytest.mark.parametrize(("body", "reason"), [
    ({"greeting": [{"locale": "default", "text": "x" * 161}]}, "greeting[text]"),
    ({"greeting": [{"locale": "en_US", "text": "Hi"}]}, "default locale"),
    ({"get_started": {"payload": "x" * 1001}}, "get_started[payload]"),
    ({"ice_breakers": ice_breakers(5)}, "1 to 4 questions"),
    ({"persistent_menu": menu(21)}, "1 to 20 items"),
    ({"persistent_menu": menu(title="x" * 31)}, "title"),
    ({"persistent_menu": menu(kind="nested")}, "type"),
])
def test_messenger_profile_over_metas_limits_is_refused(server: GraphServer, body: dict[str, Any],
                                                        reason: str) -> None:
    reply = profile_post(server, body)

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 100 and reason in reply.json()["error"]["message"]
    assert validate_profile(body) is not None
    assert server.profile == {}


def test_messenger_profile_within_limits_is_stored(server: GraphServer) -> None:
    body = {"get_started": {"payload": "GET_STARTED"}, "greeting": [{"locale": "default", "text": "x" * 160}],
            "ice_breakers": ice_breakers(4), "persistent_menu": menu(20, title="x" * 30)}

    assert profile_post(server, body).json() == {"result": "success"}
    assert server.profile == body


def test_eleventh_messenger_profile_call_in_ten_minutes_is_refused(server: GraphServer) -> None:
    url, params = f"{server.url}/me/messenger_profile", {"access_token": TOKEN}
    for _ in range(9):
        assert requests.get(url, params=params, timeout=5).status_code == 200
    assert profile_post(server, {"get_started": {"payload": "GO"}}).status_code == 200

    refused = profile_post(server, {"get_started": {"payload": "AGAIN"}})

    assert refused.status_code == 400 and refused.json()["error"]["code"] == 613
    assert server.profile == {"get_started": {"payload": "GO"}}


def test_messenger_profile_calls_are_allowed_again_after_the_window(server: GraphServer) -> None:
    server.profile_calls, server.profile_window = 2, 0.2
    for _ in range(2):
        assert profile_post(server, {"get_started": {"payload": "GO"}}).status_code == 200
    assert profile_post(server, {"get_started": {"payload": "GO"}}).status_code == 400

    time.sleep(0.25)

    assert profile_post(server, {"get_started": {"payload": "GO"}}).status_code == 200
