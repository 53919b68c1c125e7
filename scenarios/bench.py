"""``promoloop bench``: throughput figures, each next to the floor measured in the same run.

Absolute times depend on the machine; the ratio to the floor (the cost of the bare parts) is
the figure that travels. Results go to stdout as JSON and are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import platform
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from promoloop.actors.cdp import Audience, CdpActor, PerformedEvent
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import SegmentEvent, Track
from promoloop.actors.runtime import Actor, Started, World, virtual_clock
from promoloop.actors.runtime.clock import DEFAULT_EPOCH

BATCH = 100
"""Events per hop in the pipeline, as a Segment SDK batches them."""

EVENT_NAMES = (
    names.PRODUCT_VIEWED,
    names.PRODUCT_ADDED,
    names.CHECKOUT_STARTED,
    names.ORDER_COMPLETED,
    names.REVIEW_LEFT,
)


def synthetic_stream(count: int, profiles: int = 10_000) -> list[bytes]:
    """``count`` track calls as JSON, spread over ``profiles`` users, built once per run."""
    encoder = msgspec.json.Encoder()
    out = []
    for i in range(count):
        event = Track(
            message_id=f"bench-{i:09d}",
            timestamp=DEFAULT_EPOCH,
            user_id=f"user-{i % profiles:06d}",
            event=EVENT_NAMES[i % len(EVENT_NAMES)],
            properties={"product_id": f"sku-{i % 97:04d}", "price_cents": 1_000 + i % 5_000},
        )
        out.append(encoder.encode(event))
    return out


async def _floor_per_event(payloads: list[bytes]) -> None:
    """The bare parts: one trio channel hop and one msgspec decode per event."""
    decoder = msgspec.json.Decoder(SegmentEvent)
    send, recv = trio.open_memory_channel[bytes](64)

    async def producer() -> None:
        async with send:
            for payload in payloads:
                await send.send(payload)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        async with recv:
            async for payload in recv:
                decoder.decode(payload)


async def _floor_batched(payloads: list[bytes]) -> None:
    """The same, one hop per batch of ``BATCH`` events (what the pipeline's hops carry)."""
    decoder = msgspec.json.Decoder(SegmentEvent)
    send, recv = trio.open_memory_channel[list[bytes]](64)

    async def producer() -> None:
        async with send:
            for start in range(0, len(payloads), BATCH):
                await send.send(payloads[start : start + BATCH])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        async with recv:
            async for chunk in recv:
                for payload in chunk:
                    decoder.decode(payload)


class _StreamSource(Actor):
    """Plays the storefront: decodes the stream in SDK-sized batches and tells the CDP."""

    def __init__(self, payloads: list[bytes]) -> None:
        super().__init__("storefront")
        self.payloads = payloads

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            decoder = msgspec.json.Decoder(SegmentEvent)
            for start in range(0, len(self.payloads), BATCH):
                chunk = self.payloads[start : start + BATCH]
                await self.tell(
                    "cdp", EventBatch(self.name, tuple(decoder.decode(p) for p in chunk))
                )
        return None


def _pipeline(payloads: list[bytes]) -> CdpActor:
    world = World(seed=0, record=False)
    world.add(_StreamSource(payloads))
    cdp = world.add(CdpActor("cdp"))
    cdp.model.add_audience(
        Audience(
            key="reviewers", name="Reviewers", condition=PerformedEvent(event=names.REVIEW_LEFT)
        )
    )
    trio.run(world.run, 0.0, clock=virtual_clock())
    return cdp


def _best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _population(customers: int, days: int) -> tuple[float, int, int]:
    """Storefront → CDP for a population in virtual time: (seconds, events, peak bytes)."""
    from promoloop.actors.runtime import DAY
    from promoloop.actors.storefront import PopulationParams, StorefrontActor
    from promoloop.connectors.transport.inproc import InprocTrackingPort

    world = World(seed=0, record=False)
    storefront = world.add(
        StorefrontActor(params=PopulationParams(customers=customers), tick=15 * 60)
    )
    cdp = world.add(CdpActor("cdp"))
    storefront.tracking = InprocTrackingPort(storefront, "cdp")
    tracemalloc.start()
    start = time.perf_counter()
    trio.run(world.run, days * DAY, clock=virtual_clock())
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, sum(cdp.model.ingested.values()), peak


def run_bench(
    *, events: int = 200_000, repeat: int = 3, customers: int = 10_000, days: int = 30
) -> dict[str, Any]:
    payloads = synthetic_stream(events)
    floor_event = _best(repeat, lambda: trio.run(_floor_per_event, payloads))
    floor_batch = _best(repeat, lambda: trio.run(_floor_batched, payloads))
    pipeline = _best(repeat, lambda: _pipeline(payloads))
    check = _pipeline(payloads)
    ingested = sum(check.model.ingested.values())
    if ingested != events:
        raise RuntimeError(f"pipeline ingested {ingested} of {events} events")
    rate = events / pipeline
    pop_seconds, pop_events, pop_peak = _population(customers, days)
    return {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "pipeline_storefront_to_cdp": {
            "events": events,
            "batch": BATCH,
            "profiles": len(check.model.profiles()),
            "events_per_s": round(rate),
            "floor_channel_hop_plus_decode_per_event_events_per_s": round(events / floor_event),
            "floor_batched_hop_plus_decode_events_per_s": round(events / floor_batch),
            "ratio_to_per_event_floor": round(rate / (events / floor_event), 3),
            "ratio_to_batched_floor": round(rate / (events / floor_batch), 3),
            "target_ratio": 0.4,
        },
        "population_storefront_to_cdp": {
            "customers": customers,
            "days": days,
            "events": pop_events,
            "seconds": round(pop_seconds, 2),
            "customer_days_per_s": round(customers * days / pop_seconds),
            "events_per_s": round(pop_events / pop_seconds),
            "peak_traced_mb": round(pop_peak / 2**20, 1),
            "note": "tracemalloc slows the run; customer-days/s is measured under it",
        },
    }
