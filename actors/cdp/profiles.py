"""Customer profiles: identifiers, traits, event history and audience memberships."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec


class HistoryEntry(msgspec.Struct, frozen=True, gc=False):
    """One event as the profile remembers it (the Profile API's ``events`` item)."""

    timestamp: datetime
    type: str
    event: str | None
    source: str
    message_id: str
    properties: dict[str, Any]


@dataclass(slots=True)
class Profile:
    id: str
    created_at: datetime
    user_id: str | None = None
    anonymous_ids: list[str] = field(default_factory=list)
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, datetime] = field(default_factory=dict)
    events: list[HistoryEntry] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)
    audiences: set[str] = field(default_factory=set)
    announced: set[str] = field(default_factory=set)
    """Audiences whose entry destinations have heard of with this profile's userId."""
    merged_from: list[str] = field(default_factory=list)
    refused_merges: list[str] = field(default_factory=list)
    """Profiles an alias asked to merge in but could not: both had a userId."""

    def set_traits(self, traits: dict[str, Any], at: datetime) -> None:
        """Last write wins by event timestamp, not arrival order."""
        for key, value in traits.items():
            previous = self.trait_times.get(key)
            if previous is None or at >= previous:
                self.traits[key] = value
                self.trait_times[key] = at

    def remember(self, entry: HistoryEntry) -> None:
        self.events.append(entry)
        name = entry.event or entry.type
        self.event_counts[name] = self.event_counts.get(name, 0) + 1

    def absorb(self, other: Profile) -> None:
        """Merge ``other`` (an anonymous profile) into this one, history included."""
        for anonymous_id in other.anonymous_ids:
            if anonymous_id not in self.anonymous_ids:
                self.anonymous_ids.append(anonymous_id)
        for key, value in other.traits.items():
            self.set_traits({key: value}, other.trait_times[key])
        self.events = sorted(
            [*self.events, *other.events], key=lambda e: (e.timestamp, e.message_id)
        )
        for name, count in other.event_counts.items():
            self.event_counts[name] = self.event_counts.get(name, 0) + count
        self.audiences |= other.audiences
        self.merged_from.append(other.id)
        self.created_at = min(self.created_at, other.created_at)

    def external_ids(self) -> list[dict[str, str]]:
        ids = [{"type": "user_id", "id": self.user_id}] if self.user_id else []
        ids += [{"type": "anonymous_id", "id": a} for a in self.anonymous_ids]
        email = self.traits.get("email")
        if isinstance(email, str):
            ids.append({"type": "email", "id": email})
        return ids

    def snapshot(self) -> dict[str, Any]:
        """A transport-independent view, as the Profile API would show it; events by time,
        ties in arrival order."""
        return {
            "id": self.id,
            "external_ids": self.external_ids(),
            "traits": dict(sorted(self.traits.items())),
            "audiences": sorted(self.audiences),
            "merged_from": list(self.merged_from),
            "refused_merges": list(self.refused_merges),
            "events": [
                {
                    "timestamp": e.timestamp.isoformat(),
                    "type": e.type,
                    "event": e.event,
                    "source": e.source,
                    "properties": e.properties,
                }
                for e in sorted(self.events, key=lambda e: e.timestamp)
            ],
        }
