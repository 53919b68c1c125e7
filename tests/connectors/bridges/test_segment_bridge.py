"""SegmentBridge against the real Tracking API app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from promoloop.actors.cdp.sources import Source, SourceRegistry
from promoloop.actors.events.segment import Identify, SegmentEvent, Track
from promoloop.actors.runtime.netgate import NetGate
from promoloop.actors.runtime.ports import TrackingPort
from promoloop.connectors.bridges.segment import SegmentBridge, SegmentError
from promoloop.connectors.segment import TrackingStats, create_tracking_app
from promoloop.connectors.transport.http import running_app

WRITE_KEY = "bridge-write-key"
NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@dataclass
class Recorder:
    calls: list[tuple[str, list[SegmentEvent]]] = field(default_factory=list)
    gate: NetGate | None = None
    inflight_seen: list[int] = field(default_factory=list)
    failures_left: int = 0

    async def __call__(self, source: str, events: list[SegmentEvent]) -> None:
        if self.gate is not None:
            self.inflight_seen.append(self.gate.inflight)
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("simulated CDP failure")
        self.calls.append((source, list(events)))

    @property
    def events(self) -> list[SegmentEvent]:
        return [event for _, batch in self.calls for event in batch]


@dataclass
class Server:
    base_url: str
    ingest: Recorder
    stats: TrackingStats
    sizes: list[int] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def bridge(self, write_key: str = WRITE_KEY, **options: object) -> SegmentBridge:
        async def record_size(request: httpx.Request) -> None:
            self.sizes.append(len(request.content))

        client = httpx.AsyncClient(event_hooks={"request": [record_size]})
        self.clients.append(client)  # passed in, so the bridge leaves closing it to us
        return SegmentBridge(self.base_url, write_key, client=client, now=lambda: NOW, **options)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    recorder = Recorder()
    stats = TrackingStats()
    app = create_tracking_app(
        sources=SourceRegistry([Source("storefront", WRITE_KEY)]),
        ingest=recorder,
        now=lambda: NOW + timedelta(seconds=1),
        stats=stats,
    )
    async with running_app(app) as base_url:
        server = Server(base_url, recorder, stats)
        yield server
        for client in server.clients:
            await client.aclose()


def track(i: int, blob: str = "") -> Track:
    properties = {"n": i, "blob": blob} if blob else {"n": i}
    return Track(
        message_id=f"m-{i}",
        user_id=f"u-{i % 7}",
        event="Product Viewed",
        properties=properties,
        timestamp=NOW - timedelta(minutes=1),
    )


async def test_round_trip(server: Server) -> None:
    events: list[SegmentEvent] = [
        Identify(message_id="m-id", user_id="u-1", traits={"email": "a@example.com"}),
        track(1),
        track(2),
    ]
    bridge = server.bridge()
    port: TrackingPort = bridge
    async with bridge:
        await port.send(events)
    assert server.stats.requests == 1
    [(source, received)] = server.ingest.calls
    assert source == "storefront"
    assert [e.message_id for e in received] == ["m-id", "m-1", "m-2"]
    identify = received[0]
    assert isinstance(identify, Identify) and identify.traits == {"email": "a@example.com"}
    assert received[1].sent_at == NOW  # the bridge's injected clock
    assert received[1].timestamp == NOW + timedelta(seconds=1) - timedelta(minutes=1)


async def test_sending_nothing_sends_no_request(server: Server) -> None:
    async with server.bridge() as bridge:
        await bridge.send([])
    assert server.stats.requests == 0


async def test_large_sends_are_split_within_segment_limits(server: Server) -> None:
    events = [track(i, blob="x" * 20_000) for i in range(60)]  # ~1.2 MB in all
    async with server.bridge() as bridge:
        await bridge.send(events)
    assert server.stats.requests == len(server.sizes) >= 3
    assert all(size <= 475_000 for size in server.sizes)
    assert [e.message_id for e in server.ingest.events] == [f"m-{i}" for i in range(60)]


async def test_sends_are_split_by_event_count(server: Server) -> None:
    async with server.bridge(max_batch_events=100) as bridge:
        await bridge.send([track(i) for i in range(250)])
    assert server.stats.requests == 3
    assert [len(batch) for _, batch in server.ingest.calls] == [100, 100, 50]


async def test_oversize_event_is_refused_before_sending(server: Server) -> None:
    async with server.bridge() as bridge:
        with pytest.raises(SegmentError) as caught:
            await bridge.send([track(0), track(1, blob="x" * 40_000)])
    assert caught.value.status is None
    assert caught.value.code == "message_too_large"
    assert "m-1" in caught.value.message
    assert server.stats.requests == 0


async def test_wrong_key_raises_unauthorized_without_retrying(server: Server) -> None:
    async with server.bridge("wrong-key") as bridge:
        with pytest.raises(SegmentError) as caught:
            await bridge.send([track(0)])
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert server.stats.requests == 1
    assert server.ingest.calls == []


async def test_partial_acceptance_is_an_error(server: Server) -> None:
    async with server.bridge() as bridge:
        with pytest.raises(SegmentError) as caught:
            await bridge.send([track(0), Track(message_id="bad", user_id="u", event="")])
    assert caught.value.status == 200
    assert caught.value.code == "invalid_event"
    assert [r["index"] for r in caught.value.rejected] == [1]


async def test_server_errors_are_retried(server: Server) -> None:
    server.ingest.failures_left = 2
    async with server.bridge(backoff=0) as bridge:
        await bridge.send([track(0)])
    assert server.stats.requests == 3
    assert [e.message_id for e in server.ingest.events] == ["m-0"]


async def test_retries_give_up_after_max_attempts(server: Server) -> None:
    server.ingest.failures_left = 5
    async with server.bridge(backoff=0, max_attempts=2) as bridge:
        with pytest.raises(SegmentError) as caught:
            await bridge.send([track(0)])
    assert (caught.value.status, caught.value.code) == (500, "internal_error")
    assert server.stats.requests == 2


async def test_transport_errors_are_retried_then_raised() -> None:
    app = create_tracking_app(sources=SourceRegistry(), ingest=Recorder(), now=lambda: NOW)
    async with running_app(app) as base_url:
        pass  # the port is closed again: nothing listens there now
    gate = NetGate()
    async with SegmentBridge(base_url, WRITE_KEY, gate=gate, backoff=0) as bridge:
        with pytest.raises(SegmentError) as caught:
            await bridge.send([track(0)])
        assert bridge.requests_sent == 3
    assert caught.value.code == "transport_error"
    assert gate.inflight == 0


async def test_net_gate_is_held_during_requests_and_released(server: Server) -> None:
    gate = NetGate()
    server.ingest.gate = gate
    async with server.bridge(gate=gate, max_batch_events=2) as bridge:
        await bridge.send([track(i) for i in range(5)])
        assert gate.inflight == 0
        with pytest.raises(SegmentError):
            await bridge.send([Track(message_id="bad", user_id="u", event="")])
    assert server.ingest.inflight_seen == [1, 1, 1]
    assert gate.inflight == 0


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="write key"):
        SegmentBridge("http://127.0.0.1:1", "")
    with pytest.raises(ValueError, match="max_batch_bytes"):
        SegmentBridge("http://127.0.0.1:1", WRITE_KEY, max_batch_bytes=600_000)
