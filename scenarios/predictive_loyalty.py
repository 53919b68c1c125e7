"""predictive-loyalty (design.md §1.2): predictive traits drive three campaigns, measured
against holdouts.

1. A population lives for weeks; the CDP's predictions actor learns, event by event with late
   labels, the likelihood to purchase (7 d), to churn (30 d), the 90-day value and the uplift
   of an offer, and writes them to profiles with percentiles.
2. Three real-time audiences on those traits (top 20 %) trigger three campaigns: a loyalty
   coupon for high predicted value, a cross-sell coupon for high purchase likelihood, a
   retention coupon for high churn risk. An exploration arm offers a coupon to a random half
   of the customers once, so the uplift model sees unconfounded treated vs control data.
3. Every campaign holds out a random 20 % (the experiment gate); treated customers get a unique
   code from the promotion engine, delivered by push; the customer's hidden response segment
   decides what the offer really does.
4. KPIs per campaign and group (conversion, revenue, coupon cost, incremental revenue with a
   95 % interval, ROI, budget use), model quality against outcomes and against the truth, and
   targeting strategies (random, propensity, predicted uplift) against the true uplift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from promoloop.actors.analytics.experiments import Outcome, readout
from promoloop.actors.analytics.holdout import TREATED_PREFIX, CampaignArm, HoldoutGate
from promoloop.actors.cdp import ENGAGE_SOURCE, Audience, Subscription
from promoloop.actors.cdp.audiences import TraitCondition
from promoloop.actors.cdp.predictive.actor import PredictiveActor
from promoloop.actors.cdp.predictive.engine import (
    LIKELIHOOD_TO_CHURN,
    LIKELIHOOD_TO_PURCHASE,
    OFFER_UPLIFT,
    PREDICTED_VALUE,
)
from promoloop.actors.events import names
from promoloop.actors.promotions import CodeConfig, Distribution
from promoloop.actors.promotions.campaigns import DiscountCampaign
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.promotions.limits import Quotas
from promoloop.actors.runtime import DAY, World
from promoloop.actors.storefront import Customer, PopulationParams
from promoloop.scenarios import html_report
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.loop import STOREFRONT, Loop, add_reporter, build_loop, connect
from promoloop.scenarios.progress import ProgressBar

NAME = "predictive-loyalty"
DEFAULT_CUSTOMERS = 2_000
DEFAULT_DAYS = 120
"""Long enough for the 90-day value labels to mature and drive the loyalty campaign."""
WINDOW_DAYS = 14
"""Outcomes of an assignment are counted over this many days after it."""
HOLDOUT_SHARE = 0.2
TOP_SHARE = 0.2


EXPLORE_DAYS = (10.0, 40.0, 70.0, 100.0)
"""Days of the randomised exploration waves (a coupon to a random half of the customers)."""


@dataclass(frozen=True)
class CampaignSpec:
    key: str
    name: str
    audience: str | None
    """The predictive audience that triggers it; None for an exploration wave."""
    trait: str | None
    discount: Discount
    budget_cents: int
    explore_at_day: float | None = None


def campaigns(customers: int, days: int) -> list[CampaignSpec]:
    budget = max(100_00, customers * 10_00)
    return [
        CampaignSpec(
            "loyalty",
            "Loyalty reward",
            "high_value",
            PREDICTED_VALUE,
            Discount.percent(15, cap_cents=30_00),
            budget,
        ),
        CampaignSpec(
            "cross_sell",
            "Cross-sell offer",
            "likely_buyers",
            LIKELIHOOD_TO_PURCHASE,
            Discount.percent(10),
            budget,
        ),
        CampaignSpec(
            "retention",
            "Retention offer",
            "churn_risk",
            LIKELIHOOD_TO_CHURN,
            Discount.amount(10_00),
            budget,
        ),
        *(
            CampaignSpec(
                f"explore_{i}",
                f"Discovery coupon {i}",
                None,
                None,
                Discount.percent(10),
                budget,
                day,
            )
            for i, day in enumerate(EXPLORE_DAYS, start=1)
            if day < days
        ),
    ]


def _configure(loop: Loop, specs: list[CampaignSpec]) -> HoldoutGate:
    model = loop.cdp.model
    engine = loop.promotions.model
    arms = []
    for spec in specs:
        if spec.audience is not None and spec.trait is not None:
            model.add_audience(
                Audience(
                    key=spec.audience,
                    name=f"Top {TOP_SHARE:.0%} {spec.trait.replace('_', ' ')}",
                    condition=TraitCondition(
                        trait=f"{spec.trait}_percentile", op="gte", value=100 * (1 - TOP_SHARE)
                    ),
                )
            )
        engine.add_campaign(
            DiscountCampaign(
                id=f"camp_{spec.key}",
                name=spec.name,
                discount=spec.discount,
                code_config=CodeConfig(pattern=f"{spec.key[:4].upper()}-####-####"),
                join_once=True,
                holder_only=True,
                quotas=Quotas(budget_cents=spec.budget_cents, per_customer=1),
            )
        )
        engine.add_distribution(
            Distribution(
                id=f"distr_{spec.key}",
                name=spec.name,
                campaign_id=f"camp_{spec.key}",
                audience_key=f"{TREATED_PREFIX}{spec.key}",
                channel="push",
            )
        )
        arms.append(
            CampaignArm(
                key=spec.key,
                audience_key=spec.audience,
                holdout_share=0.5 if spec.audience is None else HOLDOUT_SHARE,
                explore_at_day=spec.explore_at_day,
            )
        )
    gate = loop.world.add(
        HoldoutGate("experiments", arms=arms, promotions="promotions", predictions="predictions")
    )
    model.subscribe(
        Subscription(
            destination="experiments",
            sources=frozenset({STOREFRONT}),
            types=frozenset({"identify"}),
        )
    )
    model.subscribe(
        Subscription(
            destination="experiments",
            sources=frozenset({ENGAGE_SOURCE}),
            events=frozenset({names.AUDIENCE_ENTERED}),
        )
    )
    model.subscribe(
        Subscription(
            destination="predictions",
            sources=frozenset({STOREFRONT}),
            types=frozenset({"identify", "track", "page"}),
        )
    )
    return gate


async def run(config: RunConfig) -> ScenarioResult:
    customers = config.customers or DEFAULT_CUSTOMERS
    days = config.days or DEFAULT_DAYS
    world = World(seed=config.seed)
    loop = build_loop(world, PopulationParams(customers=customers))
    loop.storefront.tick = 15 * 60 if customers > 500 else 60  # type: ignore[union-attr]
    explore = frozenset(s.key for s in campaigns(customers, days) if s.explore_at_day is not None)
    predictions = add_reporter(loop, PredictiveActor("predictions", uplift_campaigns=explore))
    specs = campaigns(customers, days)
    gate = _configure(loop, specs)
    world.add(ProgressBar(days, config.progress))
    async with connect(loop, config.transport) as urls:
        await world.run(until=days * DAY)
    kpis = _kpis(loop, predictions, gate, specs, customers, days)
    result = ScenarioResult(
        scenario=NAME,
        config=config,
        summary=world.summary()
        | {"customers": customers, "days": days, "transport": config.transport},
        kpis=kpis,
        profiles=[],
        highlight=None,
        timeline=_timeline(kpis),
        timeline_title="campaigns against their holdouts, models, targeting",
        urls=urls,
    )
    result.html = _html(result, loop, predictions)
    return result


def _outcomes(loop: Loop, gate: HoldoutGate, spec: CampaignSpec, end: float) -> list[Outcome]:
    orders = loop.analytics.orders_by_user
    codes = loop.analytics.code_campaigns
    out = []
    for a in gate.assignments:
        if a.campaign != spec.key:
            continue
        until = min(a.at + WINDOW_DAYS * DAY, end)
        window = [o for o in orders.get(a.user_id, ()) if a.at < o[0] <= until]
        cost = sum(o[2] for o in window if o[3] is not None and codes.get(o[3]) == spec.name)
        out.append(Outcome(a.user_id, a.treated, bool(window), sum(o[1] for o in window), cost))
    return out


def _truths(people: list[Customer], now: float) -> dict[str, dict[str, float]]:
    active = [c for c in people if c.active(now)]
    expected_value = {}
    for c in active:
        r, h = c.rates(now)
        orders = r * 90 if h == 0 else r / h * (1 - math.exp(-h * 90))
        expected_value[c.user_id] = orders * c.hidden.basket_mean_cents
    return {
        LIKELIHOOD_TO_PURCHASE: {c.user_id: c.true_purchase_probability(now, 7) for c in active},
        LIKELIHOOD_TO_CHURN: {c.user_id: c.true_churn_probability(now, 30) for c in active},
        PREDICTED_VALUE: expected_value,
        OFFER_UPLIFT: {c.user_id: c.true_uplift(now, WINDOW_DAYS) for c in active},
    }


def _targeting(loop: Loop, predictions: PredictiveActor, now: float) -> dict[str, Any]:
    """Pick the top 20 % by each strategy; score the pick by its true uplift (expected extra
    orders within the window, times the basket value)."""
    people = {c.user_id: c for c in loop.storefront.customers if c.active(now)}  # type: ignore[union-attr]
    if not people:
        return {}
    size = max(1, int(len(people) * TOP_SHARE))
    value = {
        u: c.true_uplift(now, WINDOW_DAYS) * c.hidden.basket_mean_cents for u, c in people.items()
    }
    engine = predictions.engine
    rng = loop.world.seeds.rng("scenario/targeting")
    ids = sorted(people)
    strategies = {
        "random": rng.sample(ids, size),
        "propensity": _top(engine.scores(LIKELIHOOD_TO_PURCHASE), ids, size),
        "predicted_uplift": _top(engine.scores(OFFER_UPLIFT), ids, size),
        "true_uplift": sorted(ids, key=lambda u: (-value[u], u))[:size],
    }
    return {
        name: {
            "customers": len(pick),
            "expected_incremental_revenue_cents": round(sum(value[u] for u in pick)),
        }
        for name, pick in strategies.items()
    }


def _top(scores: dict[str, float], ids: list[str], size: int) -> list[str]:
    return sorted(ids, key=lambda u: (-scores.get(u, -math.inf), u))[:size]


def _kpis(
    loop: Loop,
    predictions: PredictiveActor,
    gate: HoldoutGate,
    specs: list[CampaignSpec],
    customers: int,
    days: int,
) -> dict[str, Any]:
    end = days * DAY
    per_campaign = {}
    for spec in specs:
        result = readout(_outcomes(loop, gate, spec, end), budget_cents=spec.budget_cents)
        per_campaign[spec.key] = {
            "name": spec.name,
            "audience": spec.audience,
            "groups": {
                group: {
                    "customers": stats.customers,
                    "conversions": stats.conversions,
                    "revenue_cents": stats.revenue_cents,
                    "cost_cents": stats.cost_cents,
                    "conversion_rate": round(stats.conversion_rate, 4),
                    "revenue_per_customer_cents": round(stats.revenue_per_customer_cents, 1),
                }
                for group, stats in (("treated", result.treated), ("holdout", result.holdout))
            },
            "uplift_conversion": round(result.uplift_conversion, 4),
            "incremental_revenue_cents": round(result.incremental_revenue_cents),
            "incremental_revenue_ci95_cents": [
                round(x) for x in result.incremental_revenue_ci_cents
            ],
            "cost_cents": result.cost_cents,
            "roi": None if result.roi is None else round(result.roi, 3),
            "budget_cents": result.budget_cents,
            "budget_use": None if result.budget_use is None else round(result.budget_use, 4),
        }
    truths = _truths(loop.storefront.customers, end)  # type: ignore[union-attr]
    quality = predictions.engine.quality()
    models = {}
    for model_name, trait, key in (
        ("likelihood_to_purchase", LIKELIHOOD_TO_PURCHASE, "purchase"),
        ("likelihood_to_churn", LIKELIHOOD_TO_CHURN, "churn"),
        ("predicted_value_90d", PREDICTED_VALUE, "value"),
        ("offer_uplift", OFFER_UPLIFT, "uplift_treated"),
    ):
        summary = quality[key]
        vs_truth = predictions.engine.quality_vs_truth(trait, truths[trait])
        models[model_name] = {
            "auc": _num(summary.get("auc")),
            "auc_by_day": [
                [round(day, 1), _num(q[key].get("auc"))]
                for day, q in predictions.quality_history[6::7]
                if q[key].get("n", 0) > 0
            ],
            "auc_vs_truth": _num(vs_truth.get("auc_vs_truth")),
            "spearman_vs_truth": _num(vs_truth.get("spearman")),
            "log_loss": _num(summary.get("log_loss")),
            "labels": summary.get("n", 0),
        }
    return {
        "scenario": NAME,
        "events": sum(loop.cdp.model.ingested.values()),
        "orders": loop.analytics.orders,
        "revenue_cents": loop.analytics.revenue_cents,
        "campaigns": per_campaign,
        "models": models,
        "targeting": _targeting(loop, predictions, end),
        "audience_sizes": {
            spec.audience: len(loop.cdp.model.audience_members(spec.audience))
            for spec in specs
            if spec.audience
        },
    }


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4)


def _timeline(kpis: dict[str, Any]) -> list[str]:
    lines = [
        f"{'campaign':<12} {'group':<8} {'customers':>9} {'conv':>6} {'rev/cust':>9} {'cost':>9}"
    ]
    for key, c in kpis["campaigns"].items():
        for group, g in c["groups"].items():
            lines.append(
                f"{key:<12} {group:<8} {g['customers']:>9} {g['conversion_rate']:>6.1%} "
                f"{g['revenue_per_customer_cents'] / 100:>9.2f} {g['cost_cents'] / 100:>9.2f}"
            )
        low, high = c["incremental_revenue_ci95_cents"]
        lines.append(
            f"{'':<12} incremental revenue {c['incremental_revenue_cents'] / 100:,.2f} USD "
            f"(95% CI {low / 100:,.2f} .. {high / 100:,.2f}), ROI {c['roi']}"
        )
    for name, m in kpis["models"].items():
        lines.append(
            f"model {name:<24} auc {m['auc']}  auc_vs_truth {m['auc_vs_truth']}  "
            f"log_loss {m['log_loss']}"
        )
    for name, t in kpis["targeting"].items():
        lines.append(
            f"targeting {name:<18} expected incremental revenue "
            f"{t['expected_incremental_revenue_cents'] / 100:,.2f} USD"
        )
    return lines


def _html(result: ScenarioResult, loop: Loop, predictions: PredictiveActor) -> str:
    kpis = result.kpis
    sizes = {
        key: [
            (loop.world.time.seconds_at(at) / DAY, float(n))
            for at, n in loop.cdp.model.audience_size_series(key)
        ]
        for key in kpis["audience_sizes"]
    }
    auc_series: dict[str, list[tuple[float, float]]] = {}
    for day, quality in predictions.quality_history:
        for model in ("purchase", "churn"):
            auc = quality[model].get("auc")
            if auc is not None and not math.isnan(auc) and quality[model].get("n", 0) > 50:
                auc_series.setdefault(model, []).append((day, auc))
    conversion = {
        f"{key} {group}": g["conversion_rate"]
        for key, c in kpis["campaigns"].items()
        for group, g in c["groups"].items()
    }
    cumulative = _cumulative_incremental(result, loop)
    rows = [
        {"campaign": key, "group": group, **g}
        for key, c in kpis["campaigns"].items()
        for group, g in c["groups"].items()
    ]
    return html_report.page(
        f"{NAME} — seed {result.summary['seed']}, {result.summary['customers']} customers, "
        f"{result.summary['days']} days",
        [
            ("Groups", html_report.table(rows)),
            ("Audience sizes", html_report.line_chart("members per audience", sizes)),
            (
                "Model AUC over time",
                html_report.line_chart("rolling AUC vs realised outcomes", auc_series),
            ),
            ("Conversion by group", html_report.bar_chart("conversion rate", conversion)),
            (
                "Cumulative incremental revenue",
                html_report.line_chart(
                    "USD, treated minus holdout per customer × treated", cumulative
                ),
            ),
            (
                "Targeting strategies",
                html_report.table([{"strategy": k, **v} for k, v in kpis["targeting"].items()]),
            ),
        ],
    )


def _cumulative_incremental(
    result: ScenarioResult, loop: Loop
) -> dict[str, list[tuple[float, float]]]:
    """Per campaign, incremental revenue as of each day (orders up to that day)."""
    gate = loop.world.actor("experiments")
    assert isinstance(gate, HoldoutGate)
    days = result.summary["days"]
    series: dict[str, list[tuple[float, float]]] = {}
    for spec in campaigns(result.summary["customers"], days):
        points = []
        for day in range(1, days + 1):
            outcomes = _outcomes(loop, gate, spec, day * DAY)
            if any(o.treated for o in outcomes) and any(not o.treated for o in outcomes):
                points.append((float(day), readout(outcomes).incremental_revenue_cents / 100))
        series[spec.key] = points
    return series


SCENARIO = Scenario(
    name=NAME,
    summary=(
        "Predicted value, purchase and churn drive loyalty, cross-sell and retention coupons, "
        "measured against holdouts."
    ),
    default_customers=DEFAULT_CUSTOMERS,
    default_days=DEFAULT_DAYS,
    run=run,
)
