"""journey-orchestration (design.md §1.4): lifecycle stages, multi-channel journeys under
frequency caps and suppression lists, a next-best-action step, every message tracked.

A population shops for ``--days``; the journeys actor (:mod:`promoloop.actors.messaging.journeys`)
hears the storefront's and Engage's calls through the CDP and runs four journeys for everybody
with one heap of wake-ups:

- **welcome** (awareness): a welcome email on sign-up; a push if they have not browsed in 3 days;
- **browse nurture** (interest → intent): a day after a first product view, and weekly while
  they keep visiting, a **next-best-action** step picks an email, a push, an ads impression or
  nothing, with one Thompson-sampling bandit per stage, rewarded by an order within 7 days;
- **cart recovery** (intent): on the CDP audience "added to cart in 7 days, no order since", an
  email, then (no checkout within a day) a unique 10 % code from the promotion engine in a
  second email, then an ads retargeting impression; it holds out 20 % of entrants as a control;
- **post-purchase** (purchase → retention): three days after an order, thanks by email, or an
  SMS for repeat buyers.

Stages (awareness → interest → intent → purchase → retention) move with events and are written
on profiles as ``journey_stage``. Every channel (email, push, SMS, ads destinations) shares one
delivery policy: at most 3 marketing messages per customer in any 7 days across channels, the
"recent purchasers" audience suppressed from cart recovery, a do-not-email list, unsubscribes
honoured; and one message log, so each customer's messages are tracked side by side.

KPIs: the funnel per day, messages per customer per week (mean and max against the cap), sends
and refusals by channel and reason, next-best-action shares and learned conversion rates, the
cart-recovery journey against its holdout, journey counters, last-touch conversions.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from pathlib import Path
from typing import Any

from promoloop.actors.analytics.experiments import Outcome, in_holdout, readout
from promoloop.actors.cdp import ENGAGE_SOURCE, Subscription, load_audiences
from promoloop.actors.cdp.audiences import PerformedEvent, TraitCondition
from promoloop.actors.events import names
from promoloop.actors.messaging import (
    AdsAudienceDestination,
    Cap,
    DeliveryPolicy,
    EmailDestination,
    MessageLog,
    MessageTemplate,
    SmsDestination,
)
from promoloop.actors.messaging.journeys import (
    STAGES,
    Arm,
    AudienceEntry,
    Branch,
    Case,
    EventEntry,
    Exit,
    ExitOnEvent,
    Journey,
    JourneyActor,
    JourneyEngine,
    NextBestAction,
    PublishCode,
    Send,
    SetTrait,
    StageEntry,
    Wait,
    WaitUntil,
)
from promoloop.actors.promotions import DiscountCampaign
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import DAY, World
from promoloop.actors.storefront import PopulationParams
from promoloop.actors.storefront.population import draw_population
from promoloop.scenarios import html_report
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.loop import PUSH, STOREFRONT, Loop, add_reporter, build_loop, connect
from promoloop.scenarios.progress import ProgressBar

NAME = "journey-orchestration"
DEFAULT_CUSTOMERS = 1_000
DEFAULT_DAYS = 42
TICK = 15 * 60.0
"""The storefront wakes every 15 minutes of sim time (events keep their exact timestamps)."""
JOURNEYS = "journeys"
EMAIL, SMS, ADS = "email", "sms", "ads"
CAP = Cap(max_messages=3, window_days=7)
"""Marketing messages per customer in any 7 days, all channels together."""
CART = "cart recovery"
CART_CAMPAIGN = "cart10"
HOLDOUT_SHARE = 0.2
DO_NOT_EMAIL_SHARE = 0.03
"""Share of customers on the do-not-email list (imported complaints and hard bounces)."""
WINDOW_DAYS = 7
"""Outcomes of a cart-recovery entry (treated or held out) count over this many days."""
SAMPLE_PROFILES = 25

AUDIENCES: list[dict[str, Any]] = [
    {"key": "cart_abandoners", "name": "Added to cart in the last 7 days, no order since",
     "condition": {"type": "and", "conditions": [
         {"type": "performed_event", "event": names.PRODUCT_ADDED, "within_days": 7},
         {"type": "not", "condition": {"type": "performed_after",
                                       "event": names.ORDER_COMPLETED,
                                       "after": names.PRODUCT_ADDED}}]}},
    {"key": "recent_purchasers", "name": "Ordered in the last 3 days",
     "condition": {"type": "performed_event", "event": names.ORDER_COMPLETED,
                   "within_days": 3}},
]  # fmt: skip

TEMPLATES: list[MessageTemplate] = [
    MessageTemplate(
        "welcome_email",
        subject="Welcome, {{ first_name }}!",
        body="Glad to have you. Here is what is new this week.",
        fallbacks={"first_name": "there"},
    ),
    MessageTemplate("discover_push", subject="Take a look", body="New arrivals picked for you."),
    MessageTemplate(
        "new_arrivals_email", subject="New arrivals", body="Fresh picks in your favourite aisles."
    ),
    MessageTemplate("reminder_push", subject="Still thinking?", body="Your picks are waiting."),
    MessageTemplate("retarget_ad", subject="Back in stock", body="The things you looked at."),
    MessageTemplate(
        "cart_reminder_email", subject="You left something", body="Your cart is saved for you."
    ),
    MessageTemplate(
        "cart_offer_email",
        subject="10% off your cart",
        body="Use {{ code }} at checkout, this week only.",
    ),
    MessageTemplate("cart_retarget_ad", subject="Your cart misses you", body="Finish your order."),
    MessageTemplate(
        "thanks_email", subject="Thank you!", body="Here is how to get the most of it."
    ),
    MessageTemplate("loyalty_sms", subject="", body="Thanks for coming back! VIP picks inside."),
]


def journeys() -> list[Journey]:
    """The four journeys (see the module docstring); copy and adapt them."""
    bought = ExitOnEvent(event=names.ORDER_COMPLETED)
    return [
        Journey(
            name="welcome",
            entry=EventEntry(event=names.SIGNED_UP),
            steps=(
                Send(name="welcome", channel=EMAIL, template="welcome_email"),
                WaitUntil(
                    name="browsed?",
                    event=names.PRODUCT_VIEWED,
                    timeout_days=3,
                    on_event="done",
                    on_timeout="discover",
                ),
                Send(name="discover", channel=PUSH, template="discover_push"),
                Exit(name="done"),
            ),
        ),
        Journey(
            name="browse nurture",
            entry=StageEntry(stage="interest"),
            exit_on=(bought,),
            steps=(
                Wait(name="settle", days=1),
                NextBestAction(
                    name="next best action",
                    arms=(
                        Arm(
                            name="email: new arrivals", channel=EMAIL, template="new_arrivals_email"
                        ),
                        Arm(name="push: reminder", channel=PUSH, template="reminder_push"),
                        Arm(name="ads: retargeting", channel=ADS, template="retarget_ad"),
                        Arm(name="do nothing"),
                    ),
                    window_days=7,
                    policy="thompson",
                    context="stage",
                ),
                Wait(name="a week", days=7),
                Branch(
                    name="still visiting?",
                    cases=(
                        Case(
                            when=PerformedEvent(event=names.PRODUCT_VIEWED, within_days=7),
                            goto="next best action",
                        ),
                    ),
                    otherwise="lapsed",
                ),
                Exit(name="lapsed"),
            ),
        ),
        Journey(
            name=CART,
            entry=AudienceEntry(audience="cart_abandoners"),
            exit_on=(bought,),
            reentry="always",  # a new cart after an order is a new abandonment...
            holdout_share=HOLDOUT_SHARE,
            steps=(
                Wait(name="grace", hours=4),
                Send(name="reminder", channel=EMAIL, template="cart_reminder_email"),
                WaitUntil(
                    name="checked out?",
                    event=names.CHECKOUT_STARTED,
                    timeout_days=1,
                    on_event="done",
                    on_timeout="code",
                ),
                PublishCode(name="code", campaign=CART_CAMPAIGN, on_failure="retarget"),
                Send(name="offer", channel=EMAIL, template="cart_offer_email"),
                Wait(name="a day", days=1),
                Send(name="retarget", channel=ADS, template="cart_retarget_ad"),
                Exit(name="done"),
            ),
        ),
        Journey(
            name="post-purchase",
            entry=EventEntry(event=names.ORDER_COMPLETED),
            reentry="after",
            reentry_days=30,
            steps=(
                Wait(name="settle", days=3),
                Branch(
                    name="repeat buyer?",
                    cases=(
                        Case(
                            when=PerformedEvent(event=names.ORDER_COMPLETED, at_least=2),
                            goto="loyalty",
                        ),
                        Case(when=TraitCondition(trait="vip", value=True), goto="loyalty"),
                    ),
                    otherwise="thanks",
                ),
                Send(name="thanks", channel=EMAIL, template="thanks_email", next="mark"),
                Send(name="loyalty", channel=SMS, template="loyalty_sms"),
                SetTrait(name="mark", traits={"post_purchase_contacted": True}),
            ),
        ),
    ]


def _wire(loop: Loop, seed: int) -> tuple[JourneyActor, DeliveryPolicy, MessageLog, list[str]]:
    """Channel destinations on one policy and one log, the journeys actor, the CDP's routes."""
    assert loop.storefront is not None
    # ...but whoever ordered in the last 3 days hears nothing from cart recovery.
    policy = DeliveryPolicy(
        caps=[CAP], suppressed_audiences={CART: frozenset({"recent_purchasers"})}
    )
    # The storefront draws its population when the run starts; the same draw (the same seeds)
    # gives the user ids now, to load the list before anything is sent.
    population = draw_population(loop.storefront.params, loop.world.seeds)
    do_not_email = [
        c.user_id
        for c in population
        if in_holdout(seed, "do-not-email", c.user_id, DO_NOT_EMAIL_SHARE)
    ]
    for user_id in do_not_email:
        policy.suppress(user_id, EMAIL)
    log = MessageLog(attribution_window_days=WINDOW_DAYS)
    add_reporter(loop, EmailDestination(EMAIL, policy=policy, templates=TEMPLATES, log=log))
    add_reporter(loop, SmsDestination(SMS, policy=policy, templates=TEMPLATES, log=log))
    add_reporter(loop, AdsAudienceDestination(ADS, policy=policy, templates=TEMPLATES, log=log))
    push = loop.push  # the loop's push destination, brought under the same policy and log
    push.policy = policy
    push.log = log
    for template in TEMPLATES:
        push.register_template(template)
    engine = JourneyEngine(journeys(), seed=seed, templates={t.name for t in TEMPLATES})
    actor = add_reporter(
        loop,
        JourneyActor(
            JOURNEYS,
            engine=engine,
            destinations={EMAIL: EMAIL, PUSH: PUSH, SMS: SMS, ADS: ADS},
        ),
    )
    model = loop.cdp.model
    # Codes reach customers inside the journeys' own messages: no transactional push of every
    # publication (it would bypass the frequency cap).
    model.subscriptions = [s for s in model.subscriptions if s.destination != PUSH]
    customer_calls = frozenset({STOREFRONT, ENGAGE_SOURCE})
    for destination in (JOURNEYS, EMAIL, PUSH, SMS, ADS):
        model.subscribe(
            Subscription(
                destination=destination,
                sources=customer_calls,
                types=frozenset({"identify", "track"}),
            )
        )
    return actor, policy, log, do_not_email


