"""Hostile webhook bodies, correctly signed: random JSON, wrong types, deep nesting, huge arrays, bad bytes.

Whatever arrives, the webhook answers 200 or 400 (never 500), a bad event never costs the good events of its
batch their replies, and the bot still answers a normal message afterwards.
"""
from __future__ import annotations

import json
import math
import uuid
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from storage import inbox
from tests.support import messenger

EXPECTED = {200, 400}  # a usable batch, or a body that is no webhook at all
FUZZ = hypothesis_settings(max_examples=60, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats() | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
ids = st.one_of(st.text(max_size=80), st.integers(), json_values)
times = st.one_of(st.integers(), st.floats(), st.just(10**30), json_values)
messages = st.fixed_dictionaries({}, optional={
    "mid": st.one_of(st.text(max_size=300), json_values), "text": st.one_of(st.text(), json_values),
    "is_echo": json_values, "app_id": json_values,
    "quick_reply": st.one_of(st.fixed_dictionaries({"payload": json_values}), json_values),
    "attachments": st.one_of(st.lists(st.fixed_dictionaries({"type": st.one_of(st.text(max_size=40), json_values),
                                                             "payload": json_values}), max_size=6), json_values),
})
items = st.fixed_dictionaries({}, optional={
    "sender": st.one_of(st.fixed_dictionaries({"id": ids}), json_values),
    "recipient": st.one_of(st.fixed_dictionaries({"id": ids}), json_values),
    "timestamp": times,
    "message": st.one_of(messages, json_values),
    "postback": st.one_of(st.fixed_dictionaries({}, optional={"payload": json_values, "title": json_values,
                                                             "mid": json_values, "referral": json_values}),
                          json_values),
    "referral": st.one_of(st.fixed_dictionaries({"ref": json_values}), json_values),
    "message_edit": json_values, "delivery": json_values, "read": json_values,
    "pass_thread_control": st.one_of(st.fixed_dictionaries({"new_owner_app_id": json_values}), json_values),
    "take_thread_control": json_values,
}) | json_values
entries = st.fixed_dictionaries({}, optional={"id": json_values, "time": times,
                                              "messaging": st.one_of(st.lists(items, max_size=4), json_values),
                                              "standby": st.one_of(st.lists(items, max_size=2), json_values)})
bodies = st.fixed_dictionaries({"object": st.one_of(st.just("page"), json_values)},
                               optional={"entry": st.one_of(st.lists(entries | json_values, max_size=4),
                                                            json_values)}) | json_values


def post_raw(user: Any, raw: bytes) -> int:
    """Post signed bytes, let the inbox worker handle what was stored; return the status."""
    response = user.post(raw)
    assert response.status_code in EXPECTED, (response.status_code, raw[:300])
    return response.status_code


def inbox_counts(services: Any) -> dict[str, int]:
    """Return the inbox's events by status."""
    with services.inbox.inbox_sessions.begin() as session:
        return inbox.counts(session)


def assert_still_answers(user: Any) -> None:
    """Nothing stored was left waiting or set aside, and a normal message still gets its reply."""
    user.services.drain()
    assert inbox_counts(user.services) == {inbox.PENDING: 0, inbox.PROCESSING: 0, inbox.FAILED: 0}
    assert user.say("hoi"), "the bot no longer answers"


def test_random_webhook_shaped_bodies_never_get_a_500(user: Any) -> None:
    @FUZZ
    @given(body=bodies)
    def post(body: Any) -> None:
        post_raw(user, json.dumps(body).encode())  # json.dumps writes NaN and Infinity; Python reads them back

    post()
    assert_still_answers(user)


def test_random_bytes_never_get_a_500(user: Any) -> None:
    @FUZZ
    @given(raw=st.binary(max_size=400))
    def post(raw: bytes) -> None:
        post_raw(user, raw)

    post()
    assert_still_answers(user)


def test_invalid_utf8_and_lone_surrogates_inside_a_message_never_get_a_500(user: Any) -> None:
    @FUZZ
    @given(inside=st.binary(max_size=40) | st.sampled_from([b"\\ud800", b"\\udfff x", b"\\ud83d", b"\\ude0a\\ud83d",
                                                            b"\xed\xa0\x80", b"\xc3", b"\\u0000", b"\\\\u0000"]))
    def post(inside: bytes) -> None:
        item = messenger.text_item(user.psid, "PLACEHOLDER")
        raw = messenger.encode(messenger.envelope(item)).replace(b"PLACEHOLDER", inside.replace(b'"', b""))
        post_raw(user, raw)

    post()
    assert_still_answers(user)


def test_a_correct_signature_on_garbage_gets_400(user: Any) -> None:
    for raw in (b"", b"garbage", b"<xml/>", b"\x00" * 100, b'{"object":"page","entry":[}', b"\xef\xbb\xbf{}",
                b'{"object": "page", "entry": [' + b"1," * 10 + b"]}", b"NaN", b"[" * 50):
        assert post_raw(user, raw) == 400
    assert_still_answers(user)


def test_deep_nesting_gets_an_answer_not_a_500(user: Any) -> None:
    for depth in (100, 1_000, 100_000):
        post_raw(user, b"[" * depth + b"]" * depth)
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        item = messenger.text_item(user.psid, "x")
        post_raw(user, messenger.encode(messenger.envelope(item)).replace(b'"x"', nested))
    assert_still_answers(user)


def test_huge_arrays_below_the_size_limit_are_skipped_quickly(user: Any) -> None:
    for raw in (b'{"object":"page","entry":[' + b",".join([b"{}"] * 200_000) + b"]}",
                b'{"object":"page","entry":[{"messaging":[' + b",".join([b"null"] * 150_000) + b"]}]}",
                b'{"object":"page","entry":[{"messaging":[' + b",".join([b'{"message":{}}'] * 50_000) + b"]}]}"):
        assert post_raw(user, raw) == 200
    assert_still_answers(user)


def test_good_events_in_a_batch_full_of_bad_ones_are_all_answered(app: Any, services: Any, graph: Any,
                                                                   make_user: Any) -> None:
    @hypothesis_settings(FUZZ, max_examples=25)
    @given(bad=st.lists(items, min_size=1, max_size=6), where=st.integers(min_value=0, max_value=6))
    def post(bad: list[Any], where: int) -> None:
        good = [make_user(str(8_000_000_000_000_000 + uuid.uuid4().int % 10**15)) for _ in range(2)]
        batch = bad[:where] + [messenger.text_item(good[0].psid, "hoi")] + bad[where:]
        batch.append(messenger.postback_item(good[1].psid, "GET_STARTED"))
        body = {"object": "page", "entry": [{"id": messenger.PAGE_ID, "messaging": batch}]}
        assert post_raw(good[0], json.dumps(body).encode()) == 200
        services.drain()
        assert graph.texts(good[0].psid) and graph.texts(good[1].psid), "a good event lost its reply"

    post()


def test_nan_and_infinity_in_a_batch_cost_the_good_event_nothing(services: Any, graph: Any,
                                                                  make_user: Any) -> None:
    """Python's json reads NaN and Infinity, which no JSON has; PostgreSQL's json type refused to store them,
    and the whole batch got a 503 on every delivery (found by the test above)."""
    user = make_user(str(8_000_000_000_000_000 + uuid.uuid4().int % 10**15))
    batch = [{"sender": {"id": "0"}, "postback": {"payload": math.inf, "title": math.nan}},
             messenger.text_item(user.psid, "hoi"),
             {"sender": {"id": "1"}, "message": {"mid": "m.1", "text": -math.inf}}]
    raw = json.dumps({"object": "page", "entry": [{"id": messenger.PAGE_ID, "messaging": batch}]}).encode()
    assert b"Infinity" in raw and b"NaN" in raw  # what json.dumps writes for them
    assert post_raw(user, raw) == 200
    services.drain()
    assert graph.texts(user.psid), "the good event lost its reply"


def test_a_stored_item_the_worker_cannot_read_is_set_aside(user: Any, services: Any) -> None:
    with services.inbox_engine.begin() as connection:  # as if an older version had stored it
        inbox.add(connection, [(user.psid, "messaging", {"sender": {"id": user.psid}, "message": {"text": 1}})],
                  services.clock())
    services.inbox.process_all()
    assert inbox_counts(services)[inbox.FAILED] == 1
    assert user.say("hoi"), "the user's next message is answered"
