"""Segment Spec Structs: camelCase wire names, JSON round trips, tolerance and validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from promoloop.actors.events import (
    EVENT_TYPES,
    Alias,
    Batch,
    Group,
    Identify,
    Page,
    Screen,
    SegmentEvent,
    Track,
)

T0 = datetime(2026, 1, 5, 9, 30, 15, 123000, tzinfo=UTC)
SENT = datetime(2026, 1, 5, 9, 30, 16, tzinfo=UTC)

COMMON: dict[str, Any] = {
    "message_id": "m-1",
    "timestamp": T0,
    "sent_at": SENT,
    "user_id": "u-1",
    "anonymous_id": "a-1",
    "context": {"ip": "10.0.0.1", "library": {"name": "x", "version": "1"}},
    "integrations": {"All": True, "Mixpanel": False},
}

SAMPLES: list[SegmentEvent] = [
    Identify(**COMMON, traits={"email": "pam@example.com", "plan": "pro", "age": 31}),
    Track(**COMMON, event="Order Completed", properties={"total_cents": 4500, "n": 1.5}),
    Page(**COMMON, name="Home", category="Landing", properties={"path": "/"}),
    Screen(**COMMON, name="Cart", category="Checkout", properties={"items": [1, 2]}),
    Group(**COMMON, group_id="g-42", traits={"industry": "paper"}),
    Alias(**COMMON, previous_id="a-1"),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.__struct_config__.tag)
def test_single_call_round_trips_through_json(event: SegmentEvent) -> None:
    """Encoding then decoding as the tagged union gives back an equal Struct of the same type."""
    wire = msgspec.json.encode(event)
    back = msgspec.json.decode(wire, type=SegmentEvent)
    assert type(back) is type(event)
    assert back == event
    assert msgspec.json.decode(wire)["type"] == event.__struct_config__.tag


def test_batch_of_every_type_round_trips() -> None:
    """A Batch keeps every call, in order, with the envelope's sentAt and writeKey."""
    batch = Batch(batch=list(SAMPLES), sent_at=SENT, write_key="wk", context={"k": 1})
    back = msgspec.json.decode(msgspec.json.encode(batch), type=Batch)
    assert back == batch
    assert [type(e) for e in back.batch] == [Identify, Track, Page, Screen, Group, Alias]


def test_wire_names_are_camel_case() -> None:
    """Python snake_case fields appear as the Spec's camelCase keys on the wire."""
    group = msgspec.json.decode(msgspec.json.encode(SAMPLES[4]))
    alias = msgspec.json.decode(msgspec.json.encode(SAMPLES[5]))
    for wire in (group, alias):
        assert {"userId", "anonymousId", "messageId", "sentAt", "timestamp", "type"} <= set(wire)
        assert not {"user_id", "anonymous_id", "message_id", "sent_at"} & set(wire)
    assert group["groupId"] == "g-42"
    assert alias["previousId"] == "a-1"
    envelope = msgspec.json.decode(
        msgspec.json.encode(Batch(batch=[], sent_at=SENT, write_key="k"))
    )
    assert envelope == {"batch": [], "sentAt": "2026-01-05T09:30:16Z", "writeKey": "k"}


def test_defaults_are_omitted_and_snake_case_keys_are_not_read() -> None:
    """Unset fields are not sent; a snake_case key on the wire is an unknown field, not an id."""
    wire = msgspec.json.decode(msgspec.json.encode(Track(event="x", user_id="u")))
    assert wire == {"type": "track", "event": "x", "userId": "u"}
    odd = msgspec.json.decode(b'{"type":"track","event":"x","user_id":"u"}', type=SegmentEvent)
    assert odd.user_id is None


def test_unknown_wire_fields_are_tolerated() -> None:
    """Extra fields in a call or in the envelope (``_metadata``, ``version``...) are ignored."""
    body = {
        "batch": [
            {
                "type": "track",
                "event": "Signed Up",
                "userId": "u-1",
                "version": 2,
                "channel": "server",
                "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
                "properties": {"method": "email"},
            }
        ],
        "sentAt": "2026-01-05T09:30:16.000Z",
        "writeKey": "wk",
        "_extra": {"anything": [1, 2, 3]},
    }
    batch = msgspec.json.decode(msgspec.json.encode(body), type=Batch)
    (event,) = batch.batch
    assert event == Track(event="Signed Up", user_id="u-1", properties={"method": "email"})


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ({"type": "track", "event": 5}, r"\$\.batch\[0\]\.event"),
        ({"type": "track", "event": "x", "userId": 12}, r"\$\.batch\[0\]\.userId"),
        ({"type": "identify", "userId": "u", "anonymousId": ["a"]}, r"\$\.batch\[0\]\.anonymousId"),
        ({"type": "track", "event": "x", "timestamp": "yesterday"}, r"\$\.batch\[0\]\.timestamp"),
        ({"type": "track", "event": "x", "properties": [1]}, r"\$\.batch\[0\]\.properties"),
        ({"type": "group", "userId": "u", "groupId": None}, r"\$\.batch\[0\]\.groupId"),
        ({"type": "alias", "userId": "u", "previousId": [7]}, r"\$\.batch\[0\]\.previousId"),
        ({"type": "identify", "traits": "pro"}, r"\$\.batch\[0\]\.traits"),
        ({"type": "shout", "userId": "u"}, r"\$\.batch\[0\]\.type"),
        ({"type": "track", "userId": "u"}, r"missing required field `event` - at `\$\.batch\[0\]`"),
    ],
)
def test_wrong_types_name_the_field_path(call: dict[str, Any], path: str) -> None:
    """A wrong type, a missing required field or an unknown call type raises ValidationError
    whose message points at the offending JSON path."""
    good = {"type": "page", "userId": "u"}
    body = msgspec.json.encode({"batch": [call, good]})
    with pytest.raises(msgspec.ValidationError, match=path):
        msgspec.json.decode(body, type=Batch)


def test_event_types_table_and_identity() -> None:
    """EVENT_TYPES maps each Spec type name to its Struct; identity prefers the userId."""
    assert {
        "identify": Identify,
        "track": Track,
        "page": Page,
        "screen": Screen,
        "group": Group,
        "alias": Alias,
    } == EVENT_TYPES
    assert Track(event="x", user_id="u", anonymous_id="a").identity == "u"
    assert Track(event="x", anonymous_id="a").identity == "a"
    assert Track(event="x").identity == "?"


def test_events_are_frozen() -> None:
    """An event is a fact: its fields cannot be reassigned."""
    event = Track(event="x", user_id="u")
    with pytest.raises(AttributeError):
        event.user_id = "v"  # type: ignore[misc]


def test_numeric_group_and_previous_ids_become_strings() -> None:
    """The official SDK sends a numeric group_id / previous_id as a JSON number."""
    group = msgspec.json.decode(
        b'{"type":"group","messageId":"m","userId":"u","groupId":42}', type=SegmentEvent
    )
    alias = msgspec.json.decode(
        b'{"type":"alias","messageId":"m","userId":"u","previousId":7}', type=SegmentEvent
    )
    assert isinstance(group, Group) and group.group_id == "42"
    assert isinstance(alias, Alias) and alias.previous_id == "7"
    with pytest.raises(msgspec.ValidationError, match=r"groupId"):
        msgspec.json.decode(
            b'{"type":"group","messageId":"m","userId":"u","groupId":true}', type=SegmentEvent
        )
