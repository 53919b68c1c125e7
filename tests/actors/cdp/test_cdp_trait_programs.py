"""Generated trait code and compact states: the generated folds, slides and expiry times match
the interpreted reference over random events, values match a recomputation from the events
themselves, and compact states give values back with their exact Python types.

Engines run with the default table of most_frequent values and with tiny ones (a cap of 0 to a
few codes), so that every form of a most_frequent state (arrays of codes, the list and dict
fallbacks) is folded, merged and read."""

from __future__ import annotations

import math
import random
from array import array
from datetime import UTC, datetime
from typing import Any

import pytest

from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.cdp.traits import (
    _MOST_FREQUENT_CODES,
    DAY,
    ComputedTrait,
    TraitEngine,
    read_property,
)

T0 = 1_767_571_200.0  # 2026-01-05
EVENTS = ("E", "F", "G")
MISSING = read_property({}, "absent")
PATHS = ("x", "y", "n.m")
CAPS = (_MOST_FREQUENT_CODES, 4, 0)
"""Caps of the engines' tables of most_frequent values, by seed: the default, a few codes (the
table fills up midway), none (every state in the plain forms)."""


class Sub(int):
    """An int subclass: numeric, but a compact window must not turn it into a plain int."""


VALUES: tuple[Any, ...] = (
    None,
    0,
    1,
    -3,
    7,
    2**53,
    2**53 + 1,
    2**70,
    -(2**63),
    1.5,
    -0.0,
    2.25,
    1e300,
    True,
    False,
    "a",
    "b",
    "c",
    "a" * 3,
    ["l"],
    {"d": 1},
    Sub(4),
)


def profile(name: str = "p") -> Profile:
    return Profile(name, datetime.fromtimestamp(T0, UTC))


