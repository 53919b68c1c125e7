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
from promoloop.actors.cdp.profiles import (
    ENGAGE_SOURCE_NAME,
    HistoryCodec,
    Profile,
    as_utc,
    to_micros,
    to_seconds,
)
from promoloop.actors.cdp.tracking_plan import Enforcement, TrackingPlan, TrackingPlans
from promoloop.actors.cdp.traits import ComputedTrait, TraitEngine
from promoloop.actors.events import names
from promoloop.actors.events.segment import Alias, Identify, SegmentEvent, Track

ENGAGE_SOURCE = ENGAGE_SOURCE_NAME
"""Audience membership and computed trait events are emitted on this source, as Engage does."""

Routed = tuple[str, SegmentEvent]
"""(source, event) as delivered to destinations."""

DEDUP_WINDOW = 86_400.0
"""A messageId seen again from the same source within this many seconds is a duplicate."""

_UNSET = object()
_NONE: list[int] = []
"""An empty index list to default to (never mutated)."""


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
        self._by_event: dict[str, list[int]] = {}
        self._by_trait: dict[str, list[int]] = {}
        self._by_slot: dict[int, list[int]] = {}
        """Realtime audiences (definition indexes, in order) by what can change them."""
        self._table: list[tuple[str, Audience, Any] | None] = []
        """Definition index → (key, audience, predicate) for realtime audiences, else None."""
        self._members: dict[frozenset[str], frozenset[str]] = {}
        self._moves: dict[tuple[frozenset[str], str, bool], frozenset[str]] = {}
        self._codes: dict[type, int] = {}
        self._bucket: tuple[float, datetime] = (math.nan, datetime.fromtimestamp(0, UTC))
        self._micros_of: tuple[datetime | None, int] = (None, 0)
        """The last datetime converted for a membership record (one event may cause many)."""
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
        self.expiry_resolution = expiry_resolution
        """Seconds window expiries are rounded up to (settable before a run: a scenario that
        looks at daily sizes can trade minute precision for fewer CDP wake-ups)."""
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
        index = len(self._order)
        self.audiences[key] = audience
        self._compiled[key] = compiled
        self._order[key] = index
        self.sizes[key] = 0
        self.size_series[key] = []
        self.codec.audience_names[key] = audience.name
        if audience.mode == "realtime":
            self._table.append((key, audience, compiled.predicate))
            for event in sorted(compiled.events):
                self._by_event.setdefault(event, []).append(index)
            for trait in sorted(compiled.traits):
                self._by_trait.setdefault(trait, []).append(index)
            for slot in sorted(compiled.slots):
                self._by_slot.setdefault(slot, []).append(index)
        else:
            self._table.append(None)
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
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        now = received_at.timestamp()
        if now > self.now:
            self.now = now
        if self.dedup.seen(source, event.message_id, now):
            return []
        checked = self.plans.check(source, event, received_at)
        if checked is None:
            return []
        event = checked
        stamp = event.timestamp
        if stamp is None:
            at = received_at
        else:
            at = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
        micros = to_micros(at)
        at_seconds = micros / 1_000_000  # == at.timestamp(), exactly
        self._merged = False
        message_id = event.message_id
        identity = self.identity
        if isinstance(event, Alias):
            profile = identity.resolve_alias(
                event.user_id, event.previous_id, at, source=source, message_id=message_id
            )
        else:
            is_identify = isinstance(event, Identify)
            ids = identity.identifiers_of(
                event.user_id,
                event.anonymous_id,
                event.traits if is_identify else None,  # type: ignore[union-attr]
                event.context,
            )
            profile = identity.resolve_ids(ids, at, source=source, message_id=message_id)
        changed: dict[str, Any] = {}
        if isinstance(event, Identify) and event.traits:
            traits = event.traits
            public = self.traits.public
            if public and not public.keys().isdisjoint(traits):
                traits = {k: v for k, v in traits.items() if k not in public}
            changed = profile.set_traits(traits, at)
        vocab = self.codec.vocabulary
        kind = type(event)
        type_code = self._codes.get(kind)
        if type_code is None:
            type_code = self._codes[kind] = vocab.code(event.__struct_config__.tag)  # type: ignore[arg-type]
        if isinstance(event, Track):
            name: str | None = event.event
            properties: dict[str, Any] | None = event.properties
            counted = name
            event_code = vocab.code(name)
        else:
            name = None
            properties = getattr(event, "properties", None)
            counted = event.__struct_config__.tag  # type: ignore[assignment]
            event_code = -1
        profile.append_record(
            self.codec.encode_call(
                micros, type_code, event_code, vocab.code(source), message_id, properties
            ),
            counted,
        )
        if at >= profile.updated_at:
            profile.updated_at = at
            profile.last_message_id = message_id
            profile.last_source = source
        self.ingested[source] += 1
        routed: list[Routed] = [(source, event)]
        touched: list[int] = []
        if name is not None:
            touched = self.traits.apply(profile, name, event.properties, at_seconds, now)  # type: ignore[union-attr]
        merged = self._merged
        if touched or merged:
            self._schedule(profile, now)
            if self._sync_keys:
                keys = self._sync_keys if merged else self._synced_in(touched)
                routed.extend(self._sync(profile, received_at, now, keys))
        if merged:
            candidates: list[int] = list(range(len(self._table)))
        else:
            candidates = self._by_event.get(name, _NONE) if name is not None else _NONE
            if changed:
                extra = [i for t in changed for i in self._by_trait.get(t, _NONE)]
                if extra:
                    candidates = sorted({*candidates, *extra})
        if candidates:
            routed.extend(self._reevaluate(profile, candidates, received_at, now))
        members = profile.audiences
        if (
            members
            and members is not profile.announced
            and not members <= profile.announced
            and profile.user_id is not None
        ):
            # Joined while anonymous (or merged in): destinations keyed by userId hear now.
            for key in sorted(members - profile.announced):
                routed.extend(
                    self._engage_events(
                        profile, self.audiences[key], entered=True, at=at, when=at_seconds
                    )
                )
        return routed

    def _read_trait(self, profile: Profile, key: str, now: float) -> Any:
        slot = self.traits.public.get(key)
        if slot is not None:
            return self.traits.value(profile, slot, now)
        return profile.traits.get(key)

    def _reevaluate(
        self, profile: Profile, indexes: list[int], at: datetime, now: float
    ) -> list[Routed]:
        """Evaluate the realtime audiences ``indexes`` (definition indexes, sorted, unique)
        for ``profile`` in definition order; a membership change also re-evaluates the
        audiences that use its boolean trait (always defined later, so this terminates)."""
        table = self._table
        by_trait = self._by_trait
        pending = list(indexes)  # sorted: already a heap
        last = -1
        routed: list[Routed] = []
        while pending:
            index = heapq.heappop(pending)
            if index == last:
                continue  # a dependent pushed twice
            last = index
            entry = table[index]
            if entry is None:
                continue
            key, audience, predicate = entry
            qualifies = predicate(profile, now)
            if (key in profile.audiences) == qualifies:
                continue
            routed.extend(self._change(profile, audience, qualifies, at, now))
            for dependent in by_trait.get(key, _NONE):
                heapq.heappush(pending, dependent)
        return routed

    def _evaluate(
        self, profile: Profile, audience: Audience, at: datetime, now: float
    ) -> list[Routed]:
        qualifies = self._compiled[audience.key].predicate(profile, now)
        if (audience.key in profile.audiences) == qualifies:
            return []
        return self._change(profile, audience, qualifies, at, now)

    def _change(
        self, profile: Profile, audience: Audience, entered: bool, at: datetime, now: float
    ) -> list[Routed]:
        key = audience.key
        profile.audiences = self._moved(profile.audiences, key, entered)
        self.audience_changes[key] += 1
        self._resize(key, 1 if entered else -1, now)
        return self._engage_events(profile, audience, entered=entered, at=at, when=now)

    def _moved(self, members: frozenset[str], key: str, add: bool) -> frozenset[str]:
        """``members`` with ``key`` added or removed, interned.

        Memberships repeat across a population (many profiles are in the same few
        audiences), so profiles share one frozenset per distinct membership instead of each
        holding its own (a frozenset of 30 keys is over 2 KB). The tables are caches: past
        a bound they are cleared and refilled, sharing is never needed for correctness.
        """
        move = (members, key, add)
        found = self._moves.get(move)
        if found is None:
            fresh = members | {key} if add else members - {key}
            if len(self._moves) > 4_096:
                self._moves.clear()
                self._members.clear()
            found = self._moves[move] = self._members.setdefault(fresh, fresh)
        return found

    def _resize(self, key: str, delta: int, when: float) -> None:
        size = self.sizes[key] = self.sizes[key] + delta
        series = self.size_series[key]
        step = self._size_resolution
        bucket_start = math.floor(when / step) * step
        if self._bucket[0] != bucket_start:
            self._bucket = (bucket_start, datetime.fromtimestamp(bucket_start, UTC))
        bucket = self._bucket[1]
        if series and series[-1][0] == bucket:
            series[-1] = (bucket, size)
        else:
            series.append((bucket, size))

    def _engage_events(
        self, profile: Profile, audience: Audience, *, entered: bool, at: datetime, when: float
    ) -> list[Routed]:
        """What Engage sends on a membership change: a track and the boolean trait (``at`` is
        their timestamp, ``when`` the same instant in Unix seconds)."""
        self._engage_seq += 1
        seq = self._engage_seq
        key = audience.key
        context = self._personas("audience", key)
        user_id = profile.user_id
        if user_id is not None:
            anonymous_id = None
        else:
            anonymous = profile.anonymous_ids
            anonymous_id = anonymous[0] if anonymous else profile.id
        event = names.AUDIENCE_ENTERED if entered else names.AUDIENCE_EXITED
        track = Track(
            message_id=f"engage-{seq:08d}-t",
            timestamp=at,
            context=context,
            event=event,
            properties={"audience_key": key, "audience_name": audience.name},
            user_id=user_id,
            anonymous_id=anonymous_id,
        )
        identify = Identify(
            message_id=f"engage-{seq:08d}-i",
            timestamp=at,
            context=context,
            traits={key: entered},
            user_id=user_id,
            anonymous_id=anonymous_id,
        )
        # The boolean is Engage's to write: it needs no timestamp of its own (see docs/cdp.md).
        profile.traits[key] = entered
        profile.trait_times.pop(key, None)
        if entered and user_id is not None:
            profile.announced = self._moved(profile.announced, key, True)
        elif key in profile.announced:
            profile.announced = self._moved(profile.announced, key, False)
        if at is not self._micros_of[0]:
            self._micros_of = (at, to_micros(at))
        profile.append_record(
            self.codec.encode_membership(self._micros_of[1], entered, seq, key), event
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
        when = to_seconds(max(target.updated_at, other.updated_at))
        for key in sorted(other.audiences & target.audiences):
            self._resize(key, -1, when)
        target.announced = target.announced | other.announced
        self._synced.pop(other.id, None)
        other.next_due = math.inf

    # -- time --------------------------------------------------------------------------------
    def _schedule(self, profile: Profile, now: float) -> None:
        due = self.traits.next_due(profile, now)
        if due == math.inf:
            return
        step = self.expiry_resolution
        if step > 0:
            due = math.ceil(due / step) * step
        if profile.next_due == math.inf:
            profile.due_since = now  # nothing pending: no unseen change before now
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
            # Rounding put the due up to one step late: changes may date from that step ago,
            # or from when the profile was last scheduled if an event rescheduled it since.
            since = min(due - self.expiry_resolution, profile.due_since)
            changed = self.traits.expire(profile, seconds, since)
            if self._sync_keys and changed:
                routed.extend(self._sync(profile, now, seconds, self._synced_in(changed)))
            by_slot = self._by_slot
            indexes = sorted({i for slot in changed for i in by_slot.get(slot, _NONE)})
            if indexes:
                routed.extend(self._reevaluate(profile, indexes, now, seconds))
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
