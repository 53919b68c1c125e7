"""``promoloop bench``: throughput figures, each next to the floor measured in the same run.

Absolute times depend on the machine; the ratio to the floor (the cost of the bare parts) is
the figure that travels. Results go to stdout as JSON and are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import trio

from promoloop.actors.cdp import Audience, CdpActor, PerformedEvent
from promoloop.actors.cdp.predictive.bench import bench_updates
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import SegmentEvent, Track
from promoloop.actors.runtime import Actor, Started, World, virtual_clock
from promoloop.actors.runtime.clock import DEFAULT_EPOCH
from promoloop.scenarios.bench_promotions import run_promotions_bench
from promoloop.scenarios.bench_sections import SECTIONS

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


def _population(customers: int, days: int, *, trace: bool = False) -> tuple[float, int, int]:
    """Storefront → CDP for a population in virtual time: (seconds, events, peak traced bytes).

    ``trace`` measures memory with tracemalloc, which slows the run several-fold: speed and
    memory are therefore measured in separate runs.
    """
    from promoloop.actors.runtime import DAY
    from promoloop.actors.storefront import PopulationParams, StorefrontActor
    from promoloop.connectors.transport.inproc import InprocTrackingPort

    world = World(seed=0, record=False)
    params = PopulationParams(customers=customers)
    storefront = world.add(StorefrontActor(params=params, tick=15 * 60))
    cdp = world.add(CdpActor("cdp"))
    storefront.tracking = InprocTrackingPort(storefront, "cdp")
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    trio.run(world.run, days * DAY, clock=virtual_clock())
    elapsed = time.perf_counter() - start
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return elapsed, sum(cdp.model.ingested.values()), peak


async def _post_batches(url: str, bodies: list[bytes], write_key: str, concurrency: int) -> None:
    import httpx

    auth = httpx.BasicAuth(write_key, "")
    headers = {"Content-Type": "application/json"}
    next_body = iter(bodies)
    async with httpx.AsyncClient(base_url=url, auth=auth, headers=headers) as client:

        async def worker() -> None:
            for body in next_body:
                response = await client.post("/v1/batch", content=body)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"bench request refused: {response.status_code} {response.text}"
                    )

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)


def _bare_app() -> Any:
    """The floor: Quart-Trio on Hypercorn reading the body and answering like Segment."""
    import quart_trio
    from quart import Response, request

    app = quart_trio.QuartTrio("bench-floor")

    @app.post("/v1/batch")
    async def batch() -> Response:
        await request.get_data()
        return Response(b'{"success":true}', content_type="application/json")

    return app


def _http_batch(payloads: list[bytes], concurrency: int = 8) -> tuple[float, float, int]:
    """/v1/batch over loopback, one process: (floor seconds, tracking API seconds, ingested)."""
    from promoloop.actors.cdp import Source, SourceRegistry
    from promoloop.connectors.transport.http import running_app
    from promoloop.connectors.transport.tracking import serve_tracking_api

    bodies = [
        b'{"batch":[' + b",".join(payloads[i : i + BATCH]) + b"]}"
        for i in range(0, len(payloads), BATCH)
    ]

    async def floor() -> float:
        async with running_app(_bare_app()) as url:
            start = time.perf_counter()
            await _post_batches(url, bodies, "k", concurrency)
            return time.perf_counter() - start

    async def tracking() -> tuple[float, int]:
        world = World(seed=0, record=False)
        cdp = world.add(CdpActor("cdp"))
        sources = SourceRegistry([Source("storefront", "bench-key")])
        async with trio.open_nursery() as nursery:
            await nursery.start(world.run)
            async with serve_tracking_api(world, sources, "cdp") as url:
                start = time.perf_counter()
                await _post_batches(url, bodies, "bench-key", concurrency)
                await world.conductor.wait_quiet()
                elapsed = time.perf_counter() - start
            nursery.cancel_scope.cancel()
        return elapsed, sum(cdp.model.ingested.values())

    floor_seconds = trio.run(floor)
    api_seconds, ingested = trio.run(tracking)
    return floor_seconds, api_seconds, ingested


def run_bench(
    *,
    events: int = 200_000,
    repeat: int = 3,
    customers: int = 10_000,
    days: int = 30,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every section (or those in ``only``), sized from ``events`` and ``customers``."""
    chosen = list(only or SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section {unknown[0]!r} (known: {', '.join(SECTIONS)})")
    payloads = synthetic_stream(events) if {*chosen} & {*SECTIONS[:2]} else []
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "pipeline_storefront_to_cdp": lambda: _pipeline_section(payloads, repeat),
        "http_v1_batch": lambda: _http_section(payloads, repeat),
        "cdp_ingest": lambda: _cdp_section(events, customers, repeat),
        "predictive_model_updates": lambda: bench_updates(min(events, 20_000)),
        "promotions": lambda: run_promotions_bench(
            codes=min(events, 20_000),
            http_codes=min(events, 10_000) // 2,
            generated=1_000_000 if events >= 200_000 else events,
            repeat=repeat,
        ),
        "messaging": lambda: _messaging_section(events, customers),
        "journeys": lambda: _journeys_section(customers),
        "population_storefront_to_cdp": lambda: _population_section(customers, days),
    }
    report: dict[str, Any] = {"machine": _machine()}
    for name in SECTIONS:
        if name in chosen:
            report[name] = runners[name]()
    return report


