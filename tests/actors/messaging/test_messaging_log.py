"""The message log: per-customer history, last-touch attribution inside the window, weekly
counts, merged views."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promoloop.actors.messaging import LoggedMessage, MessageLog
from promoloop.actors.runtime import DEFAULT_EPOCH

T0 = DEFAULT_EPOCH  # a Monday


def entry(n: int, user: str, channel: str, hours: float) -> LoggedMessage:
    return LoggedMessage(
        message_id=f"m{n}",
        request_id=f"r{n}",
        user_id=user,
        channel=channel,
        destination=channel,
        campaign="c",
        sent_at=T0 + timedelta(hours=hours),
        subject="s",
        body="b",
    )


def test_last_touch_within_the_window_credits_one_message_once() -> None:
    log = MessageLog(attribution_window_days=1)
    log.record(entry(1, "u", "email", 0))
    log.record(entry(2, "u", "push", 5))
    log.record(entry(3, "v", "sms", 5))
    at = T0 + timedelta(hours=6)
    assert log.attribute("u", "o1", at, 100, channel="email") is None  # push was last
    conversion = log.attribute("u", "o1", at, 100, channel="push")
    assert conversion is not None and conversion.message_id == "m2"
    assert log.attribute("u", "o1", at, 100, channel="push") is None  # never twice
    assert log.get("m2") is not None and log.get("m2").conversion == conversion  # type: ignore[union-attr]
    late = T0 + timedelta(hours=5, days=1, seconds=1)
    assert log.attribute("u", "o2", late, 100, channel="push") is None  # outside the window
    before = T0 - timedelta(hours=1)
    assert log.attribute("u", "o3", before, 100, channel="email") is None  # nothing before it
    assert [c.order_id for c in log.conversions] == ["o1"]


def test_weekly_counts_follow_iso_weeks() -> None:
    log = MessageLog()
    for n, (user, hours) in enumerate([("u", 0), ("u", 6 * 24 + 23), ("u", 7 * 24), ("v", 1)]):
        log.record(entry(n, user, "email" if n % 2 else "sms", hours))
    assert log.per_customer_per_week() == {
        "u": {"2026-W02": 2, "2026-W03": 1},
        "v": {"2026-W02": 1},
    }
    assert log.per_customer_per_week("sms") == {"u": {"2026-W02": 1, "2026-W03": 1}}
    assert log.max_per_week() == 2
    assert MessageLog().max_per_week() == 0


def test_a_message_id_is_logged_once_and_reports_are_json_able() -> None:
    log = MessageLog()
    log.record(entry(1, "u", "email", 0))
    with pytest.raises(ValueError, match=r"message 'm1' is already in the log"):
        log.record(entry(1, "u", "sms", 1))
    assert log.interact("m1", "opened", T0) is not None
    assert log.interact("nope", "opened", T0) is None
    view = log.for_customer("u")[0].to_builtins()
    assert view["interactions"] == [["opened", T0.isoformat()]]
    assert view["sent_at"] == T0.isoformat() and view["conversion"] is None
    with pytest.raises(ValueError, match="attribution_window_days"):
        MessageLog(attribution_window_days=0)


def test_combined_merges_in_send_order() -> None:
    a, b = MessageLog(), MessageLog()
    a.record(entry(1, "u", "email", 3))
    b.record(entry(2, "u", "sms", 1))
    a.attribute("u", "o1", T0 + timedelta(hours=4), 10, channel="email")
    merged = MessageLog.combined([a, b, a])
    assert [e.message_id for e in merged] == ["m2", "m1"]
    assert [c.order_id for c in merged.conversions] == ["o1"]
    assert merged.attribute("u", "o1", T0 + timedelta(hours=4), 10, channel="email") is None
