"""The Voucherify face over real HTTP: auth, bad input (right status and key, state unchanged,
never a 500), concurrency (single-use codes, budgets, balances) and exact rollbacks.

Every response passes through a hook that fails the test on a 500, and the fixture asserts the
app's internal-error counter is still 0.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest
import trio
from voucherify_face import KEYS, NOW, Face

from promoloop.actors.events import names
from promoloop.actors.promotions import PromotionEngineModel


def snapshot(model: PromotionEngineModel) -> Any:
    """Everything a refused request must leave untouched."""
    return copy.deepcopy(
        (
            model.campaigns,
            model.vouchers,
            model.usage,
            model.redemptions,
            model.rollbacks,
            model.customers,
            model.customer_ids,
            model.publications,
            model.validation_rules,
            model.segments,
            model.events,
            model._published,
            model._taken,
        )
    )


def error_of(response: httpx.Response, status: int, key: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["key"]) == (status, key), body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], str) and body["details"]
    return body


def redeem_body(code: str, customer: str | None, amount: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "redeemables": [{"object": "voucher", "id": code, **extra}],
        "order": {"amount": amount},
    }
    if customer is not None:
        body["customer"] = {"source_id": customer}
    return body


async def create_campaign(face: Face, **fields: Any) -> dict[str, Any]:
    response = await face.client.post("/v1/campaigns", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


async def gift_campaign(face: Face, amount: int = 2500, **fields: Any) -> dict[str, Any]:
    return await create_campaign(
        face,
        name=fields.pop("name", "Gift"),
        campaign_type="GIFT_VOUCHERS",
        voucher={"type": "GIFT_VOUCHER", "gift": {"amount": amount}},
        **fields,
    )


async def publish(face: Face, campaign: str, customer: str) -> str:
    response = await face.client.post(
        "/v1/publications", json={"campaign": campaign, "customer": {"source_id": customer}}
    )
    assert response.status_code == 200, response.text
    return response.json()["voucher"]["code"]


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-App-Id": KEYS["X-App-Id"]},
        {**KEYS, "X-App-Token": "wrong"},
        {**KEYS, "X-App-Id": "x"},
    ],
    ids=["none", "no-token", "wrong-token", "wrong-id"],
)
async def test_wrong_or_missing_keys_get_401(face: Face, headers: dict[str, str]) -> None:
    """Voucherify's 401 shape, whatever the endpoint, and nothing is created."""
    before = snapshot(face.model)
    async with httpx.AsyncClient(base_url=face.base_url) as bare:
        for method, path in [("GET", "/v1/campaigns"), ("POST", "/v1/redemptions")]:
            response = await bare.request(method, path, headers=headers, json={})
            error_of(response, 401, "unauthorized")
    assert snapshot(face.model) == before


async def test_health_needs_no_keys(face: Face) -> None:
    async with httpx.AsyncClient(base_url=face.base_url) as bare:
        response = await bare.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# -- bad input ------------------------------------------------------------------------------------


@pytest.fixture
async def stocked(face: Face) -> dict[str, str]:
    """A dated gift campaign with a code published to u-1, and a single-use coupon campaign."""
    await gift_campaign(
        face,
        name="Dated gift",
        start_date=(NOW - timedelta(days=1)).isoformat(),
        expiration_date=(NOW + timedelta(days=30)).isoformat(),
    )
    gift = await publish(face, "Dated gift", "u-1")
    coupon_campaign = await create_campaign(
        face,
        name="Five off",
        campaign_type="DISCOUNT_COUPONS",
        vouchers_count=1,
        voucher={
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "AMOUNT", "amount_off": 500},
            "redemption": {"quantity": 1},
        },
    )
    (coupon,) = [
        v.code for v in face.model.vouchers.values() if v.campaign_id == coupon_campaign["id"]
    ]
    return {"gift": gift, "coupon": coupon}


