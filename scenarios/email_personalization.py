"""email-personalization (design.md §1.3): RFM and a points score move customers between
segments in real time; a decision matrix picks each email's content; an A/B test decides which
of two segment definitions, used to target an offer campaign, selects customers who respond
better to it.

1. RFM (the CDP's ready definition) and ``points_score`` (the points actor: +10 an order, +5 an
   email open, −3 per 7 days without activity, 0..100) drive audiences that move people in real
   time; the tier watch records every tier change.
2. The personalizer sends a weekly newsletter and triggered emails (abandoned cart, recent
   purchase); the decision matrix picks the module; the email destination applies the policy
   (at most 2 emails per 7 days, unsubscribes); offer codes are published to the customer.
3. A/B test: customers split 50/50 by a hash of (seed, test, customer); on the campaign day the
   exclusive offer replaces the newsletter for the members of arm A's definition in arm A and
   of arm B's in arm B. Pre-registered primary metric: the conversion rate of each arm's
   campaign recipients (an order within 14 days), two-sided two-proportion z-test, α = 0.05;
   it compares how responsive the audiences each definition selects are, selection included.
   Ground truth: each recipient's hidden P(order | sent the offer), averaged per arm, with a
   2-point minimum. Secondary, descriptive: the intent-to-treat incremental readout over every
   customer of the arm (underpowered at this size), against the hidden extra conversions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promoloop.actors.analytics.experiments import in_holdout
from promoloop.actors.analytics.stages import StageWatch
from promoloop.actors.analytics.tiers import TierWatch
from promoloop.actors.cdp import ENGAGE_SOURCE, Subscription, load_audiences, load_computed_traits
from promoloop.actors.cdp.points import DEFAULT_RULES, POINTS_SCORE, PointsActor, load_points_rules
from promoloop.actors.events import names
from promoloop.actors.messaging.decisions import ContentModule, DecisionMatrix, load_decision_rules
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.messaging.personalizer import Blast, Personalized, Personalizer
from promoloop.actors.messaging.policy import Cap, DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.promotions import CodeConfig
from promoloop.actors.promotions.campaigns import DiscountCampaign
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import DAY, HOUR, World
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.actors.storefront.population import Customer
from promoloop.scenarios import email_personalization_report as report
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.loop import (
    ANALYTICS,
    PROMOTIONS,
    PUSH,
    STOREFRONT,
    Loop,
    add_reporter,
    build_loop,
    connect,
)
from promoloop.scenarios.progress import ProgressBar

NAME = "email-personalization"
DEFAULT_CUSTOMERS = 2_000
DEFAULT_DAYS = 56
TICK = 15 * 60.0
ARRIVAL_DAYS = 7.0
EMAIL, POINTS, PERSONALIZER, TIERS_WATCH = "email", "points", "personalizer", "tiers"
STAGES_WATCH = "stages"

CAP = Cap(max_messages=2, window_days=7, channel="email")
NEWSLETTER_HOUR = 10.0
TRIGGERS = ("abandoned_cart", "recent_purchaser")
TIERS = ("points_cold", "points_warm", "points_hot")
AB_TEST = "offer-targeting"
ARMS = {"A": "engaged_deal_seekers", "B": "rfm_champions"}
"""Each arm's definition of who gets the exclusive offer."""
OUTCOME_DAYS = 14.0
"""The outcome window after the campaign: as long as an offer changes behaviour."""
ALPHA = 0.05
MIN_DIFFERENCE = 0.02
"""Primary metric: the smallest difference in the recipients' true conversion rates worth acting
on (2 points); below it the truth is "no practical difference"."""
MIN_EFFECT = 0.01
"""Secondary (intent to treat): the smallest difference in true extra conversions per customer
of the arm worth acting on (1 point)."""

TRAITS: list[dict[str, Any]] = [
    {"kind": "rfm", "prefix": "rfm", "event": names.ORDER_COMPLETED, "property": "total_cents",
     "window_days": 365, "recency_days": [7, 30, 90, 180]},
    {"key": "favourite_category", "kind": "most_frequent", "event": names.PRODUCT_VIEWED,
     "property": "category", "sync": True},
]  # fmt: skip

