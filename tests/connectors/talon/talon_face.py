"""A Talon.One face on real Hypercorn (127.0.0.1, free port) over a fresh engine model with a
coupon campaign, a loyalty program, a referral program and five Talon campaigns."""

from __future__ import annotations

import copy
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from promoloop.actors.promotions import (
    DiscountCampaign,
    LoyaltyProgram,
    PromotionEngineModel,
    Quotas,
    ReferralProgram,
    Tier,
)
from promoloop.actors.promotions.discounts import Discount
from promoloop.connectors.talon import (
    AddLoyaltyPoints,
    Check,
    CouponValid,
    CreateCoupon,
    EventIs,
    ReferralValid,
    SetDiscount,
    TalonCampaign,
    TalonEngine,
    TalonModel,
    TalonRule,
    TalonStats,
    create_talon_app,
    talon_stats,
)
from promoloop.connectors.transport.http import running_app

API_KEY = "test-talon-key"
AUTH = {"Authorization": f"ApiKey-v1 {API_KEY}"}
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
COUPONS = ("SAVE10", "SAVE10B", "SINGLE")
FLASH_BUDGET_CENTS = 1_000
FLASH_DISCOUNT_CENTS = 300


def build_talon() -> TalonModel:
    model = PromotionEngineModel(random.Random(11))
    model.add_campaign(
        DiscountCampaign(
            id="camp_coupons",
            name="Talon coupons",
            discount=Discount.percent(10),
            quotas=Quotas(per_code=1),
            holder_only=True,
        )
    )
    model.import_codes("camp_coupons", COUPONS, NOW)
    model.add_campaign(
        DiscountCampaign(id="camp_welcome", name="Welcome back", discount=Discount.amount(500))
    )
    model.add_loyalty_program(
        LoyaltyProgram(
            id="lp_club",
            name="Club",
            tiers=(
                Tier(id="silver", name="Silver", min_points=100),
                Tier(id="gold", name="Gold", min_points=500),
            ),
        )
    )
    model.add_referral_program(
        ReferralProgram(
            id="rp_friends", name="Friends", advocate_points=50, loyalty_program_id="lp_club"
        )
    )
    talon = TalonModel(model)
    talon.add_campaign(
        TalonCampaign(
            id=1,
            name="Coupon 10%",
            coupon_campaign_id="camp_coupons",
            rules=(
                TalonRule(
                    title="10% off carts from $20",
                    conditions=(
                        CouponValid(),
                        Check(field="session.cartItemTotal", op=">=", value=2000),
                    ),
                    effects=(SetDiscount.percent("10% off", 10),),
                ),
            ),
        )
    )
    talon.add_campaign(
        TalonCampaign(
            id=2,
            name="Club points",
            rules=(
                TalonRule(
                    title="a point per dollar",
                    conditions=(Check(field="session.cartItemTotal", op=">", value=0),),
                    effects=(
                        AddLoyaltyPoints(
                            name="purchase", program_id="lp_club", points=1, per_cents=100
                        ),
                    ),
                ),
            ),
        )
    )
    talon.add_campaign(
        TalonCampaign(
            id=3,
            name="Refer a friend",
            referral_program_id="rp_friends",
            rules=(
                TalonRule(
                    title="$5 for the friend",
                    conditions=(ReferralValid(),),
                    effects=(SetDiscount(name="friend", amount_cents=500),),
                ),
            ),
        )
    )
    talon.add_campaign(
        TalonCampaign(
            id=4,
            name="Flash sale",
            budget_cents=FLASH_BUDGET_CENTS,
            rules=(
                TalonRule(
                    title="$3 off flash carts",
                    conditions=(
                        Check(field="session.attributes", key="flash", op="==", value=True),
                    ),
                    effects=(SetDiscount(name="flash", amount_cents=FLASH_DISCOUNT_CENTS),),
                ),
            ),
        )
    )
    talon.add_campaign(
        TalonCampaign(
            id=5,
            name="Reviews",
            rules=(
                TalonRule(
                    title="points and a coupon for a review",
                    conditions=(EventIs(event="review_left"),),
                    effects=(
                        AddLoyaltyPoints(name="review bonus", program_id="lp_club", points=25),
                        CreateCoupon(campaign_id="camp_welcome"),
                    ),
                ),
            ),
        )
    )
    return talon


@dataclass
class Face:
    base_url: str
    client: httpx.AsyncClient
    engine: TalonEngine
    stats: TalonStats
    clock: list[datetime]

    @property
    def talon(self) -> TalonModel:
        return self.engine.model

    @property
    def model(self) -> PromotionEngineModel:
        return self.engine.model.engine

    def snapshot(self) -> Any:
        """A deep copy of every piece of state a request could change."""
        talon, model = self.talon, self.model
        return copy.deepcopy(
            (
                talon.sessions,
                talon.profiles,
                talon.spent,
                talon.events,
                model.customers,
                model.vouchers,
                model.redemptions,
                model.usage,
                model.loyalty.cards,
                model.loyalty.transactions,
                model.referrals.codes,
                model.referrals.referrals,
            )
        )


async def no_server_error(response: httpx.Response) -> None:
    assert response.status_code != 500, await response.aread()


@pytest.fixture
async def face() -> AsyncIterator[Face]:
    engine = TalonEngine(build_talon())
    clock = [NOW]
    app = create_talon_app(engine=engine, api_key=API_KEY, now=lambda: clock[0])
    stats = talon_stats(app)
    async with (
        running_app(app) as base_url,
        httpx.AsyncClient(
            base_url=base_url,
            headers=AUTH,
            limits=httpx.Limits(max_connections=50),
            event_hooks={"response": [no_server_error]},
        ) as client,
    ):
        yield Face(base_url, client, engine, stats, clock)
    assert stats.internal_errors == 0
