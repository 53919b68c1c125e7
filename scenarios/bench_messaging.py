"""Messaging figures for ``promoloop bench`` (issue #6): messages rendered and sent per second.

Every message goes through the whole decision a channel destination takes (channel, template,
address, consent, suppression by audience and by campaign, quiet hours in the customer's time
zone, frequency caps per channel and across channels, render, record, log), on four destinations
(email, push, SMS, ads) sharing one :class:`DeliveryPolicy` and one :class:`MessageLog`:

- **core**: the destinations' synchronous ``send(message, now)``, no actor hop;
- **actors**: the same sends as ``ask(SendMessage)`` from a sender actor under the virtual clock,
  deliveries told to a sink actor, deferred sends retried by the destinations' timers;
- **floor**: a bare render of the same template (Jinja2 sandbox, same context), the part no
  destination can avoid. The ratio core/floor is the figure that travels.

Sizes are parameters so a test can run it tiny; speed is never asserted anywhere.
"""

from __future__ import annotations

import gc
import random
import time
from datetime import timedelta
from typing import Any

import trio

from promoloop.actors.events.messages import EventBatch, SendMessage
from promoloop.actors.events.segment import Identify
from promoloop.actors.messaging import (
    AdsAudienceDestination,
    Cap,
    ChannelDestination,
    DeliveryPolicy,
    EmailDestination,
    MessageLog,
    MessageTemplate,
    PushDestination,
    QuietHours,
    SmsDestination,
)
from promoloop.actors.runtime import DAY, DEFAULT_EPOCH, Actor, Started, Wake, World, virtual_clock

CHANNELS = ("email", "push", "sms", "ads")
SPAN_DAYS = 28
ZONES = ("America/New_York", "Europe/Paris", "Asia/Tokyo", None)
CAPS = [
    Cap(max_messages=5, window_days=7),
    Cap(max_messages=2, window_days=1, channel="sms"),
    Cap(max_messages=3, window_days=7, channel="email"),
]
TEMPLATE = MessageTemplate(
    "bench",
    subject="{{ first_name }}, {{ pct }}% off {{ category }}",
    body=(
        "Hi {{ first_name }}, your {{ category }} picks are {{ pct }}% off with {{ code }}."
        "{% if 'vip' in audiences %} VIP early access inside.{% endif %}"
    ),
)


def _customers(customers: int) -> list[Identify]:
    rng = random.Random(0)
    people = []
    for i in range(customers):
        traits: dict[str, Any] = {
            "email": f"customer.{i}@example.com",
            "phone": f"+1555{i:07d}",
            "first_name": rng.choice(["Pam", "Jim", "Dwight", "Angela", "Oscar"]),
        }
        zone = ZONES[i % len(ZONES)]
        if zone is not None:
            traits["timezone"] = zone
        if rng.random() < 0.1:
            traits["vip"] = True
        if rng.random() < 0.1:
            traits["recent_buyers"] = True
        people.append(Identify(user_id=f"c{i}", traits=traits))
    return people


def _requests(messages: int, customers: int) -> list[SendMessage]:
    rng = random.Random(1)
    categories = ("Shoes", "Outerwear", "Bags", "Accessories")
    out = []
    for n in range(messages):
        channel = CHANNELS[n % len(CHANNELS)]
        out.append(
            SendMessage(
                request_id=f"r{n}",
                user_id=f"c{rng.randrange(customers)}",
                channel=channel,
                campaign="winback" if n % 5 == 0 else "weekly",
                template="bench",
                code=f"SAVE{n:07d}",
                context={"pct": 10 + n % 4 * 5, "category": categories[n % 4]},
            )
        )
    return out


def _destinations(customers: list[Identify]) -> tuple[dict[str, ChannelDestination], MessageLog]:
    policy = DeliveryPolicy(
        caps=CAPS,
        quiet_hours=QuietHours(start_hour=21, end_hour=8),
        suppressed_audiences={"sms": frozenset({"vip"}), "winback": frozenset({"recent_buyers"})},
    )
    log = MessageLog()
    destinations: dict[str, ChannelDestination] = {
        "email": EmailDestination("email", policy=policy, templates=[TEMPLATE], log=log),
        "push": PushDestination("push", "sink", policy=policy, templates=[TEMPLATE], log=log),
        "sms": SmsDestination("sms", policy=policy, templates=[TEMPLATE], log=log),
        "ads": AdsAudienceDestination("ads", policy=policy, templates=[TEMPLATE], log=log),
    }
    batch = EventBatch("cdp", tuple(customers))
    for destination in destinations.values():
        destination.inbox_target = "sink"
        destination.tracking = _NullPort()
        destination.observe(batch)
    return destinations, log


class _NullPort:
    """The CDP is not what is measured here."""

    async def send(self, events: Any) -> None:
        return None


def floor(requests: list[SendMessage], customers: list[Identify]) -> float:
    """Renders per second of the bare template, same contexts, nothing else."""
    traits = {c.user_id: c.traits for c in customers}
    contexts = []
    for r in requests:
        t = traits[r.user_id]
        audiences = frozenset(k for k, v in t.items() if v is True)
        contexts.append(t | {"audiences": audiences} | r.context | {"code": r.code})
    gc.collect()
    start = time.perf_counter()
    for context in contexts:
        TEMPLATE.render(context)
    return len(contexts) / (time.perf_counter() - start)


