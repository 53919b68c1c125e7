"""Loyalty and referral side effects of the Voucherify face's ``/v1/events`` and redemptions."""

from __future__ import annotations

import copy

from voucherify_face import Face

from promoloop.actors.events import LoyaltyPointsEarned, names
from promoloop.actors.promotions import (
    DiscountCampaign,
    EarningRule,
    LoyaltyProgram,
    ReferralProgram,
)
from promoloop.actors.promotions.discounts import Discount


def setup(face: Face) -> str:
    model = face.model
    model.add_campaign(DiscountCampaign(id="c10", name="Ten", discount=Discount.amount(1000)))
    model.import_codes("c10", ["TEN"])
    model.add_loyalty_program(
        LoyaltyProgram(
            id="lp",
            name="Club",
            earning_rules=(
                EarningRule(id="rev", event=names.REVIEW_LEFT, points=20),
                EarningRule(id="red", event=names.REDEMPTION_SUCCEEDED, points=1, per_cents=100),
            ),
        )
    )
    model.add_referral_program(
        ReferralProgram(id="rp", name="Friends", advocate_points=50, loyalty_program_id="lp")
    )
    return model.referral_code("rp", "ann", face.clock[0])


async def test_events_earn_points_and_redeem_referrals(face: Face) -> None:
    code = setup(face)
    response = await face.client.post(
        "/v1/events",
        json={
            "event": names.REVIEW_LEFT,
            "customer": {"source_id": "bob"},
            "referral": {"code": code},
        },
    )
    assert response.status_code == 200, response.text
    earned = [e for e in face.engine.reported if isinstance(e, LoyaltyPointsEarned)]
    assert [(e.customer_id, e.points) for e in earned] == [("ann", 50), ("bob", 20)]
    redeemed = await face.client.post(
        "/v1/redemptions",
        json={
            "redeemables": [{"object": "voucher", "id": "TEN"}],
            "customer": {"source_id": "bob"},
            "order": {"amount": 4_250},
        },
    )
    assert redeemed.status_code == 200
    assert face.model.loyalty.card_of("lp", "bob").balance == 62  # 20 + 42 per whole dollar


async def test_refused_referral_records_nothing(face: Face) -> None:
    code = setup(face)
    before = copy.deepcopy((face.model.events, face.model.customers, face.model.loyalty.cards))
    response = await face.client.post(
        "/v1/events",
        json={
            "event": names.REVIEW_LEFT,
            "customer": {"source_id": "ann"},
            "referral": {"code": code},
        },
    )
    assert response.status_code == 400
    assert response.json()["key"] == "referral_self"
    assert (face.model.events, face.model.customers, face.model.loyalty.cards) == before
    unknown = await face.client.post(
        "/v1/events",
        json={"event": "x", "customer": {"source_id": "bob"}, "referral": {"code": "NOPE"}},
    )
    assert unknown.status_code == 404 and unknown.json()["key"] == "not_found"
