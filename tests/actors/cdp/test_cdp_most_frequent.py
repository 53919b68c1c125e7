"""most_frequent states: arrays of codes from one table of values per engine (a few bytes a
value where a list of the values took 8 B a pointer), with exact values read back, and the
list and dict forms kept for what the arrays cannot hold."""

from __future__ import annotations

import math
import sys
from array import array
from datetime import UTC, datetime
from typing import Any

import pytest

from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.cdp.traits import ComputedTrait, TraitEngine

T0 = 1_767_571_200.0  # 2026-01-05


class Sub(int):
    """An int subclass: it gets no code (a code reads back exact types only)."""


def profile(name: str = "p") -> Profile:
    return Profile(name, datetime.fromtimestamp(T0, UTC))


def engine_with_trait(cap: int | None = None) -> tuple[TraitEngine, int]:
    engine = TraitEngine() if cap is None else TraitEngine(most_frequent_codes=cap)
    slot = engine.add(ComputedTrait(key="f", kind="most_frequent", event="E", property="x"))
    return engine, slot


def feed(engine: TraitEngine, person: Profile, *values: Any, reference: bool = False) -> None:
    apply = engine.apply_reference if reference else engine.apply
    for value in values:
        apply(person, "E", {"x": value}, T0, T0)


def exact(value: Any) -> tuple[str, str]:
    """A value with its type (1, 1.0, True and -0.0, 0.0 differ)."""
    return type(value).__name__, repr(value)


@pytest.mark.parametrize("reference", [False, True])
def test_profiles_share_one_table_of_codes_per_engine(reference: bool) -> None:
    engine, slot = engine_with_trait()
    a, b = profile("a"), profile("b")
    feed(engine, a, "sku-1", "sku-2", "sku-2", reference=reference)
    feed(engine, b, "sku-2", "sku-3", reference=reference)
    assert engine._codes.values == ["sku-1", "sku-2", "sku-3"]
    assert engine.state(a, slot) == array("B", [0, 1, 1, 2, 1])
    assert engine.state(b, slot) == array("B", [1, 2, 1, 1, 0])
    assert engine.value(a, slot, T0) == "sku-2" and engine.value(b, slot, T0) == "sku-2"
    other, _ = engine_with_trait()
    feed(other, profile(), "sku-3", reference=reference)
    assert other._codes.values == ["sku-3"]  # a table per engine, not per process


@pytest.mark.parametrize("reference", [False, True])
def test_equal_values_of_different_types_read_back_as_first_seen(reference: bool) -> None:
    """1, 1.0 and True are one value (as they always were: they are equal) counted under the
    first seen, and each gets its own code, so that each profile reads back its own."""
    engine, slot = engine_with_trait()
    people = [profile(name) for name in "pqrs"]
    feed(engine, people[0], True, 1, 1.0, "1", "1", reference=reference)
    feed(engine, people[1], 1.0, True, reference=reference)
    feed(engine, people[2], 1, "1", "1", reference=reference)
    feed(engine, people[3], "1", 1, True, reference=reference)
    assert [exact(engine.value(p, slot, T0)) for p in people] == [
        ("bool", "True"),
        ("float", "1.0"),
        ("str", "'1'"),
        ("int", "1"),
    ]
    # A value counted under an equal one of another type gets no code then (1 and 1.0 in p).
    assert [exact(v) for v in engine._codes.values] == [
        ("bool", "True"),
        ("str", "'1'"),
        ("float", "1.0"),
        ("int", "1"),
    ]
    assert engine.state(people[0], slot) == array("B", [0, 1, 3, 2, 0])  # True: 3 times
    assert all(type(engine.state(p, slot)) is array for p in people)


