"""The official ``voucherify`` SDK (v6), unmodified, against the face: only host and keys set.

The SDK is synchronous (urllib3), so each call runs in a worker thread while the trio test keeps
serving. Its pydantic models validate every response, so a shape the SDK would reject from the
real API fails these tests too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import trio
import voucherify as vf
from voucherify_face import APP_ID, APP_TOKEN, Face

from promoloop.actors.events.promotions import (
    PublicationSucceeded,
    RedemptionRollbackSucceeded,
    RedemptionSucceeded,
)

T = TypeVar("T")


class Sdk:
    """The SDK's API classes on one client; ``run`` calls one of them off the event loop."""

    def __init__(self, host: str, app_id: str = APP_ID, app_token: str = APP_TOKEN) -> None:
        config = vf.Configuration(host=host, api_key={"X-App-Id": app_id, "X-App-Token": app_token})
        self.client = vf.ApiClient(config)
        self.campaigns = vf.CampaignsApi(self.client)
        self.vouchers = vf.VouchersApi(self.client)
        self.customers = vf.CustomersApi(self.client)
        self.publications = vf.PublicationsApi(self.client)
        self.validations = vf.ValidationsApi(self.client)
        self.redemptions = vf.RedemptionsApi(self.client)
        self.rules = vf.ValidationRulesApi(self.client)
        self.segments = vf.SegmentsApi(self.client)
        self.events = vf.EventsApi(self.client)

    def close(self) -> None:
        """Drop the SDK's pooled connections (the generated client has no close of its own)."""
        self.client.rest_client.pool_manager.clear()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def error(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict]:
        with pytest.raises(vf.ApiException) as info:
            await self.run(fn, *args, **kwargs)
        return info.value.status, json.loads(info.value.body)


@pytest.fixture
def sdk(face: Face) -> Iterator[Sdk]:
    client = Sdk(face.base_url)
    yield client
    client.close()


def stacked(code: str, customer: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "redeemables": [{"object": "voucher", "id": code, **extra}],
        "customer": {"source_id": customer},
        "order": {"amount": amount},
    }


async def test_review_giftcard_flow(face: Face, sdk: Sdk) -> None:
    """Gift-card campaign → publication (join once) → validate → partial redemption against
    the balance → rollback restores it; the engine reports publication and redemption."""
    campaign = await sdk.run(
        sdk.campaigns.create_campaign,
        vf.CampaignsCreateRequestBody.from_dict(
            {
                "name": "Review gift card",
                "campaign_type": "GIFT_VOUCHERS",
                "type": "AUTO_UPDATE",
                "join_once": True,
                "voucher": {
                    "type": "GIFT_VOUCHER",
                    "gift": {"amount": 2500},
                    "code_config": {"pattern": "GIFT-####-####"},
                },
            }
        ),
    )
    assert campaign.id and campaign.campaign_type == "GIFT_VOUCHERS"
    assert campaign.voucher.gift.amount == 2500

    customer = await sdk.run(
        sdk.customers.create_customer,
        vf.CustomersCreateRequestBody.from_dict(
            {"source_id": "u-1", "name": "Pam", "email": "pam@example.com"}
        ),
    )
    assert customer.source_id == "u-1" and customer.id.startswith("cust_")

    body = vf.PublicationsCreateRequestBody.from_dict(
        {"campaign": {"name": "Review gift card"}, "customer": {"source_id": "u-1"}}
    )
    publication = await sdk.run(
        sdk.publications.create_publication, join_once=True, publications_create_request_body=body
    )
    code = publication.voucher.code
    assert code.startswith("GIFT-") and publication.voucher.gift.balance == 2500
    assert publication.customer_id == customer.id
    again = await sdk.run(
        sdk.publications.create_publication, join_once=True, publications_create_request_body=body
    )
    assert again.voucher.code == code  # join once: the same code, no second publication event

    validation = await sdk.run(
        sdk.validations.validate_stacked_discounts,
        vf.ValidationsValidateRequestBody.from_dict(stacked(code, "u-1", 1099)),
    )
    assert validation.valid is True
    (item,) = validation.redeemables
    assert item.status == "APPLICABLE" and item.result.gift.credits == 1099
    assert validation.order.total_amount == 0

    redeemed = await sdk.run(
        sdk.redemptions.redeem_stacked_discounts,
        vf.RedemptionsRedeemRequestBody.from_dict(stacked(code, "u-1", 1099)),
    )
    (redemption,) = redeemed.redemptions
    assert redemption.result == "SUCCESS" and redemption.gift.amount == 1099
    assert redemption.voucher.gift.balance == 1401
    assert face.model.vouchers[code].balance_cents == 1401

    listed = await sdk.run(sdk.redemptions.list_redemptions, customer="u-1")
    assert [r.id for r in listed.redemptions] == [redemption.id]
    by_code = await sdk.run(sdk.redemptions.get_voucher_redemptions, code)
    assert by_code.redeemed_quantity == 1 and by_code.total == 1

    rollback = await sdk.run(sdk.redemptions.rollback_redemption, redemption.id, reason="returned")
    assert rollback.result == "SUCCESS" and rollback.redemption == redemption.id
    assert rollback.voucher.gift.balance == 2500
    assert face.model.vouchers[code].balance_cents == 2500
    fetched = await sdk.run(sdk.redemptions.get_redemption, redemption.id)
    assert fetched.status == "ROLLED_BACK"

    voucher = await sdk.run(sdk.vouchers.get_voucher, code)
    assert voucher.gift.balance == 2500 and voucher.holder_id == customer.id

    kinds = [type(e) for e in face.engine.reported]
    assert kinds == [PublicationSucceeded, RedemptionSucceeded, RedemptionRollbackSucceeded]


