"""A self-contained ``report.html``: KPI tables and inline SVG charts, no plotting dependency.

Why hand-made SVG: the report must open anywhere (CI artefacts, a mail attachment) without a
server, a CDN or a 50 MB plotting stack; line and bar charts over a few hundred points are all
a scenario report needs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
WIDTH, HEIGHT, PAD = 640, 260, 44

Series = Sequence[tuple[float, float]]


def _scale(values: Sequence[float], low_px: float, high_px: float) -> tuple[float, float, Any]:
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    return lo, hi, lambda v: low_px + (v - lo) / (hi - lo) * (high_px - low_px)


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#999"/>'


def _text(x: float, y: float, text: str, size: int) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}">{html.escape(text)}</text>'


def line_chart(
    title: str, series: Mapping[str, Series], *, x_label: str = "day", y_label: str = ""
) -> str:
    points = [p for s in series.values() for p in s]
    if not points:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>no data</p></figure>"
    x0, x1, sx = _scale([p[0] for p in points], PAD, WIDTH - PAD / 2)
    y0, y1, sy = _scale([p[1] for p in points], HEIGHT - PAD, PAD / 2)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        _line(PAD, HEIGHT - PAD, WIDTH - PAD / 2, HEIGHT - PAD),
        _line(PAD, PAD / 2, PAD, HEIGHT - PAD),
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="11">{x0:g}</text>',
        _text(WIDTH - PAD, HEIGHT - 8, f"{x1:g} {x_label}", 11),
        f'<text x="2" y="{HEIGHT - PAD}" font-size="11">{y0:.3g}</text>',
        _text(2, PAD / 2 + 4, f"{y1:.3g} {y_label}", 11),
    ]
    for i, (name, data) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        if data:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in data)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        parts.append(
            f'<text x="{PAD + 8 + 150 * (i % 4)}" y="{PAD / 2 + 14 + 14 * (i // 4)}" '
            f'font-size="12" fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}</figure>"


def bar_chart(title: str, bars: Mapping[str, float], *, unit: str = "") -> str:
    if not bars:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>no data</p></figure>"
    top = max(max(bars.values()), 0.0) or 1.0
    row = 26
    height = PAD + row * len(bars)
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{html.escape(title)}">']
    for i, (name, value) in enumerate(bars.items()):
        y = PAD / 2 + i * row
        width = max(value, 0.0) / top * (WIDTH - 260)
        parts.append(f'<text x="4" y="{y + 15}" font-size="12">{html.escape(name)}</text>')
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="200" y="{y}" width="{width:.1f}" height="18" fill="{color}"/>')
        parts.append(_text(204 + width, y + 14, f"{value:,.4g}{unit}", 12))
    parts.append("</svg>")
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}</figure>"


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>no rows</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A complete HTML document; each section is (heading, inner HTML)."""
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{inner}</section>" for h, inner in sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#111}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;"
        "text-align:right}th{background:#f3f4f6}figure{margin:1em 0}figcaption{font-weight:600}"
        "svg{width:100%;height:auto;background:#fafafa}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