async def run(config: RunConfig) -> ScenarioResult:
    customers = config.customers or DEFAULT_CUSTOMERS
    days = config.days or DEFAULT_DAYS
    world = World(seed=config.seed)
    loop = build_loop(world, PopulationParams(customers=customers))
    assert loop.storefront is not None
    loop.storefront.tick = TICK
    loop.storefront.arrival_days = float(days) / 2  # sign-ups over the first half of the run
    model = loop.cdp.model
    model.expiry_resolution = TICK
    model.add_audiences(load_audiences(AUDIENCES))
    loop.promotions.model.add_campaign(
        DiscountCampaign(id=CART_CAMPAIGN, name="Cart recovery 10%", discount=Discount.percent(10))
    )
    actor, policy, log, do_not_email = _wire(loop, config.seed)
    world.add(ProgressBar(days, config.progress))

    async with connect(loop, config.transport) as urls:
        await world.run(until=days * DAY)

    kpis = _kpis(loop, actor, policy, log, do_not_email, days)
    profiles = model.profiles()
    busiest = max(
        profiles,
        key=lambda p: (len(log.for_customer(p.user_id or "")), -int(p.id.split("_")[1])),
        default=None,
    )
    return ScenarioResult(
        scenario=NAME,
        config=config,
        summary=world.summary()
        | {"customers": customers, "days": days, "transport": config.transport},
        kpis=kpis,
        profiles=[p.snapshot() for p in profiles[:SAMPLE_PROFILES]],
        highlight=busiest.snapshot() if busiest is not None else None,
        timeline=funnel_table(kpis["funnel"]["daily"]),
        urls=urls,
        timeline_title="funnel: customers who reached each stage, end of each day",
    )


