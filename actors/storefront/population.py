"""The synthetic customers: hidden propensities drawn from the seed, visible state kept apart.

The propensities are ground truth: the CDP never sees them, only the behaviour they cause, so a
scenario can score what the CDP and the campaigns inferred against what was really there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import msgspec

from promoloop.actors.runtime.seeds import Seeds

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


class PopulationParams(msgspec.Struct, frozen=True, kw_only=True):
    """Knobs of the generative model (documented in docs/population.md)."""

    customers: int = 5
    purchase_rate_per_day: float = 0.15
    """Mean of the customers' base purchase rates (gamma distributed, shape 2)."""
    basket_mean_cents: int = 6_000
    review_propensity: float = 0.6
    """Mean probability that a customer reviews an order (beta distributed)."""
    push_nudge: float = 2.0
    """How much a push with a reward multiplies the customer's purchase rate for a while."""

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError(f"customers must be >= 1, got {self.customers}")
        if self.purchase_rate_per_day <= 0:
            raise ValueError(f"purchase_rate_per_day must be > 0, got {self.purchase_rate_per_day}")
        if self.basket_mean_cents <= 0:
            raise ValueError(f"basket_mean_cents must be > 0, got {self.basket_mean_cents}")
        if not 0.0 <= self.review_propensity <= 1.0:
            raise ValueError(f"review_propensity must be within 0..1, got {self.review_propensity}")
        if self.push_nudge < 1.0:
            raise ValueError(f"push_nudge must be >= 1, got {self.push_nudge}")


class Propensities(msgspec.Struct, frozen=True):
    purchase_rate_per_day: float
    basket_mean_cents: int
    review_probability: float


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
    first_name: str
    last_name: str
    hidden: Propensities
    rng: random.Random
    signed_up: bool = False
    orders: int = 0
    wallet: list[str] = field(default_factory=list)
    nudged_until: float = -1.0


def draw_population(params: PopulationParams, seeds: Seeds) -> list[Customer]:
    out = []
    for i in range(params.customers):
        rng = seeds.rng(f"customer/{i}")
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        mean_review = params.review_propensity
        review = rng.betavariate(8 * mean_review + 0.01, 8 * (1 - mean_review) + 0.01)
        hidden = Propensities(
            purchase_rate_per_day=rng.gammavariate(2.0, params.purchase_rate_per_day / 2.0),
            basket_mean_cents=max(500, int(rng.lognormvariate(0, 0.4) * params.basket_mean_cents)),
            review_probability=review,
        )
        out.append(
            Customer(
                index=i,
                user_id=f"user-{i:06d}",
                anonymous_id=f"anon-{seeds.derive(f'anonymous/{i}'):016x}",
                email=f"{first.lower()}.{last.lower()}.{i}@example.com",
                first_name=first,
                last_name=last,
                hidden=hidden,
                rng=rng,
            )
        )
    return out
