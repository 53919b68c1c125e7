"""Audiences (Engage-like): boolean conditions over traits, computed traits and events.

Conditions are plain frozen Structs, so they load from a declarative form (dict/JSON) with
msgspec, tagged by ``type``:

- ``{"type": "performed_event", "event": E, "at_least": 1, "at_most": null,
  "within_days": null}``: E happened between ``at_least`` and ``at_most`` times (in the last
  ``within_days`` days, or ever);
- ``{"type": "performed_after", "event": E, "after": F}``: E happened at or after the latest F
  (or ever, if F never happened). ``not`` of it reads "no E since the last F";
- ``{"type": "trait", "trait": K, "op": "gte", "value": 3}``: a trait (identify trait,
  computed trait or another audience's boolean) compared with ``eq ne gt gte lt lte in
  contains exists missing``;
- ``{"type": "and"|"or", "conditions": [...]}``, ``{"type": "not", "condition": {...}}``.

:func:`compile_condition` turns a condition into a predicate over a profile at a given time
plus its dependencies (event names, trait keys, whether time alone can change it), registering
the hidden computed-trait slots that windowed and "since" conditions need. The model uses the
dependencies to re-evaluate only the audiences an event can affect.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

import msgspec

from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.definitions import load_definitions

if TYPE_CHECKING:
    from promoloop.actors.cdp.traits import TraitEngine

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PerformedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="performed_event"):
    event: str
    at_least: int = 1
    at_most: int | None = None
    within_days: float | None = None

    def __post_init__(self) -> None:
        if not self.event:
            raise ValueError("performed_event.event must name an event")
        if self.at_least < 1:
            raise ValueError(f"performed_event.at_least must be >= 1, got {self.at_least}")
        if self.at_most is not None and self.at_most < self.at_least:
            raise ValueError(
                f"performed_event.at_most ({self.at_most}) must be >= at_least ({self.at_least})"
            )
        if self.within_days is not None and not self.within_days > 0:
            raise ValueError(
                f"performed_event.within_days must be > 0 or null, got {self.within_days}"
            )

    def events(self) -> frozenset[str]:
        return frozenset({self.event})

    def matches(self, profile: Profile) -> bool:
        """Lifetime form (no window), usable without a model."""
        count = profile.count(self.event)
        return count >= self.at_least and (self.at_most is None or count <= self.at_most)


class PerformedAfter(msgspec.Struct, frozen=True, kw_only=True, tag="performed_after"):
    event: str
    after: str

    def __post_init__(self) -> None:
        if not self.event:
            raise ValueError("performed_after.event must name an event")
        if not self.after:
            raise ValueError("performed_after.after must name an event")


Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists", "missing"]


class TraitCondition(msgspec.Struct, frozen=True, kw_only=True, tag="trait"):
    trait: str
    op: Op = "eq"
    value: Any = None

    def __post_init__(self) -> None:
        if not self.trait:
            raise ValueError("trait.trait must name a trait")
        if self.op == "in" and not isinstance(self.value, list | tuple):
            raise ValueError("trait.value must be a list when op is 'in'")
        if self.op in ("gt", "gte", "lt", "lte") and not (
            isinstance(self.value, int | float | str) and not isinstance(self.value, bool)
        ):
            raise ValueError(f"trait.value must be a number or a string for op {self.op!r}")


class And(msgspec.Struct, frozen=True, kw_only=True, tag="and"):
    conditions: list[Condition]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("and.conditions must not be empty")


class Or(msgspec.Struct, frozen=True, kw_only=True, tag="or"):
    conditions: list[Condition]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("or.conditions must not be empty")


class Not(msgspec.Struct, frozen=True, kw_only=True, tag="not"):
    condition: Condition


Condition = Union[PerformedEvent, PerformedAfter, TraitCondition, And, Or, Not]  # noqa: UP007

Mode = Literal["realtime", "batch", "adhoc"]


class Audience(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``mode``: ``realtime`` re-evaluates on every relevant event and window expiry;
    ``batch`` recomputes every ``every_hours`` (first run at sim start); ``adhoc`` computes
    once, at sim start or when :meth:`CdpModel.compute_audience` is called."""

    key: str
    name: str
    condition: Condition
    mode: Mode = "realtime"
    every_hours: float = 24.0

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(
                f"audience.key must be snake_case (letters, digits, _), got {self.key!r}"
            )
        if not self.every_hours > 0:
            raise ValueError(f"audience.every_hours must be > 0, got {self.every_hours}")


def load_audiences(data: bytes | str | Sequence[Any]) -> list[Audience]:
    """Audiences from JSON (bytes/str) or parsed data (a list of audience objects).

    Errors name the item and the field: ``audiences[0]: Expected `int`, got `str` - at
    `$.condition.conditions[1].at_least```.
    """
    return load_definitions(data, "audiences", Audience)


# -- compilation --------------------------------------------------------------------------------

TraitReader = Callable[[Profile, str, float], Any]
Predicate = Callable[[Profile, float], bool]


