"""The Segment-compatible Tracking API over real HTTP: auth, limits, validation, enrichment.

Every response passes through a hook that fails the test on a 500, and the fixture checks the
app's internal-error counter, so bad input is shown never to reach the catch-all handler.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

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

WEB_KEY = "web-write-key"
APP_KEY = "app-write-key"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def basic(key: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


WEB = basic(WEB_KEY)


@dataclass
class Recorder:
    """A fake ``ingest`` that keeps every call."""

    calls: list[tuple[str, list[SegmentEvent]]] = field(default_factory=list)

    async def __call__(self, source: str, events: list[SegmentEvent]) -> None:
        self.calls.append((source, list(events)))

    @property
    def events(self) -> list[SegmentEvent]:
        return [event for _, batch in self.calls for event in batch]


@dataclass
class Api:
    client: httpx.AsyncClient
    ingest: Recorder
    stats: TrackingStats

    async def batch(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/batch", content=encode(body), headers=WEB if headers is None else headers
        )


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else msgspec.json.encode(body)


async def no_server_error(response: httpx.Response) -> None:
    assert response.status_code != 500, await response.aread()


def registry() -> SourceRegistry:
    return SourceRegistry([Source("web", WEB_KEY), Source("mobile", APP_KEY)])


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    recorder = Recorder()
    stats = TrackingStats()
    app = create_tracking_app(sources=registry(), ingest=recorder, now=lambda: NOW, stats=stats)
    async with (
        running_app(app) as base_url,
        httpx.AsyncClient(base_url=base_url, event_hooks={"response": [no_server_error]}) as client,
    ):
        yield Api(client, recorder, stats)
    assert stats.internal_errors == 0


def track(**extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Product Viewed", **extra}


def failure(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


# -- happy paths ------------------------------------------------------------------------------


async def test_batch_is_accepted_and_ingested_in_order(api: Api) -> None:
    response = await api.batch(
        {
            "batch": [
                {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
                track(properties={"sku": "A-1", "price": 9.5}),
                {"type": "page", "anonymousId": "anon-1", "name": "Home"},
            ]
        }
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 3}
    assert [source for source, _ in api.ingest.calls] == ["web"]
    identify, viewed, page = api.ingest.events
    assert isinstance(identify, Identify) and identify.traits == {"email": "a@example.com"}
    assert isinstance(viewed, Track) and viewed.properties == {"sku": "A-1", "price": 9.5}
    assert isinstance(page, Page) and page.anonymous_id == "anon-1" and page.name == "Home"


async def test_import_is_an_alias_of_batch(api: Api) -> None:
    response = await api.client.post(
        "/v1/import", content=encode({"batch": [track()]}), headers=WEB
    )
    assert response.json() == {"success": True, "accepted": 1}


SINGLE_CALLS: list[tuple[str, type, dict[str, Any]]] = [
    ("identify", Identify, {"userId": "u1", "traits": {"plan": "pro"}}),
    ("track", Track, {"userId": "u1", "event": "Order Completed"}),
    ("page", Page, {"anonymousId": "a1", "name": "Home"}),
    ("screen", Screen, {"userId": "u1", "name": "Cart"}),
    ("group", Group, {"userId": "u1", "groupId": "g1"}),
    ("alias", Alias, {"userId": "u1", "previousId": "a1"}),
]


@pytest.mark.parametrize(("call", "cls", "body"), SINGLE_CALLS, ids=[c[0] for c in SINGLE_CALLS])
@pytest.mark.parametrize("short", [False, True], ids=["long", "short"])
async def test_single_call_endpoints(
    api: Api, call: str, cls: type, body: dict[str, Any], short: bool
) -> None:
    path = f"/v1/{call[0]}" if short else f"/v1/{call}"
    if not short:
        body = {"type": call, **body}  # a matching type is fine, a missing one too
    response = await api.client.post(path, content=encode(body), headers=WEB)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    [(source, [event])] = api.ingest.calls
    assert source == "web"
    assert type(event) is cls


async def test_single_call_type_must_match_the_path(api: Api) -> None:
    response = await api.client.post(
        "/v1/track", content=encode({"type": "identify", "userId": "u1"}), headers=WEB
    )
    message = failure(response, 400, "invalid_request")
    assert "identify" in message and "track" in message
    assert api.ingest.calls == []


async def test_single_call_with_an_invalid_event_is_a_400_with_the_reason(api: Api) -> None:
    response = await api.client.post("/v1/t", content=encode({"event": "x"}), headers=WEB)
    assert "userId or anonymousId" in failure(response, 400, "invalid_event")
    response = await api.client.post("/v1/t", content=encode({"userId": "u1"}), headers=WEB)
    assert "event" in failure(response, 400, "invalid_event")
    assert api.ingest.calls == []


# -- auth -------------------------------------------------------------------------------------


async def test_write_key_in_the_body_authenticates(api: Api) -> None:
    response = await api.batch({"batch": [track()], "writeKey": APP_KEY}, headers={})
    assert response.json() == {"success": True, "accepted": 1}
    response = await api.client.post("/v1/track", content=encode({**track(), "writeKey": WEB_KEY}))
    assert response.json() == {"success": True}
    assert [source for source, _ in api.ingest.calls] == ["mobile", "web"]


async def test_basic_auth_picks_the_source(api: Api) -> None:
    await api.batch({"batch": [track()]}, headers=basic(APP_KEY))
    assert [source for source, _ in api.ingest.calls] == ["mobile"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("wrong-key"),
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Bearer " + WEB_KEY},
    ],
    ids=["missing", "wrong", "garbled", "bearer"],
)
async def test_missing_or_wrong_key_is_401(api: Api, headers: dict[str, str]) -> None:
    response = await api.batch({"batch": [track()]}, headers=headers)
    failure(response, 401, "unauthorized")
    response = await api.client.post("/v1/track", content=encode(track()), headers=headers)
    failure(response, 401, "unauthorized")
    assert api.ingest.calls == []
    assert api.stats.rejected_by_code["unauthorized"] == 2


async def test_wrong_key_in_the_body_is_401(api: Api) -> None:
    response = await api.batch({"batch": [track()], "writeKey": "nope"}, headers={})
    failure(response, 401, "unauthorized")


# -- malformed requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b'[{"type": "track"}]', b'"batch"', b"{}", b'{"batch": 5}'],
    ids=["malformed", "empty", "array", "string", "no-batch", "batch-not-list"],
)
async def test_malformed_batch_is_400(api: Api, body: bytes) -> None:
    failure(await api.batch(body), 400, "invalid_request")
    assert api.ingest.calls == []


async def test_single_call_body_not_an_object_is_400(api: Api) -> None:
    response = await api.client.post("/v1/identify", content=b"[1, 2]", headers=WEB)
    failure(response, 400, "invalid_request")


async def test_unknown_path_and_wrong_method_answer_json(api: Api) -> None:
    failure(await api.client.post("/v1/nope", headers=WEB), 404, "not_found")
    failure(await api.client.get("/v1/batch", headers=WEB), 405, "method_not_allowed")


# -- per-event validation ---------------------------------------------------------------------


async def test_event_without_ids_is_rejected_alone(api: Api) -> None:
    response = await api.batch(
        {
            "batch": [
                track(messageId="m1"),
                {"type": "track", "event": "Orphan", "messageId": "m2"},
                track(messageId="m3", userId="", anonymousId="a3"),
            ]
        }
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "accepted": 2,
        "rejected": [
            {"index": 1, "code": "invalid_event", "message": "userId or anonymousId is required"}
        ],
    }
    assert [event.message_id for event in api.ingest.events] == ["m1", "m3"]
    assert api.stats.accepted == 2
    assert api.stats.rejected_by_code["invalid_event"] == 1
    [recent] = api.stats.recent
    assert (recent.source, recent.index) == ("web", 1)


@pytest.mark.parametrize(
    ("element", "needle"),
    [
        (track(properties=5), "$.properties"),
        (track(userId={}), "$.userId"),
        (track(timestamp="yesterday"), "$.timestamp"),
        ({"type": "teleport", "userId": "u1"}, "$.type"),
        ({"userId": "u1"}, "type"),
        (42, "object"),
        ({"type": "track", "userId": "u1"}, "event"),
        (track(event=""), "event"),
        ({"type": "alias", "userId": "u1"}, "previousId"),
        ({"type": "alias", "previousId": "a1", "anonymousId": "x"}, "userId"),
        ({"type": "group", "userId": "u1"}, "groupId"),
        ({"type": "group", "userId": "u1", "groupId": ""}, "groupId"),
    ],
    ids=[
        "properties-int",
        "userId-object",
        "bad-timestamp",
        "unknown-type",
        "no-type",
        "not-object",
        "track-no-event",
        "track-empty-event",
        "alias-no-previous",
        "alias-no-user",
        "group-no-id",
        "group-empty-id",
    ],
)
async def test_invalid_element_is_rejected_naming_the_field(
    api: Api, element: Any, needle: str
) -> None:
    response = await api.batch({"batch": [track(messageId="ok-1"), element, track()]})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert rejected["code"] == "invalid_event"
    assert needle in rejected["message"]
    assert len(api.ingest.events) == 2


# -- size limits ------------------------------------------------------------------------------


async def test_oversize_event_in_a_batch_is_rejected_alone(api: Api) -> None:
    big = track(properties={"blob": "x" * (32 * 1024)})
    response = await api.batch({"batch": [track(), big, track()]})
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, "message_too_large")]


async def test_batch_over_500kb_is_400(api: Api) -> None:
    element = track(properties={"blob": "x" * 20_000})
    body = {"batch": [element] * 30}  # ~600 KB, every element under 32 KB
    assert len(encode(body)) > 512_000
    message = failure(await api.batch(body), 400, "payload_too_large")
    assert "512000" in message
    assert api.ingest.calls == []


async def test_chunked_batch_over_500kb_is_400(api: Api) -> None:
    """No Content-Length: the limit must hold while the body streams in."""
    element = msgspec.json.encode(track(properties={"blob": "x" * 20_000}))

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"batch": ['
        for i in range(30):
            yield (b"," if i else b"") + element
        yield b"]}"

    response = await api.client.post("/v1/batch", content=chunks(), headers=WEB)
    failure(response, 400, "payload_too_large")


async def test_single_call_over_32kb_is_400(api: Api) -> None:
    body = track(properties={"blob": "x" * (32 * 1024)})
    failure(
        await api.client.post("/v1/track", content=encode(body), headers=WEB),
        400,
        "payload_too_large",
    )
    assert api.ingest.calls == []


async def test_gzip_body_is_accepted(api: Api) -> None:
    raw = encode({"batch": [track(), track()]})
    headers = {**WEB, "Content-Encoding": "gzip"}
    response = await api.client.post("/v1/batch", content=gzip.compress(raw), headers=headers)
    assert response.json() == {"success": True, "accepted": 2}


async def test_gzip_single_call_is_accepted(api: Api) -> None:
    headers = {**WEB, "Content-Encoding": "gzip"}
    response = await api.client.post(
        "/v1/identify", content=gzip.compress(encode({"userId": "u1"})), headers=headers
    )
    assert response.json() == {"success": True}


async def test_gzip_bomb_is_refused_by_its_decompressed_size(api: Api) -> None:
    padding = b" " * 5_000_000
    bomb = gzip.compress(b'{"batch": []' + padding + b"}")
    assert len(bomb) < 512_000
    headers = {**WEB, "Content-Encoding": "gzip"}
    response = await api.client.post("/v1/batch", content=bomb, headers=headers)
    failure(response, 400, "payload_too_large")


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (b"definitely not gzip", "gzip"),
        (gzip.compress(b'{"batch": []}')[:-6], "gzip"),
        (zlib.compress(b'{"batch": []}'), "br"),
    ],
    ids=["garbage", "truncated", "unsupported"],
)
async def test_bad_content_encoding_is_400(api: Api, content: bytes, encoding: str) -> None:
    headers = {**WEB, "Content-Encoding": encoding}
    response = await api.client.post("/v1/batch", content=content, headers=headers)
    failure(response, 400, "invalid_request")


# -- enrichment -------------------------------------------------------------------------------


async def test_message_id_is_generated_when_missing_and_kept_otherwise(api: Api) -> None:
    await api.batch({"batch": [track(), track(messageId="mine")]})
    generated, kept = api.ingest.events
    assert generated.message_id.startswith("api-") and len(generated.message_id) == 36
    assert kept.message_id == "mine"


async def test_received_at_is_set_and_missing_timestamp_defaults_to_it(api: Api) -> None:
    await api.batch({"batch": [track()]})
    [event] = api.ingest.events
    assert event.received_at == NOW
    assert event.timestamp == NOW


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_clock_skew_is_corrected(api: Api) -> None:
    """Sender clock 2 h fast: the event happened 1 min before it was sent, so NOW - 1 min."""
    sender_now = NOW + timedelta(hours=2)
    body = {
        "sentAt": iso(sender_now),
        "batch": [
            track(messageId="batch-level", timestamp=iso(sender_now - timedelta(minutes=1))),
            track(
                messageId="event-level",
                timestamp=iso(sender_now - timedelta(minutes=1)),
                sentAt=iso(sender_now + timedelta(minutes=1)),
            ),
        ],
    }
    await api.batch(body)
    batch_level, event_level = api.ingest.events
    assert batch_level.timestamp == NOW - timedelta(minutes=1)
    assert batch_level.sent_at == sender_now
    assert event_level.timestamp == NOW - timedelta(minutes=2)  # its own sentAt wins


async def test_no_skew_correction_without_sent_at(api: Api) -> None:
    then = datetime(2025, 1, 1, tzinfo=UTC)
    await api.client.post("/v1/track", content=encode(track(timestamp=iso(then))), headers=WEB)
    [event] = api.ingest.events
    assert event.timestamp == then
    assert event.received_at == NOW


async def test_naive_timestamps_are_read_as_utc(api: Api) -> None:
    body = {"sentAt": "2025-03-01T10:00:00", "batch": [track(timestamp="2025-03-01T09:59:00")]}
    assert (await api.batch(body)).json()["accepted"] == 1
    [event] = api.ingest.events
    assert event.timestamp == NOW - timedelta(minutes=1)


async def test_absurd_dates_do_not_break_the_request(api: Api) -> None:
    body = {"sentAt": "9999-12-31T23:59:59Z", "batch": [track(timestamp="0001-01-01T00:00:00Z")]}
    assert (await api.batch(body)).json()["accepted"] == 1


async def test_batch_context_and_integrations_are_merged_under_the_events(api: Api) -> None:
    body = {
        "context": {"ip": "10.0.0.1", "library": {"name": "batch-lib"}},
        "integrations": {"All": False, "Mixpanel": True},
        "batch": [
            track(context={"library": {"name": "event-lib"}}, integrations={"Mixpanel": False}),
            track(),
        ],
    }
    await api.batch(body)
    first, second = api.ingest.events
    assert first.context == {"ip": "10.0.0.1", "library": {"name": "event-lib"}}
    assert first.integrations == {"All": False, "Mixpanel": False}
    assert second.context == {"ip": "10.0.0.1", "library": {"name": "batch-lib"}}


# -- health, stats, internal errors -----------------------------------------------------------


async def test_health(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_stats(api: Api) -> None:
    await api.batch({"batch": [track(), {"type": "track", "event": "no ids"}]})
    await api.batch(b"nope")
    await api.batch({"batch": [track()]}, headers=basic("bad"))
    failure(await api.client.get("/v1/stats"), 401, "unauthorized")
    response = await api.client.get("/v1/stats", headers=WEB)
    assert response.status_code == 200
    stats = response.json()
    assert stats["requests"] == 3
    assert stats["accepted"] == 1
    assert stats["internalErrors"] == 0
    assert stats["rejectedByCode"] == {"invalid_event": 1, "invalid_request": 1, "unauthorized": 2}
    codes = [r["code"] for r in stats["recentRejections"]]
    assert codes == ["invalid_event", "invalid_request", "unauthorized", "unauthorized"]
    assert stats["recentRejections"][0] == {
        "source": "web",
        "code": "invalid_event",
        "message": "userId or anonymousId is required",
        "index": 1,
    }


async def test_recent_rejections_are_bounded() -> None:
    stats = TrackingStats()
    for i in range(250):
        stats.reject("web", "invalid_event", f"#{i}", i)
    assert len(stats.recent) == 200
    assert stats.recent[0].message == "#50"
    assert stats.rejected_by_code["invalid_event"] == 250


async def test_a_genuine_bug_is_a_json_500_without_traceback() -> None:
    """The catch-all exists for our own bugs, e.g. an ingest that raises."""

    async def broken_ingest(source: str, events: list[SegmentEvent]) -> None:
        raise RuntimeError("secret internals")

    stats = TrackingStats()
    make_now: Callable[[], datetime] = lambda: NOW  # noqa: E731
    app = create_tracking_app(sources=registry(), ingest=broken_ingest, now=make_now, stats=stats)
    async with running_app(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/v1/batch", content=encode({"batch": [track()]}), headers=WEB)
    failure(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert stats.internal_errors == 1
    assert stats.accepted == 0
