"""Delivery policy: caps never exceeded, consent and suppression honoured, quiet hours defer."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from promoloop.actors.messaging.policy import Cap, DeliveryPolicy, QuietHours

NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_caps_per_channel_and_across_channels_are_never_exceeded() -> None:
    policy = DeliveryPolicy(
        caps=[Cap(max_messages=3, window_days=7), Cap(channel="sms", max_messages=1, window_days=7)]
    )
    rng = random.Random(1)
    for minute in range(0, 60 * 24 * 60, 97):  # ~890 attempts over 60 days on random channels
        policy.admit("u1", rng.choice(["email", "push", "sms"]), NOON + timedelta(minutes=minute))
    sent = policy.sent("u1")
    week = timedelta(days=7)
    for at, _ in sent:
        window = [s for s in sent if at - week < s[0] <= at]
        assert len(window) <= 3
        assert sum(1 for _, ch in window if ch == "sms") <= 1
    assert policy.refusals["frequency_cap"] > 0


def test_unsubscribed_and_suppressed_customers_receive_nothing_there() -> None:
    policy = DeliveryPolicy(
        suppressed_audiences={"ads": frozenset({"recent_buyers"}), "winback": frozenset({"vip"})}
    )
    policy.unsubscribe("u1", "email")
    assert policy.admit("u1", "email", NOON).reason == "unsubscribed"
    assert policy.admit("u1", "push", NOON).allowed
    assert policy.admit("u2", "ads", NOON, audiences={"recent_buyers"}).reason == "suppressed"
    assert (
        policy.admit("u2", "email", NOON, audiences={"vip"}, campaign="winback").reason
        == "suppressed"
    )
    assert policy.admit("u2", "email", NOON, audiences={"vip"}, campaign="newsletter").allowed
    assert policy.admit("u3", "fax", NOON).reason == "unknown_channel"


def test_quiet_hours_defer_to_the_local_morning() -> None:
    policy = DeliveryPolicy(quiet_hours=QuietHours(start_hour=21, end_hour=8))
    late = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    decision = policy.admit("u1", "push", late)
    assert decision.reason == "quiet_hours"
    assert decision.retry_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    # 23:30 UTC is 18:30 in New York (UTC-5): not quiet there.
    assert policy.admit("u1", "push", late, utc_offset_hours=-5).allowed
    assert policy.sent("u1") == [(late, "push")]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_messages": 0, "window_days": 7}, "cap.max_messages"),
        ({"max_messages": 1, "window_days": 0}, "cap.window_days"),
        ({"max_messages": 1, "window_days": 7, "channel": "fax"}, "cap.channel"),
    ],
)
def test_bad_caps_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        Cap(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"quiet_hours\.end_hour"):
        QuietHours(end_hour=24)
