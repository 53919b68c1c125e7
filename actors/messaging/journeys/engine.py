"""The journey engine: plain synchronous state and rules, no trio, no I/O.

It is fed what the CDP routes to it (:meth:`JourneyEngine.identify`, :meth:`JourneyEngine.track`)
and advanced in time (:meth:`JourneyEngine.run`); it answers with requests to make on the
customers' behalf (a :class:`SendMessage` to a channel destination, a :class:`PublishCode` to
the promotion engine), each with a token, and the caller hands each reply back with
:meth:`JourneyEngine.complete`. Trait writes (``set_trait``, stage moves) need no reply: they
collect in :attr:`JourneyEngine.outbox` as :class:`TraitUpdate` for the caller to send to the
CDP. The :class:`~promoloop.actors.messaging.journeys.actor.JourneyActor` is that caller.

Scale: a customer in a journey is a :class:`~.state.Run` (step index, wake time, version), not a
task. Waits push ``(wake time, seq, run, version)`` on one heap; a run that moves on or leaves
bumps its version, so stale heap entries are skipped instead of searched for. Wake times are
rounded up to ``resolution`` seconds, so the owning actor sleeps once per distinct minute at
most, however many customers wait.

Determinism: runs are advanced in heap order (time, then sequence) and then first-in first-out;
request ids and bandit pulls follow that order, so the same inputs give the same requests.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import msgspec

from promoloop.actors.analytics.experiments import in_holdout
from promoloop.actors.events import names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.events.promotions import PublishCode as PublishRequest
from promoloop.actors.events.promotions import PublishOutcome
from promoloop.actors.messaging.journeys.compiled import (
    END,
    CompiledJourney,
    JourneyError,
    compile_journey,
)
from promoloop.actors.messaging.journeys.definition import (
    STAGES,
    AudienceEntry,
    Branch,
    EventEntry,
    Exit,
    ExitOnAudienceExit,
    ExitOnEvent,
    Journey,
    NextBestAction,
    PublishCode,
    Send,
    SetStage,
    SetTrait,
    StageEntry,
    Wait,
    WaitUntil,
)
from promoloop.actors.messaging.journeys.nba import NbaLearner
from promoloop.actors.messaging.journeys.stages import Funnel, StageRules
from promoloop.actors.messaging.journeys.state import CustomerState, Run

MAX_STEPS_PER_TURN = 1_000
"""Steps one run may take within one instant (validation already forbids waitless cycles)."""

Request = tuple[int, SendMessage | PublishRequest]
"""(token, message): what to ask on a customer's behalf; reply with ``complete(token, ...)``."""


class TraitUpdate(msgspec.Struct, frozen=True, gc=False):
    """Traits to write on a profile (an ``identify`` on the journeys' source) at sim second
    ``at``."""

    user_id: str
    traits: dict[str, Any]
    at: float


