"""What every scenario takes and gives back, and how its run is reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from promoloop.scenarios.loop import TRANSPORTS, Transport


class RunConfig(msgspec.Struct, frozen=True, kw_only=True):
    seed: int = 7
    customers: int | None = None
    days: int | None = None
    transport: Transport = "inproc"
    progress: Any = None
    """A text stream for a progress bar (the CLI passes stderr), or None."""

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if self.customers is not None and self.customers < 1:
            raise ValueError(f"--customers must be >= 1, got {self.customers}")
        if self.days is not None and self.days < 1:
            raise ValueError(f"--days must be >= 1, got {self.days}")
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"--transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}"
            )


@dataclass
class ScenarioResult:
    scenario: str
    config: RunConfig
    summary: dict[str, Any]
    kpis: dict[str, Any]
    profiles: list[dict[str, Any]]
    highlight: dict[str, Any] | None
    timeline: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    timeline_title: str = "timeline (sim time, actor, event)"
    html: str | None = None
    """A self-contained report.html, for scenarios that draw one."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    default_customers: int
    default_days: int
    run: Callable[[RunConfig], Awaitable[ScenarioResult]]
    html: Callable[[ScenarioResult, Path], Path] | None = None
    """Writes the scenario's own report.html into a report directory, if it draws one."""