@pytest.mark.parametrize("reference", [False, True])
def test_float_zeros_keep_their_sign(reference: bool) -> None:
    engine, slot = engine_with_trait()
    minus, plus = profile("m"), profile("p")
    feed(engine, plus, 0.0, reference=reference)
    feed(engine, minus, -0.0, 0.0, False, 0, reference=reference)
    assert exact(engine.value(plus, slot, T0)) == ("float", "0.0")
    assert exact(engine.value(minus, slot, T0)) == ("float", "-0.0")
    assert engine.state(minus, slot) == array("B", [1, 4, 0])  # all four equal -0.0
    assert [exact(v) for v in engine._codes.values] == [("float", "0.0"), ("float", "-0.0")]


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("odd", [math.nan, Sub(7)])
def test_a_value_without_a_code_keeps_the_list_form(reference: bool, odd: Any) -> None:
    """A NaN (equal to nothing) and a subclass get no code: the state turns into the list of
    the values, which keeps them as they came."""
    engine, slot = engine_with_trait()
    person = profile()
    feed(engine, person, "a", odd, odd, reference=reference)
    state = engine.state(person, slot)
    assert type(state) is list and state[0] == "a" and state[1] is odd
    assert state[2:] == [1, 2, 1]
    assert engine.value(person, slot, T0) is odd
    assert engine._codes.values == ["a"]
    first = profile("f")
    feed(engine, first, odd, reference=reference)
    state = engine.state(first, slot)
    assert type(state) is list and state[0] is odd and state[1:] == [1, 0]


@pytest.mark.parametrize("reference", [False, True])
def test_codes_past_255_make_two_byte_arrays_exactly_sized(reference: bool) -> None:
    engine, slot = engine_with_trait()
    for n in range(256):
        feed(engine, profile(f"w{n}"), f"w{n}", reference=reference)
    small, big = profile("s"), profile("b")
    feed(engine, small, "w3", "w4", reference=reference)
    feed(engine, big, "w3", "new", "new", reference=reference)
    assert engine.state(small, slot).typecode == "B"
    state = engine.state(big, slot)
    assert state.typecode == "H" and list(state) == [3, 256, 1, 2, 1]
    assert engine.value(big, slot, T0) == "new"
    for state in (engine.state(small, slot), engine.state(big, slot)):
        empty = sys.getsizeof(array(state.typecode))
        assert sys.getsizeof(state) == empty + state.itemsize * len(state)


@pytest.mark.parametrize("reference", [False, True])
def test_a_count_past_255_makes_a_two_byte_array(reference: bool) -> None:
    engine, slot = engine_with_trait()
    person = profile()
    feed(engine, person, "b", *["a"] * 255, reference=reference)
    assert engine.state(person, slot) == array("B", [0, 1, 1, 255, 1])
    feed(engine, person, "a", reference=reference)
    state = engine.state(person, slot)
    assert state.typecode == "H" and list(state) == [0, 1, 1, 256, 1]
    assert engine.value(person, slot, T0) == "a"


@pytest.mark.parametrize("reference", [False, True])
def test_a_full_table_sends_new_values_to_the_list_form(reference: bool) -> None:
    """The table holds at most ``most_frequent_codes`` values: memory stays bounded whatever a
    property's cardinality; a state meeting a value without a code keeps plain values."""
    engine, slot = engine_with_trait(cap=2)
    coded, plain, late = profile("c"), profile("p"), profile("l")
    feed(engine, coded, "a", "b", "b", reference=reference)
    feed(engine, plain, "a", "c", "c", reference=reference)
    feed(engine, late, "d", reference=reference)
    assert engine._codes.values == ["a", "b"]
    assert engine.state(coded, slot) == array("B", [0, 1, 1, 2, 1])
    assert engine.state(plain, slot) == ["a", "c", 1, 2, 1]
    assert engine.state(late, slot) == ["d", 1, 0]
    assert engine.value(plain, slot, T0) == "c" and engine.value(late, slot, T0) == "d"
    turned = profile("t")
    feed(engine, turned, "a", "b", "b", "e", reference=reference)  # the best stays b
    assert engine.state(turned, slot) == ["a", "b", "e", 1, 2, 1, 1]
    engine.merge(coded, plain)  # a value without a code: the merge is a list too
    assert engine.state(coded, slot) == ["a", "b", "c", 2, 2, 2, 0]
    assert engine.value(coded, slot, T0) == "a"