def _matches(where: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    return all(properties.get(k) == v for k, v in where.items())


class JourneyStats:
    """Counters of one journey, for reports."""

    def __init__(self, compiled: CompiledJourney) -> None:
        self.entered = 0
        self.completed = 0
        """Left at an exit step or off the end."""
        self.exited = 0
        """Taken out by an exit criterion."""
        self.visits = [0] * len(compiled.nodes)
        self.control = 0
        """Entrants held out (no step taken), with ``holdout_share``."""
        self.assignments: list[tuple[str, float, bool]] = []
        """(user, sim second of entry, treated) for every entry, with ``holdout_share``."""

    def report(self, compiled: CompiledJourney, active: int) -> dict[str, Any]:
        return {
            "entered": self.entered,
            "held_out": self.control,
            "completed": self.completed,
            "exited_by_criteria": self.exited,
            "active": active,
            "step_visits": {
                node.step.name: count
                for node, count in zip(compiled.nodes, self.visits, strict=True)
            },
        }


class JourneyEngine:
    def __init__(
        self,
        journeys: Sequence[Journey],
        *,
        stages: StageRules | None = None,
        seed: int = 0,
        templates: Collection[str] | None = None,
        resolution: float = 60.0,
        conversion_event: str = names.ORDER_COMPLETED,
    ) -> None:
        """``templates``: known template names, to check sends at definition; ``stages``:
        lifecycle rules (default :class:`StageRules`); ``resolution``: wake-ups are rounded up
        to a multiple of it (seconds); ``conversion_event`` rewards next-best-action steps."""
        if resolution <= 0:
            raise ValueError(f"resolution must be > 0, got {resolution}")
        names_seen = [j.name for j in journeys]
        if len(set(names_seen)) != len(names_seen):
            raise JourneyError(
                next(n for n in names_seen if names_seen.count(n) > 1), "duplicate journey name"
            )
        self.journeys = [compile_journey(j, templates) for j in journeys]
        self.stages = stages or StageRules()
        self.seed = seed
        self.resolution = resolution
        self.conversion_event = conversion_event
        self.customers: dict[str, CustomerState] = {}
        self.funnel = Funnel()
        self.outbox: list[TraitUpdate] = []
        self.stats = [JourneyStats(c) for c in self.journeys]
        self.sends: dict[str, dict[str, int]] = {}
        """channel → {"requested", "sent", <refusal reason>: count}."""
        self.publications: dict[str, int] = {}
        """"published" or the refusal reason → count."""
        self.steps = 0
        """Steps executed, all journeys (the bench's unit)."""
        self.learners: dict[tuple[int, int], NbaLearner] = {}
        self._heap: list[tuple[float, int, Run, int]] = []
        self._ready: deque[Run] = deque()
        self._pending: dict[int, tuple[Run, str | None]] = {}
        """token → (run, channel of a send)."""
        self._seq = 0
        self._token = 0
        self._by_audience: dict[str, list[int]] = {}
        self._by_event: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        self._by_stage: dict[int, list[int]] = {}
        self._exit_event: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        self._exit_audience: dict[str, list[int]] = {}
        self._waited: set[str] = set()
        watched = {conversion_event, self.stages.order_event, *self.stages.events}
        for j, compiled in enumerate(self.journeys):
            entry = compiled.journey.entry
            if isinstance(entry, AudienceEntry):
                self._by_audience.setdefault(entry.audience, []).append(j)
            elif isinstance(entry, EventEntry):
                self._by_event.setdefault(entry.event, []).append((j, entry.where))
            elif isinstance(entry, StageEntry):
                self._by_stage.setdefault(STAGES.index(entry.stage), []).append(j)
            for criterion in compiled.journey.exit_on:
                if isinstance(criterion, ExitOnEvent):
                    self._exit_event.setdefault(criterion.event, []).append((j, criterion.where))
                elif isinstance(criterion, ExitOnAudienceExit):
                    self._exit_audience.setdefault(criterion.audience, []).append(j)
            for i, node in enumerate(compiled.nodes):
                if isinstance(node.step, WaitUntil):
                    self._waited.add(node.step.event)
                elif isinstance(node.step, NextBestAction):
                    digest = f"{seed}/{compiled.name}/{node.step.name}"
                    self.learners[(j, i)] = NbaLearner(node.step, _stable(digest))
            watched |= compiled.events
        self._watched = frozenset(watched)

    # -- input ------------------------------------------------------------------------------
    def _customer(self, user: str, now: float) -> CustomerState:
        customer = self.customers.get(user)
        if customer is None:
            customer = self.customers[user] = CustomerState()
            self._move_stage(user, customer, 0, now)
        return customer

    def identify(self, user: str, traits: Mapping[str, Any], now: float) -> None:
        """The CDP's traits for ``user`` (identify calls, Engage audience booleans, scores)."""
        self._customer(user, now).traits.update(traits)

    def track(self, user: str, event: str, properties: Mapping[str, Any], now: float) -> None:
        """A tracked event: counts, stage, conversions, exits, waits and entries, in that
        order (an exit criterion takes effect before the same event could let a run go on)."""
        customer = self._customer(user, now)
        if event in self._watched:
            customer.counts[event] = customer.counts.get(event, 0) + 1
            customer.last[event] = now
        if event == names.AUDIENCE_ENTERED or event == names.AUDIENCE_EXITED:
            key = properties.get("audience_key")
            if isinstance(key, str):
                self._audience(user, customer, key, event == names.AUDIENCE_ENTERED, now)
        stage = self.stages.stage_after(event, customer.counts.get(self.stages.order_event, 0))
        if stage > customer.stage:
            self._move_stage(user, customer, stage, now)
        if event == self.conversion_event:
            for learner in self.learners.values():
                learner.converted(user, now)
        for j, where in self._exit_event.get(event, ()):
            run = customer.runs.get(j)
            if run is not None and _matches(where, properties):
                self._leave(customer, run, exited=True)
        if event in self._waited and customer.runs:
            for run in list(customer.runs.values()):
                if run.waiting == event:
                    node = self.journeys[run.journey].nodes[run.step]
                    assert isinstance(node.step, WaitUntil)
                    if _matches(node.step.where, properties):
                        run.waiting = None
                        run.version += 1
                        run.step = node.targets[0]
                        self._ready.append(run)
        for j, where in self._by_event.get(event, ()):
            if _matches(where, properties):
                self._enter(user, customer, j, now)

    def _audience(
        self, user: str, customer: CustomerState, key: str, entered: bool, now: float
    ) -> None:
        customer.traits[key] = entered
        if entered:
            customer.audiences.add(key)
            for j in self._by_audience.get(key, ()):
                self._enter(user, customer, j, now)
        else:
            customer.audiences.discard(key)
            for j in self._exit_audience.get(key, ()):
                run = customer.runs.get(j)
                if run is not None:
                    self._leave(customer, run, exited=True)

    def _move_stage(self, user: str, customer: CustomerState, stage: int, now: float) -> None:
        if stage <= customer.stage:
            return
        old = customer.stage
        self.funnel.move(old, stage)
        customer.stage = stage
        if self.stages.trait is not None:
            customer.traits[self.stages.trait] = STAGES[stage]
            self.outbox.append(TraitUpdate(user, {self.stages.trait: STAGES[stage]}, now))
        for reached in range(old + 1, stage + 1):
            for j in self._by_stage.get(reached, ()):
                self._enter(user, customer, j, now)

    # -- runs ---------------------------------------------------------------------------------
    def _enter(self, user: str, customer: CustomerState, j: int, now: float) -> None:
        if j in customer.runs:
            return
        journey = self.journeys[j].journey
        last = customer.history.get(j)
        if last is not None and (
            journey.reentry == "never"
            or (journey.reentry == "after" and now - last < journey.reentry_days * 86_400.0)
        ):
            return
        customer.history[j] = now
        stats = self.stats[j]
        stats.entered += 1
        if journey.holdout_share and in_holdout(
            self.seed, journey.name, user, journey.holdout_share
        ):
            stats.control += 1
            stats.assignments.append((user, now, False))
            return
        if journey.holdout_share:
            stats.assignments.append((user, now, True))
        run = Run(user, j, now)
        customer.runs[j] = run
        self._ready.append(run)

    def _leave(self, customer: CustomerState, run: Run, *, exited: bool) -> None:
        del customer.runs[run.journey]
        run.version += 1
        run.step = END
        stats = self.stats[run.journey]
        if exited:
            stats.exited += 1
        else:
            stats.completed += 1

    def _active(self, run: Run) -> bool:
        customer = self.customers.get(run.user)
        return customer is not None and customer.runs.get(run.journey) is run

    def _sleep(self, run: Run, until: float) -> None:
        run.wake = math.ceil(until / self.resolution) * self.resolution
        run.version += 1
        self._seq += 1
        heapq.heappush(self._heap, (run.wake, self._seq, run, run.version))

    def run(self, now: float) -> list[Request]:
        """Advance to ``now``: close matured next-best-action windows, wake the runs that are
        due, and move every runnable customer until it waits or needs a reply."""
        for learner in self.learners.values():
            learner.mature(now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, run, version = heapq.heappop(heap)
            if version != run.version:
                continue
            if run.waiting is not None:  # a wait_until timed out
                run.waiting = None
                run.step = self.journeys[run.journey].nodes[run.step].targets[1]
            self._ready.append(run)
        requests: list[Request] = []
        ready = self._ready
        while ready:
            run = ready.popleft()
            if not self._active(run):
                continue  # it left (an exit criterion) after it was queued
            request = self._advance(run, now)
            if request is not None:
                requests.append(request)
        return requests

    def _ask(self, run: Run, message: SendMessage | PublishRequest) -> Request:
        self._token += 1
        channel = message.channel if isinstance(message, SendMessage) else None
        self._pending[self._token] = (run, channel)
        return self._token, message

    def _send(
        self, run: Run, channel: str, template: str, context: Mapping[str, Any], step: str
    ) -> Request:
        compiled = self.journeys[run.journey]
        campaign = compiled.name
        node_step = compiled.nodes[run.step].step
        if isinstance(node_step, Send) and node_step.campaign:
            campaign = node_step.campaign
        tokens = dict(context)
        if run.code is not None:
            tokens["code"] = run.code
        counts = self.sends.setdefault(channel, {"requested": 0, "sent": 0})
        counts["requested"] += 1
        return self._ask(
            run,
            SendMessage(
                request_id=f"journey-{self._token + 1:09d}",
                user_id=run.user,
                channel=channel,
                campaign=campaign,
                template=template,
                context=tokens,
                code=run.code,
                journey=compiled.name,
                step=step,
            ),
        )

    def _advance(self, run: Run, now: float) -> Request | None:
        """Execute steps for one run until it waits, needs a reply or leaves."""
        compiled = self.journeys[run.journey]
        nodes = compiled.nodes
        visits = self.stats[run.journey].visits
        customer = self.customers[run.user]
        for _ in range(MAX_STEPS_PER_TURN):
            if run.step == END:
                self._leave(customer, run, exited=False)
                return None
            node = nodes[run.step]
            step = node.step
            visits[run.step] += 1
            self.steps += 1
            if isinstance(step, Send):
                return self._send(run, step.channel, step.template, step.context, step.name)
            if isinstance(step, Wait):
                run.step = node.next
                self._sleep(run, now + step.seconds)
                return None
            if isinstance(step, Branch):
                target = node.next
                for check, goto in zip(node.checks, node.targets, strict=True):
                    if check(customer, now):
                        target = goto
                        break
                run.step = target
            elif isinstance(step, WaitUntil):
                run.waiting = step.event
                self._sleep(run, now + (step.timeout_days or 0.0) * 86_400.0)
                return None
            elif isinstance(step, PublishCode):
                return self._ask(run, PublishRequest(campaign=step.campaign, customer_id=run.user))
            elif isinstance(step, NextBestAction):
                learner = self.learners[(run.journey, run.step)]
                context = STAGES[customer.stage] if step.context == "stage" else "all"
                uplift = customer.traits.get(step.uplift_trait) if step.uplift_trait else None
                choice = learner.choose(run.user, context, now, uplift)
                arm = next(a for a in step.arms if a.name == choice)
                if arm.channel is not None:
                    return self._send(run, arm.channel, arm.template, arm.context, step.name)
                run.step = node.next
            elif isinstance(step, SetTrait):
                customer.traits.update(step.traits)
                self.outbox.append(TraitUpdate(run.user, dict(step.traits), now))
                run.step = node.next
            elif isinstance(step, SetStage):
                run.step = node.next
                self._move_stage(run.user, customer, STAGES.index(step.stage), now)
            elif isinstance(step, Exit):
                self._leave(customer, run, exited=False)
                return None
        raise RuntimeError(
            f"journey {compiled.name!r}: customer {run.user!r} took {MAX_STEPS_PER_TURN} steps "
            "in one instant"
        )

    def complete(self, token: int, reply: SendResult | PublishOutcome, now: float) -> None:
        """The reply to request ``token``: the run moves on (a publication's code is kept for
        the following sends; a refused publication goes to ``on_failure``)."""
        run, channel = self._pending.pop(token)
        if isinstance(reply, SendResult) != (channel is not None):
            raise TypeError(f"request {token} was answered with the wrong reply {reply!r}")
        if isinstance(reply, SendResult):
            key = "sent" if reply.sent else (reply.reason or "refused")
            assert channel is not None
            counts = self.sends[channel]
            counts[key] = counts.get(key, 0) + 1
        elif isinstance(reply, PublishOutcome):
            key = "published" if reply.ok else (reply.reason or "refused")
            self.publications[key] = self.publications.get(key, 0) + 1
        else:
            raise TypeError(
                "a journey request is answered by SendResult or PublishOutcome, "
                f"not {type(reply).__name__}"
            )
        if not self._active(run):
            return
        node = self.journeys[run.journey].nodes[run.step]
        if isinstance(reply, PublishOutcome):
            if reply.ok:
                run.code = reply.code
                run.step = node.next
            else:
                run.step = node.targets[0]
        else:
            run.step = node.next
        self._ready.append(run)

    def next_due(self) -> float | None:
        """The earliest sim second anything is due (a wake-up or a reward window closing)."""
        heap = self._heap
        while heap and heap[0][3] != heap[0][2].version:
            heapq.heappop(heap)
        times = [heap[0][0]] if heap else []
        times += [t for t in (lr.next_due() for lr in self.learners.values()) if t is not None]
        return min(times) if times else None

    @property
    def pending(self) -> int:
        """Requests handed out and not answered yet."""
        return len(self._pending)

    def report(self) -> dict[str, Any]:
        active = [0] * len(self.journeys)
        for customer in self.customers.values():
            for j in customer.runs:
                active[j] += 1
        return {
            "customers": len(self.customers),
            "steps": self.steps,
            "journeys": {
                c.name: s.report(c, active[j])
                for j, (c, s) in enumerate(zip(self.journeys, self.stats, strict=True))
            },
            "sends": {channel: dict(counts) for channel, counts in sorted(self.sends.items())},
            "publications": dict(sorted(self.publications.items())),
            "funnel": self.funnel.snapshot(),
            "next_best_action": {
                f"{self.journeys[j].name}/{self.journeys[j].nodes[i].step.name}": lr.report()
                for (j, i), lr in sorted(self.learners.items())
            },
        }


def _stable(text: str) -> int:
    """A 32-bit seed from text, stable across runs and PYTHONHASHSEED."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
