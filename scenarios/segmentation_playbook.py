"""segmentation-playbook (design.md §1.5): the segment types a marketer builds, over a population.

A population shops for ``--days`` (customers sign up all along the run, so some are new at any
time); the CDP keeps RFM and a few computed traits, and these audiences:

- **real-time**: reviewers, high intent (5+ product views in 7 days);
- **behavioural**: added to cart in the last 7 days and no order since;
- **lifecycle** from a recency score over visits: new (signed up in the last 7 days), active
  (visited in the last 14 days, not new), churned (no visit for 30 days);
- **RFM**: champions (bought within 30 days, 3+ orders in a year), a **batch** audience of big
  spenders recomputed daily;
- **price sensitivity**: 3+ carts but at most one order (abandons what it picks);
- **ad-hoc**: one-time buyers, computed once, at mid-run;
- **trend**: each audience's week-over-week growth, and which one grows fastest.

Every definition is the declarative JSON-like form below (``TRAITS``, ``AUDIENCES``): copy
them into your own scenario or load them with ``load_computed_traits`` / ``load_audiences``.
The result holds each audience's size at the end of every day and its final size, and scores
the audiences against the population's hidden truth: the churned audience against customers
whose churn time has passed (precision, recall), the new audience against real arrival times,
the price-sensitive audience against the hidden price sensitivity.
"""

from __future__ import annotations

import bisect
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from promoloop.actors.cdp import ComputeAudience, Profile, load_audiences, load_computed_traits
from promoloop.actors.events import names
from promoloop.actors.runtime import DAY, Actor, Started, Wake, World
from promoloop.actors.storefront import PopulationParams
from promoloop.actors.storefront.population import Customer
from promoloop.scenarios import html_report
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.loop import CDP, build_loop, connect

NAME = "segmentation-playbook"
DEFAULT_CUSTOMERS = 2_000
DEFAULT_DAYS = 60
TICK = 15 * 60.0
"""The storefront wakes every 15 minutes of sim time (events keep their exact timestamps)."""
SAMPLE_PROFILES = 25
"""Profiles written to the report: a sample, a population's full histories would be huge."""

TRAITS: list[dict[str, Any]] = [
    {"kind": "rfm", "prefix": "rfm", "event": names.ORDER_COMPLETED, "property": "total_cents",
     "window_days": 365, "recency_days": [7, 30, 90, 180]},
    {"key": "visit_recency", "kind": "recency", "event": names.PRODUCT_VIEWED,
     "thresholds_days": [7, 14, 30]},
    {"key": "orders", "kind": "count", "event": names.ORDER_COMPLETED},
    {"key": "carts", "kind": "count", "event": names.PRODUCT_ADDED},
    {"key": "views_7d", "kind": "count", "event": names.PRODUCT_VIEWED, "window_days": 7},
    {"key": "favourite_category", "kind": "most_frequent", "event": names.PRODUCT_VIEWED,
     "property": "category"},
]  # fmt: skip
"""Computed traits. ``visit_recency``: 4 = viewed a product within 7 days, 3 within 14,
2 within 30, 1 longer ago, 0 never."""

AUDIENCES: list[dict[str, Any]] = [
    {"key": "reviewers", "name": "Reviewers",
     "condition": {"type": "performed_event", "event": names.REVIEW_LEFT}},
    {"key": "high_intent", "name": "5+ product views in 7 days",
     "condition": {"type": "trait", "trait": "views_7d", "op": "gte", "value": 5}},
    {"key": "cart_abandoners", "name": "Added to cart in the last 7 days, no order since",
     "condition": {"type": "and", "conditions": [
         {"type": "performed_event", "event": names.PRODUCT_ADDED, "within_days": 7},
         {"type": "not", "condition": {"type": "performed_after",
                                       "event": names.ORDER_COMPLETED,
                                       "after": names.PRODUCT_ADDED}}]}},
    {"key": "new", "name": "Lifecycle: new (signed up in the last 7 days)",
     "condition": {"type": "performed_event", "event": names.SIGNED_UP, "within_days": 7}},
    {"key": "active", "name": "Lifecycle: active (visited in the last 14 days, not new)",
     "condition": {"type": "and", "conditions": [
         {"type": "trait", "trait": "visit_recency", "op": "gte", "value": 3},
         {"type": "trait", "trait": "new", "op": "ne", "value": True}]}},
    {"key": "churned", "name": "Lifecycle: churned (no visit for 30 days)",
     "condition": {"type": "trait", "trait": "visit_recency", "op": "eq", "value": 1}},
    {"key": "champions", "name": "RFM champions (bought within 30 days, 3+ orders a year)",
     "condition": {"type": "and", "conditions": [
         {"type": "trait", "trait": "rfm_recency", "op": "gte", "value": 4},
         {"type": "trait", "trait": "rfm_frequency", "op": "gte", "value": 3}]}},
    {"key": "big_spenders", "name": "RFM big spenders (300+ in a year), daily batch",
     "mode": "batch", "every_hours": 24,
     "condition": {"type": "trait", "trait": "rfm_monetary", "op": "gte", "value": 30_000}},
    {"key": "price_sensitive", "name": "Price sensitive (3+ carts, at most one order)",
     "condition": {"type": "and", "conditions": [
         {"type": "trait", "trait": "carts", "op": "gte", "value": 3},
         {"type": "trait", "trait": "orders", "op": "lte", "value": 1}]}},
    {"key": "one_time_buyers", "name": "One-time buyers (ad-hoc, computed at mid-run)",
     "mode": "adhoc",
     "condition": {"type": "trait", "trait": "orders", "op": "eq", "value": 1}},
]  # fmt: skip
"""Audiences, in definition order (an audience may use the boolean of one defined before it:
``active`` reads ``new``)."""

