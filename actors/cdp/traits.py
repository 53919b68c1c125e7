"""Computed traits (Engage-like): per-profile aggregates of track events, kept incrementally.

A :class:`ComputedTrait` reads one event name and, optionally, one property of it:

==============  ==========================================  =====================================
kind            value                                       state kept per profile
==============  ==========================================  =====================================
count           number of events                            an int
sum / avg       sum / mean of a numeric property            a number / ``(sum, n)``
min / max       smallest / largest numeric property         a number
first / last    property of the earliest / latest event     ``(time, value)``; no property:
                (by event timestamp; no property: its time)  the time alone
most_frequent   most common property value (ties: first     ``[k0, …, c0, …, best]`` (values'
                seen wins)                                  codes, counts, index of the most
                                                            frequent) in an ``array('B')`` or
                                                            ``array('H')``; a list of the values
                                                            when one has no code or a count
                                                            passes 65,535; a dict past 32 values
unique_list     distinct property values, first seen first  a tuple (at most ``limit``)
recency         score from the age of the latest event:     the latest event's time
                ``len(thresholds)+1`` when younger than the
                first threshold, down to 1; 0 when never
==============  ==========================================  =====================================

With ``window_days`` (not for recency) the trait only covers events younger than the window
("orders in the last 30 days"): the state is then the window's events, sorted by time, and the
value is recomputed from them.

Memory shapes the layout (a CDP keeps millions of profiles, each with a few dozen states):

* ``profile.computed`` has one entry per *place*, not per slot: slots whose states would be
  identical share one. Windowed counts over the same event (and property) share one sorted
  ``array('d')`` of event times (a workspace counts "Product Added" over 1, 3, 7 and 30 days;
  one log kept for the widest window answers them all by bisection); a ``last`` without
  property and a ``recency`` over the same event keep the same latest time. The list is only
  as long as the highest place the profile's events reached.
* Other windowed traits keep one ``array('d')`` of the times then the values when every value
  is a float, or every value an int within ±2**53 (kept as doubles in an ``_Ints`` array and
  read back as ints), else ``(array('d') times, list values)``: values read back with their
  exact Python types either way. A window left empty becomes None.
* String values kept in states are interned: a SKU seen by a million profiles is one string.
* ``most_frequent`` states keep 1- or 2-byte codes from one table of values per engine
  (:class:`_ValueCodes`), not 8-byte pointers: 17 distinct values in 25 views take ~120 B a
  profile in an ``array('B')`` (codes and counts below 256), ~160 B in an ``array('H')``,
  where the list of the values took ~400 B, the largest computed trait state. Values of
  every type read back as they came.

Windows slide in virtual time: :meth:`TraitEngine.expire` drops what left the window, and
:meth:`TraitEngine.next_due` says when that next happens, so the CDP actor can schedule one
wake-up per distinct due time instead of polling.

Speed shapes the code: :meth:`TraitEngine.apply` runs once per track call, so each event name
gets one generated straight-line function folding it into every state that reads it, and
sliding windows runs generated code too (see :class:`_Source`); ``*_reference`` methods keep
the same semantics interpreted slot by slot, for tests to check the generated code against.

Values are never stored as traits: they are derived from the state when read, which keeps a
profile with 20 computed traits small. States merge when profiles merge (:meth:`merge`).
"""

from __future__ import annotations

import bisect
import builtins
import functools
import heapq
import math
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.definitions import DEFINITION_ERRORS, definition_items
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
    out: list[ComputedTrait] = []
    for index, item in enumerate(definition_items(data, "computed_traits")):
        try:
            if isinstance(item, dict) and item.get("kind") == "rfm":
                body = {k: v for k, v in item.items() if k != "kind"}
                out.extend(msgspec.convert(body, Rfm).traits())
            else:
                out.append(msgspec.convert(item, ComputedTrait))
        except DEFINITION_ERRORS as error:
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


# -- state forms --------------------------------------------------------------------------------

Reader = Callable[[list[Any] | None, float], Any]
"""``reader(states, now)``: one slot's value from a profile's states (None: no states yet)."""
Fold = Callable[[Profile, dict[str, Any], float, float], list[int]]
"""``fold(profile, properties, at, now)``: one event name's generated fold (see ``apply``)."""
Slider = Callable[[list[Any], float, float], tuple[list[int], float]]
"""``slider(states, now, since)``: the generated :meth:`TraitEngine.slide` body."""
Due = Callable[[list[Any], float], float]
"""``due(states, now)``: the generated :meth:`TraitEngine.next_due` body."""

_EXACT = 2**53
"""Ints a double holds exactly: a window of such ints keeps them as doubles (read as ints)."""
_MOST_FREQUENT_LIST = 32
"""Distinct values a ``most_frequent`` state keeps as a flat array or list (then a dict): they
find a value by scanning, fine for the handful of categories a profile sees, not for
thousands."""
_MOST_FREQUENT_CODES = 65_535
"""Values an engine's table of ``most_frequent`` values codes at most (:class:`_ValueCodes`;
codes fit an ``array('H')``): a few MB at worst, whatever a property's cardinality."""
_NUMBERS = (int, float)
_HASHABLE = (str, int, float, bool)


def _form(trait: ComputedTrait) -> str:
    """The shape of the state a trait keeps; slots of one form over the same inputs share it.

    ``log``: windowed counts' sorted event times; ``times``: a window's times alone (first/last
    without property); ``window``: times and values; ``latest``/``earliest``: one event time
    (recency and last / first without property); otherwise the kind's own state.
    """
    kind = trait.kind
    if trait.window is not None:
        if kind == "count":
            return "log"
        if kind in ("first", "last") and trait.property is None:
            return "times"
        return "window"
    if kind == "recency" or (kind == "last" and trait.property is None):
        return "latest"
    if kind == "first" and trait.property is None:
        return "earliest"
    return kind


def _guard(trait: ComputedTrait) -> str:
    """Which property values an event must carry for the trait to fold it."""
    if trait.property is None:
        return "none"
    if trait.kind in NUMERIC:
        return "number"
    if trait.kind in ("most_frequent", "unique_list"):
        return "hashable"
    return "present"


def _share_key(trait: ComputedTrait) -> tuple[Any, ...]:
    """Slots with equal keys keep identical states (one physical state serves them all)."""
    form = _form(trait)
    limit = trait.limit if form == "unique_list" else None
    window = None if form == "log" else trait.window
    return (form, trait.event, trait.property, window, _guard(trait), limit)


