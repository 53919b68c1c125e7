"""Tracking plans (Protocols-like): which events a source may send and what their properties
look like, enforced per source, with every violation recorded and queryable.

A plan lists ``events`` (track event name → property rules) and optionally ``identify``
(trait rules). Each source gets a plan and an :class:`Enforcement`:

- ``unplanned_events``: ``allow`` (record a violation, ingest) or ``block`` (record, drop);
- ``unplanned_properties``: ``allow`` (record, keep) or ``omit`` (record, strip them from the
  event before anything else sees it: profiles, audiences, destinations);
- ``invalid_events`` (a planned event with a missing required property, a wrong type or a value
  outside ``enum``): ``allow`` (record, ingest) or ``block`` (record, drop).

Sources without a plan are not checked. Blocked events are accepted by the API (as Segment's
are) and counted; they never reach a profile or a destination.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
import msgspec.structs

from promoloop.actors.events.segment import Identify, SegmentEvent, Track

PropertyType = Literal["string", "number", "integer", "boolean", "object", "array", "null", "any"]

RULES = ("unplanned_event", "unplanned_property", "missing_property", "wrong_type", "not_in_enum")


class PropertyRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: PropertyType | list[PropertyType] = "any"
    required: bool = False
    enum: list[Any] | None = None

    def types(self) -> tuple[str, ...]:
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)


class EventRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    properties: dict[str, PropertyRule] = msgspec.field(default_factory=dict)
    description: str = ""


class TrackingPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    events: dict[str, EventRule] = msgspec.field(default_factory=dict)
    identify: EventRule | None = None


class Enforcement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    unplanned_events: Literal["allow", "block"] = "allow"
    unplanned_properties: Literal["allow", "omit"] = "allow"
    invalid_events: Literal["allow", "block"] = "allow"


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One broken rule of one call; ``action`` is what enforcement did about it."""

    at: datetime
    source: str
    plan: str
    type: str
    event: str | None
    message_id: str
    rule: str
    property: str | None
    reason: str
    action: Literal["allowed", "blocked", "omitted"]


def load_tracking_plan(data: bytes | str | dict[str, Any]) -> TrackingPlan:
    """A plan from JSON or a dict; errors name the field (``... - at `$.events.X.properties```)."""
    try:
        if isinstance(data, bytes | str):
            return msgspec.json.decode(data, type=TrackingPlan)
        return msgspec.convert(data, TrackingPlan)
    except msgspec.ValidationError as error:
        raise ValueError(f"tracking_plan: {error}") from None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
}


def _type_ok(value: Any, types: Sequence[str]) -> bool:
    for name in types:
        if name == "any":
            return True
        if name == "null":
            if value is None:
                return True
            continue
        if isinstance(value, bool) and name in ("number", "integer"):
            continue
        if isinstance(value, _JSON_TYPES[name]):
            return True
    return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array"


class TrackingPlans:
    """Plans assigned to sources, the checks, and the violation record.

    ``recent`` keeps the last ``keep`` violations (queryable with :meth:`violations`);
    ``counts`` counts every violation by ``(source, rule)`` for ever, so nothing is lost from
    the totals when old records roll off.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._plans: dict[str, tuple[TrackingPlan, Enforcement]] = {}
        self.recent: deque[Violation] = deque(maxlen=keep)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.blocked: Counter[str] = Counter()

    def assign(
        self, source: str, plan: TrackingPlan, enforcement: Enforcement | None = None
    ) -> None:
        self._plans[source] = (plan, enforcement or Enforcement())

    def plan_of(self, source: str) -> tuple[TrackingPlan, Enforcement] | None:
        return self._plans.get(source)

    def violations(
        self, *, source: str | None = None, event: str | None = None, rule: str | None = None
    ) -> list[Violation]:
        """Recorded violations, oldest first, filtered by any of source, event name, rule."""
        if rule is not None and rule not in RULES:
            raise ValueError(f"unknown rule {rule!r} (one of {', '.join(RULES)})")
        return [
            v
            for v in self.recent
            if (source is None or v.source == source)
            and (event is None or v.event == event)
            and (rule is None or v.rule == rule)
        ]

    def check(self, source: str, event: SegmentEvent, at: datetime) -> SegmentEvent | None:
        """The event as enforcement lets it through (maybe with properties omitted), or None
        when it is blocked. Violations are recorded either way."""
        assigned = self._plans.get(source)
        if assigned is None:
            return event
        plan, enforcement = assigned
        if isinstance(event, Track):
            rule = plan.events.get(event.event)
            name: str | None = event.event
            payload = event.properties
        elif isinstance(event, Identify) and plan.identify is not None:
            rule, name, payload = plan.identify, None, event.traits
        else:
            return event
        found: list[tuple[str, str | None, str]] = []
        if rule is None:
            found.append(("unplanned_event", None, f"event {name!r} is not in plan {plan.name!r}"))
            blocked = enforcement.unplanned_events == "block"
            self._record(at, source, plan, event, name, found, "blocked" if blocked else "allowed")
            if blocked:
                self.blocked[source] += 1
                return None
            return event
        unplanned = [key for key in payload if key not in rule.properties]
        invalid: list[tuple[str, str | None, str]] = []
        for key, prop in rule.properties.items():
            if key not in payload:
                if prop.required:
                    invalid.append(
                        ("missing_property", key, f"required property {key!r} is missing")
                    )
                continue
            value = payload[key]
            if not _type_ok(value, prop.types()):
                invalid.append(
                    (
                        "wrong_type",
                        key,
                        f"property {key!r} must be {' or '.join(prop.types())}, "
                        f"got {_type_name(value)}",
                    )
                )
            elif prop.enum is not None and value not in prop.enum:
                invalid.append(
                    (
                        "not_in_enum",
                        key,
                        f"property {key!r} must be one of {prop.enum!r}, got {value!r}",
                    )
                )
        blocked = bool(invalid) and enforcement.invalid_events == "block"
        action_invalid = "blocked" if blocked else "allowed"
        self._record(at, source, plan, event, name, invalid, action_invalid)
        omit = enforcement.unplanned_properties == "omit"
        unplanned_action = "blocked" if blocked else ("omitted" if omit else "allowed")
        self._record(
            at,
            source,
            plan,
            event,
            name,
            [
                ("unplanned_property", key, f"property {key!r} is not planned for this event")
                for key in unplanned
            ],
            unplanned_action,
        )
        if blocked:
            self.blocked[source] += 1
            return None
        if omit and unplanned:
            kept = {k: v for k, v in payload.items() if k in rule.properties}
            field = "properties" if isinstance(event, Track) else "traits"
            return msgspec.structs.replace(event, **{field: kept})
        return event

    def _record(
        self,
        at: datetime,
        source: str,
        plan: TrackingPlan,
        event: SegmentEvent,
        name: str | None,
        found: list[tuple[str, str | None, str]],
        action: Literal["allowed", "blocked", "omitted"],
    ) -> None:
        for rule, prop, reason in found:
            self.counts[(source, rule)] += 1
            self.recent.append(
                Violation(
                    at=at,
                    source=source,
                    plan=plan.name,
                    type=event.__struct_config__.tag,  # type: ignore[arg-type]
                    event=name,
                    message_id=event.message_id,
                    rule=rule,
                    property=prop,
                    reason=reason,
                    action=action,
                )
            )
