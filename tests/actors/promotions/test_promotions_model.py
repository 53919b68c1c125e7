"""PromotionEngineModel: publication (join once), distributions, validation and redemption."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promoloop.actors.events import (
    EngineEvent,
    Order,
    PublicationSucceeded,
    RedeemCode,
    RedemptionFailed,
    RedemptionSucceeded,
    ValidateCode,
    Verdict,
)
from promoloop.actors.promotions import (
    CodeConfig,
    Distribution,
    GiftCardCampaign,
    PromotionEngineModel,
    PromotionError,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
GIFT = GiftCardCampaign(
    id="camp_review",
    name="Review gift card",
    amount_cents=2500,
    code_config=CodeConfig(pattern="GIFT-####-####"),
)


def engine(*campaigns: GiftCardCampaign) -> PromotionEngineModel:
    model = PromotionEngineModel(random.Random(11))
    for campaign in campaigns or (GIFT,):
        model.add_campaign(campaign)
    return model


def published(model: PromotionEngineModel, customer: str = "u-1", campaign: str = GIFT.id) -> str:
    voucher, _ = model.publish(campaign, customer, NOW)
    return voucher.code


def redeem(
    model: PromotionEngineModel, code: str, cents: int, customer: str = "u-1", n: int = 1
) -> tuple[Verdict, EngineEvent | None]:
    return model.redeem(
        RedeemCode(code=code, customer_id=customer, order=Order(id=f"ord-{n}", amount_cents=cents)),
        NOW,
    )


def state(model: PromotionEngineModel) -> Any:
    """Everything a failed request must leave untouched."""
    return copy.deepcopy((model.vouchers, model._published, model._taken, model.customers))


# -- publication --------------------------------------------------------------------------


def test_publish_assigns_a_code_with_the_full_balance() -> None:
    """A publication creates a voucher held by the customer and one PublicationSucceeded."""
    model = engine()
    voucher, event = model.publish(GIFT.id, "u-1", NOW, channel="push")
    assert voucher.code.startswith("GIFT-") and len(voucher.code) == 14
    assert (voucher.holder, voucher.balance_cents, voucher.initial_cents) == ("u-1", 2500, 2500)
    assert voucher.published_at == NOW
    assert isinstance(event, PublicationSucceeded)
    assert (event.customer_id, event.code, event.campaign) == ("u-1", voucher.code, GIFT.name)
    assert (event.balance_cents, event.channel, event.created_at) == (2500, "push", NOW)
    assert model.vouchers[voucher.code] is voucher


def test_join_once_returns_the_same_code_and_no_second_event() -> None:
    """Publishing the same campaign to the same customer again: same code, no event."""
    model = engine()
    first, event = model.publish(GIFT.id, "u-1", NOW)
    again, second_event = model.publish(GIFT.id, "u-1", NOW + timedelta(days=1))
    assert event is not None and second_event is None
    assert again is first
    assert len(model.vouchers) == 1
    other, other_event = model.publish(GIFT.id, "u-2", NOW)
    assert other.code != first.code and other_event is not None


def test_without_join_once_every_publication_is_a_new_code() -> None:
    """join_once=False: a second publication is a second code and a second event."""
    multi = GiftCardCampaign(id="multi", name="Multi", amount_cents=100, join_once=False)
    model = engine(multi)
    a, ea = model.publish("multi", "u-1", NOW)
    b, eb = model.publish("multi", "u-1", NOW)
    assert a.code != b.code
    assert ea is not None and eb is not None


def test_publish_refuses_unknown_and_inactive_campaigns() -> None:
    """Unknown campaign → not_found; before start → voucher_not_active; at/after expiry →
    voucher_expired; nothing is created."""
    later = GiftCardCampaign(id="later", name="Later", amount_cents=100, start_date=NOW)
    over = GiftCardCampaign(id="over", name="Over", amount_cents=100, expiration_date=NOW)
    model = engine(later, over)
    for campaign_id, when, key in [
        ("nope", NOW, "not_found"),
        ("later", NOW - timedelta(seconds=1), "voucher_not_active"),
        ("over", NOW, "voucher_expired"),
    ]:
        with pytest.raises(PromotionError) as info:
            model.publish(campaign_id, "u-1", when)
        assert info.value.key == key
    assert model.vouchers == {}


def test_distribution_publishes_on_audience_entered() -> None:
    """Entering the distribution's audience publishes once; other audiences publish nothing;
    entering again publishes nothing new (join once)."""
    model = engine()
    model.add_distribution(
        Distribution(id="d1", name="Reviewers get a card", campaign_id=GIFT.id, audience_key="rev")
    )
    (event,) = model.on_audience_entered("u-1", "rev", NOW)
    assert event.customer_id == "u-1" and event.channel == "push"
    assert model.vouchers[event.code].holder == "u-1"
    assert model.on_audience_entered("u-1", "other", NOW) == []
    assert model.on_audience_entered("u-1", "rev", NOW) == []
    assert len(model.vouchers) == 1


def test_distribution_needs_an_existing_campaign() -> None:
    """A distribution pointing at an unknown campaign is refused with not_found."""
    with pytest.raises(PromotionError) as info:
        engine().add_distribution(
            Distribution(id="d", name="D", campaign_id="missing", audience_key="a")
        )
    assert (info.value.key, info.value.status) == ("not_found", 404)


def test_campaign_validation() -> None:
    """Non-positive amounts and an expiry not after the start are refused; duplicates too."""
    with pytest.raises(ValueError, match=r"amount_cents"):
        GiftCardCampaign(id="c", name="C", amount_cents=0)
    with pytest.raises(ValueError, match=r"expiration_date"):
        GiftCardCampaign(id="c", name="C", amount_cents=1, start_date=NOW, expiration_date=NOW)
    model = engine()
    with pytest.raises(PromotionError) as info:
        model.add_campaign(GIFT)
    assert (info.value.key, info.value.status) == ("duplicate_resource_key", 409)


# -- validation and redemption --------------------------------------------------------------


def test_validate_reports_the_applicable_amount_without_spending() -> None:
    """Validation says what the code would pay (min of order and balance) and spends nothing."""
    model = engine()
    code = published(model)
    before = state(model)
    order = Order(id="o", amount_cents=1000)
    verdict = model.validate(ValidateCode(code=code, customer_id="u-1", order=order), NOW)
    assert (verdict.valid, verdict.amount_cents, verdict.balance_cents) == (True, 1000, 2500)
    big = Order(id="o", amount_cents=9000)
    verdict = model.validate(ValidateCode(code=code, customer_id="u-1", order=big), NOW)
    assert (verdict.valid, verdict.amount_cents) == (True, 2500)
    assert state(model) == before


def test_partial_redemptions_use_the_balance_then_run_out() -> None:
    """$25 card: a $10.99 order leaves $14.01, a $30 order takes the $14.01 remainder, a third
    order fails with gift_amount_exceeded; all amounts integer cents."""
    model = engine()
    code = published(model)

    first, event = redeem(model, code, 1099, n=1)
    assert (first.valid, first.amount_cents, first.balance_cents) == (True, 1099, 1401)
    assert first.redemption_id is not None
    assert isinstance(event, RedemptionSucceeded)
    assert (event.amount_cents, event.balance_cents, event.order_id) == (1099, 1401, "ord-1")
    assert model.vouchers[code].balance_cents == 1401

    second, event = redeem(model, code, 3000, n=2)
    assert (second.valid, second.amount_cents, second.balance_cents) == (True, 1401, 0)
    assert isinstance(event, RedemptionSucceeded) and event.amount_cents == 1401
    assert model.vouchers[code].redemptions == [first.redemption_id, second.redemption_id]
    for value in (first.amount_cents, first.balance_cents, second.amount_cents):
        assert type(value) is int

    before = state(model)
    third, event = redeem(model, code, 500, n=3)
    assert (third.valid, third.reason) == (False, "gift_amount_exceeded")
    assert isinstance(event, RedemptionFailed)
    assert (event.reason, event.order_id, event.amount_cents) == (
        "gift_amount_exceeded",
        "ord-3",
        500,
    )
    assert state(model) == before


def test_exact_balance_order_empties_the_card() -> None:
    """An order equal to the balance uses all of it; the next one is refused."""
    model = engine()
    code = published(model)
    verdict, _ = redeem(model, code, 2500)
    assert (verdict.amount_cents, verdict.balance_cents) == (2500, 0)
    assert redeem(model, code, 1)[0].reason == "gift_amount_exceeded"


def _failure(
    model: PromotionEngineModel, code: str, customer: str, cents: int, when: datetime
) -> tuple[Verdict, tuple[Verdict, EngineEvent | None]]:
    request = RedeemCode(code=code, customer_id=customer, order=Order(id="o-x", amount_cents=cents))
    check = ValidateCode(code=code, customer_id=customer, order=request.order)
    return model.validate(check, when), model.redeem(request, when)


@pytest.mark.parametrize(
    ("case", "reason", "emits"),
    [
        ("wrong_customer", "customer_rules_violated", True),
        ("unknown_code", "not_found", False),
        ("zero_amount", "invalid_amount", True),
        ("negative_amount", "invalid_amount", True),
        ("expired", "voucher_expired", True),
        ("not_started", "voucher_not_active", True),
        ("disabled", "voucher_disabled", True),
    ],
)
def test_refused_requests_change_nothing(case: str, reason: str, emits: bool) -> None:
    """Every refusal gives the Voucherify error key in validation and redemption alike, leaves
    balances and publications untouched, and emits RedemptionFailed only for known codes."""
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=30)
    campaign = GiftCardCampaign(
        id="c", name="Dated", amount_cents=2500, start_date=start, expiration_date=end
    )
    model = engine(campaign)
    code = published(model, campaign="c")
    customer, cents, when = "u-1", 1000, NOW
    if case == "wrong_customer":
        customer = "u-2"
    elif case == "unknown_code":
        code = "GIFT-NOPE-NOPE"
    elif case == "zero_amount":
        cents = 0
    elif case == "negative_amount":
        cents = -500
    elif case == "expired":
        when = end
    elif case == "not_started":
        when = start - timedelta(seconds=1)
    elif case == "disabled":
        model.vouchers[code].active = False
    before = state(model)

    verdict, (redeemed, event) = _failure(model, code, customer, cents, when)
    assert (verdict.valid, verdict.reason) == (False, reason)
    assert (redeemed.valid, redeemed.reason, redeemed.amount_cents) == (False, reason, 0)
    assert redeemed.message
    assert state(model) == before
    if emits:
        assert isinstance(event, RedemptionFailed)
        assert (event.code, event.customer_id, event.reason) == (code, customer, reason)
        assert event.campaign == "Dated"
    else:
        assert event is None


def test_holder_only_off_lets_anybody_redeem() -> None:
    """With holder_only=False a code is a bearer instrument."""
    open_card = GiftCardCampaign(id="open", name="Open", amount_cents=500, holder_only=False)
    model = engine(open_card)
    code = published(model, "u-1", "open")
    verdict, event = redeem(model, code, 300, customer="u-2")
    assert verdict.valid and verdict.balance_cents == 200
    assert isinstance(event, RedemptionSucceeded) and event.customer_id == "u-2"


def test_upsert_customer_merges_traits() -> None:
    """Customer traits from the CDP accumulate per source id."""
    model = engine()
    model.upsert_customer("u-1", {"email": "a@b.c"})
    model.upsert_customer("u-1", {"name": "Pam"})
    assert model.customers == {"u-1": {"email": "a@b.c", "name": "Pam"}}
