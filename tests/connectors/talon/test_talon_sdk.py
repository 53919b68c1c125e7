"""The official ``talon-one-sdk``, unmodified, against the face: only host and key set.

The SDK is synchronous (urllib3), so each call runs in a worker thread while the trio test keeps
serving. Its pydantic models validate every response (required fields, integer ids, numbers),
so a shape the SDK would reject from the real API fails these tests too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import talon_one as t1
import trio
from talon_face import API_KEY, Face

from promoloop.actors.events.promotions import LoyaltyPointsEarned, RedemptionSucceeded

T = TypeVar("T")


class Sdk:
    def __init__(self, host: str, key: str = API_KEY) -> None:
        config = t1.Configuration(host=host)
        config.api_key["api_key_v1"] = key
        config.api_key_prefix["api_key_v1"] = "ApiKey-v1"
        self.client = t1.ApiClient(config)
        self.api = t1.IntegrationApi(self.client)

    def close(self) -> None:
        self.client.rest_client.pool_manager.clear()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def error(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict]:
        with pytest.raises(t1.ApiException) as info:
            await self.run(fn, *args, **kwargs)
        return info.value.status, json.loads(info.value.body)

    async def session(
        self,
        session_id: str,
        *,
        content: tuple[str, ...] = ("customerSession", "customerProfile", "loyalty"),
        dry: bool | None = None,
        **fields: Any,
    ) -> t1.IntegrationStateV2:
        body = t1.IntegrationRequest(
            customer_session=t1.NewCustomerSessionV2(**fields), response_content=list(content)
        )
        return await self.run(self.api.update_customer_session_v2, session_id, body, dry=dry)


@pytest.fixture
def sdk(face: Face) -> Iterator[Sdk]:
    client = Sdk(face.base_url)
    yield client
    client.close()


def cart(*lines: tuple[str, int, float]) -> list[t1.CartItem]:
    return [t1.CartItem(name=sku, sku=sku, quantity=q, price=p) for sku, q, p in lines]


def effects(state: Any, kind: str) -> list[dict[str, Any]]:
    return [e.props for e in state.effects if e.effect_type == kind]


async def test_loyalty_campaign_flow(face: Face, sdk: Sdk) -> None:
    """Open session with a cart and a coupon → effects; close → coupon redeemed, points on the
    card, tier reached, events for the CDP; the coupon is then used up."""
    state = await sdk.session(
        "s-1",
        profile_id="u-1",
        coupon_codes=["SAVE10"],
        cart_items=cart(("shoe", 2, 49.99), ("sock", 1, 10.02)),
        state="open",
    )
    assert effects(state, "acceptCoupon") == [{"value": "SAVE10"}]
    [discount] = effects(state, "setDiscount")
    assert discount == {"name": "10% off", "value": 11.0}  # 10% of $110.00
    [points] = effects(state, "addLoyaltyPoints")
    assert points["value"] == 110 and points["recipientIntegrationId"] == "u-1"
    assert state.customer_session.state == "open"
    assert state.customer_session.cart_item_total == 110
    assert face.model.vouchers["SAVE10"].redeemed_quantity == 0  # open: nothing confirmed
    assert face.model.loyalty.card_of("lp_club", "u-1") is None

    closed = await sdk.session("s-1", state="closed")
    assert closed.customer_session.state == "closed"
    assert closed.customer_session.update_count == 2
    assert effects(closed, "acceptCoupon") == [{"value": "SAVE10"}]
    [points] = effects(closed, "addLoyaltyPoints")
    card = face.model.loyalty.card_of("lp_club", "u-1")
    assert card is not None and card.balance == 110
    assert points["transactionUUID"] in card.transactions
    ledger = closed.loyalty.programs[str(points["programId"])].ledger
    assert ledger.current_balance == 110 and ledger.current_tier.name == "Silver"
    assert ledger.points_to_next_tier == 390
    assert closed.customer_profile.closed_sessions == 1
    assert closed.customer_profile.total_sales == 99.0  # $110.00 - $11.00
    assert closed.customer_profile.loyalty_memberships[0].loyalty_program_id == points["programId"]
    assert face.model.vouchers["SAVE10"].redeemed_quantity == 1
    [redemption] = face.model.list_redemptions(code="SAVE10")
    assert redemption.amount_cents == 1100 and redemption.customer_id == "u-1"

    again = await sdk.session(
        "s-2", profile_id="u-2", coupon_codes=["SAVE10"], cart_items=cart(("shoe", 1, 49.99))
    )
    [rejected] = effects(again, "rejectCoupon")
    assert rejected["rejectionReason"] == "CouponLimitReached"
    assert effects(again, "setDiscount") == []


async def test_events_reach_the_engine_and_the_cdp_shape(face: Face, sdk: Sdk) -> None:
    await sdk.session(
        "s-1", profile_id="u-1", coupon_codes=["SAVE10"], cart_items=cart(("shoe", 1, 25))
    )
    assert face.engine.reported == []  # an open session reports nothing
    await sdk.session("s-1", state="closed")
    kinds = [type(e) for e in face.engine.reported]
    assert kinds == [RedemptionSucceeded, LoyaltyPointsEarned]
    earned = face.engine.reported[1]
    assert isinstance(earned, LoyaltyPointsEarned)
    assert (earned.points, earned.balance, earned.campaign) == (25, 25, "Club")
    assert earned.to_track().event == "customer.rewarded.loyalty_points"


async def test_coupon_rejections_carry_talon_reasons(face: Face, sdk: Sdk) -> None:
    state = await sdk.session(
        "s-1",
        profile_id="u-1",
        coupon_codes=["NOPE", "SAVE10"],
        cart_items=cart(("sock", 1, 5)),
        content=("ruleFailureReasons",),
    )
    reasons = {p["value"]: p["rejectionReason"] for p in effects(state, "rejectCoupon")}
    # unknown code; a valid code whose rule's cart condition ($20 minimum) fails
    assert reasons == {"NOPE": "CouponNotFound", "SAVE10": "CouponRejectedByCondition"}
    failed = [f for f in state.rule_failure_reasons if f.campaign_id == 1]
    assert failed and failed[0].condition_index == 1 and failed[0].coupon_value == "SAVE10"
    face.model.vouchers["SINGLE"].holder = "someone-else"
    mine = await sdk.session(
        "s-2", profile_id="u-2", coupon_codes=["SINGLE"], cart_items=cart(("shoe", 1, 30))
    )
    assert effects(mine, "rejectCoupon")[0]["rejectionReason"] == "CouponRecipientDoesNotMatch"


async def test_cancel_rolls_back_what_the_close_did(face: Face, sdk: Sdk) -> None:
    await sdk.session(
        "s-1",
        profile_id="u-1",
        coupon_codes=["SAVE10"],
        cart_items=cart(("shoe", 1, 40)),
        state="closed",
    )
    card = face.model.loyalty.card_of("lp_club", "u-1")
    assert card is not None and card.balance == 40
    cancelled = await sdk.session("s-1", state="cancelled")
    kinds = sorted(e.effect_type for e in cancelled.effects)
    assert kinds == ["rollbackAddedLoyaltyPoints", "rollbackCoupon", "rollbackDiscount"]
    assert cancelled.customer_session.state == "cancelled"
    assert card.balance == 0 and card.earned == 0
    assert face.model.vouchers["SAVE10"].redeemed_quantity == 0
    assert cancelled.customer_profile.closed_sessions == 0
    reused = await sdk.session(
        "s-2", profile_id="u-2", coupon_codes=["SAVE10"], cart_items=cart(("shoe", 1, 40))
    )
    assert effects(reused, "acceptCoupon") == [{"value": "SAVE10"}]


async def test_referral_rewards_the_advocate_once(face: Face, sdk: Sdk) -> None:
    code = face.model.referral_code("rp_friends", "advocate", face.clock[0])
    state = await sdk.session(
        "s-1",
        profile_id="friend",
        referral_code=code,
        cart_items=cart(("shoe", 1, 20)),
        state="closed",
        content=("referral",),
    )
    assert effects(state, "acceptReferral") == [{"value": code}]
    assert {"name": "friend", "value": 5} in effects(state, "setDiscount")
    [redeemed] = effects(state, "redeemReferral")
    assert redeemed["value"] == code and state.referral.usage_counter == 1
    advocate = face.model.loyalty.card_of("lp_club", "advocate")
    assert advocate is not None and advocate.balance == 50
    twice = await sdk.session(
        "s-2", profile_id="friend", referral_code=code, cart_items=cart(("shoe", 1, 20))
    )
    assert effects(twice, "rejectReferral")[0]["rejectionReason"] == (
        "ReferralCustomerAlreadyReferred"
    )
    own = await sdk.session(
        "s-3", profile_id="advocate", referral_code=code, cart_items=cart(("shoe", 1, 20))
    )
    assert effects(own, "rejectReferral")[0]["rejectionReason"] == (
        "ReferralRecipientIdSameAsAdvocate"
    )


async def test_profile_and_event(face: Face, sdk: Sdk) -> None:
    profile = await sdk.run(
        sdk.api.update_customer_profile_v2,
        "u-9",
        t1.CustomerProfileIntegrationRequestV2(
            attributes={"Name": "Pam"}, response_content=["customerProfile"]
        ),
    )
    assert profile.customer_profile.integration_id == "u-9"
    assert profile.customer_profile.attributes == {"Name": "Pam"}
    assert face.model.customers["u-9"]["metadata"] == {"Name": "Pam"}
    tracked = await sdk.run(
        sdk.api.track_event_v2,
        t1.IntegrationEventV2Request(
            profile_id="u-9", type="review_left", response_content=["loyalty", "event"]
        ),
    )
    assert [e.effect_type for e in tracked.effects] == ["addLoyaltyPoints", "couponCreated"]
    [created] = tracked.created_coupons
    assert created.recipient_integration_id == "u-9"
    assert face.model.vouchers[created.value].holder == "u-9"
    assert tracked.event.type == "review_left"
    [program] = tracked.loyalty.programs.values()
    assert program.ledger.current_balance == 25


async def test_dry_run_changes_nothing(face: Face, sdk: Sdk) -> None:
    before = face.snapshot()
    state = await sdk.session(
        "s-1",
        profile_id="u-1",
        coupon_codes=["SAVE10"],
        cart_items=cart(("shoe", 1, 40)),
        state="closed",
        dry=True,
    )
    assert effects(state, "acceptCoupon") == [{"value": "SAVE10"}]
    assert face.snapshot() == before


async def test_wrong_key_is_401_in_talon_shape(face: Face) -> None:
    bad = Sdk(face.base_url, key="wrong")
    try:
        status, body = await bad.error(
            bad.api.update_customer_session_v2,
            "s-1",
            t1.IntegrationRequest(customer_session=t1.NewCustomerSessionV2(profile_id="u-1")),
        )
    finally:
        bad.close()
    assert status == 401 and body["StatusCode"] == 401 and body["message"]
    assert face.talon.sessions == {}


async def test_health_needs_no_key(face: Face) -> None:
    response = await face.client.get("/health", headers={"Authorization": ""})
    assert response.status_code == 200
