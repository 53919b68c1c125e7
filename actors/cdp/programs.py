"""Audience programs: one generated Python function re-evaluates a set of realtime audiences.

Why generate code: re-evaluating the audiences an event can change is the CDP's hottest loop
(every call re-evaluates a dozen of the 50 bench audiences, and every window expiry a few).
Evaluated as a tree of closures, each audience costs a heap pop, a predicate call, a memo
lookup per computed trait and a comparison call; the same condition as straight-line code
costs a few bytecodes. The technique is the standard library's (``dataclasses``,
``namedtuple``): the *structure* of the source is generated from validated definitions, and
every value that comes from a definition (thresholds, names, keys, comparison closures) is
passed in the namespace under a generated name, never spliced into the source text.

Semantics are those of the closure form (:func:`compile_condition`), which stays the reference
(batch and ad-hoc audiences use it): audiences are evaluated in definition order; the
``candidates`` always, and an audience that reads the boolean trait of another only when that
one changed in this pass (as the model pushed dependents before). Each computed trait value is
computed at most once per pass (states do not change while audiences are evaluated; audience
booleans do, and are read afresh each time): up front when the pass always reads it (an
audience's condition or the first operand of its and/or), otherwise on first use, so an operand
the pass short-circuits reads nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from promoloop.actors.cdp.audiences import (
    And,
    Condition,
    Not,
    Or,
    PerformedAfter,
    PerformedEvent,
    TraitCondition,
    TraitReader,
    comparison,
)
from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.cdp.traits import TraitEngine

Change = Callable[[Profile, int, bool, Any, float], Any]
"""``change(profile, index, entered, at, now)`` applies one membership change (the model's)."""
Program = Callable[[Profile, float, Any, Change, list[Any]], None]
"""``program(profile, now, at, change, out)`` appends each change's result to ``out``."""

_UNSET = object()
_NUMBERS = (int, float)


class _Emitter:
    """Turns conditions into Python expressions over ``profile``, ``now`` and locals."""

    def __init__(self, engine: TraitEngine, read: TraitReader, predicate_of: Any) -> None:
        self.engine = engine
        self.namespace: dict[str, Any] = {
            "_UNSET": _UNSET,
            "_NUMBERS": _NUMBERS,
            "_read": read,
            "_bisect": bisect.bisect_right,
        }
        self.slots: list[int] = []
        """Slots read lazily (each a local set to ``_UNSET`` first, computed on first use)."""
        self.eager: set[int] = set()
        """Slots every pass reads: computed once at the top (see :func:`_certain_slots`), then
        plain locals: no memo test at each read."""
        self.computes: dict[int, str] = {}
        """Slot → the expression computing its value."""
        self.readers: dict[int, str] = {}
        """Slot → the name its reader has in the namespace."""
        self.shared: dict[PerformedAfter, str] = {}
        """``performed_after`` conditions → the local holding their outcome: a ladder of
        audiences repeats one ("no order since the last cart") and it is computed once."""
        self._predicate_of = predicate_of

    def const(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def value(self, slot: int) -> str:
        """The expression of computed slot ``slot``'s value: its local when every pass computes
        it up front, else computed on first use (a windowed count, the commonest read, inline:
        a bisection of its shared log)."""
        compute = self.computes.get(slot)
        if compute is None:
            compute = self.computes[slot] = self._compute(slot)
        if slot in self.eager:
            return f"v{slot}"
        if slot not in self.slots:
            self.slots.append(slot)
        return f"(v{slot} if v{slot} is not _UNSET else (v{slot} := {compute}))"

    def _compute(self, slot: int) -> str:
        counted = self.engine.windowed_count(slot)
        if counted is None:
            # The slot's reader itself, not TraitEngine.value: one call less per read.
            reader = self.readers.get(slot)
            if reader is None:
                reader = self.readers[slot] = self.const(self.engine.reader(slot))
            compute = f"{reader}(states, now)"
        else:
            owner, window = counted
            log = f"(states[{owner}] if states is not None and {owner} < len(states) else None)"
            compute = (
                f"(len(_log) - _bisect(_log, now - {self.const(window)}) if (_log := {log}) else 0)"
            )
        return compute

    def slot_of(self, condition: TraitCondition | PerformedEvent) -> int | None:
        """The computed slot a trait condition or a windowed ``performed_event`` reads."""
        if isinstance(condition, TraitCondition):
            return self.engine.public.get(condition.trait)
        if condition.within_days is None:
            return None
        return self.engine.internal(
            kind="count", event=condition.event, window_days=condition.within_days
        )

    def expr(self, condition: Condition) -> str:
        if isinstance(condition, PerformedEvent):
            return self._performed(condition)
        if isinstance(condition, PerformedAfter):
            local = self.shared.get(condition)
            if local is None:
                local = self.shared[condition] = f"a{len(self.shared)}"
            predicate = self.const(self._predicate_of(condition))
            return f"({local} if {local} is not _UNSET else ({local} := {predicate}(profile, now)))"
        if isinstance(condition, TraitCondition):
            return self._trait(condition)
        if isinstance(condition, Not):
            return f"(not {self.expr(condition.condition)})"
        joiner = " and " if isinstance(condition, And) else " or "
        assert isinstance(condition, And | Or)
        return "(" + joiner.join(self.expr(c) for c in condition.conditions) + ")"

    def _bounds(self, value: str, at_least: int, at_most: int | None) -> str:
        low = self.const(at_least)
        if at_most is None:
            return f"({value} >= {low})"
        return f"({low} <= {value} <= {self.const(at_most)})"

    def _performed(self, condition: PerformedEvent) -> str:
        slot = self.slot_of(condition)
        if slot is None:
            count = f"profile.count({self.const(condition.event)})"
            return self._bounds(count, condition.at_least, condition.at_most)
        return self._bounds(self.value(slot), condition.at_least, condition.at_most)

    def _trait(self, condition: TraitCondition) -> str:
        test = self.const(comparison(condition.op, condition.value))
        slot = self.slot_of(condition)
        if slot is None:
            return f"{test}(_read(profile, {self.const(condition.trait)}, now))"
        value = self.value(slot)
        expected = condition.value
        if condition.op == "eq":
            return f"({value} == {self.const(expected)})"
        if condition.op == "ne":
            return f"({value} != {self.const(expected)})"
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}.get(condition.op)
        if symbol is not None and type(expected) in _NUMBERS:
            if self.engine.windowed_count(slot):
                return f"({value} {symbol} {self.const(expected)})"  # a windowed count: an int
            # Plain ints and floats compare inline; anything else (bool, str, None, a
            # subclass) goes through the reference comparison.
            local = f"v{slot}"
            return (
                f"(({local} {symbol} {self.const(expected)}) if type({value}) in _NUMBERS "
                f"else {test}({local}))"
            )
        return f"{test}({value})"


def build_program(
    candidates: Sequence[int],
    table: Sequence[tuple[str, Condition, int] | None],
    dependents: dict[int, list[int]],
    engine: TraitEngine,
    read: TraitReader,
    predicate_of: Callable[[Condition], Callable[[Profile, float], bool]],
) -> Program:
    """The program re-evaluating ``candidates`` (definition indexes) and, when an audience
    changes, the audiences reading its boolean (``dependents``: index → indexes).

    ``table[index]`` is ``(key, condition, bit)`` of a realtime audience, None otherwise;
    ``predicate_of(condition)`` gives the reference predicate of a condition the program
    calls rather than inlines (``performed_after``).
    """
    chosen = set(candidates)
    triggers: dict[int, int] = {}
    """Index evaluated only as a dependent → mask of the audiences whose change triggers it."""
    for index in sorted(chosen):
        _add_dependents(index, table, dependents, triggers)
    emitter = _Emitter(engine, read, predicate_of)
    eager: list[int] = []
    for index in sorted(chosen):
        entry = table[index]
        if entry is not None:
            _certain_slots(entry[1], emitter, eager)
    emitter.eager.update(eager)
    body: list[str] = []
    for index in sorted(chosen | triggers.keys()):
        entry = table[index]
        if entry is None:
            continue
        _, condition, bit = entry
        mask = emitter.const(bit)
        indent = "    "
        if index not in chosen:
            body.append(f"    if changed & {emitter.const(triggers[index])}:")
            indent = "        "
        body.append(f"{indent}q = {emitter.expr(condition)}")
        body.append(f"{indent}if q != (members & {mask} != 0):")
        body.append(f"{indent}    out.append(change(profile, {index}, q, at, now))")
        body.append(f"{indent}    members = profile.members")
        if dependents.get(index):
            body.append(f"{indent}    changed |= {mask}")
    head = [
        "def program(profile, now, at, change, out):",
        "    states = profile.computed",
        "    members = profile.members",  # re-read after each change: a change flips a bit
    ]
    head.append("    changed = 0")
    # In the order the pass first reads them (the values do not depend on it: states do not
    # change during a pass).
    head.extend(f"    v{slot} = {emitter.computes[slot]}" for slot in eager)
    head.extend(f"    v{slot} = _UNSET" for slot in emitter.slots)
    head.extend(f"    {local} = _UNSET" for local in emitter.shared.values())
    source = "\n".join([*head, *body, "    return None", ""])
    namespace = emitter.namespace
    exec(compile(source, f"<audience program {tuple(candidates)}>", "exec"), namespace)
    program: Program = namespace["program"]
    program.__doc__ = source  # readable when debugging: help(program) shows the code
    return program


def _add_dependents(
    index: int,
    table: Sequence[tuple[str, Condition, int] | None],
    dependents: dict[int, list[int]],
    triggers: dict[int, int],
) -> None:
    entry = table[index]
    if entry is None:
        return
    for dependent in dependents.get(index, ()):
        known = triggers.get(dependent)
        triggers[dependent] = (known or 0) | entry[2]
        if known is None:
            _add_dependents(dependent, table, dependents, triggers)


def _certain_slots(condition: Condition, emitter: _Emitter, out: list[int]) -> None:
    """Append to ``out`` the computed slots evaluating ``condition`` always reads (its first
    operand's, under and/or: the others may be short-circuited), in reading order."""
    if isinstance(condition, TraitCondition | PerformedEvent):
        slot = emitter.slot_of(condition)
        if slot is not None and slot not in out:
            out.append(slot)
    elif isinstance(condition, Not):
        _certain_slots(condition.condition, emitter, out)
    elif isinstance(condition, And | Or) and condition.conditions:
        _certain_slots(condition.conditions[0], emitter, out)
