"""Referral programs in the engine model: one code per advocate, friends redeem, advocates earn."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from promoloop.actors.events import LoyaltyPointsEarned, PublicationSucceeded
from promoloop.actors.promotions import (
    DiscountCampaign,
    LoyaltyProgram,
    PromotionEngineModel,
    PromotionError,
    ReferralProgram,
)
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.promotions.referrals import ALREADY_REFERRED, SELF_REFERRAL

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def engine(**program: object) -> PromotionEngineModel:
    model = PromotionEngineModel(random.Random(5))
    model.add_campaign(
        DiscountCampaign(id="c_thanks", name="Thanks", discount=Discount.amount(1000))
    )
    model.add_loyalty_program(LoyaltyProgram(id="lp", name="Club"))
    model.add_referral_program(
        ReferralProgram(
            id="rp",
            name="Friends",
            advocate_points=50,
            loyalty_program_id="lp",
            advocate_campaign_id="c_thanks",
            **program,  # type: ignore[arg-type]
        )
    )
    return model


def test_friend_redeems_and_the_advocate_is_rewarded() -> None:
    model = engine()
    code = model.referral_code("rp", "ann", NOW)
    assert model.referral_code("rp", "ann", NOW) == code  # one code per advocate
    referral, events = model.redeem_referral(code, "bob", NOW)
    assert (referral.advocate, referral.friend) == ("ann", "bob")
    earned, published = events
    assert isinstance(earned, LoyaltyPointsEarned) and earned.customer_id == "ann"
    assert earned.points == 50 and earned.source == referral.id
    assert isinstance(published, PublicationSucceeded) and published.code == referral.reward_code
    assert model.vouchers[referral.reward_code].holder == "ann"
    assert model.referrals.codes[code].usage_counter == 1


@pytest.mark.parametrize(
    ("friend", "key"),
    [("ann", SELF_REFERRAL), ("bob", ALREADY_REFERRED), ("", "customer_rules_violated")],
)
def test_refusals_change_nothing(friend: str, key: str) -> None:
    model = engine()
    code = model.referral_code("rp", "ann", NOW)
    model.redeem_referral(code, "bob", NOW)
    card = model.loyalty.card_of("lp", "ann")
    vouchers = len(model.vouchers)
    with pytest.raises(PromotionError) as info:
        model.redeem_referral(code, friend, NOW)
    assert info.value.key == key
    assert card.balance == 50 and len(model.vouchers) == vouchers
    assert model.referrals.codes[code].usage_counter == 1


def test_unknown_code_limit_and_dates() -> None:
    model = engine(per_code_limit=1, expiration_date=NOW + timedelta(days=1))
    with pytest.raises(PromotionError) as info:
        model.redeem_referral("REF-NOPE", "bob", NOW)
    assert info.value.key == "not_found"
    code = model.referral_code("rp", "ann", NOW)
    model.redeem_referral(code, "bob", NOW)
    with pytest.raises(PromotionError) as info:
        model.redeem_referral(code, "cid", NOW)
    assert info.value.key == "quantity_exceeded"
    with pytest.raises(PromotionError) as info:
        model.redeem_referral(code, "dee", NOW + timedelta(days=2))
    assert info.value.key == "voucher_expired"


def test_rollback_takes_back_exactly_what_the_advocate_got() -> None:
    model = engine()
    code = model.referral_code("rp", "ann", NOW)
    referral, _ = model.redeem_referral(code, "bob", NOW)
    model.rollback_referral(referral.id, NOW)
    assert model.loyalty.card_of("lp", "ann").balance == 0
    assert model.vouchers[referral.reward_code].active is False
    assert model.referrals.codes[code].usage_counter == 0
    again, _ = model.redeem_referral(code, "bob", NOW)  # bob may be referred again
    assert again.id != referral.id
    with pytest.raises(PromotionError):
        model.rollback_referral(referral.id, NOW)


def test_program_definitions_are_checked() -> None:
    with pytest.raises(ValueError, match="loyalty_program_id"):
        ReferralProgram(id="x", name="x", advocate_points=5)
    model = engine()
    with pytest.raises(PromotionError):
        model.add_referral_program(ReferralProgram(id="y", name="y", loyalty_program_id="nope"))
    assert "y" not in model.referrals.programs