def _machine() -> dict[str, Any]:
    """Where the figures were measured: the interpreter's build (which executable, when and how
    it was compiled), not only its version, since two builds of one version differ in speed."""
    build, built_on = platform.python_build()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "build": f"{build}, {built_on}",
        "compiler": platform.python_compiler(),
        "platform": platform.platform(),
    }


def _pipeline_section(payloads: list[bytes], repeat: int) -> dict[str, Any]:
    events = len(payloads)
    floor_event = _best(repeat, lambda: trio.run(_floor_per_event, payloads))
    floor_batch = _best(repeat, lambda: trio.run(_floor_batched, payloads))
    pipeline = _best(repeat, lambda: _pipeline(payloads))
    check = _pipeline(payloads)
    ingested = sum(check.model.ingested.values())
    if ingested != events:
        raise RuntimeError(f"pipeline ingested {ingested} of {events} events")
    rate = events / pipeline
    return {
        "events": events,
        "batch": BATCH,
        "profiles": len(check.model.profiles()),
        "events_per_s": round(rate),
        "floor_channel_hop_plus_decode_per_event_events_per_s": round(events / floor_event),
        "floor_batched_hop_plus_decode_events_per_s": round(events / floor_batch),
        "ratio_to_per_event_floor": round(rate / (events / floor_event), 3),
        "ratio_to_batched_floor": round(rate / (events / floor_batch), 3),
        "target_ratio": 0.4,
    }


def _http_section(payloads: list[bytes], repeat: int) -> dict[str, Any]:
    http_events = min(len(payloads), 50_000)
    http_floor, http_api, http_ingested = min(
        (_http_batch(payloads[:http_events]) for _ in range(repeat)), key=lambda r: r[1]
    )
    if http_ingested != http_events:
        raise RuntimeError(f"tracking API ingested {http_ingested} of {http_events} events")
    return {
        "events": http_events,
        "batch": BATCH,
        "concurrency": 8,
        "events_per_s": round(http_events / http_api),
        "floor_bare_quart_hypercorn_events_per_s": round(http_events / http_floor),
        "ratio_to_floor": round(http_floor / http_api, 3),
        "note": "client and server share one process and one core, for both figures",
    }


def _cdp_section(events: int, customers: int, repeat: int) -> dict[str, Any]:
    from promoloop.scenarios.bench_cdp import run_cdp_bench  # it imports this module's floors

    return run_cdp_bench(
        repeat=repeat,
        events=5 * events,
        profiles=max(events // 2, 1),
        memory_profiles=min(customers, 10_000),
        population_customers=10 * customers,
        population_memory_customers=min(customers, 10_000),
    )


def _messaging_section(events: int, customers: int) -> dict[str, Any]:
    from promoloop.scenarios.bench_messaging import run_messaging_bench

    return run_messaging_bench(messages=events, customers=max(customers * 2, 1))


def _journeys_section(customers: int) -> dict[str, Any]:
    from promoloop.scenarios.bench_journeys import run_journeys_bench

    return run_journeys_bench(customers=customers * 10)


def _population_section(customers: int, days: int) -> dict[str, Any]:
    pop_seconds, pop_events, _ = _population(customers, days)
    traced_customers = min(customers, 2_000)
    _, _, pop_peak = _population(traced_customers, days, trace=True)
    return {
        "customers": customers,
        "days": days,
        "events": pop_events,
        "seconds": round(pop_seconds, 2),
        "customer_days_per_s": round(customers * days / pop_seconds),
        "events_per_s": round(pop_events / pop_seconds),
        "peak_traced_bytes_per_customer": round(pop_peak / traced_customers),
        "memory_measured_on_customers": traced_customers,
        "note": "memory from a separate tracemalloc run: storefront + CDP state per customer",
    }