def canon(value: Any) -> Any:
    """A comparable form of a state or value that tells types apart (1, 1.0 and True differ;
    so do an ``array('d')``, an ``_Ints`` array, a list and a tuple)."""
    if isinstance(value, array):
        return (type(value).__name__, value.typecode, [canon(v) for v in value])
    if isinstance(value, tuple | list):
        return (type(value).__name__, [canon(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def definitions(rng: random.Random) -> list[ComputedTrait]:
    """Every kind, windowed and not, over random events and properties, with the shapes that
    share states (windowed counts over one event, last and recency, identical definitions)."""
    out: list[ComputedTrait] = []
    kinds = ("count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "unique_list")
    for index in range(rng.randint(14, 26)):
        kind = rng.choice((*kinds, "recency"))
        event = rng.choice(EVENTS)
        needs = kind in ("sum", "avg", "min", "max", "most_frequent", "unique_list")
        prop = rng.choice(PATHS) if needs or rng.random() < 0.4 else None
        if kind == "recency":
            prop = None
        window = None
        if kind != "recency" and rng.random() < 0.6:
            window = rng.choice((0.5, 1.0, 3.0, 7.0))
        thresholds = tuple(sorted(rng.sample((0.25, 1.0, 2.0, 5.0, 9.0), rng.randint(1, 4))))
        out.append(
            ComputedTrait(
                key=f"t{index}",
                kind=kind,  # type: ignore[arg-type]
                event=event,
                property=prop,
                window_days=window,
                limit=rng.randint(1, 4),
                thresholds_days=thresholds,
            )
        )
    for event in EVENTS:  # shared states, always present
        out.append(ComputedTrait(key=f"last_{event.lower()}", kind="last", event=event))
        out.append(ComputedTrait(key=f"recency_{event.lower()}", kind="recency", event=event))
        out.append(
            ComputedTrait(key=f"n1_{event.lower()}", kind="count", event=event, window_days=1)
        )
        out.append(
            ComputedTrait(key=f"n5_{event.lower()}", kind="count", event=event, window_days=5)
        )
    return out


def random_properties(rng: random.Random) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for path in ("x", "y"):
        if rng.random() < 0.85:
            properties[path] = rng.choice(VALUES)
    roll = rng.random()
    if roll < 0.6:
        properties["n"] = {"m": rng.choice(VALUES)}
    elif roll < 0.7:
        properties["n"] = rng.choice(VALUES)  # not an object: n.m is missing
    return properties


def event_time(rng: random.Random, now: float, seen: list[float]) -> float:
    roll = rng.random()
    if roll < 0.55:
        return now - rng.random() * 3_600
    if roll < 0.7 and seen:
        return rng.choice(seen)  # a tie with an earlier event
    if roll < 0.85:
        return now - rng.random() * 9 * DAY  # late: maybe outside some windows
    if roll < 0.95:
        return now - rng.random() * 40 * DAY  # very late
    return now + rng.random() * DAY  # ahead of the clock


def crossing(engine: TraitEngine, person: Profile, rng: random.Random) -> float | None:
    """An instant at which one of the profile's timed values changes: a recency threshold
    crossed, or an event leaving a window."""
    slot = rng.choice(engine.timed)
    trait = engine.slots[slot]
    state = engine.state(person, slot)
    if state is None:
        return None
    if trait.kind == "recency":
        return float(state + rng.choice(trait.thresholds_days) * DAY)
    times = state[0] if type(state) is tuple else state
    if trait.kind != "count" and trait.property is not None and type(state) is not tuple:
        times = state[: len(state) >> 1]
    window = trait.window
    assert window is not None
    return float(rng.choice(list(times)) + window) if len(times) else None


def assert_same_states(generated: Profile, reference: Profile, where: str) -> None:
    assert canon(generated.computed) == canon(reference.computed), where


def assert_same_codes(generated: TraitEngine, reference: TraitEngine, where: str) -> None:
    """Both engines coded the same values in the same order (so their states' codes agree)."""
    assert canon(generated._codes.values) == canon(reference._codes.values), where
    assert len(generated._codes.values) <= generated._codes.cap, where


def assert_same_values(
    generated: TraitEngine, reference: TraitEngine, a: Profile, b: Profile, now: float, where: str
) -> None:
    for slot in range(len(generated.slots)):
        mine = generated.value(a, slot, now)
        theirs = reference.value(b, slot, now)
        assert canon(mine) == canon(theirs), f"{where}: slot {slot} {generated.slots[slot]}"


@pytest.mark.parametrize("seed", range(40))
def test_generated_code_matches_the_reference(seed: int) -> None:
    """Folds, slides, expiry times and merges: same touched slots, same ``(changed, due)``,
    identical states (types included) at every step, with traits added midway."""
    rng = random.Random(seed)
    cap = CAPS[seed % len(CAPS)]
    generated = TraitEngine(most_frequent_codes=cap)
    reference = TraitEngine(most_frequent_codes=cap)
    traits = definitions(rng)
    late = traits[len(traits) // 2 :]
    for trait in traits[: len(traits) // 2]:
        generated.add(trait)
        reference.add(trait)
    names = ("p", "q", "r")
    mine = {name: profile(name) for name in names}
    theirs = {name: profile(name) for name in names}
    now = T0
    seen: list[float] = []
    for step in range(400):
        where = f"seed {seed} step {step}"
        if late and step in (60, 150, 260):
            for trait in late[: len(late) // 3 + 1]:
                generated.add(trait)
                reference.add(trait)
            late = late[len(late) // 3 + 1 :]
        now += rng.random() * rng.choice((60.0, 3_600.0, DAY))
        roll = rng.random()
        name = rng.choice(names)
        a, b = mine[name], theirs[name]
        if roll < 0.75:
            event = rng.choice((*EVENTS, "Unknown"))
            properties = random_properties(rng)
            at = event_time(rng, now, seen)
            seen.append(at)
            touched = generated.apply(a, event, properties, at, now)
            expected = reference.apply_reference(b, event, properties, at, now)
            assert touched == expected, where
        elif roll < 0.9:
            since = rng.choice((-math.inf, now - rng.random() * 2 * DAY))
            edge = crossing(reference, b, rng)
            if edge is not None and edge > now - 2 * DAY:
                # A value changes at ``edge``: since at it or just around it tests the bounds.
                since = edge + rng.choice((0.0, 0.0, -0.5, 0.5))
                now = max(now, since + rng.choice((0.0, 0.0, 30.0, DAY)))
            assert generated.slide(a, now, since) == reference.slide_reference(b, now, since)
        elif roll < 0.95:
            assert generated.next_due(a, now) == reference.next_due_reference(b, now), where
        else:
            other = rng.choice([n for n in names if n != name])
            generated.merge(a, mine[other])
            reference.merge(b, theirs[other])
            mine[other], theirs[other] = profile(other), profile(other)
        assert_same_states(a, b, where)
        assert_same_codes(generated, reference, where)
        assert_same_values(generated, reference, a, b, now, where)


# -- values from the events themselves ---------------------------------------------------------


def _valid(trait: ComputedTrait, properties: dict[str, Any]) -> tuple[bool, Any]:
    """Whether an event counts for a trait, and the property value it brings (the original
    rules: missing or None skipped, numbers only for numeric kinds, hashables only for
    most_frequent and unique_list)."""
    if trait.property is None:
        return True, None
    value = read_property(properties, trait.property)
    if value is None or value is MISSING:
        return False, None
    if trait.kind in ("sum", "avg", "min", "max"):
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if trait.kind in ("most_frequent", "unique_list"):
        return isinstance(value, str | int | float | bool), value
    return True, value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def recomputed(
    trait: ComputedTrait, log: list[tuple[str, dict[str, Any], float, float]], now: float
) -> Any:
    """The value of ``trait`` from every event so far: ``(event, properties, at, received)``."""
    window = trait.window
    kept: list[tuple[float, Any]] = []
    for event, properties, at, received in log:
        if event != trait.event:
            continue
        ok, value = _valid(trait, properties)
        if not ok:
            continue
        if window is not None and (at + window <= received or not at > now - window):
            continue  # late when received, or slid out since
        kept.append((at, value))
    if window is not None:
        kept.sort(key=lambda entry: entry[0])  # by time; ties in arrival order
    values = [value for _, value in kept]
    times = [at for at, _ in kept]
    kind = trait.kind
    if kind == "count":
        return len(kept)
    if kind == "sum":
        if window is not None:
            return sum(values)
        total: Any = 0
        for value in values:  # as folded: ``(total or 0) + value`` (0.0 then 5 gives 5)
            total = (total or 0) + value
        return total
    if kind == "recency":
        if not times:
            return 0
        age = now - max(times)
        for index, threshold in enumerate(trait.thresholds_days):
            if age < threshold * DAY:
                return len(trait.thresholds_days) + 1 - index
        return 1
    if not kept:
        return [] if kind == "unique_list" else None
    if kind == "avg":
        if window is not None:
            return sum(values) / len(values)
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total / len(values)
    if kind in ("min", "max"):
        best = values[0]
        for value in values[1:]:
            if (value < best) if kind == "min" else (value > best):
                best = value
        return best
    if kind == "first":
        earliest = min(times)
        first = next(i for i, at in enumerate(times) if at == earliest)
        return _iso(earliest) if trait.property is None else values[first]
    if kind == "last":
        latest = max(times)
        last = max(i for i, at in enumerate(times) if at == latest)
        return _iso(latest) if trait.property is None else values[last]
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    if kind == "most_frequent":
        top = max(counts.values())
        return next(value for value, count in counts.items() if count == top)
    distinct: list[Any] = []
    for value in values:  # unique_list: the first `limit` distinct values
        if value not in distinct and len(distinct) < trait.limit:
            distinct.append(value)
    return distinct if window is None else list(counts)[: trait.limit]


@pytest.mark.parametrize("seed", range(25))
def test_values_match_a_recomputation_from_the_events(seed: int) -> None:
    """Whatever the states look like (shared, compact, typed arrays), every value equals the
    one computed from the raw events by the documented rules, types included."""
    rng = random.Random(1_000 + seed)
    engine = TraitEngine(most_frequent_codes=CAPS[seed % len(CAPS)])
    for trait in definitions(rng):
        engine.add(trait)
    person = profile()
    log: list[tuple[str, dict[str, Any], float, float]] = []
    now = T0
    seen: list[float] = []
    for step in range(300):
        now += rng.random() * rng.choice((60.0, 3_600.0, DAY))
        if rng.random() < 0.2:
            engine.slide(person, now, now - DAY)
        event = rng.choice(EVENTS)
        properties = random_properties(rng)
        at = event_time(rng, now, seen)
        seen.append(at)
        engine.apply(person, event, properties, at, now)
        log.append((event, properties, at, now))
        for slot, trait in enumerate(engine.slots):
            expected = recomputed(trait, log, now)
            assert canon(engine.value(person, slot, now)) == canon(expected), (
                f"seed {seed} step {step} slot {slot} {trait}"
            )


@pytest.mark.parametrize("seed", range(15))
def test_merged_values_match_a_recomputation_from_both_histories(seed: int) -> None:
    """A merged profile's values are those of the two histories together (target first;
    ints and strings, distinct times, so that no order of additions or ties matters)."""
    rng = random.Random(2_000 + seed)
    engine = TraitEngine(most_frequent_codes=CAPS[seed % len(CAPS)])
    for trait in definitions(rng):
        engine.add(trait)
    names = ("p", "q", "r")
    people = {name: profile(name) for name in names}
    logs: dict[str, list[tuple[str, dict[str, Any], float, float]]] = {n: [] for n in names}
    pool = [v for v in VALUES if type(v) in (int, str) or v is None]
    now = T0
    for step in range(300):
        now += rng.random() * rng.choice((60.0, 3_600.0, DAY))
        name = rng.choice(names)
        if rng.random() < 0.08:
            other = rng.choice([n for n in names if n != name])
            engine.merge(people[name], people[other])
            logs[name] += logs[other]
            people[other], logs[other] = profile(other), []
        else:
            event = rng.choice(EVENTS)
            properties = {path: rng.choice(pool) for path in ("x", "y")}
            properties["n"] = {"m": rng.choice(pool)}
            at = now - rng.random() * rng.choice((3_600.0, 9 * DAY))
            engine.apply(people[name], event, properties, at, now)
            logs[name].append((event, properties, at, now))
        if rng.random() < 0.2:
            engine.slide(people[name], now)
        for slot, trait in enumerate(engine.slots):
            expected = recomputed(trait, logs[name], now)
            assert canon(engine.value(people[name], slot, now)) == canon(expected), (
                f"seed {seed} step {step} slot {slot} {trait}"
            )
            if trait.kind == "avg" and trait.window is None:
                state = engine.state(people[name], slot)
                assert state is None or type(state[1]) is int, f"avg count of {trait}: {state}"


# -- most_frequent forms -------------------------------------------------------------------------

NAN = math.nan
POOL: tuple[Any, ...] = (
    "a",
    "b",
    "1",
    1,
    1.0,
    True,
    0,
    0.0,
    -0.0,
    False,
    2**70,
    1.5,
    *(f"s{n}" for n in range(36)),
)
"""Values for most_frequent: equal ones of different types (1, 1.0, True, Sub(1); 0, 0.0,
-0.0, False), enough strings to pass 32 values."""
OFTEN: tuple[Any, ...] = ("a", "b", "1", 1, 1.0, True, 0.0)
ODD: tuple[Any, ...] = (NAN, Sub(1))
"""Never coded (a NaN equals nothing, a subclass is not an exact type): a list state."""


def most_frequent_engines(cap: int) -> tuple[TraitEngine, TraitEngine, int]:
    """A generated and a reference engine with a most_frequent over E.x (and a unique list
    reading the same property, so the fold interns it for both); the slot."""
    engines = TraitEngine(most_frequent_codes=cap), TraitEngine(most_frequent_codes=cap)
    for engine in engines:
        slot = engine.add(ComputedTrait(key="f", kind="most_frequent", event="E", property="x"))
        engine.add(ComputedTrait(key="u", kind="unique_list", event="E", property="x", limit=3))
    return engines[0], engines[1], slot


@pytest.mark.parametrize("seed", range(30))
def test_most_frequent_forms_match_the_reference_and_the_events(seed: int) -> None:
    """Every form of a most_frequent state (array('B'), array('H') once codes or counts pass
    255, the list when a value gets no code, the dict past 32 values) folds as the reference
    does, merges with any other form, and reads the value recomputed from the events (equal
    values of different types count as one, kept as first seen)."""
    rng = random.Random(3_000 + seed)
    cap = ((_MOST_FREQUENT_CODES,) * 3 + (300, 12, 0))[seed % 6]
    generated, reference, slot = most_frequent_engines(cap)
    trait = generated.slots[slot]
    if rng.random() < 0.4:  # the table past 256 values: codes given later need two bytes
        for n in range(260):
            generated.apply(profile("w"), "E", {"x": f"w{n}"}, T0, T0)
            reference.apply_reference(profile("w"), "E", {"x": f"w{n}"}, T0, T0)
    names = ("p", "q", "r")
    mine = {name: profile(name) for name in names}
    theirs = {name: profile(name) for name in names}
    logs: dict[str, list[tuple[str, dict[str, Any], float, float]]] = {n: [] for n in names}
    forms: set[str] = set()
    for step in range(300):
        where = f"seed {seed} (cap {cap}) step {step}"
        name = rng.choice(names)
        a, b = mine[name], theirs[name]
        if rng.random() < 0.08:
            other = rng.choice([n for n in names if n != name])
            generated.merge(a, mine[other])
            reference.merge(b, theirs[other])
            logs[name] += logs[other]
            mine[other], theirs[other], logs[other] = profile(other), profile(other), []
        else:
            roll = rng.random()
            value = rng.choice(OFTEN if roll < 0.5 else POOL if roll < 0.98 else ODD)
            burst = 300 if rng.random() < 0.03 else 1  # counts past 255
            for _ in range(burst):
                touched = generated.apply(a, "E", {"x": value}, T0, T0)
                assert touched == reference.apply_reference(b, "E", {"x": value}, T0, T0)
                logs[name].append(("E", {"x": value}, T0, T0))
        assert_same_states(a, b, where)
        assert_same_codes(generated, reference, where)
        assert_same_values(generated, reference, a, b, T0, where)
        state = generated.state(a, slot)
        forms.add(state.typecode if isinstance(state, array) else type(state).__name__)
        expected = recomputed(trait, logs[name], T0)
        assert canon(generated.value(a, slot, T0)) == canon(expected), where
    assert forms - {"NoneType"}, forms


def test_most_frequent_counts_past_65535_match_the_reference() -> None:
    """A count past 255 turns an array('B') into an array('H'); past 65,535 into the list of
    values (Python ints count on); a merge past it too. Same states as the reference's."""
    generated, reference, slot = most_frequent_engines(_MOST_FREQUENT_CODES)
    a, b = profile("a"), profile("b")
    checks = {1: "B", 255: "B", 256: "H", 65_535: "H", 65_536: "list", 65_537: "list"}
    for count in range(1, 65_538):
        generated.apply(a, "E", {"x": "a"}, T0, T0)
        reference.apply_reference(b, "E", {"x": "a"}, T0, T0)
        if count in checks:
            state = generated.state(a, slot)
            form = state.typecode if isinstance(state, array) else type(state).__name__
            assert form == checks[count], count
            assert canon(state) == canon(reference.state(b, slot)), count
            assert generated.value(a, slot, T0) == "a"
    assert generated.state(a, slot) == ["a", 65_537, 0]
    generated.apply(a, "E", {"x": "b"}, T0, T0)
    assert generated.state(a, slot) == ["a", "b", 65_537, 1, 0]
    # Two arrays whose counts sum past 65,535 merge into a list.
    c, d = profile("c"), profile("d")
    for _ in range(40_000):
        generated.apply(c, "E", {"x": "z"}, T0, T0)
        generated.apply(d, "E", {"x": "z"}, T0, T0)
    assert generated.state(c, slot).typecode == "H"
    generated.merge(c, d)
    assert generated.state(c, slot) == ["z", 80_000, 0]
    assert generated.value(c, slot, T0) == "z"


# -- compact states ------------------------------------------------------------------------------


def window_sum(engine: TraitEngine, key: str = "s", days: float = 7.0) -> int:
    return engine.add(ComputedTrait(key=key, kind="sum", event="E", property="x", window_days=days))


def test_a_window_of_ints_is_one_array_and_sums_to_an_int() -> None:
    """Ints within ±2**53 are kept as doubles in one array (times then values); they read
    back as ints through apply, slide and merge."""
    engine = TraitEngine()
    slot = window_sum(engine)
    total = engine.add(ComputedTrait(key="m", kind="max", event="E", property="x", window_days=7))
    a, b = profile("a"), profile("b")
    for day, value in ((0, 5), (1, 2**53), (2, -7)):
        engine.apply(a, "E", {"x": value}, T0 + day * DAY, T0 + day * DAY)
    engine.apply(b, "E", {"x": 11}, T0 + 1.5 * DAY, T0 + 2 * DAY)
    state = engine.state(a, slot)
    assert type(state).__name__ == "_Ints" and len(state) == 6
    value = engine.value(a, slot, T0 + 2 * DAY)
    assert value == 5 + 2**53 - 7 and type(value) is int
    assert type(engine.value(a, total, T0 + 2 * DAY)) is int
    engine.merge(a, b)
    assert engine.value(a, slot, T0 + 2 * DAY) == 5 + 2**53 - 7 + 11
    changed, due = engine.slide(a, T0 + 7.2 * DAY)
    assert slot in changed and due == T0 + 8 * DAY
    value = engine.value(a, slot, T0 + 7.2 * DAY)
    assert value == 2**53 - 7 + 11 and type(value) is int


def test_a_window_of_floats_is_one_plain_array() -> None:
    engine = TraitEngine()
    slot = window_sum(engine)
    person = profile()
    engine.apply(person, "E", {"x": 0.1}, T0, T0)
    engine.apply(person, "E", {"x": 0.2}, T0 + 1, T0 + 1)
    state = engine.state(person, slot)
    assert type(state) is array and list(state) == [T0, T0 + 1, 0.1, 0.2]
    value = engine.value(person, slot, T0 + 2)
    assert value == 0.1 + 0.2 and type(value) is float


@pytest.mark.parametrize(
    ("first", "then"),
    [(1, 2.5), (2.5, 1), (1, 2**53 + 1), (2**70, 1), (1, Sub(2)), (1.5, Sub(2))],
)
def test_a_value_the_compact_form_cannot_keep_turns_it_into_a_tuple(first: Any, then: Any) -> None:
    """Mixed ints and floats, ints beyond ±2**53, int subclasses: (times, list) keeps every
    value as it came, so sums keep Python's types and exactness."""
    engine = TraitEngine()
    slot = window_sum(engine)
    person = profile()
    engine.apply(person, "E", {"x": first}, T0, T0)
    engine.apply(person, "E", {"x": then}, T0 - 1, T0)  # earlier: inserted before
    state = engine.state(person, slot)
    assert type(state) is tuple and type(state[1]) is list
    assert [type(v) for v in state[1]] == [type(then), type(first)]
    assert canon(engine.value(person, slot, T0)) == canon(then + first)


def test_windowed_values_of_any_type_come_back_as_they_were() -> None:
    engine = TraitEngine()
    last = engine.add(ComputedTrait(key="l", kind="last", event="E", property="x", window_days=1))
    often = engine.add(
        ComputedTrait(key="f", kind="most_frequent", event="E", property="x", window_days=1)
    )
    person = profile()
    for n, value in enumerate((True, 1, "a", True)):
        engine.apply(person, "E", {"x": value}, T0 + n, T0 + n)
    assert engine.value(person, last, T0 + 4) is True
    assert engine.value(person, often, T0 + 4) is True  # True == 1: one value, seen first
    engine.apply(person, "E", {"x": ["not", "hashable"]}, T0 + 5, T0 + 5)
    assert engine.value(person, last, T0 + 5) == ["not", "hashable"]


def test_avg_state_is_a_pair_and_keeps_int_sums() -> None:
    engine = TraitEngine()
    slot = engine.add(ComputedTrait(key="a", kind="avg", event="E", property="x"))
    a, b = profile("a"), profile("b")
    engine.apply(a, "E", {"x": 3}, T0, T0)
    engine.apply(a, "E", {"x": 4}, T0, T0)
    engine.apply(b, "E", {"x": 5}, T0, T0)
    assert engine.state(a, slot) == (7, 2) and type(engine.state(a, slot)[0]) is int
    engine.merge(a, b)
    assert engine.state(a, slot) == (12, 3) and engine.value(a, slot, T0) == 4.0


def test_most_frequent_keeps_its_best_and_turns_into_a_dict_past_32_values() -> None:
    """The best index follows counts (the first seen wins ties); the values are codes of the
    engine's table in an array; past 32 distinct values the state is a dict, and merging
    either form with the other keeps the same answer."""
    engine = TraitEngine()
    slot = engine.add(ComputedTrait(key="f", kind="most_frequent", event="E", property="x"))
    small, big = profile("s"), profile("b")
    for value in ("a", "b", "b", "a", "c"):
        engine.apply(small, "E", {"x": value}, T0, T0)
    assert canon(engine.state(small, slot)) == canon(array("B", [0, 1, 2, 2, 2, 1, 0]))
    assert engine._codes.values == ["a", "b", "c"]
    assert engine.value(small, slot, T0) == "a"  # tie: first seen
    engine.apply(small, "E", {"x": "c"}, T0, T0)
    engine.apply(small, "E", {"x": "c"}, T0, T0)
    assert engine.value(small, slot, T0) == "c"
    for n in range(40):
        engine.apply(big, "E", {"x": n}, T0, T0)
    engine.apply(big, "E", {"x": 39}, T0, T0)
    assert type(engine.state(big, slot)) is dict
    assert engine.value(big, slot, T0) == 39
    engine.merge(small, big)
    assert type(engine.state(small, slot)) is dict and engine.value(small, slot, T0) == "c"


def test_a_string_kept_in_a_state_is_interned() -> None:
    engine = TraitEngine()
    slot = engine.add(ComputedTrait(key="u", kind="unique_list", event="E", property="x"))
    often = engine.add(ComputedTrait(key="f", kind="most_frequent", event="E", property="x"))
    a, b = profile("a"), profile("b")
    engine.apply(a, "E", {"x": "".join(["sk", "u-1"])}, T0, T0)
    engine.apply(b, "E", {"x": "".join(["sku", "-1"])}, T0, T0)
    assert engine.state(a, slot)[0] is engine.state(b, slot)[0]
    assert engine.value(a, often, T0) is engine.value(b, often, T0)


# -- shared states and generated code ---------------------------------------------------------


def test_equal_states_are_kept_once() -> None:
    """Windowed counts over one event share a log; last and recency share the latest time;
    the list holds one entry per shared state, up to the highest one reached."""
    engine = TraitEngine()
    slots = [
        engine.add(ComputedTrait(key="n1", kind="count", event="E", window_days=1)),
        engine.add(ComputedTrait(key="last_e", kind="last", event="E")),
        engine.add(ComputedTrait(key="n7", kind="count", event="E", window_days=7)),
        engine.add(ComputedTrait(key="rec", kind="recency", event="E")),
        engine.add(ComputedTrait(key="f", kind="count", event="F")),
    ]
    assert [engine.place(s) for s in slots] == [0, 1, 0, 1, 2]
    assert engine.windowed_count(slots[2]) == (0, 7 * DAY)
    person = profile()
    assert engine.apply(person, "E", {}, T0, T0) == slots[:4]
    assert person.computed == [array("d", [T0]), T0]
    assert engine.value(person, slots[3], T0) == 5


def test_a_trait_added_once_states_exist_starts_empty() -> None:
    """Sharing an existing state would give a new trait a history it never saw (windowed
    counts excepted: their shared log always did)."""
    engine = TraitEngine()
    engine.add(ComputedTrait(key="last_e", kind="last", event="E"))
    engine.add(ComputedTrait(key="n1", kind="count", event="E", window_days=1))
    person = profile()
    engine.apply(person, "E", {}, T0, T0)
    recency = engine.add(ComputedTrait(key="rec", kind="recency", event="E"))
    week = engine.add(ComputedTrait(key="n7", kind="count", event="E", window_days=7))
    assert engine.value(person, recency, T0) == 0
    assert engine.value(person, week, T0) == 1
    engine.apply(person, "E", {}, T0 + 1, T0 + 1)
    assert engine.value(person, recency, T0 + 1) == 5
    assert engine.value(person, week, T0 + 1) == 2


@pytest.mark.parametrize(
    "name", ["x')\nimport os\n('", 'x"]; raise SystemExit; ["', "{states}", "a.b'c", "__import__"]
)
def test_definition_values_are_never_source_text(name: str) -> None:
    """Property and event names reach the generated code as namespace constants."""
    engine = TraitEngine()
    engine.add(ComputedTrait(key="s", kind="sum", event=name, property=name, window_days=2))
    engine.add(ComputedTrait(key="f", kind="first", event=name, property=name))
    source = engine.fold_source(name)
    assert name not in source
    person = profile()
    properties: dict[str, Any] = {name: 3}
    if "." in name:
        head, tail = name.split(".", 1)
        properties = {head: {tail: 3}}
    assert engine.apply(person, name, properties, T0, T0) == [0, 1]
    assert engine.value(person, 0, T0) == 3 and engine.value(person, 1, T0) == 3


def test_a_late_event_is_skipped_by_the_windows_it_missed_only() -> None:
    engine = TraitEngine()
    day_count = engine.add(ComputedTrait(key="d", kind="count", event="E", window_days=1))
    week_count = engine.add(ComputedTrait(key="w", kind="count", event="E", window_days=7))
    week_sum = window_sum(engine, "ws", 7)
    person = profile()
    touched = engine.apply(person, "E", {"x": 2}, T0 - 3 * DAY, T0)
    assert touched == [week_count, week_sum]
    assert engine.value(person, day_count, T0) == 0 and engine.value(person, week_count, T0) == 1
    assert engine.apply(person, "E", {"x": 2}, T0 - 8 * DAY, T0) == []
    assert engine.value(person, week_sum, T0) == 2