@dataclass
class Compiled:
    """A condition ready to evaluate, and what can change its outcome: the events and traits
    it reads, whether time alone can change it (``timed``) and through which computed-trait
    slots (``slots``: windows and recency scores), so window expiry re-evaluates only the
    audiences whose slots actually changed."""

    predicate: Predicate
    events: set[str] = field(default_factory=set)
    traits: set[str] = field(default_factory=set)
    timed: bool = False
    slots: set[int] = field(default_factory=set)


def compile_condition(condition: Condition, engine: TraitEngine, read: TraitReader) -> Compiled:
    """``read(profile, key, now)`` gives a trait's value (identify, computed or audience).

    Computed traits known at compile time are read through ``engine.cached`` (one computation
    per profile and instant, however many audiences read them); ``and``/``or`` of two parts
    and comparisons are specialised closures, since they run for every candidate audience of
    every event.
    """
    if isinstance(condition, PerformedEvent):
        return _compile_performed(condition, engine)
    if isinstance(condition, PerformedAfter):
        event_slot = engine.internal(kind="last", event=condition.event)
        after_slot = engine.internal(kind="last", event=condition.after)

        def performed_after(profile: Profile, now: float) -> bool:
            when = engine.last_time(profile, event_slot)
            if when is None:
                return False
            since = engine.last_time(profile, after_slot)
            return since is None or when >= since

        return Compiled(performed_after, events={condition.event, condition.after})
    if isinstance(condition, TraitCondition):
        test = comparison(condition.op, condition.value)
        key = condition.trait
        slot = engine.public.get(key)
        if slot is None:
            return Compiled(lambda profile, now: test(read(profile, key, now)), traits={key})
        trait = engine.slots[slot]
        timed = trait.window is not None or trait.kind == "recency"
        cached = engine.cached
        return Compiled(
            lambda profile, now: test(cached(profile, slot, now)),
            events={trait.event},
            traits={key},
            timed=timed,
            slots={slot} if timed else set(),
        )
    if isinstance(condition, Not):
        inner = compile_condition(condition.condition, engine, read)
        inner_predicate = inner.predicate
        return Compiled(
            lambda profile, now: not inner_predicate(profile, now),
            inner.events,
            inner.traits,
            inner.timed,
            inner.slots,
        )
    parts = [compile_condition(c, engine, read) for c in condition.conditions]
    return Compiled(
        _combine(isinstance(condition, And), [p.predicate for p in parts]),
        set().union(*(p.events for p in parts)),
        set().union(*(p.traits for p in parts)),
        any(p.timed for p in parts),
        set().union(*(p.slots for p in parts)),
    )


def _combine(conjunction: bool, predicates: list[Predicate]) -> Predicate:
    """``and``/``or`` with short-circuit; two parts (the common case) without a loop."""
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        if conjunction:
            return lambda profile, now: first(profile, now) and second(profile, now)
        return lambda profile, now: first(profile, now) or second(profile, now)

    def every(profile: Profile, now: float) -> bool:
        return all(predicate(profile, now) for predicate in predicates)

    def some(profile: Profile, now: float) -> bool:
        return any(predicate(profile, now) for predicate in predicates)

    return every if conjunction else some


def _compile_performed(condition: PerformedEvent, engine: TraitEngine) -> Compiled:
    at_least, at_most, name = condition.at_least, condition.at_most, condition.event
    if condition.within_days is None:

        def lifetime(profile: Profile, now: float) -> bool:
            count = profile.count(name)
            return count >= at_least and (at_most is None or count <= at_most)

        return Compiled(lifetime, events={name})
    slot = engine.internal(kind="count", event=name, window_days=condition.within_days)
    cached = engine.cached

    def windowed(profile: Profile, now: float) -> bool:
        count = cached(profile, slot, now)
        return count >= at_least and (at_most is None or count <= at_most)

    return Compiled(windowed, events={name}, timed=True, slots={slot})


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def comparison(op: str, expected: Any) -> Callable[[Any], bool]:
    """The test of a trait condition: ``comparison("gte", 3)(value)``."""
    if op == "exists":
        return lambda value: value is not None
    if op == "missing":
        return lambda value: value is None
    if op == "eq":
        return lambda value: value == expected
    if op == "ne":
        return lambda value: value != expected
    if op == "in":
        options = list(expected)
        return lambda value: value in options
    if op == "contains":
        return lambda value: isinstance(value, list | str) and _contains(value, expected)
    compare = _ORDERED[op]
    if isinstance(expected, str):
        # Strings compare with strings only.
        return lambda value: isinstance(value, str) and bool(compare(value, expected))

    def numeric(value: Any) -> bool:
        # Numbers compare with numbers only; booleans are not numbers here.
        kind = value.__class__
        if kind is int or kind is float:
            return bool(compare(value, expected))
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return bool(compare(value, expected))

    return numeric


def _contains(value: list[Any] | str, expected: Any) -> bool:
    if isinstance(value, str):
        return isinstance(expected, str) and expected in value
    return expected in value