def test_no_table_at_all_keeps_every_state_a_list() -> None:
    engine, slot = engine_with_trait(cap=0)
    person = profile()
    feed(engine, person, "a", "b", "b")
    assert engine.state(person, slot) == ["a", "b", 1, 2, 1] and engine._codes.values == []


@pytest.mark.parametrize("cap", [-1, 65_536])
def test_the_cap_fits_two_byte_codes(cap: int) -> None:
    with pytest.raises(ValueError, match="most_frequent codes cap"):
        TraitEngine(most_frequent_codes=cap)


def test_merges_pack_into_the_smallest_form_that_holds_them() -> None:
    """Array + list gives an array again when every value has a code; counts past 255 give
    an array('H'); past 32 values a dict, whatever the forms merged."""
    engine, slot = engine_with_trait()
    a, b, c, d = (profile(name) for name in "abcd")
    feed(engine, a, "x", "y", "y")
    feed(engine, b, "z", "x", "x", "x")
    assert engine.state(b, slot) == array("B", [2, 0, 1, 3, 1])
    b.computed[engine.place(slot)] = ["z", "x", 1, 3, 1]  # type: ignore[index]  # as a list
    engine.merge(a, b)
    assert engine.state(a, slot) == array("B", [0, 1, 2, 4, 2, 1, 0])  # x: 1 + 3
    assert engine.value(a, slot, T0) == "x"
    once, twice = profile("once"), profile("twice")
    feed(engine, once, "x")
    feed(engine, twice, "y", "y")
    engine.merge(once, twice)
    assert engine.state(once, slot) == array("B", [0, 1, 1, 2, 1])
    feed(engine, c, *["y"] * 200)
    feed(engine, d, *["y"] * 100)
    engine.merge(c, d)
    state = engine.state(c, slot)
    assert state.typecode == "H" and list(state) == [1, 300, 0]
    many = profile("many")
    feed(engine, many, *(f"v{n}" for n in range(33)))
    assert type(engine.state(many, slot)) is dict
    engine.merge(c, many)
    assert type(engine.state(c, slot)) is dict and engine.value(c, slot, T0) == "y"


def test_the_usual_event_counts_in_place() -> None:
    """A value the profile has seen is counted in its array (no new object); a string new to
    it grows the array into a new, exactly sized one."""
    engine, slot = engine_with_trait()
    person = profile()
    feed(engine, person, "a", "b")
    state = engine.state(person, slot)
    feed(engine, person, "b", "b")
    assert engine.state(person, slot) is state and list(state) == [0, 1, 1, 3, 1]
    feed(engine, person, "c")
    grown = engine.state(person, slot)
    assert grown is not state and list(grown) == [0, 1, 2, 1, 3, 1, 1]
    assert sys.getsizeof(grown) == sys.getsizeof(array("B")) + len(grown)


def test_a_state_takes_a_fraction_of_the_list_of_its_values() -> None:
    """The point of the codes: 17 distinct SKUs in 25 views take ~115 B, not ~345 B."""
    engine, slot = engine_with_trait()
    person = profile()
    views = [f"sku-{(n * 7) % 17:04d}" for n in range(25)]
    feed(engine, person, *views)
    state = engine.state(person, slot)
    assert type(state) is array and len(state) == 2 * 17 + 1
    counts: dict[str, int] = {}
    for sku in views:
        counts[sku] = counts.get(sku, 0) + 1
    as_list = [*counts, *counts.values(), 0]
    assert sys.getsizeof(state) == sys.getsizeof(array("B")) + len(state)
    assert sys.getsizeof(state) * 2.5 < sys.getsizeof(as_list)
    assert engine.value(person, slot, T0) == max(counts, key=counts.__getitem__)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("value", [["a"], {"a": 1}, None])
def test_values_that_cannot_be_counted_are_skipped(reference: bool, value: Any) -> None:
    engine, slot = engine_with_trait()
    person = profile()
    apply = engine.apply_reference if reference else engine.apply
    assert apply(person, "E", {"x": value}, T0, T0) == []
    assert engine.state(person, slot) is None and engine._codes.values == []
    assert engine.value(person, slot, T0) is None
