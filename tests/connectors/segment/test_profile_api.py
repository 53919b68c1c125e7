"""The Segment-compatible Profile API over real HTTP (Hypercorn on 127.0.0.1:0): auth, the
five resources of the users and accounts collections, pagination, merged identities, links,
errors in Segment's shape."""

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
from promoloop.actors.events import Group, Identify, Page, Track, names
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


ACCOUNTS = "/v1/spaces/spa_1/collections/accounts/profiles"


def with_accounts() -> CdpModel:
    """The :func:`populated` office, plus group calls: Pam joins Dunder Mifflin by her userId
    and Sabre from her laptop (the same, merged profile), Jim joins Dunder Mifflin, and his
    older group call arriving late makes his link the oldest; Dwight is in no account."""
    model = populated()
    calls: list[Any] = [
        Group(
            user_id="pam",
            group_id="dunder",
            traits={"name": "Dunder Mifflin", "plan": "pro"},
            message_id="g1",
            timestamp=at(30),
        ),
        Group(
            user_id="jim",
            group_id="dunder",
            traits={"seats": 12},
            message_id="g2",
            timestamp=at(31),
        ),
        Group(
            anonymous_id="a-laptop",
            group_id="sabre",
            traits={"name": "Sabre"},
            message_id="g3",
            timestamp=at(32),
        ),
        Group(
            user_id="jim",
            group_id="dunder",
            traits={"plan": "basic"},  # older than g1: loses
            message_id="g0",
            timestamp=at(29),
        ),
        Track(user_id="dwight", event="Signed Up", message_id="d1", timestamp=at(33)),
    ]
    for call in calls:
        model.ingest("crm", call, at(40))
    return model


@pytest.fixture
async def accounts_client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_tracking_app(
        sources=SourceRegistry([Source("storefront", "wk")]), ingest=_refuse, now=lambda: T0
    )
    register_profile_api(app, with_accounts(), token=TOKEN)
    async with (
        running_app(app) as url,
        httpx.AsyncClient(base_url=url, headers=basic(TOKEN)) as http,
    ):
        yield http


async def test_a_users_links_are_its_accounts(accounts_client: httpx.AsyncClient) -> None:
    """Segment's shape: one item per linked account, named by its group_id external id; any
    identifier of the merged profile finds the same links; limit/next page them."""
    body = (await accounts_client.get(f"{BASE}/user_id:pam/links")).json()
    assert body["data"] == [
        {
            "to_collection": "accounts",
            "external_ids": [
                {
                    "id": "dunder",
                    "type": "group_id",
                    "source_id": "crm",
                    "collection": "accounts",
                    "created_at": "2026-01-05T08:30:00Z",
                    "encoding": "none",
                }
            ],
        },
        {
            "to_collection": "accounts",
            "external_ids": [
                {
                    "id": "sabre",
                    "type": "group_id",
                    "source_id": "crm",
                    "collection": "accounts",
                    "created_at": "2026-01-05T08:32:00Z",
                    "encoding": "none",
                }
            ],
        },
    ]
    assert body["cursor"] == {
        "url": f"{BASE}/user_id:pam/links",
        "has_more": False,
        "next": "",
        "limit": 20,
    }
    by_device = await accounts_client.get(f"{BASE}/anonymous_id:a-laptop/links")
    assert by_device.json()["data"] == body["data"]
    first = (await accounts_client.get(f"{BASE}/user_id:pam/links", params={"limit": 1})).json()
    assert [i["external_ids"][0]["id"] for i in first["data"]] == ["dunder"]
    assert first["cursor"]["has_more"] is True
    rest = await accounts_client.get(
        f"{BASE}/user_id:pam/links", params={"limit": 1, "next": first["cursor"]["next"]}
    )
    assert [i["external_ids"][0]["id"] for i in rest.json()["data"]] == ["sabre"]
    assert rest.json()["cursor"]["has_more"] is False
    none = (await accounts_client.get(f"{BASE}/user_id:dwight/links")).json()
    assert none["data"] == [] and none["cursor"]["has_more"] is False


