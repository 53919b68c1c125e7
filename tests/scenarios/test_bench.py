"""`promoloop bench` measures what it says (figures are checked for shape, never for speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promoloop.scenarios.bench import run_bench, synthetic_stream
from promoloop.scenarios.bench_sections import SECTIONS
from promoloop.scenarios.cli import main


def test_stream_is_deterministic_and_spread_over_profiles() -> None:
    assert synthetic_stream(50, profiles=10) == synthetic_stream(50, profiles=10)
    assert len({json.loads(p)["userId"] for p in synthetic_stream(50, profiles=10)}) == 10


def test_bench_reports_pipeline_next_to_its_floors() -> None:
    report = run_bench(events=3_000, repeat=1, customers=50, days=3)
    figures = report["pipeline_storefront_to_cdp"]
    assert figures["events"] == 3_000
    assert figures["profiles"] == 3_000  # fewer events than the 10k profile pool
    for key in (
        "events_per_s",
        "floor_channel_hop_plus_decode_per_event_events_per_s",
        "floor_batched_hop_plus_decode_events_per_s",
    ):
        assert figures[key] > 0
    assert figures["ratio_to_per_event_floor"] == pytest.approx(
        figures["events_per_s"] / figures["floor_channel_hop_plus_decode_per_event_events_per_s"],
        rel=0.01,
        abs=0.0006,  # the ratio is reported to 3 decimals
    )
    http = report["http_v1_batch"]
    assert http["events"] == 3_000 and http["events_per_s"] > 0
    assert http["ratio_to_floor"] > 0
    updates = report["predictive_model_updates"]
    assert updates["engine_updates_per_s"] > 0 and updates["bare_updates_per_s"] > 0
    population = report["population_storefront_to_cdp"]
    assert population["customers"] == 50 and population["events"] > 50
    assert population["customer_days_per_s"] > 0
    assert population["peak_traced_bytes_per_customer"] > 0
    assert report["messaging"]["messaging_core"]["caps_held"] is True
    assert report["journeys"]["customers"] == 500  # ten times the population size
    assert list(report) == ["machine", *SECTIONS]


def test_bench_runs_only_the_sections_asked_for() -> None:
    report = run_bench(events=500, repeat=1, customers=20, days=1, only=["journeys"])
    assert list(report) == ["machine", "journeys"]
    assert report["journeys"]["engine"]["steps"] > 0
    with pytest.raises(ValueError, match="unknown bench section 'nope'"):
        run_bench(only=["nope"])


def test_the_cdp_section_is_the_best_of_the_runs_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--repeat`` reaches the CDP bench too (it once always ran its timed runs once)."""
    import promoloop.scenarios.bench_cdp as bench_cdp

    seen: list[dict[str, object]] = []
    monkeypatch.setattr(bench_cdp, "run_cdp_bench", lambda **kw: seen.append(kw) or {"ok": 1})
    report = run_bench(events=10, repeat=2, customers=5, days=1, only=["cdp_ingest"])
    assert report["cdp_ingest"] == {"ok": 1}
    assert [kw["repeat"] for kw in seen] == [2]


def test_bench_command_refuses_an_unknown_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promoloop: unknown bench section 'nope'") and err.count("\n") == 1


def test_bench_command_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--events",
                "2000",
                "--repeat",
                "1",
                "--customers",
                "20",
                "--days",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out)