def core(requests: list[SendMessage], customers: list[Identify]) -> dict[str, Any]:
    destinations, log = _destinations(customers)
    step = timedelta(days=SPAN_DAYS) / max(len(requests), 1)
    moments = [DEFAULT_EPOCH + step * n for n in range(len(requests))]
    every = 1_000  # retry what quiet hours held, as the actors' timers would, now and then
    gc.collect()
    start = time.perf_counter()
    results = []
    for n, (request, at) in enumerate(zip(requests, moments, strict=True)):
        if n % every == 0:
            for destination in destinations.values():
                destination.run_deferred(at)
        results.append(destinations[request.channel].send(request, at))
    end = moments[-1] + timedelta(days=2)
    for destination in destinations.values():
        destination.run_deferred(end)
    elapsed = time.perf_counter() - start
    return _outcome(results, elapsed, log) | {
        "deferred_then_sent": _deferred_sent(destinations),
        "caps_held": _caps_held(log),
    }


def _deferred_sent(destinations: dict[str, ChannelDestination]) -> int:
    return sum(1 for d in destinations.values() for o in d.outcomes.values() if o.sent)


class _Sender(Actor):
    """Asks the destinations for every request, ``per_wake`` at a time across the span."""

    mailbox_capacity = 1024

    def __init__(self, requests: list[SendMessage], per_wake: int) -> None:
        super().__init__("sender")
        self.requests = requests
        self.per_wake = per_wake
        self.results: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            waves = max(1, -(-len(self.requests) // self.per_wake))
            for wave in range(waves):
                self.schedule(wave * SPAN_DAYS * DAY / waves, Wake(str(wave)))
        elif isinstance(message, Wake):
            first = int(message.tag) * self.per_wake
            for request in self.requests[first : first + self.per_wake]:
                self.results.append(await self.ask(request.channel, request))
        return None


class _Sink(Actor):
    mailbox_capacity = 4096

    def __init__(self) -> None:
        super().__init__("sink")
        self.received = 0

    async def receive(self, message: Any, sender: str) -> Any:
        if not isinstance(message, Started):
            self.received += 1
        return None


def actors(requests: list[SendMessage], customers: list[Identify]) -> dict[str, Any]:
    destinations, log = _destinations(customers)
    world = World(seed=0, record=False)
    sink = world.add(_Sink())
    for destination in destinations.values():
        world.add(destination)
    sender = world.add(_Sender(requests, per_wake=1_000))
    gc.collect()
    start = time.perf_counter()
    trio.run(world.run, (SPAN_DAYS + 2) * DAY, clock=virtual_clock())
    elapsed = time.perf_counter() - start
    if sink.received != len(log):
        raise RuntimeError(f"{sink.received} deliveries for {len(log)} logged messages")
    return _outcome(sender.results, elapsed, log) | {
        "deferred_then_sent": _deferred_sent(destinations),
        "caps_held": _caps_held(log),
    }


def _outcome(results: list[Any], elapsed: float, log: MessageLog) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for r in results:
        if not r.sent:
            reasons[r.reason or "?"] = reasons.get(r.reason or "?", 0) + 1
    sent = sum(1 for r in results if r.sent)
    return {
        "messages": len(results),
        "sent_at_once": sent,
        "sent_in_all": len(log),
        "not_sent": dict(sorted(reasons.items())),
        "messages_per_s": round(len(results) / elapsed),
        "sent_per_s": round(len(log) / elapsed),
        "max_messages_per_customer_week": log.max_per_week(),
    }


def _caps_held(log: MessageLog) -> bool:
    """Every cap, checked after the fact on the log (the bench doubles as a soak test)."""
    for user in {e.user_id for e in log}:
        sent = [(e.sent_at, e.channel) for e in log.for_customer(user)]
        for at, _ in sent:
            for cap in CAPS:
                since = at - timedelta(days=cap.window_days)
                n = sum(1 for t, ch in sent if since < t <= at and cap.channel in (None, ch))
                if n > cap.max_messages:
                    return False
    return True


def run_messaging_bench(
    messages: int = 200_000, customers: int = 20_000, actor_messages: int | None = None
) -> dict[str, Any]:
    """Figures as a JSON-able dict. ``actor_messages`` (default a quarter of ``messages``):
    the actor hop costs more per message than the decision, so that run is shorter."""
    if messages < 1 or customers < 1:
        raise ValueError(f"messages and customers must be >= 1, got {messages}, {customers}")
    people = _customers(customers)
    requests = _requests(messages, customers)
    floor_per_s = max(floor(requests, people) for _ in range(3))  # shared cores: best of 3
    in_core = core(requests, people)
    hop = actors(requests[: actor_messages or max(1, messages // 4)], people)
    return {
        "messaging_core": in_core
        | {
            "floor_template_render_per_s": round(floor_per_s),
            "ratio_to_floor": round(in_core["messages_per_s"] / floor_per_s, 3),
        },
        "messaging_actors": hop
        | {"ratio_to_core": round(hop["messages_per_s"] / in_core["messages_per_s"], 3)},
        "customers": customers,
        "channels": list(CHANNELS),
        "caps": [
            {"max": c.max_messages, "days": c.window_days, "channel": c.channel} for c in CAPS
        ],
    }
