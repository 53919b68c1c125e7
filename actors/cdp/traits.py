"""Computed traits (Engage-like): per-profile aggregates of track events, kept incrementally.

A :class:`ComputedTrait` reads one event name and, optionally, one property of it:

==============  ==========================================  =====================================
kind            value                                       state kept per profile
==============  ==========================================  =====================================
count           number of events                            an int
sum / avg       sum / mean of a numeric property            a number / ``[sum, n]``
min / max       smallest / largest numeric property         a number
first / last    property of the earliest / latest event     ``(time, value)``
                (by event timestamp; no property: its time)
most_frequent   most common property value (ties: first     ``{value: count}``
                seen wins)
unique_list     distinct property values, first seen first  a list (at most ``limit``)
recency         score from the age of the latest event:     the latest event's time
                ``len(thresholds)+1`` when younger than the
                first threshold, down to 1; 0 when never
==============  ==========================================  =====================================

With ``window_days`` (not for recency) the trait only covers events younger than the window
("orders in the last 30 days"): the state is then the window's events, sorted by time, and the
value is recomputed from them. Windows slide in virtual time: :meth:`TraitEngine.expire` drops
what left the window, and :meth:`TraitEngine.next_due` says when that next happens, so the CDP
actor can schedule one wake-up per distinct due time instead of polling.

Values are never stored as traits: they are derived from the state when read, which keeps a
profile with 20 computed traits small. States merge when profiles merge (:meth:`merge`).
"""

from __future__ import annotations

import bisect
import builtins
import heapq
import math
import re
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
        self._windows.append(trait.window)
        self.by_event.setdefault(trait.event, []).append(slot)
        if trait.window is not None or trait.kind == "recency":
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
                return len(state) - bisect.bisect_right(state, now - window) if state else 0
            return self._window_value(trait, state or [], now)
        kind = trait.kind
        if state is None:
            return [] if kind == "unique_list" else _EMPTY.get(kind)
        if kind in ("count", "sum", "min", "max"):
            return state
        if kind == "avg":
            return state[0] / state[1]
        if kind in ("first", "last"):
            return _iso(state[0]) if trait.property is None else state[1]
        if kind == "most_frequent":
            return _most_frequent(state.items())
        if kind == "unique_list":
            return list(state)
        return _recency_score(trait.thresholds_days, now - state)

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
        return state if self.slots[slot].kind == "recency" else state[0]

    def _window_value(self, trait: ComputedTrait, entries: list[Any], now: float) -> Any:
        assert trait.window is not None
        horizon = now - trait.window
        kind = trait.kind
        if kind == "count":
            return len(entries) - bisect.bisect_right(entries, horizon)
        live = entries[bisect.bisect_right(entries, horizon, key=_time) :]
        values = [v for _, v in live]
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
            return _iso(live[0][0]) if trait.property is None else values[0]
        if kind == "last":
            return _iso(live[-1][0]) if trait.property is None else values[-1]
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
            window = windows[slot]
            if window is not None:
                if at + window <= now:
                    continue  # already outside the window: late or replayed
                entries = states[slot]
                if entries is None:
                    # Windowed counts keep bare times: 8 bytes each in an array of doubles.
                    entries = states[slot] = array("d") if trait.kind == "count" else []
                if trait.kind == "count":
                    bisect.insort(entries, at)
                else:
                    bisect.insort(entries, (at, value), key=_time)
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
        states = profile.computed
        if states is None:
            return []
        self._memo_profile = None
        changed: list[int] = []
        for slot in self.timed:
            if slot >= len(states) or not states[slot]:
                continue
            trait = self.slots[slot]
            entries = states[slot]
            if trait.kind == "recency":
                for threshold in trait.thresholds_days:
                    if since <= entries + threshold * DAY <= now:
                        changed.append(slot)
                        break
                continue
            window = self._windows[slot]
            assert window is not None
            horizon = now - window
            if trait.kind == "count":
                cut = bisect.bisect_right(entries, horizon)
            else:
                cut = bisect.bisect_right(entries, horizon, key=_time)
            if cut:
                del entries[:cut]
                changed.append(slot)
        return changed

    def next_due(self, profile: Profile, now: float) -> float:
        """When the next timed value of this profile changes (inf: never, by time alone)."""
        states = profile.computed
        due = float("inf")
        if states is None:
            return due
        for slot in self.timed:
            if slot >= len(states) or not states[slot]:
                continue
            trait = self.slots[slot]
            state = states[slot]
            if trait.kind == "recency":
                for threshold in trait.thresholds_days:
                    at = state + threshold * DAY
                    if at > now:
                        due = min(due, at)
                        break
                continue
            window = self._windows[slot]
            assert window is not None
            first = state[0] if trait.kind == "count" else state[0][0]
            due = min(due, first + window)
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
    if kind == "first":
        return (at, value) if state is None or at < state[0] else state
    if kind == "last":
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
        return list(heapq.merge(mine, theirs, key=_time))
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
        return theirs if theirs[0] < mine[0] else mine
    if kind == "last":
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