def _kpis(
    loop: Loop,
    actor: JourneyActor,
    policy: DeliveryPolicy,
    log: MessageLog,
    do_not_email: list[str],
    days: int,
) -> dict[str, Any]:
    engine = actor.engine
    report = engine.report()
    assert loop.storefront is not None
    arrived = [c for c in loop.storefront.customers if c.arrived_at >= 0]
    weekly = log.per_customer_per_week()
    week_counts = [n for weeks in weekly.values() for n in weeks.values()]
    weeks = days / 7
    sends = report["sends"]
    refusals: dict[str, int] = {}
    for counts in sends.values():
        for reason, n in counts.items():
            if reason not in ("requested", "sent"):
                refusals[reason] = refusals.get(reason, 0) + n
    unsubscribed: dict[str, int] = {}
    for entry in log:
        for kind, _ in entry.interactions:
            if kind == "unsubscribed":
                unsubscribed[entry.channel] = unsubscribed.get(entry.channel, 0) + 1
    conversions: dict[str, int] = {}
    for conversion in log.conversions:
        conversions[conversion.channel] = conversions.get(conversion.channel, 0) + 1
    return {
        "customers_arrived": len(arrived),
        "journey_steps": report["steps"],
        "funnel": {
            "stages": list(STAGES),
            "daily": [[day, *reached.values()] for day, reached in actor.funnel_series],
            "final": report["funnel"],
        },
        "messages": {
            "total": len(log),
            "by_channel": dict(sorted(log.by_channel().items())),
            "per_customer_per_week": {
                "cap": CAP.max_messages,
                "cap_window_days": CAP.window_days,
                "max": max(week_counts, default=0),
                "mean_when_messaged": (
                    round(statistics.fmean(week_counts), 4) if week_counts else None
                ),
                "mean_per_customer": (
                    round(len(log) / (len(arrived) * weeks), 4) if arrived else None
                ),
            },
            "customers_messaged": len(weekly),
            "do_not_email_list": len(do_not_email),
            "unsubscribes_by_channel": dict(sorted(unsubscribed.items())),
            "last_touch_conversions_by_channel": dict(sorted(conversions.items())),
        },
        "sends": sends,
        "refusals_by_reason": dict(sorted(refusals.items())),
        "policy_refusals": dict(sorted(policy.refusals.items())),
        "publications": report["publications"],
        "journeys": report["journeys"],
        "next_best_action": report["next_best_action"],
        "cart_recovery_vs_holdout": _holdout(loop, engine, days),
    }


