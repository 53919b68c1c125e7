"""The exact payloads of the official ``segment-analytics-python`` SDK decode into our Structs.

The dicts are built by hand as ``Client._enqueue`` and ``request.post`` build them (every key,
``None`` ids included, millisecond timestamps with a ``+00:00`` offset, ``context.library``,
``integrations: {}``), checked against the SDK itself, then sent through our schema and back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from dateutil.tz import tzutc
from segment.analytics.client import Client
from segment.analytics.request import DatetimeSerializer
from segment.analytics.version import VERSION

from promoloop.actors.events import Alias, Batch, Group, Identify, Page, Screen, Track

WHEN = datetime(2026, 1, 5, 10, 4, 5, 678901, tzinfo=tzutc())
TS = "2026-01-05T10:04:05.678+00:00"
"""``timestamp.isoformat(timespec="milliseconds")``, as ``_enqueue`` writes it."""
SENT_AT = datetime(2026, 1, 5, 10, 4, 6, 123456, tzinfo=tzutc()).isoformat()
"""``datetime.now(tz=tzutc()).isoformat()``, as ``post`` writes it (microseconds)."""
LIBRARY = {"name": "analytics-python", "version": VERSION}


def sdk_identify() -> dict[str, Any]:
    return {
        "integrations": {},
        "anonymousId": "anon-1",
        "timestamp": TS,
        "context": {"library": LIBRARY},
        "type": "identify",
        "userId": "user-1",
        "traits": {"email": "pam@example.com", "first_name": "Pam"},
        "messageId": "msg-identify",
    }


def sdk_track() -> dict[str, Any]:
    return {
        "integrations": {},
        "anonymousId": "anon-1",
        "properties": {"product_id": "sku-1", "price": 19.5},
        "timestamp": TS,
        "context": {"library": LIBRARY},
        "userId": None,
        "type": "track",
        "event": "Product Viewed",
        "messageId": "msg-track",
    }


def sdk_page() -> dict[str, Any]:
    return {
        "integrations": {},
        "anonymousId": "anon-1",
        "properties": {"path": "/"},
        "timestamp": TS,
        "category": None,
        "context": {"library": LIBRARY},
        "userId": None,
        "type": "page",
        "name": "Home",
        "messageId": "msg-page",
    }


def sdk_screen() -> dict[str, Any]:
    return {
        "integrations": {},
        "anonymousId": None,
        "properties": {},
        "timestamp": TS,
        "category": "Checkout",
        "context": {"library": LIBRARY},
        "userId": "user-1",
        "type": "screen",
        "name": "Cart",
        "messageId": "msg-screen",
    }


def sdk_group() -> dict[str, Any]:
    return {
        "integrations": {},
        "anonymousId": None,
        "timestamp": TS,
        "groupId": "dunder-mifflin",
        "context": {"library": LIBRARY},
        "userId": "user-1",
        "traits": {"industry": "paper"},
        "type": "group",
        "messageId": "msg-group",
    }


def sdk_alias() -> dict[str, Any]:
    return {
        "integrations": {},
        "previousId": "anon-1",
        "timestamp": TS,
        "context": {"library": LIBRARY},
        "userId": "user-1",
        "type": "alias",
        "messageId": "msg-alias",
        "anonymousId": None,
    }


def sdk_calls() -> list[dict[str, Any]]:
    return [sdk_identify(), sdk_track(), sdk_page(), sdk_screen(), sdk_group(), sdk_alias()]


def sdk_body(batch: list[dict[str, Any]]) -> bytes:
    """``request.post(write_key, batch=...)``: sentAt and writeKey added, then json.dumps."""
    body: dict[str, Any] = {"batch": batch}
    body["sentAt"] = SENT_AT
    body["writeKey"] = "wk-storefront"
    return json.dumps(body, cls=DatetimeSerializer).encode()


def test_hand_built_payloads_are_what_the_sdk_builds() -> None:
    """Guard: our dicts equal the SDK's own output (send=False returns the queued message)."""
    client = Client("wk-storefront", send=False)
    produced = [
        client.identify(
            "user-1",
            {"email": "pam@example.com", "first_name": "Pam"},
            timestamp=WHEN,
            anonymous_id="anon-1",
            message_id="msg-identify",
        ),
        client.track(
            event="Product Viewed",
            properties={"product_id": "sku-1", "price": 19.5},
            timestamp=WHEN,
            anonymous_id="anon-1",
            message_id="msg-track",
        ),
        client.page(
            name="Home",
            properties={"path": "/"},
            timestamp=WHEN,
            anonymous_id="anon-1",
            message_id="msg-page",
        ),
        client.screen(
            "user-1", category="Checkout", name="Cart", timestamp=WHEN, message_id="msg-screen"
        ),
        client.group(
            "user-1",
            "dunder-mifflin",
            {"industry": "paper"},
            timestamp=WHEN,
            message_id="msg-group",
        ),
        client.alias("anon-1", "user-1", timestamp=WHEN, message_id="msg-alias"),
    ]
    assert [ok for ok, _ in produced] == [True] * 6
    assert [msg for _, msg in produced] == sdk_calls()


