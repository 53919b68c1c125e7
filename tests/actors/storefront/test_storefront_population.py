"""The synthetic population: reproducible from the seed, validated parameters."""

from __future__ import annotations

from typing import Any

import pytest

from promoloop.actors.runtime import Seeds
from promoloop.actors.storefront import Customer, PopulationParams, draw_population


def fingerprint(customer: Customer) -> tuple[Any, ...]:
    """Everything drawn for a customer, plus the next number of their own random stream."""
    return (
        customer.index,
        customer.user_id,
        customer.anonymous_id,
        customer.email,
        customer.first_name,
        customer.last_name,
        customer.hidden,
        customer.rng.random(),
    )


def test_same_seed_same_population() -> None:
    """Two draws with the same seed are identical, down to each customer's random stream."""
    params = PopulationParams(customers=25)
    first = [fingerprint(c) for c in draw_population(params, Seeds(7))]
    second = [fingerprint(c) for c in draw_population(params, Seeds(7))]
    assert first == second


def test_other_seed_other_population() -> None:
    """Another seed changes hidden propensities and anonymous ids (user ids are positional)."""
    params = PopulationParams(customers=25)
    a = draw_population(params, Seeds(7))
    b = draw_population(params, Seeds(8))
    assert [c.user_id for c in a] == [c.user_id for c in b]
    assert [c.hidden for c in a] != [c.hidden for c in b]
    assert not {c.anonymous_id for c in a} & {c.anonymous_id for c in b}


def test_customers_do_not_shift_when_the_population_grows() -> None:
    """Customer i is the same whether 5 or 50 customers are drawn (streams split by name)."""
    small = draw_population(PopulationParams(customers=5), Seeds(3))
    large = draw_population(PopulationParams(customers=50), Seeds(3))
    assert [fingerprint(c) for c in small] == [fingerprint(c) for c in large[:5]]


def test_population_shape() -> None:
    """Ids are unique and well-formed; hidden propensities are in range."""
    people = draw_population(
        PopulationParams(customers=200, review_propensity=0.6, basket_mean_cents=6000), Seeds(1)
    )
    assert [c.user_id for c in people] == [f"user-{i:06d}" for i in range(200)]
    assert len({c.anonymous_id for c in people}) == 200
    assert len({c.email for c in people}) == 200
    for c in people:
        assert c.anonymous_id.startswith("anon-") and len(c.anonymous_id) == 21
        assert c.hidden.purchase_rate_per_day > 0
        assert 0.0 <= c.hidden.review_probability <= 1.0
        assert type(c.hidden.basket_mean_cents) is int and c.hidden.basket_mean_cents >= 500
        assert (c.wallet, c.orders, c.signed_up) == ([], 0, False)
    mean_review = sum(c.hidden.review_probability for c in people) / len(people)
    assert 0.5 < mean_review < 0.7  # beta around the configured mean


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customers", 0),
        ("customers", -3),
        ("purchase_rate_per_day", 0.0),
        ("purchase_rate_per_day", -0.1),
        ("basket_mean_cents", 0),
        ("basket_mean_cents", -100),
        ("review_propensity", -0.01),
        ("review_propensity", 1.01),
        ("cart_rate", 1.5),
        ("churn_hazard_per_day", -0.1),
        ("email_open_rate", 2.0),
        ("offer_window_days", 0.0),
        ("response_shares", (0.5, 0.5, 0.5, 0.5)),
        ("response_shares", (1.0, 0.0, 0.0)),
    ],
)
def test_invalid_parameters_name_the_parameter(field: str, value: object) -> None:
    """Each out-of-range knob raises ValueError whose message names that knob."""
    with pytest.raises(ValueError, match=rf"^{field} must"):
        PopulationParams(**{field: value})


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_review_propensity_bounds_are_inclusive(value: float) -> None:
    """0 and 1 are valid review propensities (never / always)."""
    assert PopulationParams(review_propensity=value).review_propensity == value