def _holdout(loop: Loop, engine: JourneyEngine, days: int) -> dict[str, Any]:
    """Cart recovery's treated entrants against its control: an order within WINDOW_DAYS of
    entering (first entry per customer, whose window closed before the end)."""
    stats = next(s for c, s in zip(engine.journeys, engine.stats, strict=True) if c.name == CART)
    model = loop.cdp.model
    world = loop.world
    seen: set[str] = set()
    outcomes: list[Outcome] = []
    window = WINDOW_DAYS * DAY
    for user, at, treated in stats.assignments:
        if user in seen or at + window > days * DAY:
            continue
        seen.add(user)
        profile = model.find("user_id", user)
        start = world.time.datetime_at(at)
        end = start + timedelta(days=WINDOW_DAYS)
        revenue = cost = 0
        converted = False
        for event in profile.events if profile is not None else ():
            if event.event == names.ORDER_COMPLETED and start < event.timestamp <= end:
                converted = True
                revenue += int(event.properties.get("total_cents", 0))
                cost += int(event.properties.get("discount_cents", 0))
        outcomes.append(Outcome(user, treated, converted, revenue, cost))
    result = readout(outcomes)
    low, high = result.incremental_revenue_ci_cents
    return {
        "holdout_share": HOLDOUT_SHARE,
        "window_days": WINDOW_DAYS,
        "treated": _group(result.treated),
        "holdout": _group(result.holdout),
        "uplift_conversion": round(result.uplift_conversion, 4),
        "incremental_revenue_cents": round(result.incremental_revenue_cents),
        "incremental_revenue_ci_cents": [round(low), round(high)],
        "discount_cost_cents": result.cost_cents,
    }