async def test_discount_campaign_with_validation_rule(face: Face, sdk: Sdk) -> None:
    """A 10 % (max $5) coupon campaign with bulk codes and a rule (order over $20 and customer
    in a static segment, or metadata tier gold): inapplicable → applicable → redeemed once."""
    segment = await sdk.run(
        sdk.segments.create_segment,
        vf.SegmentsCreateRequestBody.from_dict(
            {"name": "VIP", "type": "static", "customers": ["u-vip"]}
        ),
    )
    rule = await sdk.run(
        sdk.rules.create_validation_rules,
        vf.ValidationRulesCreateRequestBody.from_dict(
            {
                "name": "VIP over $20",
                "type": "advanced",
                "rules": {
                    "1": {
                        "name": "order.amount",
                        "conditions": {"$more_than": [2000]},
                        "rules": {},
                    },
                    "2": {"name": "customer.segment", "conditions": {"$is": [segment.id]}},
                    "3": {
                        "name": "customer.metadata",
                        "property": "tier",
                        "conditions": {"$is": ["gold"]},
                    },
                    "logic": "1 and (2 or 3)",
                },
                "error": {"message": "VIPs, orders over $20"},
            }
        ),
    )
    campaign = await sdk.run(
        sdk.campaigns.create_campaign,
        vf.CampaignsCreateRequestBody.from_dict(
            {
                "name": "Ten percent",
                "campaign_type": "DISCOUNT_COUPONS",
                "type": "AUTO_UPDATE",
                "vouchers_count": 3,
                "validation_rules": [rule.id],
                "voucher": {
                    "type": "DISCOUNT_VOUCHER",
                    "discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 500},
                    "redemption": {"quantity": 1},
                    "code_config": {"length": 8, "prefix": "TEN-"},
                },
            }
        ),
    )
    assert campaign.vouchers_count == 3
    listed = await sdk.run(sdk.vouchers.list_vouchers, campaign_id=campaign.id)
    assert listed.total == 3
    code = listed.vouchers[0].code
    assert code.startswith("TEN-")

    def validate(customer: str, amount: int) -> Any:
        body = vf.ValidationsValidateRequestBody.from_dict(stacked(code, customer, amount))
        return sdk.run(sdk.validations.validate_stacked_discounts, body)

    small = await validate("u-vip", 1500)
    assert small.valid is False
    (bad,) = small.inapplicable_redeemables
    assert bad.result.error.key == "order_rules_violated"
    assert bad.result.error.details == "VIPs, orders over $20"
    stranger = await validate("u-x", 9000)
    assert stranger.inapplicable_redeemables[0].result.error.key == "customer_rules_violated"

    ok = await validate("u-vip", 9000)
    assert ok.valid is True and ok.order.total_discount_amount == 500  # 10 % capped at $5
    await sdk.run(
        sdk.customers.create_customer,
        vf.CustomersCreateRequestBody.from_dict({"source_id": "u-g", "metadata": {"tier": "gold"}}),
    )
    gold = await validate("u-g", 2999)
    assert gold.valid is True and gold.order.total_discount_amount == 300  # 299.9 → 300

    redeemed = await sdk.run(
        sdk.redemptions.redeem_stacked_discounts,
        vf.RedemptionsRedeemRequestBody.from_dict(stacked(code, "u-g", 2999)),
    )
    assert redeemed.order.total_amount == 2699
    status, error = await sdk.error(
        sdk.redemptions.redeem_stacked_discounts,
        vf.RedemptionsRedeemRequestBody.from_dict(stacked(code, "u-vip", 9000)),
    )
    assert (status, error["key"]) == (400, "quantity_exceeded")


async def test_sdk_errors_use_voucherify_shape(face: Face, sdk: Sdk) -> None:
    """Wrong keys → 401 unauthorized; unknown campaign/voucher → 404 not_found, as the SDK's
    exceptions expose them."""
    wrong = Sdk(face.base_url, app_token="nope")
    status, error = await wrong.error(wrong.campaigns.list_campaigns)
    wrong.close()
    assert (status, error["code"], error["key"]) == (401, 401, "unauthorized")
    assert error["message"] and error["details"]
    status, error = await sdk.error(sdk.campaigns.get_campaign, "camp_missing")
    assert (status, error["key"]) == (404, "not_found")
    status, error = await sdk.error(sdk.vouchers.get_voucher, "NOPE")
    assert (status, error["key"]) == (404, "not_found")


async def test_custom_events_and_lists(face: Face, sdk: Sdk) -> None:
    """Custom events are recorded; campaigns, rules and customers read back."""
    event = await sdk.run(
        sdk.events.track_custom_event,
        vf.EventsCreateRequestBody.from_dict(
            {"event": "review_left", "customer": {"source_id": "u-1"}, "metadata": {"stars": 5}}
        ),
    )
    assert event.type == "review_left" and event.customer.source_id == "u-1"
    (recorded,) = face.model.events
    assert (recorded.name, recorded.customer_id, recorded.metadata) == (
        "review_left",
        "u-1",
        {"stars": 5},
    )
    fetched = await sdk.run(sdk.customers.get_customer, "u-1")
    assert fetched.source_id == "u-1"
    campaigns = await sdk.run(sdk.campaigns.list_campaigns)
    assert campaigns.total == 0
    rules = await sdk.run(sdk.rules.list_validation_rules)
    assert rules.total == 0
