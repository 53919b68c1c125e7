"""The Segment-compatible Profile API over real HTTP (Hypercorn on 127.0.0.1:0): auth, the
four resources, pagination, merged identities, errors in Segment's shape."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trio

from promoloop.actors.cdp import (
    Audience,
    CdpActor,
    CdpModel,
    ComputedTrait,
    PerformedEvent,
    Source,
    SourceRegistry,
)
from promoloop.actors.events import Identify, Page, Track, names
from promoloop.actors.runtime import World
from promoloop.connectors.segment import TrackingStats, create_tracking_app
from promoloop.connectors.segment.profile_api import register_profile_api
from promoloop.connectors.transport.http import running_app
from promoloop.connectors.transport.tracking import serve_tracking_api

TOKEN = "profile-token"
T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
BASE = "/v1/spaces/spa_1/collections/users/profiles"


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode()}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def populated() -> CdpModel:
    """Pam browses anonymously on two devices, identifies on one (merge), then on the other
    (second merge); Jim is a separate person."""
    model = CdpModel()
    model.add_computed_trait(ComputedTrait(key="views", kind="count", event="Product Viewed"))
    model.add_audience(
        Audience(key="reviewers", name="Reviewers", condition=PerformedEvent(event="review_left"))
    )
    calls: list[Any] = [
        Page(anonymous_id="a-phone", message_id="m01", timestamp=at(0)),
        Track(anonymous_id="a-laptop", event="Product Viewed", message_id="m02", timestamp=at(1)),
        Identify(
            user_id="pam",
            anonymous_id="a-phone",
            traits={"email": "pam@example.com", "first_name": "Pam"},
            message_id="m03",
            timestamp=at(2),
        ),
        Track(user_id="pam", event="review_left", message_id="m04", timestamp=at(3)),
        Identify(user_id="pam", anonymous_id="a-laptop", message_id="m05", timestamp=at(4)),
        Track(user_id="jim", event="Product Viewed", message_id="m06", timestamp=at(5)),
    ]
    calls += [
        Track(
            user_id="pam",
            event="Product Viewed",
            properties={"sku": f"sku-{i}"},
            message_id=f"v{i:02d}",
            timestamp=at(10 + i),
        )
        for i in range(12)
    ]
    for call in calls:
        model.ingest("storefront", call, call.timestamp)
    return model


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_tracking_app(
        sources=SourceRegistry([Source("storefront", "wk")]),
        ingest=_refuse,
        now=lambda: T0,
        stats=TrackingStats(),
    )
    register_profile_api(app, populated(), token=TOKEN)
    async with (
        running_app(app) as url,
        httpx.AsyncClient(base_url=url, headers=basic(TOKEN)) as http,
    ):
        yield http


async def _refuse(source: str, events: list[Any]) -> None:
    raise AssertionError("these tests do not ingest over HTTP")


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]["message"]


async def test_traits_by_every_identifier_of_a_merged_profile(client: httpx.AsyncClient) -> None:
    """user_id, email and both anonymous ids find the same profile; traits include computed
    traits and audience booleans."""
    bodies = []
    for ident in (
        "user_id:pam",
        "email:pam@example.com",
        "anonymous_id:a-phone",
        "anonymous_id:a-laptop",
    ):
        response = await client.get(f"{BASE}/{ident}/traits", params={"limit": 200})
        assert response.status_code == 200, response.text
        bodies.append(response.json()["traits"])
    assert bodies[0] == {
        "email": "pam@example.com",
        "first_name": "Pam",
        "reviewers": True,
        "views": 13,
    }
    assert all(body == bodies[0] for body in bodies)


async def test_traits_paginate_by_key_and_filter(client: httpx.AsyncClient) -> None:
    first = (await client.get(f"{BASE}/user_id:pam/traits", params={"limit": 3})).json()
    assert list(first["traits"]) == ["email", "first_name", "reviewers"]
    assert first["cursor"] == {
        "url": f"{BASE}/user_id:pam/traits",
        "has_more": True,
        "next": "views",
        "limit": 3,
    }
    rest = (
        await client.get(f"{BASE}/user_id:pam/traits", params={"limit": 3, "next": "views"})
    ).json()
    assert rest["traits"] == {"views": 13}
    assert rest["cursor"]["has_more"] is False and rest["cursor"]["next"] == ""
    default = (await client.get(f"{BASE}/user_id:pam/traits")).json()
    assert default["cursor"]["limit"] == 10
    only = await client.get(f"{BASE}/user_id:pam/traits", params={"include": "email,nope"})
    assert only.json()["traits"] == {"email": "pam@example.com"}
    audiences = await client.get(f"{BASE}/user_id:pam/traits", params={"class": "audience"})
    assert audiences.json()["traits"] == {"reviewers": True}
    computed = await client.get(f"{BASE}/user_id:pam/traits", params={"class": "computed_trait"})
    assert computed.json()["traits"] == {"views": 13}


async def test_events_newest_first_with_a_stable_cursor(client: httpx.AsyncClient) -> None:
    """Pages of 5 walk the whole history, newest first, without repeats; Segment's item shape."""
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 5}
    pages = 0
    while True:
        body = (await client.get(f"{BASE}/user_id:pam/events", params=params)).json()
        pages += 1
        seen += [item["message_id"] for item in body["data"]]
        if not body["cursor"]["has_more"]:
            assert body["cursor"]["next"] == ""
            break
        params["next"] = body["cursor"]["next"]
    profile = populated().profile("user_id", "pam")
    assert profile is not None
    expected = sorted(profile.events, key=lambda e: (e.timestamp, e.message_id), reverse=True)
    assert seen == [e.message_id for e in expected]
    assert pages == -(-len(expected) // 5)
    newest = (await client.get(f"{BASE}/user_id:pam/events", params={"limit": 1})).json()
    item = newest["data"][0]
    assert item["message_id"] == "v11"
    assert item["type"] == "track" and item["event"] == "Product Viewed"
    assert item["source_id"] == "storefront"
    assert item["timestamp"] == "2026-01-05T08:21:00Z"
    assert item["properties"] == {"sku": "sku-11"}
    assert {"collection": "users", "type": "user_id", "id": "pam", "encoding": "none"} in item[
        "external_ids"
    ]


async def test_events_filters_and_ascending_order(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{BASE}/user_id:pam/events",
        params={
            "sort": "asc",
            "include": "Product Viewed",
            "start": "2026-01-05T08:10:00Z",
            "end": "2026-01-05T08:12:00Z",
        },
    )
    assert [item["message_id"] for item in response.json()["data"]] == ["v00", "v01"]
    excluded = await client.get(
        f"{BASE}/user_id:pam/events",
        params={"exclude": "Product Viewed,Audience Entered,identify,page", "limit": 100},
    )
    assert [item["event"] for item in excluded.json()["data"]] == ["review_left"]


async def test_external_ids_and_metadata(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{BASE}/email:pam@example.com/external_ids")).json()
    assert [(item["type"], item["id"]) for item in body["data"]] == [
        ("anonymous_id", "a-phone"),
        ("user_id", "pam"),
        ("email", "pam@example.com"),
        ("anonymous_id", "a-laptop"),
    ]
    first = body["data"][0]
    assert first == {
        "source_id": "storefront",
        "collection": "users",
        "id": "a-phone",
        "type": "anonymous_id",
        "created_at": "2026-01-05T08:00:00Z",
        "encoding": "none",
        "first_message_id": "m01",
    }
    paged = (await client.get(f"{BASE}/user_id:pam/external_ids", params={"limit": 3})).json()
    assert len(paged["data"]) == 3 and paged["cursor"]["has_more"] is True
    rest = (
        await client.get(
            f"{BASE}/user_id:pam/external_ids",
            params={"limit": 3, "next": paged["cursor"]["next"]},
        )
    ).json()
    assert [item["id"] for item in rest["data"]] == ["a-laptop"]
    meta = (await client.get(f"{BASE}/anonymous_id:a-laptop/metadata")).json()["metadata"]
    assert meta == {
        "created_at": "2026-01-05T08:00:00Z",
        "updated_at": "2026-01-05T08:21:00Z",
        "expires_at": None,
        "first_message_id": "m01",
        "first_source_id": "storefront",
        "last_message_id": "v11",
        "last_source_id": "storefront",
    }


async def test_two_people_stay_two_profiles(client: httpx.AsyncClient) -> None:
    jim = (await client.get(f"{BASE}/user_id:jim/traits")).json()
    assert jim["traits"] == {"views": 1}


async def test_errors_in_segment_shape(client: httpx.AsyncClient) -> None:
    """Unknown profile or identifier type → 404 not_found; bad token → 401; bad parameters →
    400; never a 500."""
    message = error(await client.get(f"{BASE}/user_id:nobody/traits"), 404, "not_found")
    assert message == "Profile was not found."
    error(await client.get(f"{BASE}/phone:555/traits"), 404, "not_found")
    error(await client.get(f"{BASE}/user_id:pam/friends"), 404, "not_found")
    error(
        await client.get("/v1/spaces/s/collections/accounts/profiles/user_id:pam/traits"),
        404,
        "not_found",
    )
    error(await client.get(f"{BASE}/pam/traits"), 400, "validation_error")
    for limit in ("0", "201", "ten"):
        response = await client.get(f"{BASE}/user_id:pam/traits", params={"limit": limit})
        error(response, 400, "validation_error")
    error(
        await client.get(f"{BASE}/user_id:pam/events", params={"limit": 101}),
        400,
        "validation_error",
    )
    error(
        await client.get(f"{BASE}/user_id:pam/events", params={"next": "%%%"}),
        400,
        "invalid_request_error",
    )
    error(
        await client.get(f"{BASE}/user_id:pam/external_ids", params={"next": "bm9wZQ"}),
        400,
        "invalid_request_error",
    )
    error(
        await client.get(f"{BASE}/user_id:pam/events", params={"start": "yesterday"}),
        400,
        "validation_error",
    )
    error(
        await client.get(f"{BASE}/user_id:pam/events", params={"sort": "up"}),
        400,
        "validation_error",
    )
    for headers in (basic("wrong"), {"Authorization": "Bearer x"}, {"Authorization": ""}):
        response = await client.get(f"{BASE}/user_id:pam/traits", headers=headers)
        error(response, 401, "authentication_error")


async def test_a_configured_space_is_enforced() -> None:
    app = create_tracking_app(
        sources=SourceRegistry([Source("storefront", "wk")]), ingest=_refuse, now=lambda: T0
    )
    register_profile_api(app, populated(), token=TOKEN, space_id="spa_1")
    async with (
        running_app(app) as url,
        httpx.AsyncClient(base_url=url, headers=basic(TOKEN)) as http,
    ):
        assert (await http.get(f"{BASE}/user_id:pam/traits")).status_code == 200
        other = await http.get("/v1/spaces/spa_2/collections/users/profiles/user_id:pam/traits")
        error(other, 404, "not_found")


async def test_served_with_the_tracking_api_on_one_port() -> None:
    """Calls posted to /v1/batch reach the CDP actor and are readable from the Profile API on
    the same URL (a world on the real clock, as `promoloop serve` runs it)."""
    world = World(seed=0, record=False)
    cdp = world.add(CdpActor("cdp"))
    sources = SourceRegistry([Source("storefront", "wk")])
    async with (
        serve_tracking_api(world, sources, "cdp", profiles=cdp.model, profile_token=TOKEN) as url,
        httpx.AsyncClient(base_url=url) as http,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(world.run)
        batch = {
            "batch": [
                {
                    "type": "identify",
                    "messageId": "m1",
                    "userId": "dwight",
                    "anonymousId": "a-d",
                    "traits": {"email": "dwight@example.com"},
                },
                {
                    "type": "track",
                    "messageId": "m2",
                    "userId": "dwight",
                    "event": names.REVIEW_LEFT,
                },
            ]
        }
        posted = await http.post("/v1/batch", json=batch, headers=basic("wk"))
        assert posted.json() == {"success": True, "accepted": 2}
        await world.conductor.wait_quiet()
        traits = await http.get(
            "/v1/spaces/any/collections/users/profiles/anonymous_id:a-d/traits",
            headers=basic(TOKEN),
        )
        assert traits.json()["traits"] == {"email": "dwight@example.com"}
        events = await http.get(
            "/v1/spaces/any/collections/users/profiles/email:dwight@example.com/events",
            headers=basic(TOKEN),
        )
        # same receive time: ties are ordered by messageId (newest first: m2, m1)
        assert [e["event"] for e in events.json()["data"]] == [names.REVIEW_LEFT, None]
        nursery.cancel_scope.cancel()
    with pytest.raises(ValueError, match="profile_token"):
        async with serve_tracking_api(world, sources, profiles=cdp.model):
            pass
