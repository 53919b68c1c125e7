"""Promotion engine events → Segment tracks (the Voucherify source connector), and back."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from promoloop.actors.events import (
    EngineEvent,
    PublicationSucceeded,
    RedemptionFailed,
    RedemptionSucceeded,
    SegmentEvent,
    Track,
    names,
)

AT = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
COMMON = {"created_at": AT, "customer_id": "user-000001", "code": "GIFT-AB12-CD34"}

PUBLISHED = PublicationSucceeded(
    id="pub_00000001",
    campaign="Review gift card",
    voucher_type="GIFT_VOUCHER",
    balance_cents=2500,
    channel="push",
    **COMMON,
)
REDEEMED = RedemptionSucceeded(
    id="evt_00000002",
    campaign="Review gift card",
    redemption_id="r_00000003",
    order_id="ord-1",
    amount_cents=1999,
    balance_cents=501,
    **COMMON,
)
FAILED = RedemptionFailed(
    id="evt_00000004",
    campaign="Review gift card",
    order_id="ord-2",
    amount_cents=3000,
    reason="gift_amount_exceeded",
    message="no balance left",
    **COMMON,
)


@pytest.mark.parametrize(
    ("event", "name"),
    [
        (PUBLISHED, "customer.publication.succeeded"),
        (REDEEMED, "redemption.succeeded"),
        (FAILED, "redemption.failed"),
    ],
)
def test_to_track_uses_the_voucherify_event_name(event: EngineEvent, name: str) -> None:
    """The track's event is the Voucherify event type, on the customer's userId, at the
    engine event's time, with the code and campaign in its properties."""
    track = event.to_track()
    assert isinstance(track, Track)
    assert track.event == name
    assert name in names.PROMOTION_EVENTS
    assert track.user_id == "user-000001"
    assert track.anonymous_id is None
    assert track.timestamp == AT
    assert track.message_id == f"vcrf-{event.id}"
    assert track.properties["code"] == "GIFT-AB12-CD34"
    assert track.properties["campaign"] == "Review gift card"
    assert track.properties["event_id"] == event.id
    assert not {"type", "customer_id", "created_at", "id"} & set(track.properties)


def test_track_properties_carry_each_events_own_fields_in_cents() -> None:
    """Amounts stay integer cents; each event's specific fields are in the properties."""
    assert PUBLISHED.to_track().properties == {
        "code": "GIFT-AB12-CD34",
        "campaign": "Review gift card",
        "voucher_type": "GIFT_VOUCHER",
        "balance_cents": 2500,
        "channel": "push",
        "event_id": "pub_00000001",
    }
    redeemed = REDEEMED.to_track().properties
    assert (redeemed["redemption_id"], redeemed["order_id"]) == ("r_00000003", "ord-1")
    assert (redeemed["amount_cents"], redeemed["balance_cents"]) == (1999, 501)
    failed = FAILED.to_track().properties
    assert (failed["reason"], failed["amount_cents"]) == ("gift_amount_exceeded", 3000)


@pytest.mark.parametrize("event", [PUBLISHED, REDEEMED, FAILED], ids=lambda e: type(e).__name__)
def test_engine_tracks_round_trip_through_json(event: EngineEvent) -> None:
    """The track survives the wire: same Struct back, integers still integers."""
    track = event.to_track()
    wire = msgspec.json.encode(track)
    as_json = msgspec.json.decode(wire)
    assert as_json["type"] == "track"
    assert as_json["userId"] == "user-000001"
    assert as_json["event"] == track.event
    back = msgspec.json.decode(wire, type=SegmentEvent)
    assert back == track
    for key in ("amount_cents", "balance_cents"):
        if key in track.properties:
            assert type(back.properties[key]) is int


@pytest.mark.parametrize("event", [PUBLISHED, REDEEMED, FAILED], ids=lambda e: type(e).__name__)
def test_engine_events_are_a_tagged_union(event: EngineEvent) -> None:
    """Engine events themselves encode with their Voucherify type and decode to their class."""
    wire = msgspec.json.encode(event)
    assert msgspec.json.decode(wire)["type"] == event.to_track().event
    assert msgspec.json.decode(wire, type=EngineEvent) == event