AUDIENCES: list[dict[str, Any]] = [
    {"key": "points_cold", "name": "Points: cold (< 10)",
     "condition": {"type": "trait", "trait": POINTS_SCORE, "op": "lt", "value": 10}},
    {"key": "points_warm", "name": "Points: warm (10 to 29)",
     "condition": {"type": "and", "conditions": [
         {"type": "trait", "trait": POINTS_SCORE, "op": "gte", "value": 10},
         {"type": "trait", "trait": POINTS_SCORE, "op": "lt", "value": 30}]}},
    {"key": "points_hot", "name": "Points: hot (30+)",
     "condition": {"type": "trait", "trait": POINTS_SCORE, "op": "gte", "value": 30}},
    {"key": "recent_purchaser", "name": "Bought in the last 7 days",
     "condition": {"type": "performed_event", "event": names.ORDER_COMPLETED, "within_days": 7}},
    {"key": "abandoned_cart", "name": "Added to cart in the last 3 days, no order since",
     "condition": {"type": "and", "conditions": [
         {"type": "performed_event", "event": names.PRODUCT_ADDED, "within_days": 3},
         {"type": "not", "condition": {"type": "performed_after",
                                       "event": names.ORDER_COMPLETED,
                                       "after": names.PRODUCT_ADDED}}]}},
    {"key": "engaged_deal_seekers",
     "name": "Opened an email and added to cart in 30 days, fewer than 2 orders in 30 days",
     "condition": {"type": "and", "conditions": [
         {"type": "performed_event", "event": names.EMAIL_OPENED, "within_days": 30},
         {"type": "performed_event", "event": names.PRODUCT_ADDED, "within_days": 30},
         {"type": "not", "condition": {"type": "performed_event",
                                       "event": names.ORDER_COMPLETED, "at_least": 2,
                                       "within_days": 30}}]}},
    {"key": "rfm_champions", "name": "RFM: ordered in 30 days, 3+ orders and 150+ USD a year",
     "condition": {"type": "and", "conditions": [
         {"type": "trait", "trait": "rfm_recency", "op": "gte", "value": 4},
         {"type": "trait", "trait": "rfm_frequency", "op": "gte", "value": 3},
         {"type": "trait", "trait": "rfm_monetary", "op": "gte", "value": 15_000}]}},
]  # fmt: skip

RECOVERY, EXCLUSIVE = "camp_cart_recovery", "camp_exclusive"
OFFERS = {
    RECOVERY: ("Cart recovery", Discount.percent(15), "BACK-####-####", "15%"),
    EXCLUSIVE: ("Exclusive offer", Discount.percent(20), "VIP-####-####", "20%"),
}
FALLBACKS = {"first_name": "there", "product_recommendation": "our bestsellers"}
MATRIX_ROWS = [
    {"audience": "abandoned_cart", "module": "cart_recovery"},
    {"audience": "recent_purchaser", "module": "new_arrivals"},
]
"""Priority order: an abandoned cart is time-sensitive and its code is the reason to write;
a customer who just bought gets a thank-you with new arrivals; everyone else the newsletter."""


def modules() -> dict[str, ContentModule]:
    """The content library: one template per module, tokens with fallbacks."""

    def module(key: str, subject: str, body: str, offer: str | None = None) -> ContentModule:
        template = MessageTemplate(key, subject=subject, body=body, fallbacks=FALLBACKS)
        return ContentModule(key, template, offer_campaign=offer)

    return {
        "new_arrivals": module(
            "new_arrivals",
            "{{ first_name }}, new arrivals picked for you",
            "Hi {{ first_name }}, thanks for your order! Just in: {{ product_recommendation }}.",
        ),
        "cart_recovery": module(
            "cart_recovery",
            "{{ first_name }}, your cart is waiting",
            "Hi {{ first_name }}, you left something behind. Use {{ code }} for {{ discount }} "
            "off your order.",
            RECOVERY,
        ),
        "exclusive_offer": module(
            "exclusive_offer",
            "An exclusive offer for you, {{ first_name }}",
            "Hi {{ first_name }}, an offer just for you ({{ points_score }} points): "
            "{{ discount }} off with {{ code }}. See {{ product_recommendation }}.",
            EXCLUSIVE,
        ),
        "newsletter": module(
            "newsletter",
            "This week at the store",
            "Hi {{ first_name }}, this week: {{ product_recommendation }}.",
        ),
    }


def matrix() -> DecisionMatrix:
    known = [a["key"] for a in AUDIENCES]
    rows = load_decision_rules(MATRIX_ROWS)
    return DecisionMatrix("emails", rows, default="newsletter", modules=modules(), audiences=known)


def arm_of(seed: int, user_id: str) -> str:
    """A or B, 50/50, deterministic per (seed, test, customer) and independent of arrival."""
    return "B" if in_holdout(seed, AB_TEST, user_id, 0.5) else "A"


MIN_DAYS = 15 + int(OUTCOME_DAYS)
"""The shortest run with an A/B test: a campaign on day 14 and its 14-day window. A shorter
run shows everything else and reports the test as skipped."""


def campaign_at(days: int) -> float:
    """Sim seconds of the campaign: the last weekly newsletter whose 14-day outcome window
    closes within the run (the offer takes that newsletter's place), and no earlier than day 14
    (scores and RFM need two weeks of history)."""
    if days < MIN_DAYS:
        raise ValueError(f"the A/B test needs at least {MIN_DAYS} days, got {days}")
    return (days - OUTCOME_DAYS - 1) // 7 * 7 * DAY + NEWSLETTER_HOUR * HOUR


