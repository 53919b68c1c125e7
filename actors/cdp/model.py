"""The CDP as a plain model: ingest Segment calls, resolve identity, keep profiles, compute
audiences, and say which destination gets what. No I/O, no trio: the actor and the HTTP faces
both drive this same object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from promoloop.actors.cdp.audiences import Audience
from promoloop.actors.cdp.destinations import Subscription
from promoloop.actors.cdp.identity import IdentityGraph
from promoloop.actors.cdp.profiles import HistoryEntry, Profile
from promoloop.actors.events import names
from promoloop.actors.events.segment import Alias, Identify, SegmentEvent, Track

ENGAGE_SOURCE = "engage"
"""Audience membership events are emitted on this source, as Engage does."""

Routed = tuple[str, SegmentEvent]
"""(source, event) as delivered to destinations."""


class CdpModel:
    def __init__(self) -> None:
        self._profile_seq = 0
        self._engage_seq = 0
        self.identity = IdentityGraph(self._next_profile_id)
        self.audiences: dict[str, Audience] = {}
        self._audiences_by_event: dict[str, list[Audience]] = {}
        self.subscriptions: list[Subscription] = []
        self.ingested: Counter[str] = Counter()
        self.audience_changes: Counter[str] = Counter()

    def _next_profile_id(self) -> str:
        self._profile_seq += 1
        return f"prof_{self._profile_seq:07d}"

    # -- configuration ----------------------------------------------------------------------
    def add_audience(self, audience: Audience) -> Audience:
        if audience.key in self.audiences:
            raise ValueError(f"audience {audience.key!r} is already defined")
        self.audiences[audience.key] = audience
        for event in audience.condition.events():
            self._audiences_by_event.setdefault(event, []).append(audience)
        return audience

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)

    # -- ingestion ---------------------------------------------------------------------------
    def ingest(self, source: str, event: SegmentEvent, received_at: datetime) -> list[Routed]:
        """Apply one call to the profiles; return it and any audience events it caused."""
        at = event.timestamp or received_at
        merges_before = self.identity.merges
        if isinstance(event, Alias):
            profile = self.identity.resolve_alias(event.user_id, event.previous_id, at)
        else:
            profile = self.identity.resolve(event.user_id, event.anonymous_id, at)
        if isinstance(event, Identify) and event.traits:
            profile.set_traits(event.traits, at)
        name = event.event if isinstance(event, Track) else None
        profile.remember(
            HistoryEntry(
                timestamp=at,
                type=event.__struct_config__.tag,  # type: ignore[arg-type]
                event=name,
                source=source,
                message_id=event.message_id,
                properties=getattr(event, "properties", None) or {},
            )
        )
        self.ingested[source] += 1
        routed: list[Routed] = [(source, event)]
        if self.identity.merges != merges_before:
            candidates: Iterable[Audience] = self.audiences.values()
        else:
            candidates = self._audiences_by_event.get(name or "", ())
        for audience in candidates:
            routed.extend(self._evaluate(profile, audience, at))
        if profile.user_id is not None and profile.audiences - profile.announced:
            # Joined while anonymous (or merged in): destinations keyed by userId hear of it now.
            for key in sorted(profile.audiences - profile.announced):
                routed.extend(
                    self._engage_events(profile, self.audiences[key], entered=True, at=at)
                )
        return routed

    def _evaluate(self, profile: Profile, audience: Audience, at: datetime) -> list[Routed]:
        member = audience.key in profile.audiences
        qualifies = audience.condition.matches(profile)
        if member == qualifies:
            return []
        if qualifies:
            profile.audiences.add(audience.key)
        else:
            profile.audiences.discard(audience.key)
        self.audience_changes[audience.key] += 1
        return self._engage_events(profile, audience, entered=qualifies, at=at)

    def _engage_events(
        self, profile: Profile, audience: Audience, *, entered: bool, at: datetime
    ) -> list[Routed]:
        """What Engage sends on a membership change: a track and the boolean trait."""
        self._engage_seq += 1
        context = {
            "personas": {
                "computation_class": "audience",
                "computation_key": audience.key,
                "computation_id": audience.key,
                "space_id": "promoloop",
            }
        }
        ids = {
            "user_id": profile.user_id,
            "anonymous_id": None if profile.user_id else profile.anonymous_ids[0],
        }
        track = Track(
            message_id=f"engage-{self._engage_seq:08d}-t",
            timestamp=at,
            context=context,
            event=names.AUDIENCE_ENTERED if entered else names.AUDIENCE_EXITED,
            properties={"audience_key": audience.key, "audience_name": audience.name},
            **ids,
        )
        identify = Identify(
            message_id=f"engage-{self._engage_seq:08d}-i",
            timestamp=at,
            context=context,
            traits={audience.key: entered},
            **ids,
        )
        profile.set_traits(identify.traits, at)
        if entered and profile.user_id is not None:
            profile.announced.add(audience.key)
        else:
            profile.announced.discard(audience.key)
        profile.remember(
            HistoryEntry(
                timestamp=at,
                type="track",
                event=track.event,
                source=ENGAGE_SOURCE,
                message_id=track.message_id,
                properties=track.properties,
            )
        )
        return [(ENGAGE_SOURCE, track), (ENGAGE_SOURCE, identify)]

    def route(self, routed: list[Routed]) -> dict[str, list[Routed]]:
        """Group events by destination, keeping their order; destinations sorted by name."""
        out: dict[str, list[Routed]] = {}
        for source, event in routed:
            for sub in self.subscriptions:
                if sub.accepts(source, event):
                    out.setdefault(sub.destination, []).append((source, event))
        return dict(sorted(out.items()))

    # -- queries -----------------------------------------------------------------------------
    def profile(self, id_type: str, value: str) -> Profile | None:
        return self.identity.lookup(id_type, value)

    def profiles(self) -> list[Profile]:
        return self.identity.profiles()

    def audience_members(self, key: str) -> list[Profile]:
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        return [p for p in self.profiles() if key in p.audiences]
