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
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from promoloop.actors.cdp.accounts import Accounts, Link
from promoloop.actors.cdp.audiences import Audience, Compiled, Condition, compile_condition
from promoloop.actors.cdp.destinations import Subscription
from promoloop.actors.cdp.history import (
    ENGAGE_HISTORY_LIMIT,
    ENGAGE_SOURCE_NAME,
    MAX_AUDIENCES,
    HistoryCodec,
)
from promoloop.actors.cdp.identity import IdentityConfig, IdentityGraph
from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.cdp.programs import Program, build_program
from promoloop.actors.cdp.times import as_utc, to_micros, to_seconds
from promoloop.actors.cdp.tracking_plan import Enforcement, TrackingPlan, TrackingPlans
from promoloop.actors.cdp.traits import ComputedTrait, TraitEngine
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Alias, Group, Identify, SegmentEvent, Track

ENGAGE_SOURCE = ENGAGE_SOURCE_NAME
"""Audience membership and computed trait events are emitted on this source, as Engage does."""

Routed = tuple[str, SegmentEvent]
"""(source, event) as delivered to destinations."""


class Membership(msgspec.Struct, gc=False):
    """A membership change whose Engage events (an ``Audience Entered``/``Exited`` track and
    the boolean trait's identify) are built only when a destination takes them.

    Why: a churny workspace changes memberships several times per call, and most
    destinations subscribe to a few of these events, so building every one of them (two
    Structs, their dicts and message ids) was most of the cost of a change. The ids and the
    sequence number are fixed when the change happens, so a late build gives the same events
    as an eager one. A Struct (built positionally, in C) because one is made per change.
    """

    key: str
    name: str
    entered: bool
    seq: int
    at: datetime
    user_id: str | None
    anonymous_id: str | None
    personas: dict[str, Any]
    """The audience's ``context.personas`` (shared template: each event gets a copy)."""

    def track(self) -> Track:
        # str().zfill() rather than a format spec: half the time, and one is built per change.
        return Track(
            message_id=f"engage-{str(self.seq).zfill(8)}-t",
            timestamp=self.at,
            context={"personas": self.personas.copy()},
            event=names.AUDIENCE_ENTERED if self.entered else names.AUDIENCE_EXITED,
            properties={"audience_key": self.key, "audience_name": self.name},
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
        )

    def identify(self) -> Identify:
        return Identify(
            message_id=f"engage-{str(self.seq).zfill(8)}-i",
            timestamp=self.at,
            context={"personas": self.personas.copy()},
            traits={self.key: self.entered},
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
        )


Pending = tuple[str, "SegmentEvent | Membership"]
"""What the model produces internally: routed events, or membership changes still to build."""


def _personas(computation: str, key: str, space_id: str) -> dict[str, Any]:
    return {
        "personas": {
            "computation_class": computation,
            "computation_key": key,
            "computation_id": key,
            "space_id": space_id,
        }
    }


def expand(pending: Iterable[Pending]) -> list[Routed]:
    """Every Engage event of ``pending`` built: the public, eager form."""
    out: list[Routed] = []
    for source, item in pending:
        if isinstance(item, Membership):
            out.append((source, item.track()))
            out.append((source, item.identify()))
        else:
            out.append((source, item))
    return out


DEDUP_WINDOW = 86_400.0
"""A messageId seen again from the same source within this many seconds is a duplicate."""

_UNSET = object()
_NONE: list[int] = []
"""An empty index list to default to (never mutated)."""


class Deduplicator:
    """Remembers (source, messageId) for ``window`` seconds of virtual time.

    Calls without a messageId are never duplicates (the Tracking API always assigns one; only
    in-process producers may leave it empty). Ids are remembered per source and forgotten in
    groups: every id a source sends at one instant (a batch) shares one expiry record.
    """

    def __init__(self, window: float = DEDUP_WINDOW) -> None:
        self.window = window
        self._seen: dict[str, dict[str, float]] = {}
        self._order: deque[tuple[float, str, list[str]]] = deque()
        """(time, source, ids first seen then): one group per source and instant."""
        self._size = 0
        self.duplicates: Counter[str] = Counter()

    def evict(self, now: float) -> None:
        """Forget the ids seen ``window`` seconds or more before ``now``."""
        order = self._order
        while order and order[0][0] + self.window <= now:
            at, source, ids = order.popleft()
            self._size -= len(ids)
            known = self._seen.get(source)
            if known is None:
                continue
            for message_id in ids:
                if known.get(message_id) == at:
                    del known[message_id]

    def group(self, source: str, now: float) -> tuple[dict[str, float], list[str]]:
        """The ids known from ``source`` and the list recording those first seen at ``now``:
        :meth:`seen` for a whole batch without a lookup or a record per call."""
        known = self._seen.get(source)
        if known is None:
            known = self._seen[source] = {}
        order = self._order
        if order and order[-1][0] == now and order[-1][1] == source:
            return known, order[-1][2]
        ids: list[str] = []
        order.append((now, source, ids))
        return known, ids

    def seen(self, source: str, message_id: str, now: float) -> bool:
        """Whether ``message_id`` is a repeat from ``source`` (counted); remembers it if not."""
        self.evict(now)
        if not message_id:
            return False
        known, ids = self.group(source, now)
        return self.check(source, message_id, now, known, ids)

    def check(
        self, source: str, message_id: str, now: float, known: dict[str, float], ids: list[str]
    ) -> bool:
        if message_id in known:
            self.duplicates[source] += 1
            return True
        known[message_id] = now
        ids.append(message_id)
        self._size += 1
        return False

    def __len__(self) -> int:
        return self._size


