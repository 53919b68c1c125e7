"""Computed traits (Engage-like): per-profile aggregates of track events, kept incrementally.

A :class:`ComputedTrait` reads one event name and, optionally, one property of it:

==============  ==========================================  =====================================
kind            value                                       state kept per profile
==============  ==========================================  =====================================
count           number of events                            an int
sum / avg       sum / mean of a numeric property            a number / ``[sum, n]``
min / max       smallest / largest numeric property         a number
first / last    property of the earliest / latest event     ``(time, value)``; no property:
                (by event timestamp; no property: its time)  the time alone
most_frequent   most common property value (ties: first     ``{value: count}``
                seen wins)
unique_list     distinct property values, first seen first  a list (at most ``limit``)
recency         score from the age of the latest event:     the latest event's time
                ``len(thresholds)+1`` when younger than the
                first threshold, down to 1; 0 when never
==============  ==========================================  =====================================

With ``window_days`` (not for recency) the trait only covers events younger than the window
("orders in the last 30 days"): the state is then the window's events, sorted by time, and the
value is recomputed from them. Memory shapes the layout: windowed counts over the same event
share one sorted ``array('d')`` of event times per profile (a workspace counts "Product Added"
over 1, 3, 7 and 30 days; one log kept for the widest window answers them all by bisection),
and other windowed traits keep two parallel sequences (times in an ``array('d')``, values in a
list) rather than a list of ``(time, value)`` tuples. String values kept in states are
interned: a SKU seen by a million profiles is one string. Windows slide in virtual time:
:meth:`TraitEngine.expire` drops what left the window, and :meth:`TraitEngine.next_due` says
when that next happens, so the CDP actor can schedule one wake-up per distinct due time
instead of polling.

Values are never stored as traits: they are derived from the state when read, which keeps a
profile with 20 computed traits small. States merge when profiles merge (:meth:`merge`).
"""

from __future__ import annotations

import bisect
import builtins
import heapq
import math
import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.events import names

DAY = 86_400.0
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Kind = Literal[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "first",
    "last",
    "most_frequent",
    "unique_list",
    "recency",
]
NEEDS_PROPERTY = frozenset({"sum", "avg", "min", "max", "most_frequent", "unique_list"})
NUMERIC = frozenset({"sum", "avg", "min", "max"})


