"""How a scenario run is shown on a terminal and written to a report directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from promoloop.scenarios.base import ScenarioResult


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


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
