"""The messaging bench measures what it says (shapes, counts and sanity, never speed)."""

from __future__ import annotations

import json

import pytest

from promoloop.scenarios.bench_messaging import run_messaging_bench


def test_messaging_bench_reports_core_actors_and_floor() -> None:
    report = run_messaging_bench(messages=400, customers=60, actor_messages=120)
    json.dumps(report)  # JSON-able as it is
    core, hop = report["messaging_core"], report["messaging_actors"]
    assert core["messages"] == 400 and hop["messages"] == 120
    for figures in (core, hop):
        assert figures["caps_held"] is True
        not_sent = sum(figures["not_sent"].values())
        assert figures["sent_at_once"] + not_sent == figures["messages"]
        assert figures["sent_in_all"] == figures["sent_at_once"] + figures["deferred_then_sent"]
        assert figures["deferred_then_sent"] <= figures["not_sent"].get("quiet_hours", 0)
        assert set(figures["not_sent"]) <= {"frequency_cap", "quiet_hours", "suppressed"}
        assert figures["messages_per_s"] > 0 and figures["sent_per_s"] > 0
        assert figures["max_messages_per_customer_week"] <= 5  # the cross-channel cap
    assert core["not_sent"]["quiet_hours"] > 0 and core["not_sent"]["suppressed"] > 0
    assert core["floor_template_render_per_s"] > 0
    assert core["ratio_to_floor"] == pytest.approx(
        core["messages_per_s"] / core["floor_template_render_per_s"], rel=0.01, abs=0.0006
    )  # ratios are reported to 3 decimals
    assert hop["ratio_to_core"] == pytest.approx(
        hop["messages_per_s"] / core["messages_per_s"], rel=0.01, abs=0.0006
    )
    assert report["customers"] == 60 and report["channels"] == ["email", "push", "sms", "ads"]


def test_messaging_bench_refuses_empty_sizes() -> None:
    with pytest.raises(ValueError, match="messages and customers"):
        run_messaging_bench(messages=0, customers=10)