class _Ints(array):  # type: ignore[type-arg]
    """A ``window`` state whose values are ints, kept as doubles (all within ±2**53, so read
    back exactly): its type is the only mark that they read back as ints."""

    __slots__ = ()


def _window_state(times: Sequence[float], values: list[Any]) -> Any:
    """A window's times and values in the smallest exact form.

    One ``array('d')`` holding the times then the values when every value is a float; the
    same as :class:`_Ints` when every value is an int within ±2**53 (a value costs 8 B, not 8 B
    of list plus a 32 B int, and one object replaces a tuple, two sequences and their
    buffers); else ``(array('d') times, list values)`` (strings, bools, mixed types).
    """
    if values and all(type(v) is float for v in values):
        return array("d", [*times, *values])
    if values and all(type(v) is int and -_EXACT <= v <= _EXACT for v in values):
        return _Ints("d", [*times, *values])
    return (array("d", times), list(values))


def _window_split(state: Any) -> tuple[Sequence[float], list[Any]]:
    """A window state's times and values (as the Python objects they were)."""
    if type(state) is tuple:
        return state[0], state[1]
    half = len(state) >> 1
    values = state[half:]
    return state[:half], list(map(int, values)) if type(state) is _Ints else list(values)


def _window_add(states: list[Any], place: int, at: float, value: Any) -> None:
    """Insert ``(at, value)`` into a ``window`` state, in time order (after equal times); a
    value the compact form cannot give back as it was turns the state into the tuple form."""
    state = states[place]
    if state is None:
        states[place] = _window_state((at,), [value])
        return
    if type(state) is tuple:
        times, kept = state
        index = len(times) if not times or at >= times[-1] else bisect.bisect_right(times, at)
        times.insert(index, at)
        kept.insert(index, value)
        return
    half = len(state) >> 1
    index = half if at >= state[half - 1] else bisect.bisect_right(state, at, 0, half)
    if type(state) is _Ints:
        fits = type(value) is int and -_EXACT <= value <= _EXACT
    else:
        fits = type(value) is float
    if not fits:
        times, kept = _window_split(state)
        times = array("d", times)
        times.insert(index, at)
        kept.insert(index, value)
        states[place] = (times, kept)
        return
    state.insert(half + index, float(value))  # the value first: its index counts old times
    state.insert(index, at)


def _times_add(states: list[Any], place: int, at: float) -> None:
    """Insert ``at`` into a sorted ``array('d')`` of times (a ``log`` or ``times`` state)."""
    log = states[place]
    if log is None:
        states[place] = array("d", (at,))
    elif log and at < log[-1]:
        bisect.insort(log, at)
    else:
        log.append(at)


class _ValueCodes:
    """The engine-wide table of the values ``most_frequent`` states keep: value → small int
    code, and code → value. Every profile of a model shares it (and a merge's two profiles
    belong to one model), so a profile's state holds 1- or 2-byte codes, not 8-byte pointers.

    A value is keyed with its type (strings, the common case, by themselves): ``1``, ``1.0``
    and ``True`` hash equal but get a code each, so a code reads back the value with the type
    it came with. Float zeros are keyed by their sign too (``0.0 == -0.0``); a NaN (equal to
    nothing, itself included) and values of other types (subclasses) get no code. At most
    ``cap`` codes, so that a property of unbounded cardinality cannot grow the table without
    bound: past it, new values go to states in the plain forms. Codes are never reused.
    """

    __slots__ = ("cap", "codes", "values")

    def __init__(self, cap: int) -> None:
        if not 0 <= cap <= _MOST_FREQUENT_CODES:
            raise ValueError(f"most_frequent codes cap must be in [0, 65535], got {cap}")
        self.cap = cap
        self.codes: dict[Any, int] = {}
        """Key (:func:`_most_frequent_key`) → code."""
        self.values: list[Any] = []
        """Code → the value (strings interned)."""

    def find(self, value: Any) -> int | None:
        """``value``'s code, None if it has none (yet)."""
        key = _most_frequent_key(value)
        return None if key is None else self.codes.get(key)

    def code(self, value: Any) -> int | None:
        """``value``'s code, given one if it has none and the table has room; else None."""
        key = _most_frequent_key(value)
        if key is None:
            return None
        code = self.codes.get(key)
        if code is None and len(self.values) < self.cap:
            code = self.codes[key] = len(self.values)
            self.values.append(value)
        return code


