"""The CDP bench (issue #3) runs tiny and reports every figure (shape only, never speed)."""

from __future__ import annotations

import pytest

from promoloop.actors.cdp import CdpModel
from promoloop.actors.events import names
from promoloop.scenarios.bench_cdp import configure, run_cdp_bench, stream


def test_definitions_are_the_issues_20_traits_and_50_realtime_audiences() -> None:
    model = configure(CdpModel())
    assert len(model.traits.public) == 20
    assert len(model.audiences) == 50
    assert {a.mode for a in model.audiences.values()} == {"realtime"}


def test_stream_is_deterministic_time_ordered_and_spread_over_profiles() -> None:
    calls = stream(200, profiles=20, span_days=2)
    assert calls == stream(200, profiles=20, span_days=2)
    assert len({c.user_id for c in calls}) == 20
    times = [c.timestamp for c in calls]
    assert times == sorted(times)
    assert {c.event for c in calls} >= {names.PRODUCT_VIEWED, names.ORDER_COMPLETED}


def test_tiny_bench_reports_every_figure() -> None:
    report = run_cdp_bench(
        events=2_000, profiles=100, memory_profiles=20, history_events=5, http_samples=3
    )
    assert report["definitions"] == {"computed_traits": 20, "realtime_audiences": 50}
    ingest = report["ingest"]
    assert ingest["events"] == 2_000 and ingest["profiles"] == 100
    assert ingest["events_per_s"] > 0
    assert ingest["floor_channel_hop_plus_decode_per_event_events_per_s"] > 0
    assert ingest["ratio_to_per_event_floor"] == pytest.approx(
        ingest["events_per_s"] / ingest["floor_channel_hop_plus_decode_per_event_events_per_s"],
        rel=0.01,
    )
    assert ingest["audience_changes"] > 0
    memory = report["memory"]
    assert memory["profiles"] == 20 and memory["events_ingested_per_profile"] == 5
    assert memory["bytes_per_profile"] > 0
    assert memory["history_entries_per_profile_mean"] == 5  # its calls; Engage's apart:
    assert 0 < memory["engage_events_kept_per_profile_mean"] <= 16  # the bounded log
    virtual = report["audience_latency_inproc_virtual"]
    assert virtual["entered"] > 0
    # In-process, Engage events leave in the step that accepted the call: no virtual delay.
    assert virtual["p99_s"] == 0.0 and virtual["max_s"] == 0.0
    http = report["audience_latency_http_wall"]
    assert http["samples"] == 3
    assert 0 < http["p50_ms"] <= http["p99_ms"] <= http["max_ms"]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        run_cdp_bench(events=0)
