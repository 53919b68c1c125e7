"""The CDP as a plain model: ingest Segment calls, resolve identity, keep profiles, compute
traits and audiences, and say which destination gets what. No I/O, no trio: the actor and the
HTTP faces both drive this same object.

Time: every method takes the current simulation time as a ``datetime`` (the actor's clock);
internally the model works in Unix seconds. Nothing reads a wall clock, and every iteration
runs over definition order or sorted ids, so a run is a function of its inputs.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from promoloop.actors.cdp.audiences import Audience, Compiled, compile_condition
from promoloop.actors.cdp.destinations import Subscription
from promoloop.actors.cdp.identity import IdentityConfig, IdentityGraph
from promoloop.actors.cdp.profiles import HistoryCodec, HistoryEntry, Profile, as_utc, to_seconds
from promoloop.actors.cdp.tracking_plan import Enforcement, TrackingPlan, TrackingPlans
from promoloop.actors.cdp.traits import ComputedTrait, TraitEngine
from promoloop.actors.events import names
from promoloop.actors.events.segment import Alias, Identify, SegmentEvent, Track

ENGAGE_SOURCE = "engage"
"""Audience membership and computed trait events are emitted on this source, as Engage does."""

Routed = tuple[str, SegmentEvent]
"""(source, event) as delivered to destinations."""

DEDUP_WINDOW = 86_400.0
"""A messageId seen again from the same source within this many seconds is a duplicate."""

_UNSET = object()


class Deduplicator:
    """Remembers (source, messageId) for ``window`` seconds of virtual time.

    Calls without a messageId are never duplicates (the Tracking API always assigns one; only
    in-process producers may leave it empty).
    """

    def __init__(self, window: float = DEDUP_WINDOW) -> None:
        self.window = window
        self._seen: dict[str, dict[str, float]] = {}
        self._order: deque[tuple[float, str, str]] = deque()
        self.duplicates: Counter[str] = Counter()

    def seen(self, source: str, message_id: str, now: float) -> bool:
        order = self._order
        while order and order[0][0] + self.window <= now:
            at, src, mid = order.popleft()
            known = self._seen.get(src)
            if known is not None and known.get(mid) == at:
                del known[mid]
        if not message_id:
            return False
        known = self._seen.get(source)
        if known is None:
            known = self._seen[source] = {}
        if message_id in known:
            self.duplicates[source] += 1
            return True
        known[message_id] = now
        order.append((now, source, message_id))
        return False

    def __len__(self) -> int:
        return len(self._order)


class CdpModel:
    """Profiles, identity, computed traits, audiences, tracking plans, dedup and routing.

    ``history_limit`` bounds the events each profile keeps (oldest dropped; lifetime counts
    and computed traits are unaffected). ``expiry_resolution`` rounds window-expiry times up to
    a multiple of this many seconds, so the actor needs one wake-up per distinct rounded time
    instead of one per event (memberships that depend on a window change at most that late).
    ``size_resolution`` is the bucket of the audience size time series.
    """

    def __init__(
        self,
        *,
        identity: IdentityConfig | None = None,
        history_limit: int | None = 500,
        dedup_window: float = DEDUP_WINDOW,
        expiry_resolution: float = 60.0,
        size_resolution: float = 3_600.0,
        space_id: str = "promoloop",
    ) -> None:
        if expiry_resolution < 0 or size_resolution <= 0:
            raise ValueError("expiry_resolution must be >= 0 and size_resolution > 0")
        self._profile_seq = 0
        self._engage_seq = 0
        self.space_id = space_id
        self.codec = HistoryCodec(history_limit)
        self.identity = IdentityGraph(self._next_profile_id, identity, codec=self.codec)
        self.identity.on_merge = self._on_merge
        self.traits = TraitEngine()
        self.audiences: dict[str, Audience] = {}
        self._compiled: dict[str, Compiled] = {}
        self._order: dict[str, int] = {}
        self._by_event: dict[str, list[str]] = {}
        self._by_trait: dict[str, list[str]] = {}
        self._timed_audiences: list[str] = []
        self._sync_keys: list[str] = []
        self._synced: dict[str, dict[str, Any]] = {}
        self.subscriptions: list[Subscription] = []
        self.plans = TrackingPlans()
        self.dedup = Deduplicator(dedup_window)
        self.ingested: Counter[str] = Counter()
        self.audience_changes: Counter[str] = Counter()
        self.sizes: dict[str, int] = {}
        self.size_series: dict[str, list[tuple[datetime, int]]] = {}
        self._size_resolution = size_resolution
        self._expiry_resolution = expiry_resolution
        self._due: list[tuple[float, str]] = []
        self._merged = False
        self.now = 0.0
        """The latest simulation time (Unix seconds) the model was driven at."""

    def _next_profile_id(self) -> str:
        self._profile_seq += 1
        return f"prof_{self._profile_seq:07d}"

    @property
    def duplicates(self) -> Counter[str]:
        """Calls accepted and ignored as repeats, by source."""
        return self.dedup.duplicates

    # -- configuration ----------------------------------------------------------------------
    def add_computed_trait(self, trait: ComputedTrait) -> ComputedTrait:
        if trait.key in self.audiences:
            raise ValueError(f"computed trait {trait.key!r} clashes with an audience key")
        self.traits.add(trait)
        if trait.sync:
            self._sync_keys.append(trait.key)
        return trait

    def add_computed_traits(self, traits: Iterable[ComputedTrait]) -> None:
        for trait in traits:
            self.add_computed_trait(trait)

    def add_audience(self, audience: Audience) -> Audience:
        key = audience.key
        if key in self.audiences:
            raise ValueError(f"audience {key!r} is already defined")
        if key in self.traits.public:
            raise ValueError(f"audience {key!r} clashes with a computed trait key")
        compiled = compile_condition(audience.condition, self.traits, self._read_trait)
        if key in compiled.traits:
            raise ValueError(f"audience {key!r} refers to its own membership trait")
        users = [k for k, c in self._compiled.items() if key in c.traits]
        if users:
            raise ValueError(
                f"audience {key!r} is referred to by audience(s) {users} defined earlier: "
                "define an audience before the audiences whose conditions use it"
            )
        self.audiences[key] = audience
        self._compiled[key] = compiled
        self._order[key] = len(self._order)
        self.sizes[key] = 0
        self.size_series[key] = []
        if audience.mode == "realtime":
            for event in sorted(compiled.events):
                self._by_event.setdefault(event, []).append(key)
            for trait in sorted(compiled.traits):
                self._by_trait.setdefault(trait, []).append(key)
            if compiled.timed:
                self._timed_audiences.append(key)
        return audience

    def add_audiences(self, audiences: Iterable[Audience]) -> None:
        for audience in audiences:
            self.add_audience(audience)

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)

    def set_tracking_plan(
        self, source: str, plan: TrackingPlan, enforcement: Enforcement | None = None
    ) -> None:
        self.plans.assign(source, plan, enforcement)

    # -- ingestion ---------------------------------------------------------------------------
    def ingest(self, source: str, event: SegmentEvent, received_at: datetime) -> list[Routed]:
        """Apply one call to the profiles; return it and any Engage events it caused.

        A repeated messageId from the same source within the dedup window, or a call the
        source's tracking plan blocks, is accepted and ignored (counted), returning nothing.
        """
        received_at = as_utc(received_at)
        now = to_seconds(received_at)
        self.now = max(self.now, now)
        if self.dedup.seen(source, event.message_id, now):
            return []
        checked = self.plans.check(source, event, received_at)
        if checked is None:
            return []
        event = checked
        at = as_utc(event.timestamp) if event.timestamp is not None else received_at
        self._merged = False
        where = {"source": source, "message_id": event.message_id}
        if isinstance(event, Alias):
            profile = self.identity.resolve_alias(event.user_id, event.previous_id, at, **where)
        else:
            traits = event.traits if isinstance(event, Identify) else None
            ids = self.identity.identifiers_of(
                event.user_id, event.anonymous_id, traits, event.context
            )
            profile = self.identity.resolve_ids(ids, at, **where)
        changed: dict[str, Any] = {}
        if isinstance(event, Identify) and event.traits:
            traits = event.traits
            public = self.traits.public
            if public and not public.keys().isdisjoint(traits):
                traits = {k: v for k, v in traits.items() if k not in public}
            changed = profile.set_traits(traits, at)
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
        if at >= profile.updated_at:
            profile.updated_at = at
            profile.last_message_id = event.message_id
            profile.last_source = source
        self.ingested[source] += 1
        routed: list[Routed] = [(source, event)]
        touched: list[int] = []
        if name is not None:
            touched = self.traits.apply(profile, name, event.properties, to_seconds(at), now)
        if touched or self._merged:
            self._schedule(profile, now)
            if self._sync_keys:
                keys = self._sync_keys if self._merged else self._synced_in(touched)
                routed.extend(self._sync(profile, received_at, now, keys))
        if self._merged:
            candidates: Iterable[str] = list(self.audiences)
        else:
            keys: set[str] = set(self._by_event.get(name or "", ()))
            for trait in changed:
                keys.update(self._by_trait.get(trait, ()))
            candidates = keys
        routed.extend(self._reevaluate(profile, candidates, received_at, now))
        if profile.user_id is not None and profile.audiences - profile.announced:
            # Joined while anonymous (or merged in): destinations keyed by userId hear of it now.
            for key in sorted(profile.audiences - profile.announced):
                routed.extend(
                    self._engage_events(profile, self.audiences[key], entered=True, at=at)
                )
        return routed

    def _read_trait(self, profile: Profile, key: str, now: float) -> Any:
        slot = self.traits.public.get(key)
        if slot is not None:
            return self.traits.value(profile, slot, now)
        return profile.traits.get(key)

    def _reevaluate(
        self, profile: Profile, keys: Iterable[str], at: datetime, now: float
    ) -> list[Routed]:
        """Evaluate realtime audiences ``keys`` for ``profile`` in definition order; a
        membership change also re-evaluates the audiences that use its boolean trait (always
        defined later, so this terminates)."""
        order = self._order
        pending = [(order[k], k) for k in set(keys) if self.audiences[k].mode == "realtime"]
        heapq.heapify(pending)
        done: set[str] = set()
        routed: list[Routed] = []
        while pending:
            _, key = heapq.heappop(pending)
            if key in done:
                continue
            done.add(key)
            changes = self._evaluate(profile, self.audiences[key], at, now)
            if changes:
                routed.extend(changes)
                for dependent in self._by_trait.get(key, ()):
                    heapq.heappush(pending, (order[dependent], dependent))
        return routed

    def _evaluate(
        self, profile: Profile, audience: Audience, at: datetime, now: float
    ) -> list[Routed]:
        key = audience.key
        member = key in profile.audiences
        qualifies = self._compiled[key].predicate(profile, now)
        if member == qualifies:
            return []
        if qualifies:
            profile.audiences = profile.audiences | {key}
        else:
            profile.audiences = profile.audiences - {key}
        self.audience_changes[key] += 1
        self._resize(key, 1 if qualifies else -1, at)
        return self._engage_events(profile, audience, entered=qualifies, at=at)

    def _resize(self, key: str, delta: int, at: datetime) -> None:
        size = self.sizes[key] = self.sizes[key] + delta
        series = self.size_series[key]
        step = self._size_resolution
        bucket_start = math.floor(to_seconds(at) / step) * step
        bucket = datetime.fromtimestamp(bucket_start, UTC)
        if series and series[-1][0] == bucket:
            series[-1] = (bucket, size)
        else:
            series.append((bucket, size))

    def _engage_events(
        self, profile: Profile, audience: Audience, *, entered: bool, at: datetime
    ) -> list[Routed]:
        """What Engage sends on a membership change: a track and the boolean trait."""
        self._engage_seq += 1
        context = self._personas("audience", audience.key)
        ids = self._engage_ids(profile)
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
            profile.announced = profile.announced | {audience.key}
        else:
            profile.announced = profile.announced - {audience.key}
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

    def _personas(self, computation: str, key: str) -> dict[str, Any]:
        return {
            "personas": {
                "computation_class": computation,
                "computation_key": key,
                "computation_id": key,
                "space_id": self.space_id,
            }
        }

    @staticmethod
    def _engage_ids(profile: Profile) -> dict[str, str | None]:
        user_id = profile.user_id
        if user_id is not None:
            return {"user_id": user_id, "anonymous_id": None}
        anonymous = profile.anonymous_ids
        return {"user_id": None, "anonymous_id": anonymous[0] if anonymous else profile.id}

    def _synced_in(self, slots: Iterable[int]) -> list[str]:
        """The synced computed trait keys among ``slots``, in definition order."""
        wanted = set(slots)
        return [k for k in self._sync_keys if self.traits.public[k] in wanted]

    def _sync(self, profile: Profile, at: datetime, now: float, keys: list[str]) -> list[Routed]:
        """An identify on the engage source with those synced computed traits (``keys``) whose
        value changed since last sent."""
        if not keys:
            return []
        last = self._synced.get(profile.id)
        changes: dict[str, Any] = {}
        for key in keys:
            value = self.traits.value(profile, self.traits.public[key], now)
            previous = _UNSET if last is None else last.get(key, _UNSET)
            if previous is _UNSET or previous != value:
                changes[key] = value
        if not changes:
            return []
        if last is None:
            last = self._synced[profile.id] = {}
        last.update(changes)
        self._engage_seq += 1
        context = self._personas("trait", ",".join(sorted(changes)))
        identify = Identify(
            message_id=f"engage-{self._engage_seq:08d}-c",
            timestamp=at,
            context=context,
            traits=changes,
            **self._engage_ids(profile),
        )
        return [(ENGAGE_SOURCE, identify)]

    def _on_merge(self, target: Profile, other: Profile) -> None:
        """Before ``target`` absorbs ``other``: merge trait states, fix audience sizes (two
        members become one), forget ``other``'s synced values and pending expiry."""
        self._merged = True
        self.traits.merge(target, other)
        at = max(target.updated_at, other.updated_at)
        for key in sorted(other.audiences & target.audiences):
            self._resize(key, -1, at)
        target.announced = target.announced | other.announced
        self._synced.pop(other.id, None)
        other.next_due = math.inf

    # -- time --------------------------------------------------------------------------------
    def _schedule(self, profile: Profile, now: float) -> None:
        due = self.traits.next_due(profile, now)
        if due == math.inf:
            return
        step = self._expiry_resolution
        if step > 0:
            due = math.ceil(due / step) * step
        if due < profile.next_due or profile.next_due <= now:
            profile.next_due = due
            heapq.heappush(self._due, (due, profile.id))

    def next_due(self) -> datetime | None:
        """When the earliest window expiry or recency change is due, if any."""
        heap = self._due
        while heap:
            due, profile_id = heap[0]
            profile = self.identity.get(profile_id)
            if profile is not None and profile.next_due == due:
                return datetime.fromtimestamp(due, UTC)
            heapq.heappop(heap)  # stale: merged away or rescheduled
        return None

    def advance(self, now: datetime) -> list[Routed]:
        """Slide every window that is due by ``now``: drop expired entries, re-evaluate the
        realtime audiences time can change, sync changed computed traits. Cheap when nothing is
        due (one heap peek), so the actor calls it before every message."""
        now = as_utc(now)
        seconds = to_seconds(now)
        self.now = max(self.now, seconds)
        routed: list[Routed] = []
        heap = self._due
        while heap and heap[0][0] <= seconds:
            due, profile_id = heapq.heappop(heap)
            profile = self.identity.get(profile_id)
            if profile is None or profile.next_due != due:
                continue
            profile.next_due = math.inf
            self.traits.expire(profile, seconds)
            if self._sync_keys:
                timed = self._synced_in(self.traits.timed)
                routed.extend(self._sync(profile, now, seconds, timed))
            routed.extend(self._reevaluate(profile, self._timed_audiences, now, seconds))
            self._schedule(profile, seconds)
        return routed

    def compute_audience(self, key: str, now: datetime) -> list[Routed]:
        """Evaluate one audience over every profile (batch runs, ad-hoc computations, or a
        backfill of a realtime audience added late); returns the Engage events."""
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        now = as_utc(now)
        seconds = to_seconds(now)
        self.now = max(self.now, seconds)
        audience = self.audiences[key]
        routed: list[Routed] = []
        for profile in self.profiles():
            routed.extend(self._evaluate(profile, audience, now, seconds))
        return routed

    def scheduled_audiences(self) -> list[Audience]:
        """Batch and ad-hoc audiences, in definition order (the actor runs them)."""
        return [a for a in self.audiences.values() if a.mode != "realtime"]

    # -- routing -----------------------------------------------------------------------------
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
        """The profile an identifier names; an identifier type never configured nor seen is
        an error (a typo), an unknown value is ``None``."""
        return self.identity.lookup(id_type, value)

    def find(self, id_type: str, value: str) -> Profile | None:
        """Like :meth:`profile`, but an unknown identifier type is simply ``None``."""
        try:
            return self.identity.lookup(id_type, value)
        except ValueError:
            return None

    def profiles(self) -> list[Profile]:
        return self.identity.profiles()

    def computed_traits_of(self, profile: Profile) -> dict[str, Any]:
        return self.traits.values(profile, self.now)

    def traits_of(self, profile: Profile) -> dict[str, Any]:
        """Identify traits, audience booleans and computed trait values, as the Profile API
        shows them."""
        return {**profile.traits, **self.traits.values(profile, self.now)}

    def trait_class(self, key: str) -> str:
        """``audience``, ``computed_trait`` or ``custom`` (the Profile API's ``class``)."""
        if key in self.audiences:
            return "audience"
        if key in self.traits.public:
            return "computed_trait"
        return "custom"

    def audience_members(self, key: str) -> list[Profile]:
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        return [p for p in self.profiles() if key in p.audiences]

    def audience_size_series(self, key: str) -> list[tuple[datetime, int]]:
        """(bucket start, size at the end of the bucket) for each bucket where it changed."""
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        return list(self.size_series[key])

    def stats(self) -> dict[str, Any]:
        return {
            "profiles": len(self.identity),
            "ingested": dict(sorted(self.ingested.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "blocked": dict(sorted(self.plans.blocked.items())),
            "violations": {f"{s}:{r}": n for (s, r), n in sorted(self.plans.counts.items())},
            "merges": self.identity.merges,
            "refused_merges": self.identity.refused,
            "demoted_identifiers": self.identity.demoted,
            "audience_sizes": dict(self.sizes),
        }