# -- the referee: hidden truth at the moment of the campaign ---------------------------------


class Referee:
    """Reads the storefront's hidden state when the campaign goes out (the CDP and the
    personalizer never see it): every customer's truth and response segment, who was in each
    definition at that instant, and who was actually sent the offer."""

    def __init__(self, storefront: StorefrontActor) -> None:
        self.storefront = storefront
        self.members: dict[str, set[str]] = {}
        """The personalizer's view of memberships (set when wired)."""
        self.takes: dict[str, float] = {}
        """P(the offer email takes effect): opened and clicked, 0 for a bouncing address."""
        self.buy_offer: dict[str, float] = {}
        """P(an order within the window | an offer from now), the storefront's truth."""
        self.buy_none: dict[str, float] = {}
        """P(an order within the window | no offer)."""
        self.response: dict[str, str] = {}
        self.in_definition: dict[str, list[str]] = {}
        self.reached: set[str] = set()

    def on_send(self, email: Personalized) -> None:
        if email.trigger != AB_TEST:
            return
        if not self.takes:  # the first campaign send: everyone, at one instant
            people = self.storefront.customers
            for c in people:
                self.takes[c.user_id] = _take_probability(c)
                self.buy_offer[c.user_id] = c.true_purchase_probability(
                    email.at, OUTCOME_DAYS, True
                )
                self.buy_none[c.user_id] = c.true_purchase_probability(
                    email.at, OUTCOME_DAYS, False
                )
            self.response = {c.user_id: str(c.hidden.response) for c in people}
            self.in_definition = {
                d: [c.user_id for c in people if d in self.members.get(c.user_id, ())]
                for d in ARMS.values()
            }
        if email.sent:
            self.reached.add(email.user_id)

    def effect(self, user_id: str) -> float:
        """Expected extra conversions from emailing the offer: P(takes effect) × (P(order |
        offer) − P(order | none)); the secondary, intent-to-treat truth."""
        return self.takes[user_id] * (self.buy_offer[user_id] - self.buy_none[user_id])

    def respond(self, user_id: str) -> float:
        """P(an order within the window | sent the offer email): the offer takes effect with
        P(take) and then the offered probability holds, else the unoffered one. The primary
        truth: what a recipient's conversion is expected to be, selection included."""
        take = self.takes[user_id]
        return take * self.buy_offer[user_id] + (1.0 - take) * self.buy_none[user_id]


def _take_probability(c: Customer) -> float:
    """P(an emailed code becomes an offer), as the storefront implements it: the email lands
    unless the address bounces, is opened with ``email_open`` and then clicked with
    ``email_click``, and the click puts the code in the wallet (``_read_email``). The population
    has no method for this product, so it is read from the same hidden fields."""
    return 0.0 if c.hidden.email_bounces else c.hidden.email_open * c.hidden.email_click


# -- wiring ---------------------------------------------------------------------------------------


def _configure(loop: Loop, days: int, referee: Referee) -> Personalizer:
    model = loop.cdp.model
    model.expiry_resolution = TICK
    model.add_computed_traits(load_computed_traits(TRAITS))
    model.add_audiences(load_audiences(AUDIENCES))
    # Codes travel by email (no push route for publications); the engine publishes on request,
    # so it needs identities, not browsing; analytics needs orders and codes. Narrow routes keep
    # the run fast: every routed batch is an actor hop.
    model.subscriptions = [
        s for s in model.subscriptions if s.destination not in (PUSH, PROMOTIONS, ANALYTICS)
    ]
    engage, moves = {ENGAGE_SOURCE}, {names.AUDIENCE_ENTERED, names.AUDIENCE_EXITED}
    routes: list[tuple[str, dict[str, set[str]]]] = [
        (PROMOTIONS, {"sources": {STOREFRONT}, "types": {"identify"}}),
        (ANALYTICS, {"sources": {STOREFRONT, PROMOTIONS}}),
        (POINTS, {"sources": {STOREFRONT, EMAIL}, "types": {"identify", "track", "page"}}),
        (PERSONALIZER, {"sources": {STOREFRONT, ENGAGE_SOURCE, POINTS}, "types": {"identify"}}),
        (PERSONALIZER, {"sources": engage, "events": moves}),
        (TIERS_WATCH, {"sources": engage, "events": {names.AUDIENCE_ENTERED}}),
        (STAGES_WATCH, {"sources": {STOREFRONT}, "types": {"track"}}),
    ]
    for destination, filters in routes:
        frozen = {k: frozenset(v) for k, v in filters.items()}
        model.subscribe(Subscription(destination=destination, **frozen))
    for campaign_id, (title, discount, pattern, _) in OFFERS.items():
        loop.promotions.model.add_campaign(
            DiscountCampaign(
                id=campaign_id,
                name=title,
                discount=discount,
                code_config=CodeConfig(pattern=pattern),
                join_once=False,
                holder_only=True,
            )
        )
    add_reporter(loop, PointsActor(POINTS, config=load_points_rules(DEFAULT_RULES)))
    policy = DeliveryPolicy(caps=[CAP])
    add_reporter(loop, EmailDestination(EMAIL, policy=policy, inbox_target=STOREFRONT))
    seed = loop.world.seed
    blasts = (  # a run too short for the test still shows everything else
        [Blast(AB_TEST, campaign_at(days), "exclusive_offer", ARMS, lambda u: arm_of(seed, u))]
        if days >= MIN_DAYS
        else []
    )
    personalizer = Personalizer(
        PERSONALIZER,
        matrix=matrix(),
        days=days,
        email=EMAIL,
        promotions=PROMOTIONS,
        discounts={campaign_id: offer[3] for campaign_id, offer in OFFERS.items()},
        triggers=TRIGGERS,
        blasts=blasts,
        newsletter_hour=NEWSLETTER_HOUR,
        on_send=referee.on_send,
        campaign=NAME,
    )
    loop.world.add(personalizer)
    referee.members = personalizer.members
    loop.world.add(TierWatch(TIERS_WATCH, tiers=TIERS))
    loop.world.add(StageWatch(STAGES_WATCH))
    return personalizer