def test_sdk_batch_decodes_into_structs() -> None:
    """Every SDK call becomes the right Struct with ids, times, context and payload intact."""
    batch = msgspec.json.decode(sdk_body(sdk_calls()), type=Batch)
    assert batch.write_key == "wk-storefront"
    assert batch.sent_at == datetime(2026, 1, 5, 10, 4, 6, 123456, tzinfo=UTC)
    identify, track, page, screen, group, alias = batch.batch
    moment = datetime(2026, 1, 5, 10, 4, 5, 678000, tzinfo=UTC)
    for event in batch.batch:
        assert event.timestamp == moment
        assert event.timestamp.utcoffset() is not None
        assert event.context == {"library": LIBRARY}
        assert event.integrations == {}
    assert isinstance(identify, Identify)
    assert (identify.user_id, identify.anonymous_id) == ("user-1", "anon-1")
    assert identify.traits == {"email": "pam@example.com", "first_name": "Pam"}
    assert identify.message_id == "msg-identify"
    assert isinstance(track, Track)
    assert (track.user_id, track.anonymous_id) == (None, "anon-1")
    assert track.event == "Product Viewed"
    assert track.properties == {"product_id": "sku-1", "price": 19.5}
    assert isinstance(page, Page)
    assert (page.name, page.category, page.properties) == ("Home", None, {"path": "/"})
    assert isinstance(screen, Screen)
    assert (screen.name, screen.category, screen.user_id) == ("Cart", "Checkout", "user-1")
    assert isinstance(group, Group)
    assert (group.group_id, group.traits) == ("dunder-mifflin", {"industry": "paper"})
    assert isinstance(alias, Alias)
    assert (alias.previous_id, alias.user_id, alias.anonymous_id) == ("anon-1", "user-1", None)


def _semantic(value: Any, key: str = "") -> Any:
    """Wire JSON up to what Segment treats as equal: null and {} mean "absent"; timestamps are
    instants, whatever their spelling (``+00:00`` or ``Z``, ``.678`` or ``.678000``)."""
    if isinstance(value, dict):
        return {k: _semantic(v, k) for k, v in value.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    if key in ("timestamp", "sentAt") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


@pytest.mark.parametrize(
    "call",
    [sdk_identify, sdk_track, sdk_page, sdk_screen, sdk_group, sdk_alias],
    ids=lambda f: f.__name__,
)
def test_sdk_payload_re_encodes_to_the_same_meaning(call: Any) -> None:
    """decode(SDK JSON) then encode gives JSON that means the same (no field lost or renamed)."""
    raw = sdk_body([call()])
    again = msgspec.json.encode(msgspec.json.decode(raw, type=Batch))
    assert _semantic(json.loads(again)) == _semantic(json.loads(raw))
    # The re-encoded call keeps the SDK's camelCase names for everything it carries.
    (wire,) = json.loads(again)["batch"]
    assert "messageId" in wire and "timestamp" in wire and wire["context"]["library"] == LIBRARY


def test_semantic_comparison_catches_a_lost_field() -> None:
    """The comparison above is not vacuous: dropping or changing a field is noticed."""
    original = json.loads(sdk_body([sdk_track()]))
    changed = json.loads(sdk_body([sdk_track()]))
    del changed["batch"][0]["properties"]["price"]
    assert _semantic(changed) != _semantic(original)
    changed = json.loads(sdk_body([sdk_track()]))
    changed["batch"][0]["timestamp"] = "2026-01-05T10:04:05.679+00:00"
    assert _semantic(changed) != _semantic(original)