def _most_frequent_key(value: Any) -> Any:
    """The key of ``value`` in :class:`_ValueCodes` (None: never coded). The generated fold
    looks strings up by themselves and ints, floats and bools as ``(type, value)``: a float
    zero's 3-tuple key or a NaN never matches there, so those always take the slow path."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is bool:
        return (kind, value)
    if kind is float and value == value:
        return (kind, value) if value else (kind, value, math.copysign(1.0, value))
    return None


def _most_frequent_compact(keys: Sequence[int], tally: Sequence[int], best: int) -> Any:
    """``array('B')`` (every code and count below 256) or ``array('H')`` (below 65,536) of
    ``[*keys, *tally, best]``; None when a count is past 65,535 (the state stays a list)."""
    top = max(max(keys), max(tally))
    if top < 256:
        return array("B", [*keys, *tally, best])
    if top < 65_536:
        return array("H", [*keys, *tally, best])
    return None


def _most_frequent_add(codes: _ValueCodes, state: Any, value: Any) -> Any:
    """Count one more ``value`` (interned if a string); returns the state (maybe a new one).

    Every form is ``[k0, …, kn-1, c0, …, cn-1, best]``: the values in first seen order, their
    counts, and the index of the most frequent (the first seen among equals); reading it is an
    index, not a scan (audiences and synced traits read it after every event). The usual form
    is an ``array('B')`` or ``array('H')`` with the values' codes (:class:`_ValueCodes`):
    for 17 values, ~120 B (every code and count below 256) or ~160 B a profile where a list
    of the values took ~400 B (8 B a pointer, plus the list object). It falls back to the
    plain list of values (as its counts are Python ints) for a value without a code (table
    full, NaN, a subclass) or a count past 65,535, and to a ``{value: count}`` dict past
    ``_MOST_FREQUENT_LIST`` values. Equal values of different types (``1``, ``1.0``,
    ``True``) count as one, kept as the first seen, in every form. Arrays and lists are kept
    exactly sized (a new one on growth); the generated fold counts in place in an array and
    calls this for the rest (a first or new value, a count past the array's type, a list).
    """
    value = _intern_str(value)
    if state is None:
        code = codes.code(value)
        return [value, 1, 0] if code is None else array("B" if code < 256 else "H", (code, 1, 0))
    kind = type(state)
    if kind is dict:
        state[value] = state.get(value, 0) + 1
        return state
    half = len(state) >> 1
    if kind is list:
        try:
            index = state.index(value, 0, half)
        except ValueError:
            return _most_frequent_grow(state, half, value)
        _most_frequent_count(state, index, half)
        return state
    values = codes.values
    keys, tally, best = list(state[:half]), list(state[half:-1]), state[-1]
    code = codes.find(value)
    index = keys.index(code) if code is not None and code in keys else -1
    if index < 0 and type(value) is not str:
        # An equal value of another type (1 after 1.0 or True): counted as the one first seen.
        # (A string equals no int, float or bool: the only types with codes.)
        index = next((i for i, key in enumerate(keys) if values[key] == value), -1)
    if index < 0:
        if half >= _MOST_FREQUENT_LIST:
            counts = dict(zip(map(values.__getitem__, keys), tally, strict=True))
            counts[value] = 1
            return counts
        code = codes.code(value)
        if code is None:
            return [*map(values.__getitem__, keys), value, *tally, 1, best]
        keys.append(code)
        tally.append(1)
    else:
        count = tally[index] = tally[index] + 1
        if count > tally[best] or (count == tally[best] and index < best):
            best = index
    packed = _most_frequent_compact(keys, tally, best)
    return [*map(values.__getitem__, keys), *tally, best] if packed is None else packed


def _most_frequent_new(codes: _ValueCodes, state: Any, half: int, value: Any, code: int) -> Any:
    """Array ``state``, which lacks ``code`` (``value``'s), with ``value`` seen once more: the
    generated fold's path for a value new to the profile, a new array of the same type with
    the code and a count of 1 appended (the best stays: it was seen earlier). The rest (an
    equal value of another type already kept, a code past the array's type, 32 values) is
    :func:`_most_frequent_add`'s."""
    if half >= _MOST_FREQUENT_LIST or (code > 255 and state.typecode == "B"):
        return _most_frequent_add(codes, state, value)
    if type(value) is not str:
        values = codes.values
        for key in state[:half]:
            if values[key] == value:
                return _most_frequent_add(codes, state, value)
    grown = state + state[:2]  # one exactly sized copy, two slots longer
    grown[half + 1 : -2] = state[half:-1]
    grown[half] = code
    grown[-2] = 1
    grown[-1] = state[-1]
    return grown


def _most_frequent_count(state: list[Any], index: int, half: int) -> None:
    """One more of the value at ``index`` of a list state, in place."""
    count = state[index + half] + 1
    state[index + half] = count
    best = state[-1]
    if count > state[best + half] or (count == state[best + half] and index < best):
        state[-1] = index


def _intern_str(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def _most_frequent_grow(state: list[Any], half: int, value: Any) -> list[Any] | dict[Any, int]:
    """List ``state`` with a new ``value`` seen once (the best stays: it was seen earlier)."""
    if half >= _MOST_FREQUENT_LIST:
        counts = dict(zip(state[:half], state[half:-1], strict=True))
        counts[value] = 1
        return counts
    return [*state[:half], value, *state[half:-1], 1, state[-1]]


def _most_frequent_pack(codes: _ValueCodes, counts: dict[Any, int]) -> Any:
    """The state of ``{value: count}`` (first seen first): compact when every value has (or
    gets) a code and every count fits, else a list; a dict past ``_MOST_FREQUENT_LIST``."""
    if len(counts) > _MOST_FREQUENT_LIST:
        return counts
    tally = list(counts.values())
    best = tally.index(max(tally))
    if all(_most_frequent_key(value) is not None for value in counts):
        keys = [codes.code(value) for value in counts]
        if None not in keys:
            packed = _most_frequent_compact(keys, tally, best)  # type: ignore[arg-type]
            if packed is not None:
                return packed
    return [*counts, *tally, best]


def _most_frequent_counts(codes: _ValueCodes, state: Any) -> dict[Any, int]:
    """``{value: count}`` of any form, first seen first."""
    if type(state) is dict:
        return dict(state)
    half = len(state) >> 1
    keys: Iterable[Any] = state[:half]
    if type(state) is not list:
        keys = map(codes.values.__getitem__, keys)
    return dict(zip(keys, state[half:-1], strict=True))


def _most_frequent_value(codes: _ValueCodes, state: Any) -> Any:
    """The most common value, the first seen winning ties (``max`` returns the first maximum;
    counts are never below 1)."""
    if state is None:
        return None
    kind = type(state)
    if kind is dict:
        return max(state, key=state.__getitem__)
    if kind is list:
        return state[state[-1]]
    return codes.values[state[state[-1]]]


# -- the engine ---------------------------------------------------------------------------------


class TraitEngine:
    """Holds the definitions (public traits and the internal ones audiences need) and applies
    events to profiles' states.

    ``profile.computed`` holds one entry per *physical* state, not per slot: slots whose states
    would be identical share one (every windowed count over an event reads one log; ``last``
    of an event and a recency over it both keep its latest time; identical definitions). Slot
    ``slot``'s state is ``profile.computed[engine.place(slot)]`` (:meth:`state`); the list is
    only as long as the highest place a profile's events reached.

    ``most_frequent_codes`` caps the engine's table of most_frequent values (see
    :class:`_ValueCodes`; tests lower it to see states fall back to the plain forms).
    """

    def __init__(self, *, most_frequent_codes: int = _MOST_FREQUENT_CODES) -> None:
        self.slots: list[ComputedTrait] = []
        self.public: dict[str, int] = {}
        self._internal: dict[ComputedTrait, int] = {}
        self.by_event: dict[str, list[int]] = {}
        self.timed: list[int] = []
        """Slots whose value changes with time alone (windows, recency): the first slot of each
        windowed physical state, and every recency slot."""
        self._windows: list[float | None] = []
        """Each slot's window in seconds (``ComputedTrait.window`` is a computed property)."""
        self._place: list[int] = []
        """Slot → index of its physical state in ``profile.computed``."""
        self._shared: dict[tuple[Any, ...], int] = {}
        """Share key (:func:`_share_key`) → place. Windowed counts always share their event's
        log (a count added late sees the log's history, as it always did); other forms share
        only while no profile has a state, so a trait added later still starts empty."""
        self._forms: list[tuple[str, ComputedTrait]] = []
        """Place → (form, the definition of its first slot)."""
        self._members: list[list[int]] = []
        """Place → the slots reading it, in slot order."""
        self._reach: dict[int, float] = {}
        """Log place → the widest window of its counts (how long the log keeps a time)."""
        self.first_change: list[float | None] = []
        """Per slot: how long after an event it folds in the slot's value first changes by
        time alone (its window; a recency score's first threshold), None if never. The model
        uses it to see in O(1) that an event brings no earlier expiry than one scheduled."""
        self._readers: list[Reader] = []
        self._folds: dict[str, Fold] = {}
        """Event name → its generated fold, built on first use, dropped when a trait is added."""
        self._slider: Slider | None = None
        self._due: Due | None = None
        self._live = False
        """Whether any state may exist (a fold was built): then new slots stop sharing."""
        self._memo: dict[int, Any] = {}
        self._memo_profile: Profile | None = None
        self._memo_now = math.nan
        self._codes = _ValueCodes(most_frequent_codes)
        """Values of every profile's ``most_frequent`` states, coded (profiles keep codes)."""

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
        form = _form(trait)
        key = _share_key(trait)
        place = self._shared.get(key) if form == "log" or not self._live else None
        if place is None:
            place = len(self._forms)
            self._shared[key] = place
            self._forms.append((form, trait))
            self._members.append([])
            if window is not None:
                self.timed.append(slot)
        self._members[place].append(slot)
        self._place.append(place)
        if form == "log":
            assert window is not None
            self._reach[place] = max(self._reach.get(place, 0.0), window)
        if trait.kind == "recency":
            self.timed.append(slot)
            self.first_change.append(trait.thresholds_days[0] * DAY)
        else:
            self.first_change.append(window)
        self._readers.append(_reader(trait, place, self._codes))
        self._folds.clear()
        self._slider = self._due = None
        return slot

    # -- reading ----------------------------------------------------------------------------
    def place(self, slot: int) -> int:
        """Where slot ``slot``'s state sits in ``profile.computed``."""
        return self._place[slot]

    def state(self, profile: Profile, slot: int) -> Any:
        states = profile.computed
        place = self._place[slot]
        return states[place] if states is not None and place < len(states) else None

    def value(self, profile: Profile, slot: int, now: float) -> Any:
        return self._readers[slot](profile.computed, now)

    def reader(self, slot: int) -> Reader:
        """The function :meth:`value` calls for ``slot``, as ``reader(profile.computed, now)``
        (fixed once the slot exists: generated audience programs call it directly)."""
        return self._readers[slot]

    def windowed_count(self, slot: int) -> tuple[int, float] | None:
        """(place of its shared log in ``profile.computed``, window in seconds) of a windowed
        count slot, else None: its value is ``len(log) - bisect_right(log, now - window)``."""
        window = self._windows[slot]
        if window is None or self.slots[slot].kind != "count":
            return None
        return self._place[slot], window

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
            value = memo[slot] = self._readers[slot](profile.computed, now)
        return value

    def forget(self) -> None:
        """Drop the memo of :meth:`cached` (a state changed)."""
        self._memo_profile = None

    def values(self, profile: Profile, now: float) -> dict[str, Any]:
        """Every public computed trait's value, by key."""
        readers, states = self._readers, profile.computed
        return {key: readers[slot](states, now) for key, slot in self.public.items()}

    def last_time(self, profile: Profile, slot: int) -> float | None:
        """The latest event time a ``last``/``recency`` slot has seen (for "since" conditions)."""
        state = self.state(profile, slot)
        if state is None:
            return None
        trait = self.slots[slot]
        return state if trait.kind == "recency" or trait.property is None else state[0]

    # -- writing ----------------------------------------------------------------------------
    def apply(
        self, profile: Profile, event: str, properties: dict[str, Any], at: float, now: float
    ) -> list[int]:
        """Fold one track event into every slot that reads it; returns the slots touched.

        Runs the event name's generated fold (:func:`_fold_source`): straight-line code for its
        slots, no per-slot interpretation on the hottest path of the CDP."""
        fold = self._folds.get(event)
        if fold is None:
            if event not in self.by_event:
                return []
            fold = self._folds[event] = self._build_fold(event)
        self._memo_profile = None
        return fold(profile, properties, at, now)

    def _build_fold(self, event: str) -> Fold:
        self._live = True
        source, namespace = _fold_source(self, self.by_event[event])
        exec(compile(source, f"<trait fold {event!r}>", "exec"), namespace)
        fold: Fold = namespace["fold"]
        fold.__doc__ = source  # readable when debugging: help(fold) shows the code
        return fold

    def fold_source(self, event: str) -> str:
        """The generated fold of ``event`` (for reading and tests)."""
        return _fold_source(self, self.by_event.get(event, []))[0]

    def apply_reference(
        self, profile: Profile, event: str, properties: dict[str, Any], at: float, now: float
    ) -> list[int]:
        """:meth:`apply` interpreted slot by slot: the reference the generated folds must
        match (tests drive both over random events)."""
        slots = self.by_event.get(event)
        if not slots:
            return []
        self._live = True
        self._memo_profile = None
        size = max(self._place[slot] for slot in slots) + 1
        states = profile.computed
        if states is None:
            states = profile.computed = [None] * size
        elif len(states) < size:
            states = profile.computed = states + [None] * (size - len(states))
        touched = []
        done: set[int] = set()
        for slot in slots:
            trait = self.slots[slot]
            place = self._place[slot]
            form = self._forms[place][0]
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
            window = self._windows[slot]
            first = place not in done
            done.add(place)
            if form == "log":
                if first and at + self._reach[place] > now:
                    _times_add(states, place, at)  # shared by the group: inserted once
                if window is not None and at + window <= now:
                    continue  # already outside this window: late or replayed
            elif window is not None:
                if at + window <= now:
                    continue  # already outside the window: late or replayed
                if first:
                    if form == "times":
                        _times_add(states, place, at)
                    else:
                        _window_add(states, place, at, value)
            elif first:
                states[place] = _fold_reference(form, trait, states[place], value, at, self._codes)
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
        does both for every profile whose expiry is due; the bisections are shared). A window
        left empty is dropped (None), as a profile idle for long keeps nothing."""
        states = profile.computed
        if states is None:
            return [], math.inf
        self._memo_profile = None
        slider = self._slider
        if slider is None:
            slider = self._slider = self._build_timed()[0]
        return slider(states, now, since)

    def next_due(self, profile: Profile, now: float) -> float:
        """When the next timed value of this profile changes (inf: never, by time alone)."""
        states = profile.computed
        if states is None:
            return math.inf
        due = self._due
        if due is None:
            due = self._due = self._build_timed()[1]
        return due(states, now)

    def _build_timed(self) -> tuple[Slider, Due]:
        slide_source, due_source, namespace = _timed_source(self)
        exec(compile(slide_source, "<trait slide>", "exec"), namespace)
        exec(compile(due_source, "<trait next_due>", "exec"), namespace)
        slider: Slider = namespace["slide"]
        due: Due = namespace["next_due"]
        slider.__doc__, due.__doc__ = slide_source, due_source
        self._slider, self._due = slider, due
        return slider, due

    def slide_reference(
        self, profile: Profile, now: float, since: float = -math.inf
    ) -> tuple[list[int], float]:
        """:meth:`slide` interpreted state by state (the reference of the generated code)."""
        states = profile.computed
        due = math.inf
        if states is None:
            return [], due
        self._memo_profile = None
        changed: list[int] = []
        bisect_right = bisect.bisect_right
        for slot in self.timed:
            place = self._place[slot]
            entries = states[place] if place < len(states) else None
            if entries is None:
                continue
            form = self._forms[place][0]
            if self.slots[slot].kind == "recency":
                crossed = False
                for threshold in self.slots[slot].thresholds_days:
                    at = entries + threshold * DAY
                    if not crossed and since <= at <= now:
                        changed.append(slot)
                        crossed = True
                    if at > now:
                        due = min(due, at)
                        break
                continue
            if form == "log":
                size = len(entries)
                if not size:
                    continue
                # A window's count changed in (since, now] iff some time t left it then:
                # since - window < t <= now - window.
                for member in self._members[place]:
                    window = self._windows[member]
                    assert window is not None
                    gone = bisect_right(entries, now - window)
                    if gone > bisect_right(entries, since - window):
                        changed.append(member)
                    if gone < size:
                        due = min(due, entries[gone] + window)
                cut = bisect_right(entries, now - self._reach[place])
                if cut == size:
                    states[place] = None
                elif cut:
                    del entries[:cut]
                continue
            window = self._windows[slot]
            assert window is not None
            if form == "window" and type(entries) is not tuple:
                half = len(entries) >> 1
                cut = bisect_right(entries, now - window, 0, half)
                if cut:
                    changed.extend(self._members[place])
                    if cut == half:
                        states[place] = None
                        continue
                    del entries[half : half + cut]
                    del entries[:cut]
                due = min(due, entries[0] + window)
                continue
            times = entries if form == "times" else entries[0]
            cut = bisect_right(times, now - window)
            if cut:
                changed.extend(self._members[place])
                if cut == len(times):
                    states[place] = None
                    continue
                del times[:cut]
                if form == "window":
                    del entries[1][:cut]
            due = min(due, times[0] + window)
        changed.sort()
        return changed, due

    def next_due_reference(self, profile: Profile, now: float) -> float:
        """:meth:`next_due` interpreted state by state (the reference of the generated code)."""
        states = profile.computed
        due = math.inf
        if states is None:
            return due
        bisect_right = bisect.bisect_right
        for slot in self.timed:
            place = self._place[slot]
            state = states[place] if place < len(states) else None
            if state is None:
                continue
            form = self._forms[place][0]
            if self.slots[slot].kind == "recency":
                for threshold in self.slots[slot].thresholds_days:
                    at = state + threshold * DAY
                    if at > now:
                        due = min(due, at)
                        break
                continue
            if form == "log":
                size = len(state)
                for member in self._members[place]:
                    window = self._windows[member]
                    assert window is not None
                    index = bisect_right(state, now - window)
                    if index < size:
                        due = min(due, state[index] + window)
                continue
            window = self._windows[slot]
            assert window is not None
            first = state[0] if form == "times" or type(state) is not tuple else state[0][0]
            due = min(due, first + window)
        return due

    def merge(self, target: Profile, other: Profile) -> None:
        """Fold ``other``'s states into ``target``'s (profiles merged by identity)."""
        theirs_all = other.computed
        if theirs_all is None:
            return
        self._memo_profile = None
        states = target.computed
        if states is None:
            states = target.computed = [None] * len(theirs_all)
        elif len(states) < len(theirs_all):
            states = target.computed = states + [None] * (len(theirs_all) - len(states))
        for place, theirs in enumerate(theirs_all):
            if theirs is None:
                continue
            mine = states[place]
            if mine is None:
                states[place] = theirs
                continue
            form, trait = self._forms[place]
            states[place] = _merge_state(form, trait, mine, theirs, self._codes)


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


def _reader(trait: ComputedTrait, place: int, codes: _ValueCodes) -> Reader:
    """The value function of one slot: the kind dispatch done once, at definition time, so
    that the audiences reading a trait pay a call and a few bytecodes (``codes``: the engine's
    table of most_frequent values)."""
    kind, window, form = trait.kind, trait.window, _form(trait)
    empty = _EMPTY.get(kind)
    bisect_right = bisect.bisect_right
    fsum = math.fsum

    if window is not None:
        if form == "log":

            def count_in_window(states: list[Any] | None, now: float) -> Any:
                log = states[place] if states is not None and place < len(states) else None
                if not log:
                    return 0
                oldest = now - window
                # Slides keep the widest window's log trimmed: nothing to bisect, usually.
                return len(log) if log[0] > oldest else len(log) - bisect_right(log, oldest)

            return count_in_window
        if form == "times":
            last = kind == "last"

            def time_in_window(states: list[Any] | None, now: float) -> Any:
                times = states[place] if states is not None and place < len(states) else None
                if times is None:
                    return None
                cut = bisect_right(times, now - window)
                if cut == len(times):
                    return None
                return _iso(times[-1] if last else times[cut])

            return time_in_window
        limit = trait.limit

        def in_window(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            if state is None:
                return [] if kind == "unique_list" else empty
            values: Any
            oldest = now - window
            if type(state) is tuple:
                times, kept = state
                cut = 0 if times[0] > oldest else bisect_right(times, oldest)
                values = kept[cut:] if cut else kept
            else:
                half = len(state) >> 1
                cut = 0 if state[0] > oldest else bisect_right(state, oldest, 0, half)
                values = state[half + cut :]
                if type(state) is _Ints:
                    if kind == "sum":
                        # Exact: a correctly rounded sum below 2**53 is the integer sum.
                        total = fsum(values)
                        return int(total) if -_EXACT < total < _EXACT else sum(map(int, values))
                    values = list(map(int, values))
            if kind == "sum":
                return sum(values)
            if not values:
                return [] if kind == "unique_list" else empty
            if kind == "avg":
                return sum(values) / len(values)
            if kind == "min":
                return min(values)
            if kind == "max":
                return max(values)
            if kind == "first":
                return values[0]
            if kind == "last":
                return values[-1]
            counts: dict[Any, int] = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            if kind == "most_frequent":
                return _most_frequent(counts.items())
            return list(counts)[:limit]

        return in_window

    if form in ("count", "sum", "min", "max"):

        def plain(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return empty if state is None else state

        return plain
    if form == "avg":

        def mean(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return None if state is None else state[0] / state[1]

        return mean
    if form in ("latest", "earliest") and kind != "recency":

        def when(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return None if state is None else _iso(state)

        return when
    if form in ("first", "last"):

        def of_event(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return None if state is None else state[1]

        return of_event
    if form == "most_frequent":

        def most_frequent(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return _most_frequent_value(codes, state)

        return most_frequent
    if form == "unique_list":

        def unique(states: list[Any] | None, now: float) -> Any:
            state = states[place] if states is not None and place < len(states) else None
            return [] if state is None else list(state)

        return unique
    ages = [threshold * DAY for threshold in trait.thresholds_days]
    scores = [len(ages) + 1 - index for index in range(len(ages))]
    ladder = list(zip(ages, scores, strict=True))

    def recency(states: list[Any] | None, now: float) -> Any:
        state = states[place] if states is not None and place < len(states) else None
        if state is None:
            return 0
        age = now - state
        for youngest, score in ladder:
            if age < youngest:
                return score
        return 1

    return recency


def _fold_reference(
    form: str, trait: ComputedTrait, state: Any, value: Any, at: float, codes: _ValueCodes
) -> Any:
    """One event into a lifetime (unwindowed) state, interpreted (``codes``: the engine's table
    of most_frequent values)."""
    if form == "count":
        return (state or 0) + 1
    if form == "sum":
        return (state or 0) + value
    if form == "avg":
        return (value, 1) if state is None else (state[0] + value, state[1] + 1)
    if form == "min":
        return value if state is None or value < state else state
    if form == "max":
        return value if state is None or value > state else state
    if form == "earliest":
        return at if state is None or at < state else state
    if form == "latest":
        return at if state is None or at > state else state
    if form == "first":
        return (at, value) if state is None or at < state[0] else state
    if form == "last":
        return (at, value) if state is None or at >= state[0] else state
    if form == "most_frequent":
        return _most_frequent_add(codes, state, value)
    assert form == "unique_list"
    if state is None:
        return (value,)
    if value not in state and len(state) < trait.limit:
        return (*state, value)
    return state


def _merge_state(
    form: str, trait: ComputedTrait, mine: Any, theirs: Any, codes: _ValueCodes
) -> Any:
    """``theirs`` folded into ``mine`` (both states of one engine: most_frequent codes agree)."""
    if form in ("log", "times"):
        return array("d", heapq.merge(mine, theirs))
    if form == "window":
        mine_times, mine_values = _window_split(mine)
        their_times, their_values = _window_split(theirs)
        pairs = list(
            heapq.merge(
                zip(mine_times, mine_values, strict=True),
                zip(their_times, their_values, strict=True),
                key=_time,
            )
        )
        return _window_state([t for t, _ in pairs], [v for _, v in pairs])
    if form in ("count", "sum"):
        return mine + theirs
    if form == "avg":
        return (mine[0] + theirs[0], mine[1] + theirs[1])
    if form in ("min", "earliest"):
        return min(mine, theirs)
    if form in ("max", "latest"):
        return max(mine, theirs)
    if form == "first":
        return theirs if theirs[0] < mine[0] else mine
    if form == "last":
        return theirs if theirs[0] > mine[0] else mine
    if form == "most_frequent":
        counts = _most_frequent_counts(codes, mine)
        for value, count in _most_frequent_counts(codes, theirs).items():
            counts[value] = counts.get(value, 0) + count
        return _most_frequent_pack(codes, counts)
    assert form == "unique_list"
    merged = list(mine)
    for value in theirs:
        if value not in merged and len(merged) < trait.limit:
            merged.append(value)
    return tuple(merged)


# -- code generation ------------------------------------------------------------------------------


class _Source:
    """Lines of a generated function and the namespace of the definition values it reads.

    As in :mod:`promoloop.actors.cdp.programs`: the structure is generated from validated
    definitions; every value from a definition (property names, windows, limits, thresholds)
    is passed in the namespace under a generated name, never spliced into the source text.
    Only the engine's own integers (slots, places) and the module's limits are written as
    literals.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "_MISSING": _MISSING,
            "_NUMBERS": _NUMBERS,
            "_HASHABLE": _HASHABLE,
            "_intern": sys.intern,
            "_read": read_property,
            "_array": array,
            "_insort": bisect.insort,
            "_br": bisect.bisect_right,
            "_inf": math.inf,
            "_window_add": _window_add,
        }

    def const(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend("    " * indent + line for line in lines)


_STORES = frozenset({"first", "last", "most_frequent", "unique_list"})
"""Kinds that keep a property value as is (its strings are interned)."""


def _fold_source(engine: TraitEngine, slots: list[int]) -> tuple[str, dict[str, Any]]:
    """The fold of one event name.

    Each slot folds the event when its conditions hold (the property value is present and of
    a type its kind takes; the event is inside its window); the conditions are computed once
    into locals, then every state reading the event is updated, unrolled (a state several
    slots share once), and the touched slots returned: as one list literal when every
    condition holds (the usual event), else slot by slot in slot order.
    """
    out = _Source()
    codes = engine._codes  # most_frequent values → codes: ``_mf_code`` looks one up
    out.namespace["_mf_code"] = codes.codes.get
    out.namespace["_mf_add"] = functools.partial(_most_frequent_add, codes)
    out.namespace["_mf_new"] = functools.partial(_most_frequent_new, codes)
    size = max((engine._place[slot] for slot in slots), default=-1) + 1
    out.emit(
        0,
        "def fold(profile, properties, at, now):",
        "    states = profile.computed",
        "    if states is None:",
        f"        states = profile.computed = [None] * {size}",
        f"    elif len(states) < {size}:",
        f"        states = profile.computed = states + [None] * ({size} - len(states))",
    )
    values: dict[str, str] = {}
    """Property path → the local holding its value (None when missing)."""
    stored: dict[str, str] = {}
    """Property path → the expression of its value as kept in a state (strings interned)."""
    for slot in slots:
        path = engine.slots[slot].property
        if path is None or path in values:
            continue
        v = values[path] = f"v{len(values)}"
        if "." in path:
            out.emit(1, f"{v} = _read(properties, {out.const(path)})")
            out.emit(1, f"if {v} is _MISSING:", f"    {v} = None")
        else:
            out.emit(1, f"{v} = properties.get({out.const(path)})")
        readers = [engine.slots[s] for s in slots if engine.slots[s].property == path]
        stored[path] = v
        if any(t.kind in NUMERIC or t.kind in _STORES for t in readers):
            out.emit(1, f"t{v} = type({v})")
        if any(t.kind in _STORES for t in readers):
            # A state keeping the value of every event interns it up front; the others (a
            # most frequent value, a unique list, a first value) only when they keep it.
            if any(t.kind == "last" or t.window is not None for t in readers):
                out.emit(1, f"if t{v} is str:", f"    {v} = _intern({v})")
            else:
                stored[path] = f"(_intern({v}) if t{v} is str else {v})"
    conditions: dict[str, str] = {}
    """Condition expression → the local holding it."""

    def condition(expression: str) -> str:
        local = conditions.get(expression)
        if local is None:
            local = conditions[expression] = f"c{len(conditions)}"
            out.emit(1, f"{local} = {expression}")
        return local

    windows: dict[float, str] = {}

    def inside(window: float) -> str:
        if window not in windows:
            windows[window] = out.const(window)
        return condition(f"at + {windows[window]} > now")

    touching: list[tuple[int, tuple[str, ...]]] = []
    """(slot, the conditions under which it is touched), in slot order."""
    updates: dict[tuple[str, ...], list[str]] = {}
    """Conditions → the state updates done under them."""
    done: set[int] = set()
    for slot in slots:
        trait = engine.slots[slot]
        place = engine._place[slot]
        form = engine._forms[place][0]
        first = place not in done
        done.add(place)
        v = values.get(trait.property or "", "None")
        guard = _guard(trait)
        needs: tuple[str, ...] = ()
        if guard == "present":
            needs = (condition(f"{v} is not None"),)
        elif guard == "number":
            needs = (
                condition(
                    f"t{v} is int or t{v} is float or "
                    f"(t{v} is not bool and isinstance({v}, _NUMBERS))"
                ),
            )
        elif guard == "hashable":
            needs = (
                condition(
                    f"t{v} is str or t{v} is int or t{v} is float or t{v} is bool "
                    f"or isinstance({v}, _HASHABLE)"
                ),
            )
        window = engine._windows[slot]
        if form == "log":
            assert window is not None
            if first:
                when = (*needs, inside(engine._reach[place]))
                updates.setdefault(when, []).extend(_times_add_lines(place))
            touching.append((slot, (*needs, inside(window))))
            continue
        if window is not None:
            needs = (*needs, inside(window))
        if first:
            body = _update_lines(out, form, trait, place, v, stored.get(trait.property or ""))
            updates.setdefault(needs, []).extend(body)
        touching.append((slot, needs))
    for needs, body in updates.items():
        if needs:
            out.emit(1, f"if {' and '.join(needs)}:")
            out.emit(2, *body)
        else:
            out.emit(1, *body)
    every = list(dict.fromkeys(c for _, needs in touching for c in needs))
    if windows:
        # Inside the narrowest window is inside every wider one (``at + w`` grows with ``w``).
        wider = {conditions[f"at + {windows[w]} > now"] for w in windows if w > min(windows)}
        every = [c for c in every if c not in wider]
    everything = f"[{', '.join(str(slot) for slot, _ in touching)}]"
    if not every:
        out.emit(1, f"return {everything}", "")
        return "\n".join(out.lines), out.namespace
    out.emit(1, f"if {' and '.join(every)}:", f"    return {everything}", "touched = []")
    index = 0
    while index < len(touching):
        needs = touching[index][1]
        run = []
        while index < len(touching) and touching[index][1] == needs:
            run.append(touching[index][0])
            index += 1
        add = f"touched.append({run[0]})" if len(run) == 1 else f"touched += {tuple(run)}"
        if needs:
            out.emit(1, f"if {' and '.join(needs)}:", f"    {add}")
        else:
            out.emit(1, add)
    out.emit(1, "return touched", "")
    return "\n".join(out.lines), out.namespace


def _times_add_lines(place: int) -> list[str]:
    return [
        f"s = states[{place}]",
        "if s is None:",
        f"    states[{place}] = _array('d', (at,))",
        "elif s and at < s[-1]:",
        "    _insort(s, at)",
        "else:",
        "    s.append(at)",
    ]


def _update_lines(
    out: _Source, form: str, trait: ComputedTrait, place: int, v: str, kept: str | None
) -> list[str]:
    """The update of state ``place`` (form ``form``) by property value ``v`` (``kept``: the
    expression of the value as a state keeps it) of an event at ``at``."""
    s = f"states[{place}]"
    if form == "times":
        return _times_add_lines(place)
    if form == "window":
        return [f"_window_add(states, {place}, at, {v})"]
    if form == "count":
        return [f"{s} = ({s} or 0) + 1"]
    if form == "sum":
        return [f"{s} = ({s} or 0) + {v}"]
    if form == "avg":
        return [f"s = {s}", f"{s} = ({v}, 1) if s is None else (s[0] + {v}, s[1] + 1)"]
    tests = {
        "min": (f"{v} < s", v),
        "max": (f"{v} > s", v),
        "earliest": ("at < s", "at"),
        "latest": ("at > s", "at"),
        "first": ("at < s[0]", f"(at, {kept})"),
        "last": ("at >= s[0]", f"(at, {kept})"),
    }
    if form in tests:
        test, new = tests[form]
        return [f"s = {s}", f"if s is None or {test}:", f"    {s} = {new}"]
    if form == "most_frequent":
        # The usual event counts a value the profile has seen in its array of codes, in place;
        # a string new to the profile grows the array (exactly sized, the best stays: it was
        # seen earlier). The rest goes to ``_most_frequent_new`` / ``_most_frequent_add``: a
        # first value, a value without a code yet, a value maybe equal to one kept with another
        # type, a code or a count past the array's type (setting it raises OverflowError), 32
        # values, the list and dict forms.
        room = _MOST_FREQUENT_LIST
        return [
            f"s = {s}",
            f"if t{v} is str:",
            f"    q = _mf_code({v})",
            f"elif t{v} is int or t{v} is float or t{v} is bool:",
            f"    q = _mf_code((t{v}, {v}))",
            "else:",
            "    q = None",
            "if q is not None and type(s) is _array:",
            "    h = len(s) >> 1",
            "    try:",
            "        i = s.index(q, 0, h)",
            "        c = s[i + h] + 1",
            "        s[i + h] = c",
            "    except ValueError:",
            f"        if t{v} is str and h < {room} and (q < 256 or s.itemsize == 2):",
            "            g = s + s[:2]",
            "            g[h + 1 : -2] = s[h:-1]",
            "            g[h] = q",
            "            g[-2] = 1",
            "            g[-1] = s[-1]",
            f"            {s} = g",
            "        else:",
            f"            {s} = _mf_new(s, h, {kept}, q)",
            "    except OverflowError:",
            f"        {s} = _mf_add(s, {kept})",
            "    else:",
            "        b = s[-1]",
            "        if c > s[b + h] or (c == s[b + h] and i < b):",
            "            s[-1] = i",
            "else:",
            f"    {s} = _mf_add(s, {kept})",
        ]
    assert form == "unique_list"
    limit = out.const(trait.limit)
    return [
        f"s = {s}",
        "if s is None:",
        f"    {s} = ({kept},)",
        f"elif len(s) < {limit} and {v} not in s:",
        f"    {s} = (*s, {kept})",
    ]


def _timed_source(engine: TraitEngine) -> tuple[str, str, dict[str, Any]]:
    """:meth:`TraitEngine.slide` and :meth:`TraitEngine.next_due` for the current definitions:
    each timed state's checks unrolled (windows and thresholds as namespace constants)."""
    out = _Source()
    slide: list[str] = [
        "def slide(states, now, since):",
        "    due = _inf",
        "    changed = []",
        "    size = len(states)",
    ]
    due: list[str] = [
        "def next_due(states, now):",
        "    due = _inf",
        "    size = len(states)",
    ]

    def both(indent: int, *lines: str) -> None:
        for target in (slide, due):
            target.extend("    " * indent + line for line in lines)

    for slot in engine.timed:
        place = engine._place[slot]
        form = engine._forms[place][0]
        both(1, f"s = states[{place}] if {place} < size else None")
        trait = engine.slots[slot]
        if trait.kind == "recency":
            ages = [out.const(threshold * DAY) for threshold in trait.thresholds_days]
            both(1, "if s is not None:")
            for index, age in enumerate(ages):
                keyword = "if" if index == 0 else "elif"
                both(2, f"{keyword} (a{index} := s + {age}) > now:")
                both(3, f"if a{index} < due:", f"    due = a{index}")
                if index:
                    slide.extend(
                        [
                            f"{'    ' * 3}if a{index - 1} >= since:",
                            f"{'    ' * 4}changed.append({slot})",
                        ]
                    )
            slide.extend(
                [
                    f"        elif a{len(ages) - 1} >= since:",
                    f"            changed.append({slot})",
                ]
            )
            continue
        if form == "log":
            slide.extend(["    if s:", "        n = len(s)"])
            due.extend(["    if s:", "        n = len(s)"])
            # One bisection per distinct window (a public and an audience's "orders in 30
            # days" are one); the widest window's cut is what the log keeps.
            by_window: dict[float, list[int]] = {}
            for member in engine._members[place]:
                window = engine._windows[member]
                assert window is not None
                by_window.setdefault(window, []).append(member)
            reach = engine._reach[place]
            for window, members in by_window.items():
                w = out.const(window)
                both(2, f"g = _br(s, now - {w})")
                slide.append(f"        if g > _br(s, since - {w}):")
                slide.extend(f"            changed.append({member})" for member in members)
                both(2, "if g < n:", f"    x = s[g] + {w}", "    if x < due:", "        due = x")
                if window == reach:
                    slide.append("        cut = g")
            slide.extend(
                [
                    "        g = cut",
                    "        if g == n:",
                    f"            states[{place}] = None",
                    "        elif g:",
                    "            del s[:g]",
                ]
            )
            continue
        window = out.const(engine._windows[slot])
        members = engine._members[place]
        if form == "times":
            split = ["        t = s", "        h = len(s)"]
        else:
            # (times, values) or one array of the times then the values: ``k[o:]`` holds the
            # values in both cases.
            split = [
                "        if type(s) is tuple:",
                "            t, k = s",
                "            h = len(t)",
                "            o = 0",
                "        else:",
                "            t = k = s",
                "            h = len(s) >> 1",
                "            o = h",
            ]
        slide.extend(
            [
                "    if s is not None:",
                *split,
                f"        g = _br(t, now - {window}, 0, h)",
                "        if g:",
                *(f"            changed.append({member})" for member in members),
                "            if g == h:",
                f"                states[{place}] = None",
                "            else:",
                *(["                del k[o : o + g]"] if form == "window" else []),
                "                del t[:g]",
                f"                x = t[0] + {window}",
                "                if x < due:",
                "                    due = x",
                "        else:",
                f"            x = t[0] + {window}",
                "            if x < due:",
                "                due = x",
            ]
        )
        first = "s[0]" if form == "times" else "(s[0][0] if type(s) is tuple else s[0])"
        due.extend(
            [
                "    if s is not None:",
                f"        x = {first} + {window}",
                "        if x < due:",
                "            due = x",
            ]
        )
    slide.extend(["    changed.sort()", "    return changed, due", ""])
    due.extend(["    return due", ""])
    return "\n".join(slide), "\n".join(due), out.namespace
