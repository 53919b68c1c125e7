"""Campaign limits in the model: time windows, quantities, per customer, budget, rollback,
bulk/standalone/imported codes, stacked redemptions and rules."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from promoloop.actors.promotions import (
    Cart,
    CodeConfig,
    Discount,
    DiscountCampaign,
    GiftCardCampaign,
    HourWindow,
    PromotionEngineModel,
    PromotionError,
    Quotas,
    Segment,
    parse_rule,
)

WEDNESDAY_NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ORDER = Cart(id="o-1", amount_cents=3000)


def model_with(*campaigns: Any, **generate: int) -> PromotionEngineModel:
    model = PromotionEngineModel(random.Random(5))
    for campaign in campaigns:
        model.add_campaign(campaign, vouchers_count=generate.get(campaign.id, 0))
    return model


def coupon(**fields: Any) -> DiscountCampaign:
    return DiscountCampaign(
        id=fields.pop("id", "c"), name="Coupon", discount=Discount.amount(500), **fields
    )


def codes_of(model: PromotionEngineModel, campaign_id: str) -> list[str]:
    return [v.code for v in model.vouchers.values() if v.campaign_id == campaign_id]


def state(model: PromotionEngineModel) -> Any:
    return copy.deepcopy(
        (model.vouchers, model.usage, model.redemptions, model.customers, model.customer_ids)
    )


def refused(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(PromotionError) as info:
        fn(*args, **kwargs)
    return info.value.key


@pytest.mark.parametrize(
    ("fields", "when", "key"),
    [
        ({"validity_day_of_week": frozenset({1, 2})}, WEDNESDAY_NOON, "voucher_not_active"),
        ({"validity_day_of_week": frozenset({3})}, WEDNESDAY_NOON, None),  # 3 = Wednesday
        (
            {"validity_hours": (HourWindow(start=time(9), end=time(12)),)},
            WEDNESDAY_NOON,
            "voucher_not_active",
        ),
        ({"validity_hours": (HourWindow(start=time(12), end=time(13)),)}, WEDNESDAY_NOON, None),
        (
            {
                "validity_hours": (
                    HourWindow(start=time(12), end=time(13), days_of_week=frozenset({0})),
                )
            },
            WEDNESDAY_NOON,
            "voucher_not_active",
        ),
        (
            {"start_date": WEDNESDAY_NOON},
            WEDNESDAY_NOON - timedelta(seconds=1),
            "voucher_not_active",
        ),
        ({"expiration_date": WEDNESDAY_NOON}, WEDNESDAY_NOON, "voucher_expired"),
        ({"active": False}, WEDNESDAY_NOON, "voucher_disabled"),
    ],
)
def test_time_windows(fields: dict[str, Any], when: datetime, key: str | None) -> None:
    """Start/expiry, active weekdays (0 = Sunday) and daily hours, in UTC."""
    model = model_with(coupon(**fields), c=1)
    (code,) = codes_of(model, "c")
    if key is None:
        assert model.quote(code, "u-1", ORDER, when).amount_cents == 500
    else:
        assert refused(model.quote, code, "u-1", ORDER, when) == key


def test_code_campaign_and_customer_quantities() -> None:
    """Per code 2, per campaign 3, per customer 2: each stops at its own count."""
    model = model_with(coupon(quotas=Quotas(per_code=2, redemptions=3, per_customer=2)), c=3)
    a, b, c = codes_of(model, "c")
    model.redeem_code(a, "u-1", ORDER, WEDNESDAY_NOON)
    model.redeem_code(a, "u-2", ORDER, WEDNESDAY_NOON)
    assert refused(model.redeem_code, a, "u-3", ORDER, WEDNESDAY_NOON) == "quantity_exceeded"
    model.redeem_code(b, "u-1", ORDER, WEDNESDAY_NOON)
    assert refused(model.redeem_code, c, "u-1", ORDER, WEDNESDAY_NOON) == "quantity_exceeded"
    assert model.usage["c"].redemptions == 3
    assert dict(model.usage["c"].per_customer) == {"u-1": 2, "u-2": 1}


def test_per_customer_limit() -> None:
    model = model_with(coupon(quotas=Quotas(per_customer=1)), c=2)
    a, b = codes_of(model, "c")
    model.redeem_code(a, "u-1", ORDER, WEDNESDAY_NOON)
    before = state(model)
    assert (
        refused(model.redeem_code, b, "u-1", ORDER, WEDNESDAY_NOON) == "redemption_rules_violated"
    )
    assert state(model) == before
    model.redeem_code(b, "u-2", ORDER, WEDNESDAY_NOON)


def test_budget_is_refused_not_shortened() -> None:
    """$12 budget, $5 per code: two pass, the third ($2 left) is refused; nothing overspent."""
    model = model_with(coupon(quotas=Quotas(budget_cents=1200)), c=3)
    a, b, c = codes_of(model, "c")
    model.redeem_code(a, "u-1", ORDER, WEDNESDAY_NOON)
    model.redeem_code(b, "u-2", ORDER, WEDNESDAY_NOON)
    assert (
        refused(model.redeem_code, c, "u-3", ORDER, WEDNESDAY_NOON) == "redemption_rules_violated"
    )
    assert model.usage["c"].spent_cents == 1000


def test_gift_budget_counts_credits() -> None:
    """Gift cards spend their credits from the campaign budget too."""
    gift = GiftCardCampaign(id="g", name="G", amount_cents=5000, quotas=Quotas(budget_cents=4000))
    model = model_with(gift, g=2)
    a, b = codes_of(model, "g")
    model.redeem_code(a, "u-1", ORDER, WEDNESDAY_NOON)
    assert (
        refused(model.redeem_code, b, "u-2", ORDER, WEDNESDAY_NOON) == "redemption_rules_violated"
    )
    model.redeem_code(b, "u-2", Cart(amount_cents=1000), WEDNESDAY_NOON)
    assert model.usage["g"].spent_cents == 4000


def test_rollback_restores_everything_it_took() -> None:
    """After redeem + rollback, balance, quantities, budget and per-customer counts equal
    their values before; the redemption stays listed as rolled back; twice is refused."""
    gift = GiftCardCampaign(
        id="g",
        name="G",
        amount_cents=2500,
        quotas=Quotas(budget_cents=9000, per_code=5, per_customer=3),
    )
    model = model_with(gift, g=1)
    (code,) = codes_of(model, "g")
    model.upsert_customer("u-1", {})
    voucher, usage = copy.deepcopy(model.vouchers[code]), copy.deepcopy(model.usage["g"])
    redemption = model.redeem_code(code, "u-1", Cart(id="o", amount_cents=1234), WEDNESDAY_NOON)
    assert model.vouchers[code].balance_cents == 1266
    rollback = model.rollback(redemption.id, WEDNESDAY_NOON, "refund")
    assert (rollback.amount_cents, rollback.balance_after_cents) == (1234, 2500)
    restored = model.vouchers[code]
    assert (restored.balance_cents, restored.redeemed_quantity) == (voucher.balance_cents, 0)
    assert model.usage["g"] == usage
    assert [r.status for r in model.list_redemptions(code=code)] == ["ROLLED_BACK"]
    assert refused(model.rollback, redemption.id, WEDNESDAY_NOON) == "already_rolled_back"
    assert refused(model.rollback, "r_nope", WEDNESDAY_NOON) == "not_found"


def test_stacked_redemption_is_all_or_nothing() -> None:
    """A coupon then a gift card on one order: the card pays what the coupon left. If the
    second code is refused, the first is undone without a trace."""
    gift = GiftCardCampaign(id="g", name="G", amount_cents=1000)
    model = model_with(coupon(), gift, c=1, g=1)
    (c,), (g,) = codes_of(model, "c"), codes_of(model, "g")
    model.publish("g", "u-1", WEDNESDAY_NOON)
    before = state(model)
    key = refused(model.redeem_many, [(c, None), (g, None)], "u-2", ORDER, WEDNESDAY_NOON)
    assert key == "customer_rules_violated"
    assert state(model) == before
    done = model.redeem_many([(c, None), (g, None)], "u-1", ORDER, WEDNESDAY_NOON)
    assert [r.amount_cents for r in done] == [500, 1000]
    assert done[1].order.amount_cents == 2500


def test_bulk_generated_imported_and_standalone_codes() -> None:
    """Bulk codes follow the code config and are published first; imports refuse duplicates
    all-or-nothing; a standalone code carries its own definition."""
    model = model_with(coupon(code_config=CodeConfig(prefix="C-", length=6)), c=2)
    bulk = codes_of(model, "c")
    assert all(code.startswith("C-") and len(code) == 8 for code in bulk)
    voucher, event = model.publish("c", "u-1", WEDNESDAY_NOON)
    assert (
        voucher.code == bulk[0] and event is not None and event.voucher_type == "DISCOUNT_VOUCHER"
    )

    model.import_codes("c", ["MINE-1", "MINE-2"])
    before = state(model)
    assert refused(model.import_codes, "c", ["MINE-3", "MINE-1"]) == "duplicate_resource_key"
    assert refused(model.import_codes, "c", ["X", "X"]) == "duplicate_resource_key"
    assert state(model) == before
    with pytest.raises(ValueError, match=r"voucher\.code"):
        model.import_codes("c", [""])

    solo = DiscountCampaign(id="s", name="Solo", discount=Discount.percent(50), standalone=True)
    standalone = model.add_standalone(solo, "HALF")
    assert model.quote(standalone.code, None, ORDER, WEDNESDAY_NOON).amount_cents == 1500
    with pytest.raises(ValueError, match="standalone"):
        model.add_standalone(coupon(id="n"), "N")


def test_rules_see_segments_audiences_metadata_and_counts() -> None:
    """customer.segment matches static segments and CDP audiences; the per-customer count rule
    sees live redemptions; rollbacks give the count back."""
    model = PromotionEngineModel(random.Random(1))
    model.add_segment(Segment(id="seg_1", name="S", customers=frozenset({"u-seg"})))
    model.add_validation_rule(
        parse_rule(
            "val_1",
            {
                "name": "members, once",
                "rules": {
                    "1": {
                        "name": "customer.segment",
                        "conditions": {"$in": ["seg_1", "reviewers"]},
                    },
                    "2": {
                        "name": "redemption.count.per_customer",
                        "conditions": {"$less_than": [1]},
                    },
                },
            },
        )
    )
    model.add_campaign(coupon(validation_rule_ids=("val_1",)), vouchers_count=3)
    a, b, _ = codes_of(model, "c")
    assert refused(model.quote, a, "u-x", ORDER, WEDNESDAY_NOON) == "customer_rules_violated"
    model.on_audience_entered("u-aud", "reviewers", WEDNESDAY_NOON)
    assert model.quote(a, "u-aud", ORDER, WEDNESDAY_NOON).amount_cents == 500
    first = model.redeem_code(a, "u-seg", ORDER, WEDNESDAY_NOON)
    assert (
        refused(model.redeem_code, b, "u-seg", ORDER, WEDNESDAY_NOON) == "redemption_rules_violated"
    )
    model.rollback(first.id, WEDNESDAY_NOON)
    model.redeem_code(b, "u-seg", ORDER, WEDNESDAY_NOON)
    assert refused(model.assign_rule, "val_9", "c") == "not_found"
    with pytest.raises(PromotionError):
        model.add_campaign(coupon(id="d", validation_rule_ids=("val_9",)))
    assert "d" not in model.campaigns


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: GiftCardCampaign(id="g", name="G", amount_cents=1.5), "amount_cents"),
        (lambda: GiftCardCampaign(id="", name="G", amount_cents=1), "campaign.id"),
        (lambda: coupon(validity_day_of_week=frozenset({9})), "validity_day_of_week"),
        (lambda: coupon(start_date=datetime(2026, 1, 1)), "timezone"),
        (lambda: Quotas(budget_cents=0), "budget_cents"),
        (lambda: Quotas(per_code=-1), "per_code"),
        (lambda: HourWindow(start=time(12), end=time(9)), "expiration_time"),
    ],
)
def test_malformed_campaigns_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()


def test_vouchers_count_beyond_the_code_space_creates_nothing() -> None:
    model = PromotionEngineModel(random.Random(1))
    tiny = coupon(code_config=CodeConfig(length=2, charset="AB"))
    with pytest.raises(ValueError, match="vouchers_count"):
        model.add_campaign(tiny, vouchers_count=3)
    assert model.campaigns == {} and model.vouchers == {}
