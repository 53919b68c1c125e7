"""How a scenario run is shown on a terminal and written to a report directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from promoloop.scenarios.base import ScenarioResult


def to_json(data: Any, indent: int = 2) -> str:
    """Indented JSON, except that a list of scalars (or of short scalar pairs, such as a daily
    series) stays on one line: a 120-day series should not take 120 lines of a terminal."""
    return _dump(data, indent, 0)


def _flat(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, list) and all(
        isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))
        for v in value
    )


def _dump(data: Any, indent: int, level: int) -> str:
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(data, dict) and data:
        items = [
            f"{inner}{json.dumps(str(k))}: {_dump(v, indent, level + 1)}" for k, v in data.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(data, list | tuple) and data and not _flat(list(data)):
        items = [f"{inner}{_dump(v, indent, level + 1)}" for v in data]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(data, default=str, separators=(", ", ": "))


def print_result(result: ScenarioResult, out: TextIO, *, timeline_limit: int = 200) -> None:
    s = result.summary
    out.write(
        f"promoloop run {result.scenario}  seed={s['seed']}  customers={s['customers']}  "
        f"days={s['days']}  transport={s['transport']}\n"
    )
    for name, url in result.urls.items():
        out.write(f"  served {name} API at {url}\n")
    out.write(f"\n== {result.timeline_title}\n")
    lines = result.timeline
    for line in lines[:timeline_limit]:
        out.write(line + "\n")
    if len(lines) > timeline_limit:
        out.write(f"... {len(lines) - timeline_limit} more lines (see --report DIR)\n")
    if result.highlight is not None:
        out.write("\n== final profile\n")
        out.write(to_json(_compact_profile(result.highlight)) + "\n")
    out.write("\n== KPIs\n")
    out.write(to_json(result.kpis) + "\n")
    out.write(
        f"\n{s['deliveries']} deliveries in {s['sim_seconds'] / 86400:.1f} simulated days, "
        f"event log digest {s['log_digest']}\n"
    )


def _compact_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with its events as one line each, so it reads like the Profile Explorer."""
    return profile | {
        "events": [
            f"{e['timestamp'][:19]}  {e['source']:<10}  {e['event'] or e['type']}"
            for e in profile["events"]
        ]
    }


def write_report(result: ScenarioResult, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.json": result.summary | {"scenario": result.scenario},
        "kpis.json": {"scenario": result.scenario} | result.summary | result.kpis,
        "profiles.json": result.profiles,
    }
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_text(to_json(data) + "\n")
        written.append(path)
    if result.html is not None:
        html = directory / "report.html"
        html.write_text(result.html)
        written.append(html)
    timeline = directory / "timeline.txt"
    timeline.write_text("\n".join(result.timeline) + "\n")
    written.append(timeline)
    return written