REDEEM_CASES: list[tuple[str, int, str]] = [
    ("unknown_code", 404, "not_found"),
    ("expired", 400, "voucher_expired"),
    ("not_started", 400, "voucher_not_active"),
    ("wrong_customer", 400, "customer_rules_violated"),
    ("negative_amount", 400, "invalid_amount"),
    ("zero_amount", 400, "invalid_amount"),
    ("credits_over_balance", 400, "gift_amount_exceeded"),
    ("negative_credits", 400, "invalid_amount"),
    ("amount_is_text", 400, "invalid_payload"),
    ("amount_is_float", 400, "invalid_payload"),
    ("not_json", 400, "invalid_payload"),
    ("empty_body", 400, "invalid_payload"),
    ("body_is_a_list", 400, "invalid_payload"),
    ("no_redeemables", 400, "invalid_payload"),
    ("promotion_tier", 400, "invalid_payload"),
    ("no_order", 400, "invalid_payload"),
    ("negative_item_price", 400, "invalid_payload"),
    ("second_code_refused", 400, "customer_rules_violated"),
    ("same_code_twice", 400, "invalid_payload"),
]


@pytest.mark.parametrize(("case", "status", "key"), REDEEM_CASES, ids=[c[0] for c in REDEEM_CASES])
async def test_refused_redemptions_change_nothing(
    face: Face, stocked: dict[str, str], case: str, status: int, key: str
) -> None:
    """Each refusal: Voucherify's error shape with the right status and key, for validation
    (inapplicable result or error) and redemption alike, and the engine's state is unchanged."""
    gift, coupon = stocked["gift"], stocked["coupon"]
    body: Any = redeem_body(gift, "u-1", 1000)
    match case:
        case "unknown_code":
            body = redeem_body("NOPE-NOPE", "u-1", 1000)
        case "expired":
            face.clock[0] = NOW + timedelta(days=30)
        case "not_started":
            face.clock[0] = NOW - timedelta(days=2)
        case "wrong_customer":
            body = redeem_body(gift, "u-2", 1000)
        case "negative_amount":
            body = redeem_body(gift, "u-1", -500)
        case "zero_amount":
            body = redeem_body(gift, "u-1", 0)
        case "credits_over_balance":
            body = redeem_body(gift, "u-1", 9000, gift={"credits": 3000})
        case "negative_credits":
            body = redeem_body(gift, "u-1", 9000, gift={"credits": -1})
        case "amount_is_text":
            body = redeem_body(gift, "u-1", "ten")
        case "amount_is_float":
            body = redeem_body(gift, "u-1", 10.5)
        case "not_json":
            body = b"{not json"
        case "empty_body":
            body = b""
        case "body_is_a_list":
            body = [redeem_body(gift, "u-1", 1000)]
        case "no_redeemables":
            body = {**redeem_body(gift, "u-1", 1000), "redeemables": []}
        case "promotion_tier":
            body = redeem_body(gift, "u-1", 1000)
            body["redeemables"][0]["object"] = "promotion_tier"
        case "no_order":
            body = {"redeemables": [{"object": "voucher", "id": gift}]}
        case "negative_item_price":
            body = redeem_body(gift, "u-1", None)
            body["order"] = {"items": [{"product_id": "p", "quantity": 1, "price": -100}]}
        case "second_code_refused":  # the coupon would apply, the gift card is not u-2's
            body = redeem_body(coupon, "u-2", 3000)
            body["redeemables"].append({"object": "voucher", "id": gift})
        case "same_code_twice":
            body = redeem_body(gift, "u-1", 3000)
            body["redeemables"].append({"object": "voucher", "id": gift})
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    before = snapshot(face.model)

    redeemed = await face.client.post("/v1/redemptions", content=content)
    error_of(redeemed, status, key)
    assert snapshot(face.model) == before

    validated = await face.client.post("/v1/validations", content=content)
    if validated.status_code == 200:
        reply = validated.json()
        assert reply["valid"] is False
        keys = [r["result"]["error"]["key"] for r in reply["inapplicable_redeemables"]]
        assert key in keys
    else:
        error_of(validated, status, key)
    assert snapshot(face.model) == before


