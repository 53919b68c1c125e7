"""The CDP's condition vocabulary, evaluated on the journey engine's own view of a customer.

Branches reuse :mod:`promoloop.actors.cdp.audiences` conditions so a marketer writes the same
``trait`` / ``performed_event`` / ``performed_after`` / ``and`` / ``or`` / ``not`` in an audience
and in a journey. The engine keeps only counts and last times of the events its journeys read
(not full histories), so a windowed ``performed_event`` is supported for "at least once within
N days" (the last time is enough); a windowed count above one needs a CDP computed trait, and
:func:`compile_condition` refuses it with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from promoloop.actors.cdp.audiences import (
    And,
    Condition,
    Not,
    Or,
    PerformedAfter,
    PerformedEvent,
    TraitCondition,
    comparison,
)
from promoloop.actors.messaging.journeys.definition import DAY
from promoloop.actors.messaging.journeys.state import CustomerState

Check = Callable[[CustomerState, float], bool]


def events_read(condition: Condition) -> set[str]:
    """The event names a condition reads (the engine counts only those)."""
    if isinstance(condition, PerformedEvent):
        return {condition.event}
    if isinstance(condition, PerformedAfter):
        return {condition.event, condition.after}
    if isinstance(condition, TraitCondition):
        return set()
    if isinstance(condition, Not):
        return events_read(condition.condition)
    return set().union(*(events_read(c) for c in condition.conditions))


def compile_condition(condition: Condition) -> Check:
    """A predicate ``check(customer, now)``; raises ValueError for what the view cannot answer."""
    if isinstance(condition, TraitCondition):
        test = comparison(condition.op, condition.value)
        key = condition.trait
        return lambda customer, now: test(customer.trait(key))
    if isinstance(condition, PerformedEvent):
        return _performed(condition)
    if isinstance(condition, PerformedAfter):
        event, after = condition.event, condition.after

        def performed_after(customer: CustomerState, now: float) -> bool:
            when = customer.last.get(event)
            if when is None:
                return False
            since = customer.last.get(after)
            return since is None or when >= since

        return performed_after
    if isinstance(condition, Not):
        inner = compile_condition(condition.condition)
        return lambda customer, now: not inner(customer, now)
    parts = [compile_condition(c) for c in condition.conditions]
    if isinstance(condition, And):
        return lambda customer, now: all(p(customer, now) for p in parts)
    assert isinstance(condition, Or)
    return lambda customer, now: any(p(customer, now) for p in parts)


def _performed(condition: PerformedEvent) -> Check:
    event, at_least, at_most = condition.event, condition.at_least, condition.at_most
    if condition.within_days is None:

        def lifetime(customer: CustomerState, now: float) -> bool:
            count = customer.counts.get(event, 0)
            return count >= at_least and (at_most is None or count <= at_most)

        return lifetime
    if at_least != 1 or at_most is not None:
        raise ValueError(
            f"performed_event {event!r} within {condition.within_days} days: journeys only "
            "answer 'at least once within N days'; for windowed counts define a CDP computed "
            "trait and branch on it"
        )
    window = condition.within_days * DAY

    def recent(customer: CustomerState, now: float) -> bool:
        when = customer.last.get(event)
        return when is not None and now - when <= window

    return recent
