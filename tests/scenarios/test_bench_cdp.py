"""The CDP bench (issue #3) runs tiny and reports every figure (shape only, never speed)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from promoloop.actors.cdp import CdpActor, CdpModel
from promoloop.actors.events import names
from promoloop.actors.runtime import World, virtual_clock
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.connectors.transport.inproc import InprocTrackingPort
from promoloop.scenarios.bench_cdp import (
    POPULATION_AUDIENCES,
    POPULATION_TICK,
    configure,
    configure_population,
    record_population,
    replay_population,
    run_cdp_bench,
    run_population_workload,
    stream,
)


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
        events=2_000,
        profiles=100,
        memory_profiles=20,
        history_events=5,
        http_samples=3,
        population_customers=60,
        population_days=4,
        population_arrival_days=4,
        population_memory_customers=10,
        population_memory_days=20,
    )
    assert report["definitions"] == {"computed_traits": 20, "realtime_audiences": 50}
    ingest = report["ingest"]
    assert ingest["events"] == 2_000 and ingest["profiles"] == 100
    assert ingest["events_per_s"] > 0
    assert ingest["floor_channel_hop_plus_decode_per_event_events_per_s"] > 0
    assert ingest["ratio_to_per_event_floor"] == pytest.approx(
        ingest["events_per_s"] / ingest["floor_channel_hop_plus_decode_per_event_events_per_s"],
        rel=0.01,
        abs=0.0006,  # the ratio is reported to 3 decimals
    )
    assert ingest["audience_changes"] > 0
    assert ingest["audience_changes_per_event"] == pytest.approx(
        ingest["audience_changes"] / 2_000, abs=0.001
    )
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
    population = report["population_workload"]
    assert population["definitions"] == {"computed_traits": 20, "realtime_audiences": 50}
    assert population["stream"]["customers"] == 60
    assert population["ingest"]["profiles"] == 60  # anonymous visits merged on sign-up
    assert population["ingest"]["events"] == population["stream"]["events"]


def test_population_definitions_are_a_real_workspace_mix() -> None:
    """20 traits and 50 real-time audiences, not 50 thresholds on one trait: windows, nested
    and/or/not, event conditions, trait thresholds, identify traits and audience booleans."""
    model = configure_population(CdpModel())
    assert len(model.traits.public) == 20
    assert len(model.audiences) == 50
    assert {a.mode for a in model.audiences.values()} == {"realtime"}
    kinds: set[str] = set()
    read: set[str] = set()

    def walk(condition: dict[str, Any], depth: int) -> None:
        kinds.add(condition["type"] if depth < 2 else f"nested {condition['type']}")
        if condition["type"] == "trait":
            read.add(condition["trait"])
        if condition.get("within_days"):
            kinds.add("window")
        for child in condition.get("conditions", ()):
            walk(child, depth + 1)
        if "condition" in condition:
            walk(condition["condition"], depth + 1)

    for audience in POPULATION_AUDIENCES:
        walk(audience["condition"], 0)
    assert {"and", "or", "not", "trait", "performed_event", "window"} <= kinds
    assert "nested performed_after" in kinds  # "no order since the cart"
    assert read & set(model.audiences)  # audiences reading earlier audiences
    assert read & {"phone", "email", "first_name"}  # identify traits
    assert len(read & set(model.traits.public)) >= 15  # most computed traits are used


def test_recording_is_deterministic_and_what_the_storefront_sends() -> None:
    recorded = record_population(40, days=3, arrival_days=2)
    again = record_population(40, days=3, arrival_days=2)
    assert recorded.batches == again.batches and recorded.times == again.times
    assert recorded.times == sorted(recorded.times)
    assert all(t % POPULATION_TICK == 0 for t in recorded.times)  # sent on the storefront tick
    assert all(0 < len(batch) <= 100 for batch in recorded.batches)
    text = b"".join(p for batch in recorded.batches for p in batch)
    for kind in (b'"type":"identify"', b'"type":"page"', names.SIGNED_UP.encode()):
        assert kind in text


def test_replay_gives_the_cdp_what_the_live_storefront_gives_it() -> None:
    """Timing the replay is honest only if the CDP ends in the same state as when the
    storefront drives it directly: same profiles, memberships and membership changes."""
    customers, days = 80, 6
    recorded = record_population(customers, days, arrival_days=3)
    replayed, _ = replay_population(recorded)

    world = World(seed=0, record=False)
    storefront = world.add(
        StorefrontActor(
            params=PopulationParams(customers=customers), tick=POPULATION_TICK, arrival_days=3
        )
    )
    live = world.add(CdpActor("cdp"))
    configure_population(live.model)
    storefront.tracking = InprocTrackingPort(storefront, "cdp")
    trio.run(world.run, recorded.times[-1] + 1.0, clock=virtual_clock())

    assert sum(live.model.ingested.values()) == recorded.events
    assert dict(replayed.model.audience_changes) == dict(live.model.audience_changes)
    assert sum(live.model.audience_changes.values()) > 0
    assert dict(replayed.model.sizes) == dict(live.model.sizes)
    members = {p.user_id: p.audiences for p in live.model.profiles()}
    assert {p.user_id: p.audiences for p in replayed.model.profiles()} == members


def test_population_workload_reports_its_change_rate_and_memory() -> None:
    report = run_population_workload(
        customers=50, days=5, arrival_days=5, memory_customers=10, memory_days=30
    )
    ingest = report["ingest"]
    assert ingest["profiles"] == 50
    assert ingest["audience_changes_per_event"] == pytest.approx(
        ingest["audience_changes"] / ingest["events"], abs=0.001
    )
    assert ingest["ratio_to_per_event_floor"] > 0
    stream_kinds = report["stream"]["calls_by_kind"]
    assert sum(stream_kinds.values()) == report["stream"]["events"] == ingest["events"]
    assert stream_kinds["identify"] == stream_kinds[names.SIGNED_UP] == 50
    for memory in (report["memory_same_shape"], report["memory_50_events"]):
        assert memory["profiles"] == memory["customers"] == 10
        assert memory["bytes_per_profile"] > 0
        assert memory["calls_per_profile_mean"] == pytest.approx(
            memory["events"] / memory["profiles"], abs=0.05
        )
    # A longer run gives each profile a longer history.
    assert (
        report["memory_50_events"]["calls_per_profile_mean"]
        > report["memory_same_shape"]["calls_per_profile_mean"]
    )
    latency = report["audience_latency_inproc_virtual"]
    assert latency["entered"] > 0
    # Delivered in the accepting step: only stamps older than acceptance show (up to a tick).
    assert 0.0 <= latency["p99_s"] <= latency["max_s"] <= POPULATION_TICK


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        run_cdp_bench(events=0)
    with pytest.raises(ValueError, match=">= 1"):
        run_population_workload(customers=0)


def test_best_of_two_stress_runs_reports_the_same_deterministic_figures() -> None:
    """Best of N keeps only the figures of each run (not its CDP), and N runs of the same
    stream change the same memberships: only the timing may differ."""
    sizes = {"events": 1_500, "profiles": 80, "memory_profiles": 10, "history_events": 3}
    small = {
        "http_samples": 2,
        "population_customers": 40,
        "population_days": 2,
        "population_arrival_days": 2,
        "population_memory_customers": 5,
        "population_memory_days": 5,
    }
    once = run_cdp_bench(repeat=1, **sizes, **small)
    twice = run_cdp_bench(repeat=2, **sizes, **small)
    for key in ("audience_changes", "profiles", "events"):
        assert once["ingest"][key] == twice["ingest"][key]
    assert (
        once["audience_latency_inproc_virtual"]["entered"]
        == (twice["audience_latency_inproc_virtual"]["entered"])
    )