@dataclass
class Simulation:
    """A finished run with its actors, for tests and notebooks that look past the KPIs."""

    result: ScenarioResult
    loop: Loop
    personalizer: Personalizer
    referee: Referee


async def run(config: RunConfig) -> ScenarioResult:
    return (await simulate(config)).result


async def simulate(config: RunConfig) -> Simulation:
    customers = config.customers or DEFAULT_CUSTOMERS
    days = config.days or DEFAULT_DAYS
    world = World(seed=config.seed)
    loop = build_loop(world, PopulationParams(customers=customers))
    assert loop.storefront is not None
    loop.storefront.tick = TICK
    loop.storefront.arrival_days = ARRIVAL_DAYS
    referee = Referee(loop.storefront)
    personalizer = _configure(loop, days, referee)
    world.add(ProgressBar(days, config.progress))
    async with connect(loop, config.transport) as urls:
        await world.run(until=days * DAY)
    kpis = _kpis(loop, personalizer, referee, days)
    result = ScenarioResult(
        scenario=NAME,
        config=config,
        summary=world.summary()
        | {"customers": customers, "days": days, "transport": config.transport},
        kpis=kpis,
        profiles=[p.snapshot() for p in loop.cdp.model.profiles()[: report.SAMPLE_PROFILES]],
        highlight=report.highlight(loop, personalizer),
        timeline=report.timeline(kpis),
        timeline_title="segments, emails by module, the A/B test",
        urls=urls,
    )
    return Simulation(result, loop, personalizer, referee)


# -- KPIs -----------------------------------------------------------------------------------------


def _kpis(loop: Loop, personalizer: Personalizer, referee: Referee, days: int) -> dict[str, Any]:
    customers = [c.user_id for c in loop.storefront.customers] if loop.storefront else []
    orders = loop.analytics.orders_by_user
    audiences = [a["key"] for a in AUDIENCES]
    titles = {campaign_id: offer[0] for campaign_id, offer in OFFERS.items()}
    actors = (loop.world.actor(EMAIL), loop.world.actor(POINTS), loop.world.actor(TIERS_WATCH))
    if days < MIN_DAYS:
        ab: dict[str, Any] = {
            "test": AB_TEST,
            "skipped": f"a run of {days} days; the test needs {MIN_DAYS}",
        }
    else:
        seed = loop.world.seed
        design = report.AbDesign(
            name=AB_TEST,
            arms=ARMS,
            arm_of=lambda u: arm_of(seed, u),
            start=campaign_at(days),
            outcome_days=OUTCOME_DAYS,
            alpha=ALPHA,
            min_difference=MIN_DIFFERENCE,
            min_effect=MIN_EFFECT,
        )
        ab = report.ab_readout(design, customers, orders, personalizer.decided, referee)
    return (
        {"scenario": NAME}
        | report.email_kpis(loop, personalizer, *actors, audiences, CAP, titles, days)
        | {"funnel": loop.world.actor(STAGES_WATCH).report(days), "ab_test": ab}
    )


SCENARIO = Scenario(
    name=NAME,
    summary=(
        "RFM and a points score move customers between segments; a decision matrix picks each "
        "email's content under a frequency cap; an A/B test of two offer-targeting definitions."
    ),
    default_customers=DEFAULT_CUSTOMERS,
    default_days=DEFAULT_DAYS,
    run=run,
    html=report.write_html,
)