ADHOC = "one_time_buyers"


class Analyst(Actor):
    """Asks the CDP for the ad-hoc audience once, at ``at`` sim seconds (as a marketer would
    click "compute" in the middle of a campaign)."""

    def __init__(self, at: float, name: str = "analyst") -> None:
        super().__init__(name)
        self.at = at

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(self.at, Wake("adhoc"))
        elif isinstance(message, Wake):
            await self.tell(CDP, ComputeAudience(ADHOC))
        return None


async def run(config: RunConfig) -> ScenarioResult:
    customers = config.customers or DEFAULT_CUSTOMERS
    days = config.days or DEFAULT_DAYS
    world = World(seed=config.seed)
    loop = build_loop(world, PopulationParams(customers=customers))
    assert loop.storefront is not None
    loop.storefront.tick = TICK
    loop.storefront.arrival_days = float(days)  # a steady stream of sign-ups
    model = loop.cdp.model
    model.expiry_resolution = TICK  # windows slide at the storefront's pace: sizes are daily
    model.add_computed_traits(load_computed_traits(TRAITS))
    model.add_audiences(load_audiences(AUDIENCES))
    world.add(Analyst(at=days / 2 * DAY))

    async with connect(loop, config.transport) as urls:
        await world.run(until=days * DAY)

    end = days * DAY
    daily = {
        key: _daily_sizes(world, model.audience_size_series(key), days) for key in model.audiences
    }
    population = loop.storefront.customers
    members = {key: {p.user_id for p in model.audience_members(key)} for key in model.audiences}
    kpis: dict[str, Any] = {
        "profiles": len(model.profiles()),
        "events_ingested": sum(model.ingested.values()),
        "audiences": {
            key: {
                "name": audience.name,
                "mode": audience.mode,
                "final_size": model.sizes[key],
                "daily": daily[key],
            }
            for key, audience in model.audiences.items()
        },
        "ground_truth": _ground_truth(population, members, end, days),
        "trend": _trend(daily),
        "audience_changes": dict(model.audience_changes),
    }
    profiles = model.profiles()
    return ScenarioResult(
        scenario=NAME,
        config=config,
        summary=world.summary()
        | {"customers": customers, "days": days, "transport": config.transport},
        kpis=kpis,
        profiles=[p.snapshot() for p in profiles[:SAMPLE_PROFILES]],
        highlight=_highlight(profiles),
        timeline=size_table(daily),
        urls=urls,
    )


def _daily_sizes(world: World, series: list[tuple[datetime, int]], days: int) -> list[int]:
    """Size at the end of each day 0..days-1, from the CDP's (bucket start, size) series."""
    starts = [world.time.seconds_at(bucket) for bucket, _ in series]
    sizes: list[int] = []
    for day in range(days):
        last = bisect.bisect_left(starts, (day + 1) * DAY) - 1
        sizes.append(series[last][1] if last >= 0 else 0)
    return sizes


def _score(predicted: set[str], truth: set[str]) -> dict[str, Any]:
    hits = len(predicted & truth)
    return {
        "audience": len(predicted),
        "truth": len(truth),
        "both": hits,
        "precision": round(hits / len(predicted), 4) if predicted else None,
        "recall": round(hits / len(truth), 4) if truth else None,
    }


