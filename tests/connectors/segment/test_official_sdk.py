"""The official ``segment-analytics-python`` SDK, unmodified, against our Tracking API.

The SDK is synchronous (requests, plus a consumer thread when not in sync mode), so it runs in a
worker thread while the trio server keeps serving on the test's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
from segment.analytics import Client
from segment.analytics.request import APIError

from promoloop.actors.cdp.sources import Source, SourceRegistry
from promoloop.actors.events.segment import (
    Alias,
    Group,
    Identify,
    Page,
    Screen,
    SegmentEvent,
    Track,
)
from promoloop.connectors.segment import TrackingStats, create_tracking_app
from promoloop.connectors.transport.http import running_app

WRITE_KEY = "sdk-write-key"


@dataclass
class Recorder:
    calls: list[tuple[str, list[SegmentEvent]]] = field(default_factory=list)

    async def __call__(self, source: str, events: list[SegmentEvent]) -> None:
        self.calls.append((source, list(events)))

    @property
    def events(self) -> list[SegmentEvent]:
        return [event for _, batch in self.calls for event in batch]


@dataclass
class Server:
    base_url: str
    ingest: Recorder
    stats: TrackingStats


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    recorder = Recorder()
    stats = TrackingStats()
    app = create_tracking_app(
        sources=SourceRegistry([Source("python-sdk", WRITE_KEY)]),
        ingest=recorder,
        now=lambda: datetime.now(UTC),
        stats=stats,
    )
    async with running_app(app) as base_url:
        yield Server(base_url, recorder, stats)
    assert stats.internal_errors == 0


def send_all(client: Client) -> None:
    """One of each call, as an application would make them."""
    client.identify("user-1", {"email": "ada@example.com", "plan": "pro"})
    client.track("user-1", "Order Completed", {"order_id": "o-1", "total": 42.5})
    client.page("user-1", "Docs", "Install", {"path": "/install"})
    client.screen(anonymous_id="anon-7", name="Cart")
    client.group("user-1", "acme", {"name": "Acme Inc"})
    client.alias("anon-7", "user-1")
    client.flush()


def check_received(events: list[SegmentEvent]) -> None:
    identify, order, page, screen, group, alias = events
    assert isinstance(identify, Identify)
    assert identify.user_id == "user-1"
    assert identify.traits == {"email": "ada@example.com", "plan": "pro"}
    assert isinstance(order, Track)
    assert order.event == "Order Completed"
    assert order.properties == {"order_id": "o-1", "total": 42.5}
    assert isinstance(page, Page)
    assert (page.category, page.name, page.properties) == ("Docs", "Install", {"path": "/install"})
    assert isinstance(screen, Screen) and screen.anonymous_id == "anon-7"
    assert isinstance(group, Group)
    assert group.group_id == "acme" and group.traits == {"name": "Acme Inc"}
    assert isinstance(alias, Alias)
    assert (alias.previous_id, alias.user_id) == ("anon-7", "user-1")
    for event in events:
        assert event.context["library"]["name"] == "analytics-python"
        assert event.message_id and not event.message_id.startswith("api-")  # the SDK's own
        assert event.received_at is not None and event.timestamp is not None


async def test_sync_mode_sends_every_call(server: Server) -> None:
    client = Client(write_key=WRITE_KEY, host=server.base_url, sync_mode=True)
    await trio.to_thread.run_sync(send_all, client)
    check_received(server.ingest.events)
    assert {source for source, _ in server.ingest.calls} == {"python-sdk"}
    assert server.stats.requests == 6  # sync mode: one /v1/batch request per call


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
async def test_batching_consumer_sends_every_call(server: Server, use_gzip: bool) -> None:
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=server.base_url,
        gzip=use_gzip,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append(error),
    )
    try:
        await trio.to_thread.run_sync(send_all, client)
    finally:
        await trio.to_thread.run_sync(client.join)
    assert errors == []
    check_received(server.ingest.events)


async def test_sync_mode_wrong_key_raises_api_error(server: Server) -> None:
    client = Client(write_key="not-a-key", host=server.base_url, sync_mode=True)
    with pytest.raises(APIError) as caught:
        await trio.to_thread.run_sync(lambda: client.track("user-1", "Order Completed"))
    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"
    assert server.ingest.calls == []


async def test_batching_consumer_reports_wrong_key_to_on_error(server: Server) -> None:
    errors: list[tuple[Exception, list[Any]]] = []
    client = Client(
        write_key="not-a-key",
        host=server.base_url,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append((error, batch)),
    )

    def run() -> None:
        client.track("user-1", "Order Completed")
        client.flush()
        client.join()

    await trio.to_thread.run_sync(run)
    [(error, batch)] = errors
    assert isinstance(error, APIError)
    assert (error.status, error.code) == (401, "unauthorized")
    assert [msg["event"] for msg in batch] == ["Order Completed"]
    assert server.ingest.calls == []