DEFINITION_CASES: list[tuple[str, str, Any, int, str]] = [
    (
        "campaign_no_name",
        "/v1/campaigns",
        {"voucher": {"type": "GIFT_VOUCHER"}},
        400,
        "invalid_payload",
    ),
    (
        "gift_amount_negative",
        "/v1/campaigns",
        {"name": "G", "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": -5}}},
        400,
        "invalid_payload",
    ),
    (
        "percent_over_100",
        "/v1/campaigns",
        {
            "name": "P",
            "voucher": {
                "type": "DISCOUNT_VOUCHER",
                "discount": {"type": "PERCENT", "percent_off": 150},
            },
        },
        400,
        "invalid_payload",
    ),
    (
        "percent_three_decimals",
        "/v1/campaigns",
        {
            "name": "P",
            "voucher": {
                "type": "DISCOUNT_VOUCHER",
                "discount": {"type": "PERCENT", "percent_off": 1.125},
            },
        },
        400,
        "invalid_payload",
    ),
    (
        "unknown_discount_type",
        "/v1/campaigns",
        {"name": "P", "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "BOGO"}}},
        400,
        "invalid_payload",
    ),
    (
        "expiry_before_start",
        "/v1/campaigns",
        {
            "name": "D",
            "start_date": "2026-03-05T00:00:00Z",
            "expiration_date": "2026-03-01T00:00:00Z",
            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 100}},
        },
        400,
        "invalid_payload",
    ),
    (
        "bad_weekday",
        "/v1/campaigns",
        {
            "name": "W",
            "validity_day_of_week": [7],
            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1}},
        },
        400,
        "invalid_payload",
    ),
    (
        "unknown_rule",
        "/v1/campaigns",
        {
            "name": "R",
            "validation_rules": ["val_nope"],
            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1}},
        },
        404,
        "not_found",
    ),
    (
        "too_many_codes",
        "/v1/campaigns",
        {
            "name": "T",
            "vouchers_count": 10,
            "voucher": {
                "type": "GIFT_VOUCHER",
                "gift": {"amount": 1},
                "code_config": {"length": 2, "charset": "AB"},
            },
        },
        400,
        "invalid_payload",
    ),
    (
        "rule_no_conditions",
        "/v1/validation-rules",
        {"name": "R", "rules": {}},
        400,
        "invalid_payload",
    ),
    (
        "rule_unknown_name",
        "/v1/validation-rules",
        {"name": "R", "rules": {"1": {"name": "order.colour", "conditions": {"$is": ["red"]}}}},
        400,
        "invalid_payload",
    ),
    (
        "rule_bad_logic",
        "/v1/validation-rules",
        {
            "name": "R",
            "rules": {
                "1": {"name": "order.amount", "conditions": {"$is": [1]}},
                "logic": "1 and 2",
            },
        },
        400,
        "invalid_payload",
    ),
    (
        "rule_logic_garbage",
        "/v1/validation-rules",
        {
            "name": "R",
            "rules": {
                "1": {"name": "order.amount", "conditions": {"$is": [1]}},
                "logic": "1 xor 1",
            },
        },
        400,
        "invalid_payload",
    ),
    (
        "rule_numeric_operator_text",
        "/v1/validation-rules",
        {
            "name": "R",
            "rules": {"1": {"name": "order.amount", "conditions": {"$more_than": ["x"]}}},
        },
        400,
        "invalid_payload",
    ),
    (
        "segment_not_static",
        "/v1/segments",
        {"name": "S", "type": "auto-update"},
        400,
        "invalid_payload",
    ),
    ("customer_no_source", "/v1/customers", {"name": "Pam"}, 400, "invalid_payload"),
    ("event_no_customer", "/v1/events", {"event": "x"}, 400, "invalid_payload"),
    (
        "publication_unknown_campaign",
        "/v1/publications",
        {"campaign": "Nope", "customer": {"source_id": "u"}},
        404,
        "not_found",
    ),
    ("publication_no_customer", "/v1/publications", {"campaign": "Gift"}, 400, "invalid_payload"),
    ("rollback_unknown", "/v1/redemptions/r_nope/rollback", {}, 404, "not_found"),
    (
        "import_duplicate_codes",
        "/v1/campaigns/Gift/import",
        [{"code": "A"}, {"code": "A"}],
        409,
        "duplicate_resource_key",
    ),
    ("unknown_endpoint", "/v1/nothing-here", {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "status", "key"),
    DEFINITION_CASES,
    ids=[c[0] for c in DEFINITION_CASES],
)
async def test_malformed_definitions_are_refused(
    face: Face, case: str, path: str, body: Any, status: int, key: str
) -> None:
    """Malformed campaigns, rules, segments, customers, events and references: the error names
    the problem, and nothing is created."""
    await gift_campaign(face)
    before = snapshot(face.model)
    error = error_of(await face.client.post(path, json=body), status, key)
    assert error["details"]
    assert snapshot(face.model) == before


