"""The population's ground truth: behaviour realises the hidden rates, offers act by segment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
import trio.testing

from promoloop.actors.events import SegmentEvent, Track, names
from promoloop.actors.runtime import DAY, Seeds, World
from promoloop.actors.storefront import PopulationParams, StorefrontActor, draw_population
from promoloop.actors.storefront.population import Response
from promoloop.actors.storefront.rng import CounterRng


class CountingPort:
    def __init__(self) -> None:
        self.orders: Counter[str] = Counter()
        self.events = 0

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        self.events += len(events)
        for e in events:
            if isinstance(e, Track) and e.event == names.ORDER_COMPLETED and e.user_id:
                self.orders[e.user_id] += 1


def test_counter_rng_is_reproducible_uniform_and_independent() -> None:
    a, b, c = CounterRng(1), CounterRng(1), CounterRng(2)
    first = [a.random() for _ in range(20_000)]
    assert first[:50] == [b.random() for _ in range(50)]
    assert first[:50] != [c.random() for _ in range(50)]
    assert all(0.0 <= x < 1.0 for x in first)
    assert sum(first) / len(first) == pytest.approx(0.5, abs=0.01)
    deciles = Counter(int(x * 10) for x in first)
    assert all(1_800 < deciles[d] < 2_200 for d in range(10))
    gauss = [CounterRng(3).gauss(4.0, 2.0) for _ in range(1)]
    assert isinstance(gauss[0], float)


async def test_realised_orders_match_the_hidden_purchase_rates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Without offers, orders per active day come out at the hidden rate (within sampling
    noise), and the customers with the higher hidden rate really do buy more."""
    params = PopulationParams(customers=400, purchase_rate_per_day=0.1, churn_hazard_per_day=0.0)
    world = World(seed=11, record=False)
    storefront = world.add(StorefrontActor(params=params))
    port = CountingPort()
    storefront.tracking = port
    days = 60
    await world.run(until=days * DAY)
    expected = sum(
        c.hidden.purchase_rate_per_day * (days * DAY - c.arrived_at) / DAY
        for c in storefront.customers
    )
    realised = sum(port.orders.values())
    assert realised == pytest.approx(expected, rel=0.12)
    ranked = sorted(storefront.customers, key=lambda c: c.hidden.purchase_rate_per_day)
    low, high = ranked[: len(ranked) // 4], ranked[-len(ranked) // 4 :]
    assert sum(port.orders[c.user_id] for c in high) > 3 * sum(port.orders[c.user_id] for c in low)


def test_segments_and_true_uplift_have_the_documented_signs() -> None:
    people = draw_population(PopulationParams(customers=2_000), Seeds(5))
    shares = Counter(c.hidden.response for c in people)
    assert shares[Response.LOST_CAUSE] / 2_000 == pytest.approx(0.35, abs=0.04)
    for c in people:
        c.arrived_at = 0.0
    uplift = {
        r: [c.true_uplift(DAY, 7) for c in people if c.hidden.response is r] for r in Response
    }
    assert all(u > 0 for u in uplift[Response.PERSUADABLE])
    assert all(u < 0 for u in uplift[Response.SLEEPING_DOG])
    assert all(u == pytest.approx(0.0, abs=1e-12) for u in uplift[Response.SURE_THING])
    for c in people[:50]:
        p7, p30 = c.true_purchase_probability(DAY, 7), c.true_purchase_probability(DAY, 30)
        assert 0.0 <= p7 <= p30 <= 1.0
        assert 0.0 <= c.true_churn_probability(DAY, 30) <= 1.0


def test_a_churned_customer_has_no_purchase_probability() -> None:
    (c,) = draw_population(PopulationParams(customers=1), Seeds(1))
    c.arrived_at, c.churn_at = 0.0, 5 * DAY
    assert c.true_purchase_probability(6 * DAY, 7) == 0.0
    assert c.true_churn_probability(6 * DAY, 30) == 1.0