def _group(stats: Any) -> dict[str, Any]:
    return {
        "customers": stats.customers,
        "conversions": stats.conversions,
        "conversion_rate": round(stats.conversion_rate, 4),
        "revenue_cents": stats.revenue_cents,
        "revenue_per_customer_cents": round(stats.revenue_per_customer_cents),
    }


def funnel_table(daily: list[list[Any]]) -> list[str]:
    """One line per day: customers who had reached each stage by its end."""
    header = "day  " + "  ".join(stage.rjust(9) for stage in STAGES)
    rows = [f"{round(row[0]):>3}  " + "  ".join(str(n).rjust(9) for n in row[1:]) for row in daily]
    return [header, *rows]


def write_html(result: ScenarioResult, directory: Path) -> Path:
    """``report.html``: funnel over time, messages and refusals, next best action, holdout."""
    kpis = result.kpis
    funnel = kpis["funnel"]
    series = {
        stage: [(float(row[0]), float(row[1 + i])) for row in funnel["daily"]]
        for i, stage in enumerate(funnel["stages"])
    }
    messages = kpis["messages"]
    per_week = messages["per_customer_per_week"]
    nba_sections = []
    for key, nba in kpis["next_best_action"].items():
        rows = [
            {"action": arm}
            | {k: v for k, v in row.items() if k != "share"}
            | {"share": row["share"]}
            for arm, row in nba["arms"].items()
        ]
        nba_sections.append((f"Next best action: {key} ({nba['policy']})", html_report.table(rows)))
        nba_sections.append(
            (
                "Action shares",
                html_report.bar_chart(
                    "share of decisions",
                    {a: float(r["share"] or 0.0) for a, r in nba["arms"].items()},
                ),
            )
        )
    holdout = kpis["cart_recovery_vs_holdout"]
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
                        "arrived": kpis["customers_arrived"],
                        "journey steps": kpis["journey_steps"],
                    }
                ]
            ),
        ),
        (
            "Funnel",
            html_report.line_chart("customers who reached each stage", series, y_label="customers"),
        ),
        ("Funnel at the end", html_report.table([funnel["final"]["reached"]])),
        (
            "Messages",
            html_report.table(
                [
                    {
                        "total": messages["total"],
                        "customers messaged": messages["customers_messaged"],
                        "max per customer-week": per_week["max"],
                        "cap": per_week["cap"],
                        "mean per messaged customer-week": per_week["mean_when_messaged"],
                        "mean per customer-week": per_week["mean_per_customer"],
                    }
                ]
            )
            + html_report.bar_chart(
                "messages by channel", {k: float(v) for k, v in messages["by_channel"].items()}
            ),
        ),
        (
            "Refusals by reason",
            html_report.bar_chart(
                "refused sends", {k: float(v) for k, v in kpis["refusals_by_reason"].items()}
            ),
        ),
        (
            "Journeys",
            html_report.table(
                [
                    {"journey": name} | {k: v for k, v in j.items() if k != "step_visits"}
                    for name, j in kpis["journeys"].items()
                ]
            ),
        ),
        *nba_sections,
        (
            "Cart recovery against its holdout",
            html_report.table(
                [
                    {"group": "treated"} | holdout["treated"],
                    {"group": "holdout"} | holdout["holdout"],
                ]
            )
            + html_report.table(
                [
                    {
                        "uplift (conversion)": holdout["uplift_conversion"],
                        "incremental revenue (cents)": holdout["incremental_revenue_cents"],
                        "95% interval": str(holdout["incremental_revenue_ci_cents"]),
                        "discount cost (cents)": holdout["discount_cost_cents"],
                    }
                ]
            ),
        ),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.html"
    path.write_text(html_report.page(f"promoloop: {result.scenario}", sections))
    return path


SCENARIO = Scenario(
    name=NAME,
    summary=(
        "Lifecycle stages, multi-channel journeys under frequency caps and suppression lists, "
        "a next-best-action bandit and a holdout, every message tracked per customer."
    ),
    default_customers=DEFAULT_CUSTOMERS,
    default_days=DEFAULT_DAYS,
    run=run,
    html=write_html,
)
