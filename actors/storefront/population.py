"""The synthetic customers: hidden propensities drawn from the seed, visible state kept apart.

The propensities are ground truth: the CDP never sees them, only the behaviour they cause, so a
scenario can score what the CDP and the campaigns inferred against what was really there. The
generative model and its parameters are documented in docs/population.md.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
import msgspec.structs

from promoloop.actors.runtime.seeds import Seeds
from promoloop.actors.storefront.rng import CounterRng

FIRST_NAMES = (
    "Michael",
    "Pam",
    "Jim",
    "Dwight",
    "Angela",
    "Oscar",
    "Kevin",
    "Stanley",
    "Phyllis",
    "Kelly",
)
LAST_NAMES = (
    "Scott",
    "Beesly",
    "Halpert",
    "Schrute",
    "Martin",
    "Martinez",
    "Malone",
    "Hudson",
    "Vance",
    "Kapoor",
)
CHANNELS = ("email", "push", "sms")


class Response(StrEnum):
    """A customer's true response to an offer (the four uplift-modelling segments)."""

    PERSUADABLE = "persuadable"
    """Buys more when offered a discount, in proportion to their price sensitivity."""
    SURE_THING = "sure_thing"
    """Buys at a high rate, offer or not: a coupon only costs margin."""
    LOST_CAUSE = "lost_cause"
    """Rarely buys, offer or not."""
    SLEEPING_DOG = "sleeping_dog"
    """An offer puts them off: fewer purchases and a higher churn hazard for a while."""


RESPONSES = tuple(Response)