async def test_an_account_profile_reads_like_a_user(accounts_client: httpx.AsyncClient) -> None:
    """traits (newest write wins; all of class custom), events (its group calls), external_ids,
    metadata, in the users collection's shapes with ``collection: accounts``."""
    traits = (await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/traits")).json()
    assert traits["traits"] == {"name": "Dunder Mifflin", "plan": "pro", "seats": 12}
    assert traits["cursor"]["has_more"] is False
    only = await accounts_client.get(
        f"{ACCOUNTS}/group_id:dunder/traits", params={"include": "plan", "class": "custom"}
    )
    assert only.json()["traits"] == {"plan": "pro"}
    audiences = await accounts_client.get(
        f"{ACCOUNTS}/group_id:dunder/traits", params={"class": "audience"}
    )
    assert audiences.json()["traits"] == {}
    paged = await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/traits", params={"limit": 2})
    assert list(paged.json()["traits"]) == ["name", "plan"]
    assert paged.json()["cursor"]["next"] == "seats"

    events = (await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/events")).json()
    assert [e["message_id"] for e in events["data"]] == ["g2", "g1", "g0"]
    newest = events["data"][0]
    assert newest["type"] == "group" and newest["properties"] == {"seats": 12}
    assert newest["external_ids"] == [
        {"collection": "accounts", "type": "group_id", "id": "dunder", "encoding": "none"}
    ]
    assert set(newest["related"]) == {"accounts"}

    ids = (await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/external_ids")).json()
    assert ids["data"] == [
        {
            "source_id": "crm",
            "collection": "accounts",
            "id": "dunder",
            "type": "group_id",
            "created_at": "2026-01-05T08:30:00Z",
            "encoding": "none",
            "first_message_id": "g1",
        }
    ]
    meta = (await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/metadata")).json()
    assert meta["metadata"] == {
        "created_at": "2026-01-05T08:29:00Z",
        "updated_at": "2026-01-05T08:31:00Z",
        "expires_at": None,
        "first_message_id": "g0",
        "first_source_id": "crm",
        "last_message_id": "g2",
        "last_source_id": "crm",
    }


async def test_an_accounts_links_are_its_users(accounts_client: httpx.AsyncClient) -> None:
    """Each linked user with all its identifiers, oldest link (by event time) first."""
    body = (await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/links")).json()
    assert [item["to_collection"] for item in body["data"]] == ["users", "users"]
    jim, pam = body["data"]
    assert {(e["type"], e["id"]) for e in pam["external_ids"]} == {
        ("user_id", "pam"),
        ("email", "pam@example.com"),
        ("anonymous_id", "a-phone"),
        ("anonymous_id", "a-laptop"),
    }
    assert all(e["collection"] == "users" for e in pam["external_ids"])
    assert [(e["type"], e["id"]) for e in jim["external_ids"]] == [("user_id", "jim")]
    only_ids = await accounts_client.get(
        f"{ACCOUNTS}/group_id:dunder/links", params={"include": "user_id"}
    )
    assert [[e["id"] for e in i["external_ids"]] for i in only_ids.json()["data"]] == [
        ["jim"],
        ["pam"],
    ]


async def test_accounts_errors_in_segment_shape(accounts_client: httpx.AsyncClient) -> None:
    """Unknown account, a user identifier on accounts, an unknown collection → 404; bad
    limits and cursors → 400; auth as on users."""
    message = error(await accounts_client.get(f"{ACCOUNTS}/group_id:nope/traits"), 404, "not_found")
    assert message == "Profile was not found."
    error(await accounts_client.get(f"{ACCOUNTS}/user_id:pam/links"), 404, "not_found")
    error(await accounts_client.get(f"{BASE}/group_id:dunder/traits"), 404, "not_found")
    unknown = await accounts_client.get("/v1/spaces/spa_1/collections/things/profiles/x:y/links")
    assert "things" in error(unknown, 404, "not_found")
    for limit in ("0", "101", "many"):
        response = await accounts_client.get(f"{BASE}/user_id:pam/links", params={"limit": limit})
        error(response, 400, "validation_error")
    response = await accounts_client.get(f"{ACCOUNTS}/group_id:dunder/links", params={"next": "x"})
    error(response, 400, "invalid_request_error")
    response = await accounts_client.get(
        f"{ACCOUNTS}/group_id:dunder/traits", headers=basic("wrong")
    )
    error(response, 401, "authentication_error")


async def test_group_calls_posted_to_the_tracking_api_make_accounts() -> None:
    """A group call as the official SDKs send it (numeric groupId) through /v1/batch: the
    account is readable by its string id, and the user links to it."""
    world = World(seed=0, record=False)
    cdp = world.add(CdpActor("cdp"))
    sources = SourceRegistry([Source("storefront", "wk")])
    async with (
        serve_tracking_api(world, sources, "cdp", profiles=cdp.model, profile_token=TOKEN) as url,
        httpx.AsyncClient(base_url=url, headers=basic(TOKEN)) as http,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(world.run)
        batch = {
            "batch": [
                {
                    "type": "group",
                    "messageId": "g1",
                    "userId": "dwight",
                    "groupId": 7,
                    "traits": {"name": "Schrute Farms", "employees": 3},
                }
            ]
        }
        posted = await http.post("/v1/batch", json=batch, headers=basic("wk"))
        assert posted.json() == {"success": True, "accepted": 1}
        await world.conductor.wait_quiet()
        traits = await http.get("/v1/spaces/any/collections/accounts/profiles/group_id:7/traits")
        assert traits.json()["traits"] == {"name": "Schrute Farms", "employees": 3}
        links = await http.get("/v1/spaces/any/collections/users/profiles/user_id:dwight/links")
        assert [i["external_ids"][0]["id"] for i in links.json()["data"]] == ["7"]
        nursery.cancel_scope.cancel()
