"""The Talon.One face over raw HTTP: bad input, state transitions, budgets under concurrency."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
from talon_face import FLASH_BUDGET_CENTS, FLASH_DISCOUNT_CENTS, Face, build_talon

from promoloop.connectors.talon import TalonCampaign, TalonModel, TalonRule, decode_campaign


def session_body(**fields: Any) -> dict[str, Any]:
    return {"customerSession": fields}


BAD_BODIES = [
    (b"", None),
    (b"{not json", None),
    (b"[]", None),
    (
        b'{"customerSession": {"cartItems": [{"sku": "a", "quantity": "2"}]}}',
        "/customerSession/cartItems/0/quantity",
    ),
    (
        b'{"customerSession": {"cartItems": [{"sku": "a", "quantity": 1, "price": 1.005}]}}',
        "/customerSession/cartItems/0/price",
    ),
    (
        b'{"customerSession": {"cartItems": [{"sku": "a", "quantity": 1, "price": -1}]}}',
        "/customerSession/cartItems/0/price",
    ),
    (
        b'{"customerSession": {"cartItems": [{"sku": "a", "quantity": 0, "price": 1}]}}',
        "/customerSession/cartItems/0/quantity",
    ),
    (b'{"customerSession": {"state": "paid"}}', "/customerSession/state"),
    (b'{"customerSession": {"couponCodes": [""]}}', "/customerSession/couponCodes"),
    (
        b'{"customerSession": {"evaluableCampaignIds": [99]}}',
        "/customerSession/evaluableCampaignIds",
    ),
    (b'{"customerSession": {}, "responseContent": ["everything"]}', "/responseContent"),
    (
        b'{"customerSession": {"additionalCosts": {"shipping": {"price": "free"}}}}',
        "/customerSession/additionalCosts",
    ),
]


@pytest.mark.parametrize(("raw", "pointer"), BAD_BODIES)
async def test_malformed_session_is_400_in_talon_shape(
    face: Face, raw: bytes, pointer: str | None
) -> None:
    before = face.snapshot()
    response = await face.client.put(
        "/v2/customer_sessions/s-1", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    [error] = body["errors"]
    assert error["title"] and error["details"]
    if pointer is not None:
        assert error["source"]["pointer"].startswith(pointer)
    assert face.snapshot() == before


async def test_other_errors_keep_the_shape(face: Face) -> None:
    missing = await face.client.put(
        "/v2/customer_sessions/s-1", json=session_body(), headers={"Authorization": ""}
    )
    assert missing.status_code == 401 and missing.json()["StatusCode"] == 401
    unknown = await face.client.get("/v2/nothing")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["title"] == "Not found"
    wrong = await face.client.delete("/v2/customer_sessions/s-1")
    assert wrong.status_code == 405
    absent = await face.client.get("/v2/customer_sessions/nope")
    assert absent.status_code == 404
    bad_event = await face.client.post("/v2/events", json={"type": ""})
    assert bad_event.status_code == 400
    bad_flag = await face.client.put("/v2/customer_sessions/s-1?dry=maybe", json=session_body())
    assert bad_flag.status_code == 400


async def test_state_machine(face: Face) -> None:
    url = "/v2/customer_sessions/s-1"
    new_cancel = await face.client.put(url, json=session_body(state="cancelled"))
    assert new_cancel.status_code == 400 and "s-1" not in face.talon.sessions
    opened = await face.client.put(url, json=session_body(profileId="u-1", state="open"))
    assert opened.status_code == 200
    moved = await face.client.put(url, json=session_body(profileId="u-2"))
    assert moved.status_code == 400  # a session's profile is fixed once set
    closed = await face.client.put(url, json=session_body(state="closed"))
    assert closed.status_code == 200
    before = face.snapshot()
    reopened = await face.client.put(url, json=session_body(state="open"))
    assert reopened.status_code == 400 and face.snapshot() == before
    cancelled = await face.client.put(url, json=session_body(state="cancelled"))
    assert cancelled.status_code == 200
    again = await face.client.put(url, json=session_body(state="cancelled"))
    assert again.status_code == 400
    got = await face.client.get(url)
    assert got.json()["customerSession"]["state"] == "cancelled"


async def test_budget_never_overspent_under_concurrency(face: Face) -> None:
    """60 concurrent sessions close on a $10 budget with $3 effects: exactly $10 is given
    (three full discounts and one shortened to what is left), never more."""
    results: list[dict[str, Any]] = []

    async def checkout(i: int) -> None:
        response = await face.client.put(
            f"/v2/customer_sessions/flash-{i}",
            json=session_body(
                profileId=f"u-{i}",
                state="closed",
                attributes={"flash": True},
                cartItems=[{"sku": "tee", "quantity": 1, "price": 20}],
            ),
        )
        assert response.status_code == 200
        results.append(response.json())

    async with trio.open_nursery() as nursery:
        for i in range(60):
            nursery.start_soon(checkout, i)
    given = [
        e["props"]
        for r in results
        for e in r["effects"]
        if e["effectType"] == "setDiscount" and e["campaignId"] == 4
    ]
    total = sum(round(p["value"] * 100) for p in given)
    assert total == FLASH_BUDGET_CENTS == face.talon.spent[4]
    assert sorted(round(p["value"] * 100) for p in given) == [100] + [FLASH_DISCOUNT_CENTS] * 3
    assert [p["desiredValue"] for p in given if "desiredValue" in p] == [3]
    # a cancelled session gives its share back, and the next close can use it
    closed_ids = [
        sid for sid, s in face.talon.sessions.items() if s.confirmation and s.confirmation.discounts
    ]
    response = await face.client.put(
        f"/v2/customer_sessions/{closed_ids[0]}", json=session_body(state="cancelled")
    )
    assert response.status_code == 200
    assert face.talon.spent[4] < FLASH_BUDGET_CENTS


async def test_single_use_coupon_redeemed_once_under_concurrency(face: Face) -> None:
    async def checkout(i: int) -> None:
        response = await face.client.put(
            f"/v2/customer_sessions/c-{i}",
            json=session_body(
                profileId=f"u-{i}",
                state="closed",
                couponCodes=["SINGLE"],
                cartItems=[{"sku": "tee", "quantity": 1, "price": 30}],
            ),
        )
        assert response.status_code == 200
        accepted.extend(e for e in response.json()["effects"] if e["effectType"] == "acceptCoupon")

    accepted: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(checkout, i)
    assert len(accepted) == 1
    assert face.model.vouchers["SINGLE"].redeemed_quantity == 1
    assert len(face.model.list_redemptions(code="SINGLE")) == 1


async def test_coupons_response_content(face: Face) -> None:
    response = await face.client.put(
        "/v2/customer_sessions/s-1",
        json={
            "customerSession": {
                "profileId": "u-1",
                "couponCodes": ["SAVE10"],
                "state": "closed",
                "cartItems": [{"sku": "a", "quantity": 1, "price": 25}],
            },
            "responseContent": ["coupons", "customerSession"],
        },
    )
    [coupon] = response.json()["coupons"]
    assert coupon["value"] == "SAVE10" and coupon["usageCounter"] == 1 and coupon["usageLimit"] == 1
    assert response.json()["customerSession"]["total"] == 25


def campaign_json(rule: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"id": 7, "name": "x", "rules": [{"title": "r", **rule}]})


def test_campaigns_are_validated_strictly() -> None:
    typo = {"type": "check", "field": "cart.typo", "op": "==", "value": 1}
    with pytest.raises(ValueError, match="field"):
        decode_campaign(campaign_json({"conditions": [typo]}))
    with pytest.raises(ValueError, match="coupon_campaign_id"):
        decode_campaign(campaign_json({"conditions": [{"type": "couponValid"}]}))
    with pytest.raises(ValueError, match="exactly one"):
        decode_campaign(campaign_json({"effects": [{"type": "setDiscount", "name": "d"}]}))
    effect = {"type": "setDiscount", "name": "d", "amount_cents": 100}
    campaign = decode_campaign(campaign_json({"effects": [effect]}))
    assert isinstance(campaign.rules[0], TalonRule)
    talon: TalonModel = build_talon()
    with pytest.raises(ValueError, match="exists"):
        talon.add_campaign(TalonCampaign(id=1, name="dup", rules=campaign.rules))
    with pytest.raises(ValueError, match="discount campaign"):
        talon.add_campaign(
            TalonCampaign(id=9, name="x", coupon_campaign_id="nope", rules=campaign.rules)
        )
    assert sorted(talon.campaigns) == [1, 2, 3, 4, 5]