class PopulationParams(msgspec.Struct, frozen=True, kw_only=True):
    """Knobs of the generative model. Rates are per day; shares and probabilities in 0..1."""

    customers: int = 5
    purchase_rate_per_day: float = 0.05
    """Mean base purchase rate (gamma, shape 2) before the response-segment factor."""
    cart_rate: float = 0.35
    """Probability that a visit puts a product in the cart."""
    checkout_rate: float = 0.7
    """Probability that a cart is checked out by a customer with no price sensitivity."""
    basket_mean_cents: int = 6_000
    price_sensitivity: float = 0.4
    """Mean price sensitivity (beta): abandons carts, and drives a persuadable's response."""
    churn_hazard_per_day: float = 0.01
    """Mean daily churn hazard (gamma, shape 2): a churned customer never comes back."""
    review_propensity: float = 0.3
    """Mean probability of reviewing an order (beta)."""
    email_open_rate: float = 0.25
    email_click_rate: float = 0.3
    """Probability of clicking an opened email."""
    email_bounce_rate: float = 0.01
    """Share of customers whose address hard-bounces (a typo at sign-up, a closed mailbox)."""
    push_tap_rate: float = 0.1
    """Mean probability of tapping a push, before the channel preference."""
    sms_click_rate: float = 0.08
    """Mean probability of clicking the link in a text, before the channel preference."""
    sms_stop_rate: float = 0.02
    """Mean probability of replying STOP to a text; higher for those who dislike SMS."""
    ad_click_rate: float = 0.01
    """Mean probability of clicking an ad served to them (a typical display/social CTR)."""
    response_shares: tuple[float, float, float, float] = (0.30, 0.20, 0.35, 0.15)
    """Shares of persuadables, sure things, lost causes and sleeping dogs."""
    offer_window_days: float = 14.0
    """How long an offer (a message with a code) changes behaviour."""

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError(f"customers must be >= 1, got {self.customers}")
        for name in ("purchase_rate_per_day", "offer_window_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.churn_hazard_per_day < 0:
            raise ValueError(f"churn_hazard_per_day must be >= 0, got {self.churn_hazard_per_day}")
        if self.basket_mean_cents <= 0:
            raise ValueError(f"basket_mean_cents must be > 0, got {self.basket_mean_cents}")
        for name in (
            "cart_rate",
            "checkout_rate",
            "price_sensitivity",
            "review_propensity",
            "email_open_rate",
            "email_click_rate",
            "email_bounce_rate",
            "push_tap_rate",
            "sms_click_rate",
            "sms_stop_rate",
            "ad_click_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.cart_rate == 0 or self.checkout_rate == 0:
            raise ValueError("cart_rate and checkout_rate must be > 0 (nobody could ever buy)")
        shares = self.response_shares
        if len(shares) != 4 or any(s < 0 for s in shares) or not math.isclose(sum(shares), 1.0):
            raise ValueError(
                f"response_shares must be 4 non-negative shares summing to 1, got {shares}"
            )


BASE_FACTOR: dict[Response, float] = {
    Response.PERSUADABLE: 0.6,
    Response.SURE_THING: 1.8,
    Response.LOST_CAUSE: 0.1,
    Response.SLEEPING_DOG: 1.0,
}
"""How each response segment scales the drawn base purchase rate."""

PERSUADABLE_GAIN = 4.0
"""A persuadable's purchase rate under an offer is ×(1 + gain · price sensitivity)."""
SLEEPING_DOG_FACTOR = 0.3
"""A sleeping dog's purchase rate under an offer is ×0.3 ..."""
SLEEPING_DOG_CHURN = 3.0
"""... and its churn hazard ×3."""


class Propensities(msgspec.Struct, frozen=True):
    """Hidden ground truth of one customer."""

    purchase_rate_per_day: float
    """Expected orders per day while active and without an offer."""
    basket_mean_cents: int
    price_sensitivity: float
    churn_hazard_per_day: float
    review_probability: float
    email_open: float
    email_click: float
    channel_preference: tuple[float, float, float]
    """Weights of email, push and sms (sum to 1)."""
    response: Response
    push_tap: float = 0.0
    sms_click: float = 0.0
    sms_stop: float = 0.0
    ad_click: float = 0.0
    email_bounces: bool = False
    """The address hard-bounces: no email ever reaches this customer."""

    @property
    def preferred_channel(self) -> str:
        return CHANNELS[max(range(3), key=lambda i: self.channel_preference[i])]

    def channel_weight(self, channel: str) -> float:
        """How much more (>1) or less (<1) than average this customer engages on ``channel``:
        three times its preference weight, so the population's mean weight is 1."""
        return 3.0 * self.channel_preference[CHANNELS.index(channel)]

    def tap_probability(self) -> float:
        return min(1.0, self.push_tap * self.channel_weight("push"))

    def sms_click_probability(self) -> float:
        return min(1.0, self.sms_click * self.channel_weight("sms"))

    def sms_stop_probability(self) -> float:
        """Those who dislike texts stop them sooner: up to five times the base rate."""
        return min(1.0, self.sms_stop / max(self.channel_weight("sms"), 0.2))


class Product(msgspec.Struct, frozen=True):
    product_id: str
    name: str
    category: str
    price_cents: int


CATEGORIES = {"Shoes": "Sneaker", "Outerwear": "Jacket", "Bags": "Tote", "Accessories": "Scarf"}


def catalog(rng: random.Random, size: int = 24) -> list[Product]:
    categories = list(CATEGORIES.items())
    products = []
    for i in range(size):
        category, item = categories[i % len(categories)]
        price = rng.randrange(1_500, 12_000, 100)
        products.append(Product(f"sku-{i:04d}", f"{item} #{i}", category, price))
    return products


@dataclass(slots=True)
class Customer:
    index: int
    user_id: str
    anonymous_id: str
    email: str
    phone: str
    first_name: str
    last_name: str
    hidden: Propensities
    rng: CounterRng
    visit_rate_per_day: float
    arrived_at: float = -1.0
    churn_at: float = math.inf
    signed_up: bool = False
    orders: int = 0
    wallet: list[str] = field(default_factory=list)
    offer_until: float = -1.0
    """Sim second until which the last offer changes behaviour."""

    def active(self, now: float) -> bool:
        return 0 <= self.arrived_at <= now < self.churn_at

    def offered(self, now: float) -> bool:
        return now < self.offer_until

    def offer_effect(self) -> tuple[float, float]:
        """(purchase-rate factor, churn-hazard factor) while an offer is in effect."""
        response = self.hidden.response
        if response is Response.PERSUADABLE:
            return 1.0 + PERSUADABLE_GAIN * self.hidden.price_sensitivity, 1.0
        if response is Response.SLEEPING_DOG:
            return SLEEPING_DOG_FACTOR, SLEEPING_DOG_CHURN
        return 1.0, 1.0

    def rates(self, now: float, offered: bool | None = None) -> tuple[float, float]:
        """(purchases per day, churn hazard per day) right now; ``offered`` overrides whether
        an offer is in effect (for the counterfactuals behind the true uplift)."""
        if not self.active(now):
            return 0.0, 0.0
        purchase, churn = self.hidden.purchase_rate_per_day, self.hidden.churn_hazard_per_day
        if self.offered(now) if offered is None else offered:
            gain, churn_gain = self.offer_effect()
            return purchase * gain, churn * churn_gain
        return purchase, churn

    # -- ground truth -----------------------------------------------------------------------
    def true_purchase_probability(
        self, now: float, horizon_days: float, offered: bool | None = None
    ) -> float:
        """P(at least one order within the horizon), purchases and churn being competing
        Poisson processes at today's rates: r/(r+h)·(1 − e^{−(r+h)H})."""
        r, h = self.rates(now, offered)
        if r == 0.0:
            return 0.0
        return r / (r + h) * (1.0 - math.exp(-(r + h) * horizon_days))

    def true_churn_probability(self, now: float, horizon_days: float) -> float:
        """P(churned by the end of the horizon)."""
        if self.arrived_at >= 0 and now >= self.churn_at:
            return 1.0
        _, h = self.rates(now) if self.active(now) else (0.0, self.hidden.churn_hazard_per_day)
        return 1.0 - math.exp(-h * horizon_days)

    def true_uplift(self, now: float, horizon_days: float) -> float:
        """P(buy within the horizon | offered now) − P(buy | not offered)."""
        return self.true_purchase_probability(now, horizon_days, True) - (
            self.true_purchase_probability(now, horizon_days, False)
        )


def _beta_around(rng: random.Random, mean: float, concentration: float = 8.0) -> float:
    if mean <= 0.0:
        return 0.0
    if mean >= 1.0:
        return 1.0
    return rng.betavariate(concentration * mean, concentration * (1.0 - mean))


def draw_customer(index: int, params: PopulationParams, seeds: Seeds) -> Customer:
    """Customer ``index``'s hidden propensities and identity, from its own stream only."""
    rng = seeds.rng(f"customer/{index}")  # drawing only: discarded after
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    response = rng.choices(RESPONSES, weights=params.response_shares)[0]
    base_factor = BASE_FACTOR[response]
    purchase_rate = rng.gammavariate(2.0, params.purchase_rate_per_day / 2.0) * base_factor
    sensitivity = _beta_around(rng, params.price_sensitivity, 4.0)
    conversion = params.cart_rate * params.checkout_rate * (1.0 - 0.5 * sensitivity)
    weights = [rng.gammavariate(1.0, 1.0) for _ in CHANNELS]
    total = sum(weights)
    hidden = Propensities(
        purchase_rate_per_day=purchase_rate,
        basket_mean_cents=max(500, int(rng.lognormvariate(0, 0.4) * params.basket_mean_cents)),
        price_sensitivity=sensitivity,
        churn_hazard_per_day=(
            rng.gammavariate(2.0, params.churn_hazard_per_day / 2.0)
            if params.churn_hazard_per_day
            else 0.0
        ),
        review_probability=_beta_around(rng, params.review_propensity),
        email_open=_beta_around(rng, params.email_open_rate),
        email_click=_beta_around(rng, params.email_click_rate),
        channel_preference=(weights[0] / total, weights[1] / total, weights[2] / total),
        response=response,
    )
    # Drawn last, so adding them left every earlier draw (and existing runs) where it was.
    hidden = msgspec.structs.replace(
        hidden,
        push_tap=_beta_around(rng, params.push_tap_rate),
        sms_click=_beta_around(rng, params.sms_click_rate),
        sms_stop=_beta_around(rng, params.sms_stop_rate),
        ad_click=_beta_around(rng, params.ad_click_rate),
        email_bounces=rng.random() < params.email_bounce_rate,
    )
    return Customer(
        index=index,
        user_id=f"user-{index:06d}",
        anonymous_id=f"anon-{seeds.derive(f'anonymous/{index}'):016x}",
        email=f"{first.lower()}.{last.lower()}.{index}@example.com",
        phone=f"+1555{index:07d}",  # 555: the range reserved for fiction
        first_name=first,
        last_name=last,
        hidden=hidden,
        rng=CounterRng(seeds.derive(f"customer/{index}/life")),
        visit_rate_per_day=purchase_rate / conversion,
    )


def draw_population(params: PopulationParams, seeds: Seeds) -> list[Customer]:
    return [draw_customer(i, params, seeds) for i in range(params.customers)]
