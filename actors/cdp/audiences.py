"""Real-time audiences over profile behaviour (Engage-like), evaluated as events arrive.

This first slice knows one condition, "performed event X at least N times"; richer conditions
(traits, windows, and/or/not) extend :data:`Condition`.
"""

from __future__ import annotations

import re

import msgspec

from promoloop.actors.cdp.profiles import Profile

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PerformedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="performed_event"):
    event: str
    at_least: int = 1

    def __post_init__(self) -> None:
        if not self.event:
            raise ValueError("performed_event.event must name an event")
        if self.at_least < 1:
            raise ValueError(f"performed_event.at_least must be >= 1, got {self.at_least}")

    def events(self) -> frozenset[str]:
        return frozenset({self.event})

    def matches(self, profile: Profile) -> bool:
        return profile.event_counts.get(self.event, 0) >= self.at_least


Condition = PerformedEvent


class Audience(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    condition: Condition

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(
                f"audience.key must be snake_case (letters, digits, _), got {self.key!r}"
            )