class CdpModel:
    """Profiles, identity, computed traits, audiences, tracking plans, dedup and routing.

    ``history_limit`` bounds the calls each profile keeps (oldest dropped; lifetime counts
    and computed traits are unaffected); ``engage_history_limit`` the Engage membership events
    it keeps apart (the latest; see :mod:`profiles`). ``expiry_resolution`` rounds
    window-expiry times up to a multiple of this many seconds, so the actor needs one wake-up
    per distinct rounded time instead of one per event (memberships that depend on a window
    change at most that late).
    ``size_resolution`` is the bucket of the audience size time series.
    """

    def __init__(
        self,
        *,
        identity: IdentityConfig | None = None,
        history_limit: int | None = 500,
        engage_history_limit: int | None = ENGAGE_HISTORY_LIMIT,
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
        self.codec = HistoryCodec(history_limit, engage_limit=engage_history_limit)
        vocabulary = self.codec.vocabulary
        self._engage_codes = (
            vocabulary.code(names.AUDIENCE_EXITED),
            vocabulary.code(names.AUDIENCE_ENTERED),
        )
        """Vocabulary codes of ``Audience Exited`` and ``Audience Entered`` (by ``entered``),
        which profiles count their Engage events under."""
        self._engaged_last: Profile | None = None
        """The profile of the latest membership change (number ``_engage_seq``; None when a
        number was taken since, or after a merge, which rebuilds the membership logs), and
        its time in microseconds."""
        self._engaged_micros = 0
        self.identity = IdentityGraph(self._next_profile_id, identity, codec=self.codec)
        self.identity.on_merge = self._on_merge
        self._account_seq = 0
        self.accounts = Accounts(self.codec, self._next_account_id)
        """Account profiles (the ``accounts`` collection) and user ↔ account links, built
        from group calls (see :mod:`accounts`)."""
        self.traits = TraitEngine()
        self.audiences: dict[str, Audience] = {}
        self._compiled: dict[str, Compiled] = {}
        self._order: dict[str, int] = {}
        self._by_event: dict[str, list[int]] = {}
        self._by_trait: dict[str, list[int]] = {}
        self._by_slot: dict[int, list[int]] = {}
        """Realtime audiences (definition indexes, in order) by what can change them."""
        self._table: list[tuple[str, Audience, Any, int] | None] = []
        """Definition index → (key, audience, predicate, bit) for realtime audiences."""
        self._bits: list[int] = []
        """Definition index → its bit in the profiles' membership masks."""
        self._expiring: dict[tuple[int, ...], Program | None] = {}
        """Slots changed by time (sorted) → the program for the realtime audiences reading
        them (None: none does; a cache)."""
        self._programs: dict[tuple[int, ...], Program] = {}
        """Candidate audiences (sorted indexes) → the program re-evaluating them (a cache:
        cleared when definitions change or when it grows past a bound)."""
        self._event_programs: dict[str, Program | None] = {}
        """Event name → the program for the audiences it can change (cleared with
        ``_programs``)."""
        self._routing_for: tuple[Subscription, ...] = ()
        """The subscriptions the routing caches (``_takers``, ``_wanted``) were built from."""
        self._takers: dict[tuple[str, type, str | None], tuple[str, ...]] = {}
        """(source, call class, event name) → destinations taking it (see :meth:`route`)."""
        self._wanted: tuple[list[tuple[str, bool, bool, bool]], bool, bool, bool] | None = None
        """Per subscription: (destination, takes Entered, takes Exited, takes the identify);
        then whether any takes each (None: recompute; subscriptions changed)."""
        self._codes: dict[type, int] = {}
        self._bucket: tuple[float, datetime] = (math.nan, datetime.fromtimestamp(0, UTC))
        self._micros_of: tuple[datetime | None, int] = (None, 0)
        """The last datetime converted for a membership record (one event may cause many)."""
        self._engage_meta: list[tuple[str, str, dict[str, Any]]] = []
        """Definition index → the audience's key, name and ``context.personas`` template."""
        self._sync_keys: list[str] = []
        self._synced_of: dict[tuple[int, ...], list[str]] = {}
        """Touched slots → the synced keys among them (a cache, see :meth:`_synced_in`)."""
        self._synced_tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        """One shared tuple per combination of synced values (``Profile.synced``): values
        repeat across profiles (a favourite category among a few), so a profile holds only a
        reference to one, not a tuple (~48 bytes) of its own."""
        self._sync_position: dict[str, int] = {}
        self.subscriptions: list[Subscription] = []
        self.plans = TrackingPlans()
        self.dedup = Deduplicator(dedup_window)
        self.ingested: Counter[str] = Counter()
        self._audience_changes: Counter[str] = Counter()
        self._sizes: dict[str, int] = {}
        self._flips: list[int] = []
        self._delta: list[int] = []
        """Definition index → membership changes and net size change not yet tallied into
        the counters and the size series: a change only bumps two ints here, and the tally
        (:meth:`_tally`) runs once per instant, since every change of an instant falls in the
        same size bucket (the result is the same as tallying each change)."""
        self._moved = 0
        """The audiences with untallied changes (a mask: the tally visits only those)."""
        self._tally_now = math.nan
        self._series: dict[str, tuple[array[float], array[int]]] = {}
        """Per audience: bucket starts (Unix seconds) and the size at each bucket's end, as
        two parallel arrays (16 bytes a point instead of a tuple, a datetime and an int)."""
        self._size_resolution = size_resolution
        self.expiry_resolution = expiry_resolution
        """Seconds window expiries are rounded up to (settable before a run: a scenario that
        looks at daily sizes can trade minute precision for fewer CDP wake-ups)."""
        self._due: list[float] = []
        """A heap of the distinct due times of ``_due_ids``."""
        self._due_ids: dict[float, str | list[str]] = {}
        """Due time → the profiles to slide then (entries are stale once a profile's
        ``next_due`` moved). Rounded dues are shared by many profiles: one heap entry per
        distinct time, instead of one per profile whose ties the heap broke by comparing
        profile ids (a tenth of a churny run went to those pops). A due only one profile has
        holds its id itself: a one-item list costs ~64 bytes, and with minute rounding over
        months of calls most dues have one profile."""
        self._merged = False
        self.now = 0.0
        """The latest simulation time (Unix seconds) the model was driven at."""

    def _next_profile_id(self) -> str:
        self._profile_seq += 1
        return f"prof_{self._profile_seq:07d}"

    def _next_account_id(self) -> str:
        self._account_seq += 1
        return f"acct_{self._account_seq:07d}"

    @property
    def duplicates(self) -> Counter[str]:
        """Calls accepted and ignored as repeats, by source."""
        return self.dedup.duplicates

    @property
    def sizes(self) -> dict[str, int]:
        """Members of each audience, by key (read it, do not write it)."""
        self._tally(self._tally_now)
        return self._sizes

    @property
    def audience_changes(self) -> Counter[str]:
        """Membership changes (entries and exits) of each audience so far."""
        self._tally(self._tally_now)
        return self._audience_changes

    def _tally(self, now: float) -> None:
        """Fold the untallied changes (made at :attr:`_tally_now`) into the counters, sizes and
        size series, and start tallying changes made at ``now``. Called whenever the model is
        driven at a new instant, and before anything reads the tallies."""
        moved = self._moved
        if moved:
            self._moved = 0
            flips, delta = self._flips, self._delta
            keys = self.codec.audience_keys
            while moved:
                low = moved & -moved
                moved ^= low
                index = low.bit_length() - 1
                count = flips[index]
                key = keys[index]
                self._audience_changes[key] += count
                self._add_size(key, delta[index], self._tally_now)
                flips[index] = delta[index] = 0
        self._tally_now = now

    def _add_size(self, key: str, delta: int, when: float) -> None:
        """Change an audience's size by ``delta`` at ``when``: the size and the point of its
        size series for ``when``'s bucket."""
        size = self._sizes[key] = self._sizes[key] + delta
        starts, points = self._series[key]
        step = self._size_resolution
        bucket = math.floor(when / step) * step
        if starts and starts[-1] == bucket:
            points[-1] = size
        else:
            starts.append(bucket)
            points.append(size)

    # -- configuration ----------------------------------------------------------------------
    def add_computed_trait(self, trait: ComputedTrait) -> ComputedTrait:
        if trait.key in self.audiences:
            raise ValueError(f"computed trait {trait.key!r} clashes with an audience key")
        self.traits.add(trait)
        self._forget_programs()
        if trait.sync:
            self._sync_position[trait.key] = len(self._sync_keys)
            self._sync_keys.append(trait.key)
            self._synced_of.clear()
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
        if len(self._order) >= MAX_AUDIENCES:
            raise ValueError(f"a model holds at most {MAX_AUDIENCES} audiences")
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
        self._tally(math.nan)
        self._sizes[key] = 0
        self._flips.append(0)
        self._delta.append(0)
        self._series[key] = (array("d"), array("q"))
        bit = self.codec.add_audience(key, audience.name)
        self._bits.append(bit)
        self._engage_meta.append(
            (key, audience.name, _personas("audience", key, self.space_id)["personas"])
        )
        self._forget_programs()
        if audience.mode == "realtime":
            self._table.append((key, audience, compiled.predicate, bit))
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
        self._wanted = None
        self._takers.clear()

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
        return expand(self.ingest_lazy(source, event, received_at))

    def ingest_lazy(self, source: str, event: SegmentEvent, received_at: datetime) -> list[Pending]:
        """:meth:`ingest`, with membership changes left as :class:`Membership` items for
        :meth:`route` to build only for the destinations that take them (the actor's path)."""
        return self.ingest_batch_lazy(source, (event,), received_at)

    def ingest_batch_lazy(
        self, source: str, events: Iterable[SegmentEvent], received_at: datetime
    ) -> list[Pending]:
        """:meth:`ingest_lazy` for every call of a batch received at one instant, in order:
        what depends only on the source and the instant (clocks, tallies, dedup expiry and
        bookkeeping, the source's code) is done once per batch instead of once per call."""
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        now = received_at.timestamp()
        if now > self.now:
            self.now = now
        if now != self._tally_now:
            self._tally(now)
        dedup = self.dedup
        dedup.evict(now)
        known, fresh_ids = dedup.group(source, now)
        check = dedup.check
        source_code = self.codec.vocabulary.code(source)
        one = self._ingest_one
        out: list[Pending] = []
        accepted = 0
        for event in events:
            message_id = event.message_id
            if message_id and check(source, message_id, now, known, fresh_ids):
                continue
            accepted += one(source, source_code, event, received_at, now, out)
        if accepted:
            self.ingested[source] += accepted
        return out

    def _ingest_one(
        self,
        source: str,
        source_code: int,
        event: SegmentEvent,
        received_at: datetime,
        now: float,
        out: list[Pending],
    ) -> bool:
        """One call not seen before: tracking plan, identity, traits, history, audiences;
        appends what it routes to ``out``; False when the source's plan blocks it."""
        checked = self.plans.check(source, event, received_at)
        if checked is None:
            return False
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
            profile = identity.resolve_call(
                event.user_id,
                event.anonymous_id,
                event.traits if isinstance(event, Identify) else None,  # type: ignore[union-attr]
                event.context,
                at,
                source=source,
                message_id=message_id,
            )
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
            event_code = counted = vocab.code(name)
        else:
            name = None
            properties = getattr(event, "properties", None)
            counted = type_code
            event_code = -1
            if kind is Group:
                # Unify: the account named by groupId gets the call's traits, and this
                # user's profile is linked to it (tracks never get here: no cost on them).
                self.accounts.group(
                    profile,
                    event.group_id,  # type: ignore[union-attr,arg-type]
                    event.traits,  # type: ignore[union-attr]
                    at,
                    source=source,
                    message_id=message_id,
                )
        fresh = profile.history_size == 0  # this call created the profile
        if micros >= profile.updated_micros:
            # The newest call: its record, appended below, tells its message id and source.
            profile.updated_micros = micros
            profile._newest = None
        else:
            profile.keep_newest()
        profile.append_record(
            self.codec.encode_call(
                micros, type_code, event_code, source_code, message_id, properties
            ),
            counted,
        )
        routed = out
        routed.append((source, event))
        touched: list[int] = []
        if name is not None:
            touched = self.traits.apply(profile, name, event.properties, at_seconds, now)  # type: ignore[union-attr]
        merged = self._merged
        if merged:
            self._schedule(profile, now)
        elif touched:
            self._reschedule(profile, touched, at_seconds, now)
        if (touched or merged) and self._sync_keys:
            keys = self._sync_keys if merged else self._synced_in(touched)
            routed.extend(self._sync(profile, received_at, now, keys))
        extra = [i for t in changed for i in self._by_trait.get(t, _NONE)] if changed else None
        if merged or fresh:
            # A new profile is evaluated against every audience once: one that reads only
            # identify traits ("email missing") may hold from the first call, whatever it is.
            if self._table:
                self._reevaluate(profile, list(range(len(self._table))), received_at, now, routed)
        elif extra:
            by_event = self._by_event.get(name, _NONE) if name is not None else _NONE
            candidates = sorted({*by_event, *extra})
            self._reevaluate(profile, candidates, received_at, now, routed)
        elif name is not None:
            # The common case: the audiences this event name can change, one program per
            # name (no tuple of candidates to build and hash per call).
            program = self._event_programs.get(name, _UNSET)
            if program is _UNSET:
                program = self._event_program(name)
            if program is not None:
                program(profile, now, received_at, self._change, routed)
        unheard = profile.members & ~profile.announced_mask
        if unheard and profile.user_id is not None:
            # Joined while anonymous (or merged in): destinations keyed by userId hear now,
            # stamped when Engage sends it (as every other change), not at the call's time.
            order = self._order
            for key in sorted(self.codec.keys_of(unheard)):
                routed.append(self._change(profile, order[key], True, received_at, now, False))
        return True

    def _read_trait(self, profile: Profile, key: str, now: float) -> Any:
        slot = self.traits.public.get(key)
        if slot is not None:
            return self.traits.value(profile, slot, now)
        return profile.trait(key)

    def _reevaluate(
        self, profile: Profile, indexes: list[int], at: datetime, now: float, out: list[Pending]
    ) -> None:
        """Evaluate the realtime audiences ``indexes`` (definition indexes, sorted, unique)
        for ``profile`` in definition order, appending the changes to ``out``; a membership
        change also re-evaluates the audiences that use its boolean trait (always defined
        later, so this terminates). Runs the generated program for this set of candidates
        (:mod:`programs`)."""
        self._program_for(tuple(indexes))(profile, now, at, self._change, out)

    def _event_program(self, name: str) -> Program | None:
        """The program re-evaluating the audiences events named ``name`` can change (None:
        no audience reads them), cached per name."""
        candidates = self._by_event.get(name, _NONE)
        program = self._program_for(tuple(candidates)) if candidates else None
        self._event_programs[name] = program
        return program

    def _program_for(self, candidates: tuple[int, ...]) -> Program:
        """The program for these candidates (sorted definition indexes): cached, built on
        first use."""
        program = self._programs.get(candidates)
        return program if program is not None else self._program(candidates)

    def _program(self, candidates: tuple[int, ...]) -> Program:
        table: list[tuple[str, Condition, int] | None] = [
            None if entry is None else (entry[0], entry[1].condition, entry[3])
            for entry in self._table
        ]
        order = self._order
        dependents = {
            order[key]: indexes for key, indexes in self._by_trait.items() if key in order
        }
        traits, read = self.traits, self._read_trait
        program = build_program(
            candidates,
            table,
            dependents,
            traits,
            read,
            lambda condition: compile_condition(condition, traits, read).predicate,
        )
        if len(self._programs) >= 1_024:
            self._forget_programs()
        self._programs[candidates] = program
        return program

    def _forget_programs(self) -> None:
        """Drop every cached program (definitions changed, or the cache grew past its bound)."""
        self._programs.clear()
        self._event_programs.clear()
        self._expiring.clear()

    def _evaluate(self, profile: Profile, key: str, at: datetime, now: float) -> list[Pending]:
        qualifies = self._compiled[key].predicate(profile, now)
        index = self._order[key]
        if (profile.members & self._bits[index] != 0) == qualifies:
            return []
        return [self._change(profile, index, qualifies, at, now)]

    def _change(
        self,
        profile: Profile,
        index: int,
        entered: bool,
        at: datetime,
        now: float,
        flip: bool = True,
    ) -> Pending:
        """One membership change (audience ``index``): the profile's bit and the untallied
        counts (see :meth:`_tally`; ``now`` is the instant being tallied), then what Engage
        does: write the boolean trait, log the ``Audience Entered``/``Exited`` on the
        profile, and leave the two events (the track and the boolean's identify, stamped
        ``at``) to be built for the destinations that take them (:class:`Membership`).
        ``flip=False``: Engage's part only, to announce a membership the profile has.

        One method, not two calls: it runs about four times per call on a churny
        workspace."""
        if flip:
            bit = self._bits[index]
            profile.members ^= bit
            self._flips[index] += 1
            self._delta[index] += 1 if entered else -1
            self._moved |= bit
        self._engage_seq += 1
        seq = self._engage_seq
        key, name, personas = self._engage_meta[index]
        user_id = profile.user_id
        # The boolean is Engage's to write: it needs no timestamp of its own (see docs/cdp.md).
        micros_of = self._micros_of
        if at is not micros_of[0]:
            micros_of = self._micros_of = (at, to_micros(at))
        micros = micros_of[1]
        # The previous change (number seq - 1: _sync, the only other taker of numbers, clears
        # _engaged_last) was this profile's, at the same time: its log stores this one as a
        # follower (one int, see membership_log).
        follows = self._engaged_last is profile and self._engaged_micros == micros
        self._engaged_last = profile
        self._engaged_micros = micros
        profile.engage(
            key,
            index,
            entered,
            entered and user_id is not None,
            micros,
            seq,
            self._engage_codes[entered],
            follows,
        )
        return (
            ENGAGE_SOURCE,
            Membership(
                key,
                name,
                entered,
                seq,
                at,
                user_id,
                (profile.first_anonymous_id or profile.id) if user_id is None else None,
                personas,
            ),
        )

    def _resize(self, key: str, delta: int, when: float) -> None:
        self._tally(self._tally_now)  # what is pending first: the series stays in time order
        self._add_size(key, delta, when)

    @property
    def size_series(self) -> dict[str, list[tuple[datetime, int]]]:
        """Every audience's :meth:`audience_size_series`, by key."""
        return {key: self.audience_size_series(key) for key in self._series}

    def _personas(self, computation: str, key: str) -> dict[str, Any]:
        return _personas(computation, key, self.space_id)

    @staticmethod
    def _engage_ids(profile: Profile) -> dict[str, str | None]:
        user_id = profile.user_id
        if user_id is not None:
            return {"user_id": user_id, "anonymous_id": None}
        return {"user_id": None, "anonymous_id": profile.first_anonymous_id or profile.id}

    def _synced_in(self, slots: Iterable[int]) -> list[str]:
        """The synced computed trait keys among ``slots``, in definition order (cached per
        set of slots: an event touches the same slots every time)."""
        key = tuple(slots)
        keys = self._synced_of.get(key)
        if keys is None:
            wanted = set(key)
            keys = [k for k in self._sync_keys if self.traits.public[k] in wanted]
            if len(self._synced_of) >= 1_024:
                self._synced_of.clear()
            self._synced_of[key] = keys
        return keys

    def _sync(self, profile: Profile, at: datetime, now: float, keys: list[str]) -> list[Routed]:
        """An identify on the engage source with those synced computed traits (``keys``) whose
        value changed since last sent."""
        if not keys:
            return []
        last = profile.synced
        position = self._sync_position
        changes: dict[str, Any] = {}
        for key in keys:
            value = self.traits.value(profile, self.traits.public[key], now)
            at_position = position[key]
            previous = last[at_position] if at_position < len(last) else _UNSET
            if previous is _UNSET or previous != value:
                changes[key] = value
        if not changes:
            return []
        values = list(last) + [_UNSET] * (len(self._sync_keys) - len(last))
        for key, value in changes.items():
            values[position[key]] = value
        synced = tuple(values)
        shared = self._synced_tuples
        try:
            profile.synced = shared.setdefault(synced, synced)
        except TypeError:  # an unhashable value (a list trait): not shared
            profile.synced = synced
        if len(shared) > 4_096:
            shared.clear()  # bounded whatever the values are; later tuples are shared anew
        self._engage_seq += 1
        self._engaged_last = None  # the next membership change does not follow the last one
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
        members become one), forget ``other``'s pending expiry."""
        self._merged = True
        self._engaged_last = None
        self.traits.merge(target, other)
        self.accounts.merge_users(target, other)
        when = max(target.updated_micros, other.updated_micros) / 1_000_000
        for key in sorted(self.codec.keys_of(other.members & target.members)):
            self._resize(key, -1, when)
        other.next_due = math.inf

    # -- time --------------------------------------------------------------------------------
    def _reschedule(self, profile: Profile, touched: list[int], at: float, now: float) -> None:
        """:meth:`_schedule` after an event at ``at`` folded into ``touched`` slots, skipped
        when the event's own earliest time-driven change is not before the expiry already
        scheduled: the other entries' expiries did not move, so the full scan over every timed
        state (:meth:`TraitEngine.next_due`) would find the same due."""
        scheduled = profile.next_due
        if now < scheduled < math.inf:
            first_change = self.traits.first_change
            soonest = math.inf
            for slot in touched:
                delay = first_change[slot]
                if delay is not None and at + delay < soonest:
                    soonest = at + delay
            if soonest == math.inf:
                return
            if soonest > now:
                step = self.expiry_resolution
                if step > 0:
                    soonest = math.ceil(soonest / step) * step
                if soonest >= scheduled:
                    return
        self._schedule(profile, now)

    def _schedule(self, profile: Profile, now: float, due: float | None = None) -> None:
        """Put ``profile`` on the expiry heap for its next time-driven change (``due`` if the
        caller computed it, else :meth:`TraitEngine.next_due`)."""
        if due is None:
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
            due_ids = self._due_ids
            ids = due_ids.get(due)
            if ids is None:
                due_ids[due] = profile.id
                heapq.heappush(self._due, due)
            elif type(ids) is str:
                due_ids[due] = [ids, profile.id]
            else:
                ids.append(profile.id)  # type: ignore[union-attr]

    def next_due(self) -> datetime | None:
        """When the earliest window expiry or recency change is due, if any."""
        heap = self._due
        get = self.identity.get
        while heap:
            due = heap[0]
            ids = self._due_ids[due]
            for profile_id in (ids,) if type(ids) is str else ids:
                profile = get(profile_id)
                if profile is not None and profile.next_due == due:
                    return datetime.fromtimestamp(due, UTC)
            heapq.heappop(heap)  # all stale: merged away or rescheduled
            del self._due_ids[due]
        return None

    def advance(self, now: datetime) -> list[Routed]:
        """Slide every window that is due by ``now``: drop expired entries, re-evaluate the
        realtime audiences time can change, sync changed computed traits. Cheap when nothing is
        due (one heap peek), so the actor calls it before every message."""
        return expand(self.advance_lazy(now))

    def advance_lazy(self, now: datetime) -> list[Pending]:
        """:meth:`advance` with membership changes left unbuilt (see :meth:`ingest_lazy`)."""
        now = as_utc(now)
        seconds = to_seconds(now)
        self.now = max(self.now, seconds)
        if not self._due or self._due[0] > seconds:
            return []
        routed: list[Pending] = []
        if seconds != self._tally_now:
            self._tally(seconds)
        heap = self._due
        due_ids = self._due_ids
        get = self.identity.get
        pending: list[str] = []
        while heap or pending:
            if not pending:
                if heap[0] > seconds:
                    break
                due = heapq.heappop(heap)
                # Profile id order within a due time, as a heap of (due, id) popped them.
                ids = due_ids.pop(due)
                pending = [ids] if type(ids) is str else sorted(ids, reverse=True)
            profile = get(pending.pop())
            if profile is None or profile.next_due != due:
                continue
            profile.next_due = math.inf
            # Rounding put the due up to one step late: changes may date from that step ago,
            # or from when the profile was last scheduled if an event rescheduled it since.
            since = min(due - self.expiry_resolution, profile.due_since)
            changed, next_due = self.traits.slide(profile, seconds, since)
            if changed:
                if self._sync_keys:
                    routed.extend(self._sync(profile, now, seconds, self._synced_in(changed)))
                key = tuple(changed)
                program = self._expiring.get(key, _UNSET)
                if program is _UNSET:
                    program = self._expiry_program(key)
                if program is not None:
                    program(profile, seconds, now, self._change, routed)
            # Re-evaluating changes memberships only, never a state: the due stands.
            self._schedule(profile, seconds, next_due)
        return routed

    def _expiry_program(self, changed: tuple[int, ...]) -> Program | None:
        """The program re-evaluating the realtime audiences that read any of the ``changed``
        slots (None: none does), cached per set of changed slots."""
        by_slot = self._by_slot
        indexes = tuple(sorted({i for slot in changed for i in by_slot.get(slot, _NONE)}))
        program = self._program_for(indexes) if indexes else None
        if len(self._expiring) >= 1_024:
            self._expiring.clear()
        self._expiring[changed] = program
        return program

    def compute_audience(self, key: str, now: datetime) -> list[Routed]:
        """Evaluate one audience over every profile (batch runs, ad-hoc computations, or a
        backfill of a realtime audience added late); returns the Engage events."""
        return expand(self.compute_audience_lazy(key, now))

    def compute_audience_lazy(self, key: str, now: datetime) -> list[Pending]:
        """:meth:`compute_audience` with membership changes left unbuilt."""
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        now = as_utc(now)
        seconds = to_seconds(now)
        self.now = max(self.now, seconds)
        if seconds != self._tally_now:
            self._tally(seconds)
        routed: list[Pending] = []
        for profile in self.profiles():
            routed.extend(self._evaluate(profile, key, now, seconds))
        return routed

    def scheduled_audiences(self) -> list[Audience]:
        """Batch and ad-hoc audiences, in definition order (the actor runs them)."""
        return [a for a in self.audiences.values() if a.mode != "realtime"]

    # -- routing -----------------------------------------------------------------------------
    def route(self, routed: Iterable[Pending]) -> dict[str, list[Routed]]:
        """Group events by destination, keeping their order; destinations sorted by name
        (:meth:`route_batches`, as (source, event) pairs)."""
        return {
            destination: [(batch.source, event) for batch in batches for event in batch.events]
            for destination, batches in self.route_batches(routed).items()
        }

    def route_batches(self, routed: Iterable[Pending]) -> dict[str, list[EventBatch]]:
        """Each destination's events as batches of consecutive events from one source, in
        order; destinations sorted by name. The batches are built here, while routing, rather
        than by regrouping the routed pairs: an Engage change routed to a destination then
        costs one list append.

        A :class:`Membership` becomes its track and identify, each built once and only if a
        destination takes it (which Engage events a subscription takes depends only on the
        source, the call type and the event name, so it is known per subscription)."""
        runs: dict[str, list[tuple[str, list[SegmentEvent]]]] = {}
        subscriptions = tuple(self.subscriptions)
        if subscriptions != self._routing_for:
            # ``subscriptions`` is a public list (scenarios filter it in place or replace it):
            # the caches below hold only for the subscriptions they were built from.
            self._routing_for = subscriptions
            self._wanted = None
            self._takers.clear()
        wanted = self._wanted
        if wanted is None:
            wanted = self._wanted = self._engage_wanted()
        per_sub, any_entered, any_exited, any_identify = wanted

        def add(destination: str, source: str, event: SegmentEvent) -> None:
            mine = runs.get(destination)
            if mine is None:
                runs[destination] = [(source, [event])]
            elif mine[-1][0] == source:
                mine[-1][1].append(event)
            else:
                mine.append((source, [event]))

        for source, event in routed:
            if type(event) is Membership:
                takes_track = any_entered if event.entered else any_exited
                if not (takes_track or any_identify):
                    continue
                track = event.track() if takes_track else None
                identify = event.identify() if any_identify else None
                for destination, entered, exited, identifies in per_sub:
                    if track is not None and (entered if event.entered else exited):
                        # add(), inline: two or three Engage events per call land here.
                        mine = runs.get(destination)
                        if mine is not None and mine[-1][0] == source:
                            mine[-1][1].append(track)
                        else:
                            add(destination, source, track)
                    if identify is not None and identifies:
                        add(destination, source, identify)
                continue
            kind = type(event)
            name = event.event if isinstance(event, Track) else None
            takers = self._takers.get((source, kind, name))
            if takers is None:
                takers = self._takers_of(source, kind, name)
            for destination in takers:
                add(destination, source, event)  # type: ignore[arg-type]
        return {
            destination: [EventBatch(source, tuple(events)) for source, events in runs[destination]]
            for destination in sorted(runs)
        }

    def _takers_of(self, source: str, kind: type, name: str | None) -> tuple[str, ...]:
        """The destinations (in subscription order) taking calls of this source, type and
        event name: a subscription reads nothing else, so this is cached per kind of call
        instead of testing every subscription on every call."""
        call_type = kind.__struct_config__.tag  # type: ignore[attr-defined]
        takers = tuple(
            sub.destination for sub in self.subscriptions if sub.takes(source, call_type, name)
        )
        if len(self._takers) >= 4_096:
            self._takers.clear()
        self._takers[(source, kind, name)] = takers
        return takers

    def _engage_wanted(self) -> tuple[list[tuple[str, bool, bool, bool]], bool, bool, bool]:
        rows = [
            (
                sub.destination,
                sub.takes(ENGAGE_SOURCE, "track", names.AUDIENCE_ENTERED),
                sub.takes(ENGAGE_SOURCE, "track", names.AUDIENCE_EXITED),
                sub.takes(ENGAGE_SOURCE, "identify", None),
            )
            for sub in self.subscriptions
        ]
        return (
            rows,
            any(r[1] for r in rows),
            any(r[2] for r in rows),
            any(r[3] for r in rows),
        )

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

    def account(self, group_id: str) -> Profile | None:
        """The account profile of ``group_id`` (created by the first group call naming it)."""
        return self.accounts.find("group_id", group_id)

    def find_account(self, id_type: str, value: str) -> Profile | None:
        """The account an identifier names (only ``group_id`` does), or None."""
        return self.accounts.find(id_type, value)

    def accounts_of(self, profile: Profile) -> list[tuple[Profile, Link]]:
        """The accounts a user profile is linked to, oldest link first."""
        return self.accounts.accounts_of(profile)

    def users_of(self, account: Profile) -> list[tuple[Profile, Link]]:
        """The user profiles linked to an account, oldest link first."""
        get = self.identity.get
        out: list[tuple[Profile, Link]] = []
        for profile_id, link in self.accounts.users_of(account):
            profile = get(profile_id)
            if profile is not None:
                out.append((profile, link))
        return out

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
        bit = self._bits[self._order[key]]
        return [p for p in self.profiles() if p.members & bit]

    def audience_size_series(self, key: str) -> list[tuple[datetime, int]]:
        """(bucket start, size at the end of the bucket) for each bucket where it changed."""
        if key not in self.audiences:
            raise KeyError(f"no audience {key!r}")
        self._tally(self._tally_now)
        starts, sizes = self._series[key]
        out: list[tuple[datetime, int]] = []
        for start, size in zip(starts, sizes, strict=True):
            if start != self._bucket[0]:
                self._bucket = (start, datetime.fromtimestamp(start, UTC))
            out.append((self._bucket[1], size))
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "profiles": len(self.identity),
            "ingested": dict(sorted(self.ingested.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "blocked": dict(sorted(self.plans.blocked.items())),
            "violations": {f"{s}:{r}": n for (s, r), n in sorted(self.plans.counts.items())},
            "accounts": len(self.accounts),
            "merges": self.identity.merges,
            "refused_merges": self.identity.refused,
            "demoted_identifiers": self.identity.demoted,
            "audience_sizes": dict(self.sizes),
        }
