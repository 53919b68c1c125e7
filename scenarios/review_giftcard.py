"""review-giftcard (design.md §1.1): a review earns a $25 gift card, redeemed at next checkout.

1. Customers sign up, buy, and some leave a review (``review_left``).
2. The CDP's real-time audience "Reviewers" admits them; Engage sends ``Audience Entered``.
3. The engine's distribution publishes a unique $25 gift card (join once) on that entry and
   reports ``customer.publication.succeeded`` back to the CDP on its own source.
4. The push destination delivers the code; the customer's app puts it in the wallet.
5. At the next checkout the code is validated and redeemed against its balance;
   ``redemption.succeeded`` lands on the profile.

Copy this file to write your own scenario: build the loop, add audiences and campaigns, run.
"""

from __future__ import annotations

from typing import Any

from promoloop.actors.cdp import Audience, PerformedEvent, Profile
from promoloop.actors.events import names
from promoloop.actors.promotions import CodeConfig, Distribution, GiftCardCampaign
from promoloop.actors.runtime import DAY, World
from promoloop.actors.storefront import PopulationParams
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.loop import build_loop, connect
from promoloop.scenarios.timeline import timeline

NAME = "review-giftcard"
GIFT_CARD_CENTS = 2_500
DEFAULT_CUSTOMERS = 3
DEFAULT_DAYS = 14


async def run(config: RunConfig) -> ScenarioResult:
    customers = config.customers or DEFAULT_CUSTOMERS
    days = config.days or DEFAULT_DAYS
    world = World(seed=config.seed, keep_log=True)
    params = PopulationParams(customers=customers, purchase_rate_per_day=0.2, review_propensity=0.7)
    loop = build_loop(world, params)

    loop.cdp.model.add_audience(
        Audience(
            key="reviewers", name="Reviewers", condition=PerformedEvent(event=names.REVIEW_LEFT)
        )
    )
    engine = loop.promotions.model
    engine.add_campaign(
        GiftCardCampaign(
            id="camp_review_giftcard",
            name="Review reward gift card",
            amount_cents=GIFT_CARD_CENTS,
            code_config=CodeConfig(pattern="GIFT-####-####"),
            join_once=True,
        )
    )
    engine.add_distribution(
        Distribution(
            id="distr_reviewers",
            name="Gift card for reviewers",
            campaign_id="camp_review_giftcard",
            audience_key="reviewers",
            channel="push",
        )
    )

    async with connect(loop, config.transport) as urls:
        await world.run(until=days * DAY)

    profiles = [p.snapshot() for p in loop.cdp.model.profiles()]
    highlight = _highlight(loop.cdp.model.profiles())
    kpis = loop.analytics.report() | {
        "gift_card_balance_outstanding_cents": sum(
            v.balance_cents for v in engine.vouchers.values()
        ),
        "pushes_delivered": len(loop.push.sent),
    }
    focus = highlight["external_ids"][0]["id"] if highlight and customers > 5 else None
    return ScenarioResult(
        scenario=NAME,
        config=config,
        summary=world.summary()
        | {"customers": customers, "days": days, "transport": config.transport},
        kpis=kpis,
        profiles=profiles,
        highlight=highlight,
        timeline=timeline(world, only_user=focus),
        urls=urls,
    )


def _highlight(profiles: list[Profile]) -> dict[str, Any] | None:
    """The profile that best shows the loop: one that reviewed, got a code and redeemed it."""
    wanted = [names.REVIEW_LEFT, names.PUBLICATION_SUCCEEDED, names.REDEMPTION_SUCCEEDED]
    best = max(
        profiles,
        key=lambda p: (sum(1 for w in wanted if p.count(w)), -int(p.id.split("_")[1])),
        default=None,
    )
    return best.snapshot() if best is not None else None


SCENARIO = Scenario(
    name=NAME,
    summary="A review earns a unique $25 gift card by push, redeemed at the next checkout.",
    default_customers=DEFAULT_CUSTOMERS,
    default_days=DEFAULT_DAYS,
    run=run,
)
