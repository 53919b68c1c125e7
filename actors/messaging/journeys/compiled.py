"""Checking a journey when it is defined, and turning it into an indexed graph to run.

Why at definition: a step name typo, a loop that never waits or a template nobody registered
is a scenario bug; it must surface with the journey's and the step's name when the journey is
set up, not as a stuck customer on day 40 of a 100k-customer run. :func:`compile_journey`
raises :class:`JourneyError` for:

- duplicate step names, steps referring to unknown steps;
- steps no path from the first step reaches;
- cycles in which no step waits (a ``wait`` or ``wait_until``): they would spin forever;
- unknown channels (``email``, ``push``, ``sms``, ``ads``);
- a ``wait_until`` without a positive timeout, a ``wait`` without a positive duration;
- unknown stages, a bad re-entry rule, a next-best-action step without arms;
- templates missing from ``templates``, when the set of known template names is given;
- conditions the engine cannot evaluate.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from promoloop.actors.messaging.journeys.conditions import Check, compile_condition, events_read
from promoloop.actors.messaging.journeys.definition import (
    DAY,
    STAGES,
    Branch,
    Exit,
    Journey,
    NextBestAction,
    PublishCode,
    Send,
    SetStage,
    StageEntry,
    Step,
    Wait,
    WaitUntil,
)
from promoloop.actors.messaging.policy import CHANNELS

END = -1
"""The target index meaning "the journey ends here"."""


class JourneyError(ValueError):
    """A journey that cannot run, naming the journey and (when it is about one) the step."""

    def __init__(self, journey: str, message: str, step: str | None = None) -> None:
        where = f"journey {journey!r}" + (f", step {step!r}" if step is not None else "")
        super().__init__(f"{where}: {message}")
        self.journey = journey
        self.step = step


@dataclass
class Node:
    """A step with its targets resolved to indices (``END`` = leave the journey)."""

    step: Step
    next: int
    targets: tuple[int, ...] = ()
    """Branch: one per case; wait_until: (on_event, on_timeout); publish_code: (on_failure,)."""
    checks: tuple[Check, ...] = ()
    """Branch: the compiled case conditions."""


@dataclass
class CompiledJourney:
    journey: Journey
    nodes: list[Node]
    events: set[str] = field(default_factory=set)
    """Events the journey reads (conditions, wait-until, entry, exit)."""

    @property
    def name(self) -> str:
        return self.journey.name


def _references(step: Step) -> list[str | None]:
    """The step names a step refers to (``None``: the following step)."""
    refs: list[str | None] = [step.next]
    if isinstance(step, Branch):
        refs += [case.goto for case in step.cases] + [step.otherwise]
    elif isinstance(step, WaitUntil):
        refs += [step.on_event, step.on_timeout]
    elif isinstance(step, PublishCode):
        refs.append(step.on_failure)
    return refs


def compile_journey(journey: Journey, templates: Collection[str] | None = None) -> CompiledJourney:
    """Validate ``journey`` and index it; ``templates``: the template names the destinations
    know (checked when given)."""
    name = journey.name
    if not name:
        raise JourneyError(name, "a journey needs a name")
    if not journey.steps:
        raise JourneyError(name, "a journey needs at least one step")
    if journey.reentry not in ("never", "after", "always"):
        raise JourneyError(name, f"reentry must be never, after or always, not {journey.reentry!r}")
    if journey.reentry == "after" and not journey.reentry_days > 0:
        raise JourneyError(name, "reentry 'after' needs reentry_days > 0")
    if not 0.0 <= journey.holdout_share < 1.0:
        raise JourneyError(
            name, f"holdout_share must be within [0, 1), not {journey.holdout_share}"
        )
    if isinstance(journey.entry, StageEntry) and journey.entry.stage not in STAGES:
        raise JourneyError(name, f"unknown entry stage {journey.entry.stage!r} (known: {STAGES})")

    index: dict[str, int] = {}
    for i, step in enumerate(journey.steps):
        if not step.name:
            raise JourneyError(name, f"step #{i} has no name")
        if step.name in index:
            raise JourneyError(name, "duplicate step name", step.name)
        index[step.name] = i

    def resolve(step: Step, ref: str | None, position: int) -> int:
        if ref is None:
            return position + 1 if position + 1 < len(journey.steps) else END
        if ref not in index:
            raise JourneyError(name, f"refers to unknown step {ref!r}", step.name)
        return index[ref]

    nodes: list[Node] = []
    events: set[str] = set()
    for i, step in enumerate(journey.steps):
        _check_step(name, step, templates)
        following = END if isinstance(step, Exit) else resolve(step, step.next, i)
        node = Node(step, following)
        if isinstance(step, Branch):
            node.targets = tuple(resolve(step, c.goto, i) for c in step.cases)
            node.next = resolve(step, step.otherwise, i)
            try:
                node.checks = tuple(compile_condition(c.when) for c in step.cases)
            except ValueError as error:
                raise JourneyError(name, str(error), step.name) from None
            for case in step.cases:
                events |= events_read(case.when)
        elif isinstance(step, WaitUntil):
            node.targets = (resolve(step, step.on_event, i), resolve(step, step.on_timeout, i))
            events.add(step.event)
        elif isinstance(step, PublishCode):
            node.targets = (resolve(step, step.on_failure, i),)
        nodes.append(node)

    _check_reachable(name, nodes)
    _check_waitless_cycles(name, nodes)
    return CompiledJourney(journey, nodes, events)


def _check_step(name: str, step: Step, templates: Collection[str] | None) -> None:
    def template(channel: str | None, template_name: str) -> None:
        if channel is not None and channel not in CHANNELS:
            raise JourneyError(
                name, f"unknown channel {channel!r} (known: {sorted(CHANNELS)})", step.name
            )
        if channel is not None and not template_name:
            raise JourneyError(name, f"a {channel} message needs a template", step.name)
        if channel is not None and templates is not None and template_name not in templates:
            raise JourneyError(name, f"unknown template {template_name!r}", step.name)

    if isinstance(step, Wait) and not step.seconds > 0:
        raise JourneyError(name, "a wait needs a positive duration", step.name)
    elif isinstance(step, WaitUntil):
        if step.timeout_days is None or not step.timeout_days > 0:
            raise JourneyError(name, "wait_until needs a positive timeout_days", step.name)
        if not step.event:
            raise JourneyError(name, "wait_until needs an event", step.name)
    elif isinstance(step, Branch) and not step.cases:
        raise JourneyError(name, "a branch needs at least one case", step.name)
    elif isinstance(step, Send):
        template(step.channel, step.template)
    elif isinstance(step, SetStage) and step.stage not in STAGES:
        raise JourneyError(name, f"unknown stage {step.stage!r} (known: {STAGES})", step.name)
    elif isinstance(step, PublishCode) and not step.campaign:
        raise JourneyError(name, "publish_code needs a campaign", step.name)
    elif isinstance(step, NextBestAction):
        if not step.arms:
            raise JourneyError(name, "next_best_action needs at least one arm", step.name)
        arm_names = [arm.name for arm in step.arms]
        if len(set(arm_names)) != len(arm_names):
            raise JourneyError(name, f"duplicate arm names {arm_names}", step.name)
        for arm in step.arms:
            template(arm.channel, arm.template)
        if not step.window_days > 0 or step.window_days * DAY <= 0:
            raise JourneyError(name, "next_best_action needs window_days > 0", step.name)
        if not 0.0 <= step.epsilon <= 1.0:
            raise JourneyError(name, "epsilon must be within [0, 1]", step.name)


def _edges(node: Node) -> list[int]:
    return [t for t in (node.next, *node.targets) if t != END]


def _check_reachable(name: str, nodes: list[Node]) -> None:
    seen = {0}
    stack = [0]
    while stack:
        for target in _edges(nodes[stack.pop()]):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    for i, node in enumerate(nodes):
        if i not in seen:
            raise JourneyError(name, "unreachable from the first step", node.step.name)


def _check_waitless_cycles(name: str, nodes: list[Node]) -> None:
    """Depth-first search over the steps that do not wait: any back edge is a cycle a
    customer would run around forever within one instant."""
    waits = {i for i, n in enumerate(nodes) if isinstance(n.step, Wait | WaitUntil)}
    state = dict.fromkeys(range(len(nodes)), 0)  # 0 new, 1 on the path, 2 done
    for root in range(len(nodes)):
        if state[root] or root in waits:
            continue
        path: list[int] = []
        stack: list[tuple[int, int]] = [(root, 0)]
        while stack:
            node, edge = stack.pop()
            if edge == 0:
                state[node] = 1
                path.append(node)
            targets = [t for t in _edges(nodes[node]) if t not in waits]
            if edge < len(targets):
                stack.append((node, edge + 1))
                target = targets[edge]
                if state[target] == 1:
                    cycle = [nodes[i].step.name for i in path[path.index(target) :]]
                    cycle.append(nodes[target].step.name)
                    raise JourneyError(
                        name, f"cycle without a wait: {' -> '.join(cycle)}", nodes[target].step.name
                    )
                if state[target] == 0:
                    stack.append((target, 0))
            else:
                state[node] = 2
                path.pop()