def _ground_truth(
    population: list[Customer], members: dict[str, set[str]], end: float, days: int
) -> dict[str, Any]:
    """The audiences against what the storefront knows and the CDP never saw."""
    arrived = [c for c in population if c.arrived_at >= 0]
    churned = {c.user_id for c in arrived if c.churn_at <= end}
    new = {c.user_id for c in arrived if c.arrived_at > end - 7 * DAY}
    churned_by_day = [
        sum(1 for c in arrived if c.churn_at <= (day + 1) * DAY) for day in range(days)
    ]
    sensitive = members["price_sensitive"]
    inside = [c.hidden.price_sensitivity for c in arrived if c.user_id in sensitive]
    outside = [c.hidden.price_sensitivity for c in arrived if c.user_id not in sensitive]
    return {
        "customers_arrived": len(arrived),
        "churned": _score(members["churned"], churned)
        | {
            "truth_daily": churned_by_day,
            "note": "truth: hidden churn time passed; the audience sees 30 days without a visit",
        },
        "new": _score(members["new"], new) | {"note": "truth: arrived in the last 7 days"},
        "price_sensitive": {
            "members_mean_hidden_sensitivity": _mean(inside),
            "others_mean_hidden_sensitivity": _mean(outside),
            "note": "hidden price sensitivity (0..1) drives cart abandonment",
        },
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _trend(daily: dict[str, list[int]]) -> dict[str, Any]:
    """Week-over-week growth of each audience over the last 7 days (the trend segment: which
    audience grows fastest). An audience empty a week ago has no growth rate."""
    growth: dict[str, float | None] = {}
    for key, sizes in daily.items():
        if len(sizes) < 8:
            growth[key] = None
            continue
        before, now = sizes[-8], sizes[-1]
        growth[key] = round(now / before - 1.0, 4) if before else None
    rated = [(g, key) for key, g in growth.items() if g is not None]
    fastest = max(rated)[1] if rated else None
    return {"week_over_week_growth": growth, "fastest_growing": fastest}


def size_table(daily: dict[str, list[int]]) -> list[str]:
    """One line per day: every audience's size at the end of that day."""
    keys = list(daily)
    widths = [max(len(k), 5) for k in keys]
    header = "day  " + "  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))
    days = len(next(iter(daily.values()), []))
    rows = [
        f"{day:>3}  "
        + "  ".join(str(daily[k][day]).rjust(w) for k, w in zip(keys, widths, strict=True))
        for day in range(days)
    ]
    return [header, *rows]


def _highlight(profiles: list[Profile]) -> dict[str, Any] | None:
    """The profile in the most audiences now (earliest id on ties): it shows how segments
    overlap."""
    best = max(profiles, key=lambda p: (len(p.audiences), -int(p.id.split("_")[1])), default=None)
    return best.snapshot() if best is not None else None


def write_html(result: ScenarioResult, directory: Path) -> Path:
    """``report.html`` in ``directory``: final sizes, daily sizes by family, ground truth and
    trend, self-contained (see :mod:`promoloop.scenarios.html_report`)."""
    kpis = result.kpis
    audiences: dict[str, Any] = kpis["audiences"]
    truth = kpis["ground_truth"]
    trend = kpis["trend"]

    def series(keys: list[str]) -> dict[str, list[tuple[float, float]]]:
        return {
            k: [(float(d), float(v)) for d, v in enumerate(audiences[k]["daily"])]
            for k in keys
            if k in audiences
        }

    lifecycle = series(["new", "active", "churned"])
    lifecycle["churned (truth)"] = [
        (float(d), float(v)) for d, v in enumerate(truth["churned"]["truth_daily"])
    ]
    rows = [
        {
            "audience": key,
            "name": a["name"],
            "mode": a["mode"],
            "final size": a["final_size"],
            "week-over-week": trend["week_over_week_growth"].get(key),
        }
        for key, a in audiences.items()
    ]
    scores = [
        {"audience": name} | {k: v for k, v in truth[name].items() if k in _SCORE_COLUMNS}
        for name in ("churned", "new")
    ]
    s = result.summary
    sections = [
        (
            "Run",
            html_report.table(
                [
                    {
                        "seed": s["seed"],
                        "customers": s["customers"],
                        "days": s["days"],
                        "transport": s["transport"],
                        "events": kpis["events_ingested"],
                        "profiles": kpis["profiles"],
                    }
                ]
            ),
        ),
        ("Audiences", html_report.table(rows)),
        (
            "Final sizes",
            html_report.bar_chart(
                "members at the end", {k: float(a["final_size"]) for k, a in audiences.items()}
            ),
        ),
        ("Lifecycle", html_report.line_chart("members per day", lifecycle, y_label="members")),
        (
            "Behavioural, RFM and price sensitivity",
            html_report.line_chart(
                "members per day",
                series(["cart_abandoners", "high_intent", "champions", "big_spenders"])
                | series(["price_sensitive", "reviewers", ADHOC]),
                y_label="members",
            ),
        ),
        ("Against the hidden truth", html_report.table(scores)),
        (
            "Price sensitivity (hidden, mean)",
            html_report.table([truth["price_sensitive"]]),
        ),
        (
            f"Trend: fastest growing is {trend['fastest_growing']}",
            html_report.bar_chart(
                "week-over-week growth",
                {k: g for k, g in trend["week_over_week_growth"].items() if g is not None},
            ),
        ),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.html"
    path.write_text(html_report.page(f"promoloop: {result.scenario}", sections))
    return path


_SCORE_COLUMNS = ("audience", "truth", "both", "precision", "recall")


SCENARIO = Scenario(
    name=NAME,
    summary=(
        "Ad-hoc, real-time, behavioural, lifecycle, RFM, price-sensitivity and trend audiences "
        "over a population, sized daily and scored against the hidden truth."
    ),
    default_customers=DEFAULT_CUSTOMERS,
    default_days=DEFAULT_DAYS,
    run=run,
    html=write_html,
)