class ComputedTrait(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One computed trait definition; see the module docstring for the kinds.

    ``sync``: send an ``identify`` with the new value on the ``engage`` source whenever it
    changes, as Engage syncs computed traits to destinations.
    """

    key: str
    kind: Kind
    event: str
    property: str | None = None
    window_days: float | None = None
    limit: int = 20
    thresholds_days: tuple[float, ...] = (7.0, 30.0, 90.0, 180.0)
    sync: bool = False

    def __post_init__(self) -> None:
        if not _KEY.match(self.key) and not self.key.startswith("__"):
            raise ValueError(
                f"computed_trait.key must be snake_case (letters, digits, _), got {self.key!r}"
            )
        if not self.event:
            raise ValueError("computed_trait.event must name an event")
        if self.kind in NEEDS_PROPERTY and not self.property:
            raise ValueError(f"computed_trait.property is required for kind {self.kind!r}")
        if self.window_days is not None:
            if not self.window_days > 0:
                raise ValueError(
                    f"computed_trait.window_days must be > 0 or null, got {self.window_days}"
                )
            if self.kind == "recency":
                raise ValueError(
                    "computed_trait.window_days does not apply to kind 'recency' "
                    "(its thresholds_days are its windows)"
                )
        if self.limit < 1:
            raise ValueError(f"computed_trait.limit must be >= 1, got {self.limit}")
        th = self.thresholds_days
        if not th or any(t <= 0 for t in th) or list(th) != sorted(set(th)):
            raise ValueError(
                "computed_trait.thresholds_days must be positive and strictly increasing, "
                f"got {list(th)}"
            )

    @builtins.property  # the field ``property`` shadows the builtin in this class body
    def window(self) -> float | None:
        """The window in seconds."""
        return None if self.window_days is None else self.window_days * DAY


class Rfm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """RFM as a ready definition: three computed traits over one purchase event.

    ``{prefix}_recency``: score ``len(recency_days)+1`` (bought within the first threshold)
    down to 1, 0 if never; ``{prefix}_frequency``: purchases in the window;
    ``{prefix}_monetary``: sum of ``property`` over the window.
    """

    prefix: str = "rfm"
    event: str = names.ORDER_COMPLETED
    property: str = "total_cents"
    window_days: float = 365.0
    recency_days: tuple[float, ...] = (7.0, 30.0, 90.0, 180.0)
    sync: bool = False

    def traits(self) -> list[ComputedTrait]:
        common: dict[str, Any] = {"event": self.event, "sync": self.sync}
        return [
            ComputedTrait(
                key=f"{self.prefix}_recency",
                kind="recency",
                thresholds_days=self.recency_days,
                **common,
            ),
            ComputedTrait(
                key=f"{self.prefix}_frequency",
                kind="count",
                window_days=self.window_days,
                **common,
            ),
            ComputedTrait(
                key=f"{self.prefix}_monetary",
                kind="sum",
                property=self.property,
                window_days=self.window_days,
                **common,
            ),
        ]


def rfm(**options: Any) -> list[ComputedTrait]:
    """``rfm(prefix="rfm", event="Order Completed", property="total_cents", ...)``."""
    return Rfm(**options).traits()


def load_computed_traits(data: bytes | str | Sequence[Any]) -> list[ComputedTrait]:
    """Definitions from JSON (bytes/str) or already-parsed data: a list whose items are
    computed trait objects, or ``{"kind": "rfm", ...}`` for the three RFM traits.

    Errors name the item and the field: ``computed_traits[1]: Expected `str`, got `int` - at
    `$.event```.
    """
    items = msgspec.json.decode(data) if isinstance(data, bytes | str) else data
    if not isinstance(items, list):
        raise ValueError(f"computed_traits must be a list, got {type(items).__name__}")
    out: list[ComputedTrait] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, dict) and item.get("kind") == "rfm":
                body = {k: v for k, v in item.items() if k != "kind"}
                out.extend(msgspec.convert(body, Rfm).traits())
            else:
                out.append(msgspec.convert(item, ComputedTrait))
        except (msgspec.ValidationError, ValueError, TypeError) as error:
            raise ValueError(f"computed_traits[{index}]: {error}") from None
    return out


# -- property access ---------------------------------------------------------------------------

_MISSING = object()


def read_property(properties: dict[str, Any], path: str) -> Any:
    """``a.b`` walks nested objects; anything missing is ``_MISSING``."""
    if "." not in path:
        return properties.get(path, _MISSING)
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


# -- the engine ---------------------------------------------------------------------------------


class TraitEngine:
    """Holds the definitions (public traits and the internal ones audiences need) and applies
    events to profiles' states. Slot ``i`` of ``profile.computed`` is definition ``i``'s state.
    """

    def __init__(self) -> None:
        self.slots: list[ComputedTrait] = []
        self.public: dict[str, int] = {}
        self._internal: dict[ComputedTrait, int] = {}
        self.by_event: dict[str, list[int]] = {}
        self.timed: list[int] = []
        """Slots whose value changes with time alone (windows, recency)."""
        self._windows: list[float | None] = []
        """Each slot's window in seconds (``ComputedTrait.window`` is a computed property)."""
        self._owner: list[int] = []
        """Windowed count slots: the slot whose state holds the shared log of event times
        (the first windowed count defined over the same event); other slots: themselves."""
        self._logs: dict[tuple[str, str | None], int] = {}
        """(event, property) → the owner slot of its windowed counts' shared log (a count
        with a property counts only the events that have it, so it shares with its kind)."""
        self._group: dict[int, list[tuple[int, float]]] = {}
        """Owner slot → (slot, window) of every windowed count reading its log."""
        self._reach: dict[int, float] = {}
        """Owner slot → the widest window of its group (how long the log keeps a time)."""
        self.first_change: list[float | None] = []
        """Per slot: how long after an event it folds in the slot's value first changes by
        time alone (its window; a recency score's first threshold), None if never. The model
        uses it to see in O(1) that an event brings no earlier expiry than one scheduled."""
        self._memo: dict[int, Any] = {}
        self._memo_profile: Profile | None = None
        self._memo_now = math.nan

    def add(self, trait: ComputedTrait) -> int:
        if trait.key in self.public:
            raise ValueError(f"computed trait {trait.key!r} is already defined")
        slot = self._append(trait)
        self.public[trait.key] = slot
        return slot

    def internal(self, **definition: Any) -> int:
        """A hidden slot (shared by identical definitions), e.g. an audience's windowed count."""
        trait = ComputedTrait(key="__internal", **definition)
        slot = self._internal.get(trait)
        if slot is None:
            slot = self._internal[trait] = self._append(trait)
        return slot

    def _append(self, trait: ComputedTrait) -> int:
        slot = len(self.slots)
        self.slots.append(trait)
        window = trait.window
        self._windows.append(window)
        self.by_event.setdefault(trait.event, []).append(slot)
        owner = slot
        if window is not None and trait.kind == "count":
            owner = self._logs.setdefault((trait.event, trait.property), slot)
            self._group.setdefault(owner, []).append((slot, window))
            self._reach[owner] = max(self._reach.get(owner, 0.0), window)
        self._owner.append(owner)
        if trait.kind == "recency":
            self.first_change.append(trait.thresholds_days[0] * DAY)
        else:
            self.first_change.append(window)
        if owner == slot and (window is not None or trait.kind == "recency"):
            self.timed.append(slot)
        return slot

    # -- reading ----------------------------------------------------------------------------
    @staticmethod
    def state(profile: Profile, slot: int) -> Any:
        states = profile.computed
        return states[slot] if states is not None and slot < len(states) else None

    def value(self, profile: Profile, slot: int, now: float) -> Any:
        states = profile.computed
        state = states[slot] if states is not None and slot < len(states) else None
        window = self._windows[slot]
        trait = self.slots[slot]
        if window is not None:
            if trait.kind == "count":
                owner = self._owner[slot]
                if owner != slot:
                    state = states[owner] if states is not None and owner < len(states) else None
                return len(state) - bisect.bisect_right(state, now - window) if state else 0
            return self._window_value(trait, state, now)
        kind = trait.kind
        if state is None:
            return [] if kind == "unique_list" else _EMPTY.get(kind)
        if kind in ("count", "sum", "min", "max"):
            return state
        if kind == "avg":
            return state[0] / state[1]
        if kind in ("first", "last"):
            return _iso(state) if trait.property is None else state[1]
        if kind == "most_frequent":
            return _most_frequent(state.items())
        if kind == "unique_list":
            return list(state)
        return _recency_score(trait.thresholds_days, now - state)

    def windowed_count(self, slot: int) -> tuple[int, float] | None:
        """(owner slot of its shared log, window in seconds) of a windowed count slot, else
        None: its value is ``len(log) - bisect_right(log, now - window)``."""
        window = self._windows[slot]
        if window is None or self.slots[slot].kind != "count":
            return None
        return self._owner[slot], window

    def cached(self, profile: Profile, slot: int, now: float) -> Any:
        """:meth:`value`, remembered until this profile's states change or time moves.

        Audiences re-evaluated for one event read the same few traits many times (a ladder
        of thresholds over ``views_7d``...); each is computed once per profile and instant.
        Every method that changes a state (:meth:`apply`, :meth:`expire`, :meth:`merge`)
        forgets the memo. Callers must not mutate the value (lists are shared).
        """
        if profile is not self._memo_profile or now != self._memo_now:
            self._memo = {}
            self._memo_profile = profile
            self._memo_now = now
        memo = self._memo
        value = memo.get(slot, _MISSING)
        if value is _MISSING:
            value = memo[slot] = self.value(profile, slot, now)
        return value

    def forget(self) -> None:
        """Drop the memo of :meth:`cached` (a state changed)."""
        self._memo_profile = None

    def values(self, profile: Profile, now: float) -> dict[str, Any]:
        """Every public computed trait's value, by key."""
        return {key: self.value(profile, slot, now) for key, slot in self.public.items()}

    def last_time(self, profile: Profile, slot: int) -> float | None:
        """The latest event time a ``last``/``recency`` slot has seen (for "since" conditions)."""
        state = self.state(profile, slot)
        if state is None:
            return None
        trait = self.slots[slot]
        return state if trait.kind == "recency" or trait.property is None else state[0]

    def _window_value(
        self, trait: ComputedTrait, state: tuple[array[float], list[Any]] | None, now: float
    ) -> Any:
        assert trait.window is not None
        kind = trait.kind
        if state is None:
            return [] if kind == "unique_list" else _EMPTY.get(kind)
        times, kept = state
        cut = bisect.bisect_right(times, now - trait.window)
        values = kept[cut:]
        if kind == "sum":
            return sum(values)
        if not values:
            return [] if kind == "unique_list" else _EMPTY.get(kind)
        if kind == "avg":
            return sum(values) / len(values)
        if kind == "min":
            return min(values)
        if kind == "max":
            return max(values)
        if kind == "first":
            return _iso(times[cut]) if trait.property is None else values[0]
        if kind == "last":
            return _iso(times[-1]) if trait.property is None else values[-1]
        counts: dict[Any, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        if kind == "most_frequent":
            return _most_frequent(counts.items())
        return list(counts)[: trait.limit]

    # -- writing ----------------------------------------------------------------------------
    def apply(
        self, profile: Profile, event: str, properties: dict[str, Any], at: float, now: float
    ) -> list[int]:
        """Fold one track event into every slot that reads it; returns the slots touched."""
        slots = self.by_event.get(event)
        if not slots:
            return []
        self._memo_profile = None
        states = profile.computed
        if states is None:
            states = profile.computed = [None] * len(self.slots)
        elif len(states) < len(self.slots):
            states.extend([None] * (len(self.slots) - len(states)))
        touched = []
        windows = self._windows
        for slot in slots:
            trait = self.slots[slot]
            if trait.property is None:
                value: Any = None
            else:
                value = read_property(properties, trait.property)
                if value is _MISSING or value is None:
                    continue
                if trait.kind in NUMERIC and not _is_number(value):
                    continue
                if trait.kind in ("most_frequent", "unique_list") and not _hashable(value):
                    continue
                if type(value) is str:
                    value = sys.intern(value)
            window = windows[slot]
            if window is not None:
                if trait.kind == "count":
                    owner = self._owner[slot]
                    if owner == slot and at + self._reach[slot] > now:
                        log = states[slot]
                        if log is None:
                            log = states[slot] = array("d")
                        bisect.insort(log, at)  # shared by the group: inserted once, here
                    if at + window <= now:
                        continue  # already outside this window: late or replayed
                    touched.append(slot)
                    continue
                if at + window <= now:
                    continue  # already outside the window: late or replayed
                pair = states[slot]
                if pair is None:
                    pair = states[slot] = (array("d"), [])
                times, kept = pair
                index = bisect.bisect_right(times, at)
                times.insert(index, at)
                kept.insert(index, value)
            else:
                states[slot] = _fold(trait, states[slot], value, at)
            touched.append(slot)
        return touched

    def expire(self, profile: Profile, now: float, since: float = -math.inf) -> list[int]:
        """Drop window entries that have slid out (values read later would ignore them anyway;
        this bounds the memory). Returns the slots whose value time changed: windows that lost
        entries, and recency scores with a threshold crossed in ``[since, now]`` (the caller
        knows nothing changed before ``since``), so only the audiences reading them need a
        look."""
        return self.slide(profile, now, since)[0]

    def slide(
        self, profile: Profile, now: float, since: float = -math.inf
    ) -> tuple[list[int], float]:
        """:meth:`expire` and :meth:`next_due` in one pass over the timed states (the model
        does both for every profile whose expiry is due; the bisections are shared)."""
        states = profile.computed
        due = math.inf
        if states is None:
            return [], due
        self._memo_profile = None
        changed: list[int] = []
        bisect_right = bisect.bisect_right
        for slot in self.timed:
            if slot >= len(states):
                continue
            entries = states[slot]
            if entries is None:
                continue
            trait = self.slots[slot]
            if trait.kind == "recency":
                crossed = False
                for threshold in trait.thresholds_days:
                    at = entries + threshold * DAY
                    if not crossed and since <= at <= now:
                        changed.append(slot)
                        crossed = True
                    if at > now:
                        due = min(due, at)
                        break
                continue
            if trait.kind == "count":
                size = len(entries)
                if not size:
                    continue
                # A window's count changed in (since, now] iff some time t left it then:
                # since - window < t <= now - window.
                for member, window in self._group[slot]:
                    gone = bisect_right(entries, now - window)
                    if gone > bisect_right(entries, since - window):
                        changed.append(member)
                    if gone < size:
                        due = min(due, entries[gone] + window)
                cut = bisect_right(entries, now - self._reach[slot])
                if cut:
                    del entries[:cut]
                continue
            window = self._windows[slot]
            assert window is not None
            times, kept = entries
            cut = bisect_right(times, now - window)
            if cut:
                del times[:cut]
                del kept[:cut]
                changed.append(slot)
                if not times:
                    states[slot] = None
                    continue
            due = min(due, times[0] + window)
        changed.sort()
        return changed, due

    def next_due(self, profile: Profile, now: float) -> float:
        """When the next timed value of this profile changes (inf: never, by time alone)."""
        states = profile.computed
        due = float("inf")
        if states is None:
            return due
        bisect_right = bisect.bisect_right
        for slot in self.timed:
            if slot >= len(states):
                continue
            state = states[slot]
            if state is None:
                continue
            trait = self.slots[slot]
            if trait.kind == "recency":
                for threshold in trait.thresholds_days:
                    at = state + threshold * DAY
                    if at > now:
                        due = min(due, at)
                        break
                continue
            if trait.kind == "count":
                size = len(state)
                for _, window in self._group[slot]:
                    index = bisect_right(state, now - window)
                    if index < size:
                        at = state[index] + window
                        if at < due:
                            due = at
                continue
            window = self._windows[slot]
            assert window is not None
            if state[0]:
                due = min(due, state[0][0] + window)
        return due

    def merge(self, target: Profile, other: Profile) -> None:
        """Fold ``other``'s states into ``target``'s (profiles merged by identity)."""
        if other.computed is None:
            return
        self._memo_profile = None
        if target.computed is None:
            target.computed = [None] * len(self.slots)
        states = target.computed
        if len(states) < len(self.slots):
            states.extend([None] * (len(self.slots) - len(states)))
        for slot, theirs in enumerate(other.computed):
            if theirs is None:
                continue
            mine = states[slot]
            if mine is None:
                states[slot] = theirs
                continue
            states[slot] = _merge_state(self.slots[slot], mine, theirs)


_EMPTY: dict[str, Any] = {"count": 0, "sum": 0, "recency": 0}
"""Values of a trait that has seen nothing (unique_list gets a fresh [], the rest None)."""


def _time(entry: tuple[float, Any]) -> float:
    return entry[0]


def _most_frequent(items: Iterable[tuple[Any, int]]) -> Any:
    best, best_count = None, 0
    for value, count in items:
        if count > best_count:
            best, best_count = value, count
    return best


def _recency_score(thresholds: tuple[float, ...], age: float) -> int:
    for index, threshold in enumerate(thresholds):
        if age < threshold * DAY:
            return len(thresholds) + 1 - index
    return 1


def _fold(trait: ComputedTrait, state: Any, value: Any, at: float) -> Any:
    kind = trait.kind
    if kind == "count":
        return (state or 0) + 1
    if kind == "sum":
        return (state or 0) + value
    if kind == "avg":
        return [value, 1] if state is None else [state[0] + value, state[1] + 1]
    if kind == "min":
        return value if state is None or value < state else state
    if kind == "max":
        return value if state is None or value > state else state
    # first/last of the event itself keep its time alone (a float, not a (time, None) pair).
    if kind == "first":
        if trait.property is None:
            return at if state is None or at < state else state
        return (at, value) if state is None or at < state[0] else state
    if kind == "last":
        if trait.property is None:
            return at if state is None or at >= state else state
        return (at, value) if state is None or at >= state[0] else state
    if kind == "most_frequent":
        counts = state if state is not None else {}
        counts[value] = counts.get(value, 0) + 1
        return counts
    if kind == "unique_list":
        seen = state if state is not None else []
        if value not in seen and len(seen) < trait.limit:
            seen.append(value)
        return seen
    return at if state is None or at > state else state  # recency: latest time


def _merge_state(trait: ComputedTrait, mine: Any, theirs: Any) -> Any:
    if trait.window is not None:
        if trait.kind == "count":
            return array("d", heapq.merge(mine, theirs))
        pairs = list(heapq.merge(zip(*mine, strict=True), zip(*theirs, strict=True), key=_time))
        return (array("d", [t for t, _ in pairs]), [v for _, v in pairs])
    kind = trait.kind
    if kind in ("count", "sum"):
        return mine + theirs
    if kind == "avg":
        return [mine[0] + theirs[0], mine[1] + theirs[1]]
    if kind == "min":
        return min(mine, theirs)
    if kind == "max":
        return max(mine, theirs)
    if kind == "first":
        if trait.property is None:
            return min(mine, theirs)
        return theirs if theirs[0] < mine[0] else mine
    if kind == "last":
        if trait.property is None:
            return max(mine, theirs)
        return theirs if theirs[0] > mine[0] else mine
    if kind == "most_frequent":
        merged = dict(mine)
        for value, count in theirs.items():
            merged[value] = merged.get(value, 0) + count
        return merged
    if kind == "unique_list":
        merged_list = list(mine)
        for value in theirs:
            if value not in merged_list and len(merged_list) < trait.limit:
                merged_list.append(value)
        return merged_list
    return max(mine, theirs)  # recency