async def test_bad_query_parameters_and_duplicates(face: Face) -> None:
    """A non-integer limit, an out-of-range limit and a duplicate campaign name are refused."""
    error_of(await face.client.get("/v1/campaigns?limit=abc"), 400, "invalid_payload")
    error_of(await face.client.get("/v1/redemptions?limit=0"), 400, "invalid_payload")
    await gift_campaign(face)
    response = await face.client.post(
        "/v1/campaigns",
        json={"name": "Gift", "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1}}},
    )
    error_of(response, 409, "duplicate_resource_key")
    error_of(
        await face.client.post("/v1/vouchers/X", json={"type": "GIFT_VOUCHER"}),
        400,
        "invalid_payload",
    )


# -- concurrency ----------------------------------------------------------------------------------


async def redeem_concurrently(face: Face, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Fire every body at once (the client pool bounds the sockets); all complete on their own."""
    responses: list[httpx.Response] = []

    async def one(body: dict[str, Any]) -> None:
        responses.append(await face.client.post("/v1/redemptions", json=body))

    async with trio.open_nursery() as nursery:
        for body in bodies:
            nursery.start_soon(one, body)
    assert len(responses) == len(bodies)
    return responses


async def test_single_use_code_redeemed_by_200_concurrent_requests_succeeds_once(
    face: Face,
) -> None:
    """200 concurrent redemptions of a single-use coupon over HTTP: exactly one 200, 199
    quantity_exceeded, one redemption on record."""
    await create_campaign(
        face,
        name="Once",
        campaign_type="DISCOUNT_COUPONS",
        voucher={
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "AMOUNT", "amount_off": 500},
            "redemption": {"quantity": 1},
        },
    )
    response = await face.client.post("/v1/vouchers/ONCE-ONLY", json={"campaign": "Once"})
    assert response.status_code == 200, response.text
    bodies = [redeem_body("ONCE-ONLY", f"u-{i}", 2000) for i in range(200)]
    responses = await redeem_concurrently(face, bodies)
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == 1
    for refused in responses:
        if refused.status_code != 200:
            error_of(refused, 400, "quantity_exceeded")
    assert face.model.vouchers["ONCE-ONLY"].redeemed_quantity == 1
    assert len(face.model.redemptions) == 1


async def test_budget_is_never_overspent_under_concurrency(face: Face) -> None:
    """A $20 budget, $5 off per code, 60 different codes redeemed at once: exactly 4 pass and
    the campaign has spent exactly its budget."""
    campaign = await create_campaign(
        face,
        name="Budgeted",
        campaign_type="DISCOUNT_COUPONS",
        vouchers_count=60,
        voucher={"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
        promoloop={"budget": 2000},
    )
    codes = [v.code for v in face.model.vouchers.values() if v.campaign_id == campaign["id"]]
    responses = await redeem_concurrently(
        face, [redeem_body(code, f"u-{i}", 3000) for i, code in enumerate(codes)]
    )
    assert sum(r.status_code == 200 for r in responses) == 4
    for refused in responses:
        if refused.status_code != 200:
            error_of(refused, 400, "redemption_rules_violated")
    assert face.model.usage[campaign["id"]].spent_cents == 2000


async def test_gift_balance_is_never_overspent_under_concurrency(face: Face) -> None:
    """A $10 bearer gift card, 50 concurrent $3 redemptions: 3 pass, $1 is left, never less."""
    await gift_campaign(face, amount=1000, name="Card", promoloop={"holder_only": False})
    code = await publish(face, "Card", "owner")
    responses = await redeem_concurrently(
        face,
        [redeem_body(code, f"u-{i}", 5000, gift={"credits": 300}) for i in range(50)],
    )
    assert sum(r.status_code == 200 for r in responses) == 3
    for refused in responses:
        if refused.status_code != 200:
            error_of(refused, 400, "gift_amount_exceeded")
    assert face.model.vouchers[code].balance_cents == 100


# -- rollback --------------------------------------------------------------------------------------


async def test_rollback_restores_exactly_what_was_taken(face: Face) -> None:
    """Balance, code quantity, campaign budget and per-customer count all return to their
    values before the redemption; a second rollback is refused and changes nothing."""
    await gift_campaign(
        face,
        amount=2500,
        name="Limited",
        promoloop={"budget": 5000, "per_customer_quantity": 1, "redemptions_quantity": 3},
    )
    code = await publish(face, "Limited", "u-1")
    before = snapshot(face.model)
    usage_before = copy.deepcopy(face.model.usage)

    redeemed = await face.client.post("/v1/redemptions", json=redeem_body(code, "u-1", 1234))
    assert redeemed.status_code == 200, redeemed.text
    (redemption,) = redeemed.json()["redemptions"]
    assert redemption["voucher"]["gift"]["balance"] == 1266
    limit_hit = await face.client.post("/v1/redemptions", json=redeem_body(code, "u-1", 1))
    error_of(limit_hit, 400, "redemption_rules_violated")

    rolled = await face.client.post(f"/v1/redemptions/{redemption['id']}/rollback?reason=refund")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["amount"] == 1234 and rolled.json()["reason"] == "refund"
    voucher = face.model.vouchers[code]
    assert (voucher.balance_cents, voucher.redeemed_quantity) == (2500, 0)
    assert face.model.usage == usage_before
    assert (face.model.campaigns, face.model.customers) == (before[0], before[5])

    after_rollback = snapshot(face.model)
    again = await face.client.post(f"/v1/redemptions/{redemption['id']}/rollback")
    error_of(again, 400, "already_rolled_back")
    assert snapshot(face.model) == after_rollback

    redone = await face.client.post("/v1/redemptions", json=redeem_body(code, "u-1", 1234))
    assert redone.status_code == 200  # the per-customer slot came back with the rollback

    (reported,) = [
        e for e in face.engine.reported if e.to_track().event == names.REDEMPTION_ROLLBACK_SUCCEEDED
    ]
    track = reported.to_track()
    assert (track.user_id, track.properties["code"]) == ("u-1", code)
    assert track.properties["amount_cents"] == 1234 and track.properties["reason"] == "refund"
    assert track.properties["redemption_id"] == redemption["id"]


JUNK: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"name": None},
    {"name": 5, "voucher": []},
    {"redeemables": None},
    {"redeemables": [{"object": "voucher", "id": 5}]},
    {"redeemables": [{"object": "voucher", "id": "A", "gift": {"credits": "x"}}]},
    {"redeemables": [{"object": "voucher", "id": "A"}], "order": {"items": [{"quantity": "2"}]}},
    {"customer": {"source_id": ["u"]}, "campaign": {"name": 3}},
    {
        "name": "N",
        "voucher": {
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "PERCENT", "percent_off": "10"},
        },
    },
    {
        "name": "N",
        "validity_hours": {"daily": [{"start_time": "25:00", "expiration_time": "x"}]},
        "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1}},
    },
    {"name": "N", "rules": {"1": {"name": "order.amount", "conditions": []}}},
    {
        "name": "N",
        "rules": {"1": {"name": "product.id", "conditions": {"$is": ["p"]}, "rules": "x"}},
    },
    {"event": "", "customer": {"source_id": "u"}},
    {"related_object_id": 5},
]
POST_PATHS = [
    "/v1/campaigns",
    "/v1/campaigns/Gift/import",
    "/v1/campaigns/Gift/vouchers?vouchers_count=x",
    "/v1/vouchers",
    "/v1/vouchers/CODE",
    "/v1/customers",
    "/v1/publications",
    "/v1/validations",
    "/v1/redemptions",
    "/v1/vouchers/CODE/validate",
    "/v1/vouchers/CODE/redemption",
    "/v1/redemptions/r_1/rollback",
    "/v1/validation-rules",
    "/v1/validation-rules/val_1/assignments",
    "/v1/segments",
    "/v1/events",
]


async def test_junk_bodies_never_500_and_change_nothing(face: Face) -> None:
    """Every POST endpoint × a set of wrongly typed or shaped bodies: a 4xx in Voucherify's
    shape each time (the fixture's hook fails on any 500) and no state change."""
    await gift_campaign(face)
    before = snapshot(face.model)
    for path in POST_PATHS:
        for junk in JUNK:
            response = await face.client.post(path, json=junk)
            assert 400 <= response.status_code < 500, (path, junk, response.text)
            body = response.json()
            assert body["code"] == response.status_code and body["key"], (path, junk, body)
    assert snapshot(face.model) == before
