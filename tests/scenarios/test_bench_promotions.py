"""The promotion engine bench measures what it says (shapes and counts, never speed)."""

from __future__ import annotations

import pytest

from promoloop.scenarios.bench_promotions import run_promotions_bench


def test_promotions_bench_reports_every_figure_next_to_its_floor() -> None:
    report = run_promotions_bench(codes=200, http_codes=40, generated=2_000, repeat=1)
    inproc = report["promotions_inprocess"]
    assert inproc["operations"] == 400 and inproc["ops_per_s"] > 0
    http = report["promotions_http_voucherify"]
    assert http["operations"] == 80
    assert http["ops_per_s"] > 0 and http["floor_bare_quart_hypercorn_ops_per_s"] > 0
    assert http["ratio_to_floor"] == pytest.approx(
        http["ops_per_s"] / http["floor_bare_quart_hypercorn_ops_per_s"], rel=0.02
    )
    assert http["target_ratio"] == 0.6
    generation = report["code_generation"]
    assert generation["codes"] == 2_000
    assert generation["peak_traced_bytes"] > 2_000 * 10  # at least the characters themselves
    assert generation["peak_bytes_per_code"] == round(generation["peak_traced_bytes"] / 2_000)
