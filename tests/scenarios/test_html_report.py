"""report.html building blocks: escaped, self-contained, charts scale their data."""

from __future__ import annotations

from promoloop.scenarios.html_report import bar_chart, line_chart, page, table


def test_page_is_self_contained_and_escapes_text() -> None:
    doc = page(
        "KPIs <script>",
        [("Groups", table([{"group": "<b>treated</b>", "customers": 1200, "rate": 0.12345}]))],
    )
    assert doc.startswith("<!doctype html>")
    assert "<script>" not in doc and "&lt;script&gt;" in doc
    assert "&lt;b&gt;treated&lt;/b&gt;" in doc
    assert "1,200" in doc and "0.1235" in doc
    assert "http" not in doc  # nothing fetched from anywhere


def test_line_chart_draws_one_polyline_per_series_within_the_canvas() -> None:
    svg = line_chart(
        "AUC", {"purchase": [(0, 0.5), (10, 0.7), (30, 0.8)], "churn": [(0, 0.5), (30, 0.6)]}
    )
    assert svg.count("<polyline") == 2
    coords = [
        float(v)
        for part in svg.split('points="')[1:]
        for pair in part.split('"')[0].split()
        for v in pair.split(",")
    ]
    assert all(0 <= c <= 640 for c in coords)


def test_empty_and_constant_data_do_not_break_charts() -> None:
    assert "no data" in line_chart("x", {})
    assert "<polyline" in line_chart("flat", {"s": [(0, 1.0), (1, 1.0)]})
    assert "no data" in bar_chart("x", {})
    assert bar_chart("conv", {"treated": 0.12, "holdout": 0.08}, unit="").count("<rect") == 2
