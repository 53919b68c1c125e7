"""journey-orchestration: caps hold, suppression and unsubscribes are honoured, the funnel is
monotone, the next best action and the holdout are reported, same seed ⇒ same KPIs, CLI run."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from promoloop.actors.analytics.experiments import in_holdout
from promoloop.actors.events import names
from promoloop.actors.messaging.journeys import STAGES
from promoloop.actors.runtime import virtual_clock
from promoloop.actors.storefront import actor as storefront_actor
from promoloop.scenarios import cli, journey_orchestration, registry
from promoloop.scenarios.base import RunConfig, ScenarioResult
from promoloop.scenarios.journey_orchestration import (
    CAP,
    CART,
    DO_NOT_EMAIL_SHARE,
    NAME,
    TICK,
    run,
)
from promoloop.scenarios.report import to_json

CUSTOMERS, DAYS = 150, 21


class Capture:
    """Runs the scenario and keeps the world's actors (the test reads their logs)."""

    def __init__(self) -> None:
        self.loop: Any = None

    async def run(self, config: RunConfig) -> ScenarioResult:
        original = journey_orchestration.build_loop

        def build(*args: Any, **kwargs: Any) -> Any:
            self.loop = original(*args, **kwargs)
            return self.loop

        journey_orchestration.build_loop = build  # type: ignore[assignment]
        try:
            return await run(config)
        finally:
            journey_orchestration.build_loop = original  # type: ignore[assignment]


@pytest.fixture(scope="module")
def captured() -> tuple[ScenarioResult, Any]:
    """One run, with unsubscribing made common (30 % of read emails instead of 1 %) so that a
    small population exercises the consent rule."""
    capture = Capture()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storefront_actor, "UNSUBSCRIBE_RATE", 0.3)
        result = trio.run(
            capture.run, RunConfig(seed=5, customers=CUSTOMERS, days=DAYS), clock=virtual_clock()
        )
    return result, capture.loop


def test_no_customer_exceeds_the_cap_in_any_window(captured: tuple[ScenarioResult, Any]) -> None:
    result, loop = captured
    log = loop.world.actors["email"].log
    assert len(log) > 0
    window = timedelta(days=CAP.window_days)
    by_user: dict[str, list[Any]] = {}
    for entry in log:
        by_user.setdefault(entry.user_id, []).append(entry.sent_at)
    for user, times in by_user.items():
        times.sort()
        for i, start in enumerate(times):
            inside = [t for t in times[i:] if t - start < window]
            assert len(inside) <= CAP.max_messages, user
    per_week = result.kpis["messages"]["per_customer_per_week"]
    assert per_week["max"] <= per_week["cap"] == CAP.max_messages
    assert result.kpis["refusals_by_reason"]["frequency_cap"] > 0  # the cap did bite


def test_every_channel_shares_the_log_and_the_policy(captured: tuple[ScenarioResult, Any]) -> None:
    result, loop = captured
    actors = loop.world.actors
    logs = {id(actors[name].log) for name in ("email", "push", "sms", "ads")}
    policies = {id(actors[name].policy) for name in ("email", "push", "sms", "ads")}
    assert len(logs) == 1 and len(policies) == 1
    by_channel = result.kpis["messages"]["by_channel"]
    assert set(by_channel) == {"email", "push", "sms", "ads"}
    journeys = actors["journeys"]
    assert sum(r.sent for r in journeys.log) == len(actors["email"].log)  # every send a journey's


def test_suppressed_and_unsubscribed_receive_nothing_on_that_channel(
    captured: tuple[ScenarioResult, Any],
) -> None:
    result, loop = captured
    log = loop.world.actors["email"].log
    do_not_email = {
        f"user-{i:06d}"
        for i in range(CUSTOMERS)
        if in_holdout(5, "do-not-email", f"user-{i:06d}", DO_NOT_EMAIL_SHARE)
    }
    assert do_not_email and result.kpis["messages"]["do_not_email_list"] == len(do_not_email)
    emailed = {e.user_id for e in log if e.channel == "email"}
    assert not emailed & do_not_email
    assert result.kpis["refusals_by_reason"]["suppressed"] > 0
    # unsubscribes: nothing on that channel once the provider heard it (within a tick)
    stopped = [
        (entry.user_id, entry.channel, at)
        for entry in log
        for kind, at in entry.interactions
        if kind == "unsubscribed"
    ]
    assert stopped and result.kpis["refusals_by_reason"]["unsubscribed"] > 0
    for user, channel, at in stopped:
        later = [
            e
            for e in log.for_customer(user)
            if e.channel == channel and e.sent_at > at + timedelta(seconds=TICK)
        ]
        assert later == [], (user, channel)
    # recent purchasers are suppressed from cart recovery (beyond the storefront's flush lag)
    cdp = loop.cdp.model
    for entry in log:
        if entry.campaign != CART:
            continue
        profile = cdp.find("user_id", entry.user_id)
        orders = [e.timestamp for e in profile.events if e.event == names.ORDER_COMPLETED]
        lag = timedelta(seconds=TICK)  # an order reaches the CDP at the storefront's next tick
        recent = [t for t in orders if entry.sent_at - timedelta(days=3) < t <= entry.sent_at - lag]
        assert recent == [], entry.user_id


def test_the_funnel_is_monotone_across_stages_and_over_time(
    captured: tuple[ScenarioResult, Any],
) -> None:
    result, _ = captured
    funnel = result.kpis["funnel"]
    assert funnel["stages"] == list(STAGES)
    daily = funnel["daily"]
    assert [row[0] for row in daily] == [float(d) for d in range(1, DAYS + 1)]
    for row in daily:
        reached = row[1:]
        assert all(a >= b for a, b in itertools.pairwise(reached)), row
    for before, after in itertools.pairwise(daily):
        assert all(a <= b for a, b in zip(before[1:], after[1:], strict=True))
    final = funnel["final"]["reached"]
    assert list(final.values()) == daily[-1][1:]  # the last snapshot is at the end
    assert final["awareness"] == result.kpis["customers_arrived"]
    assert final["purchase"] > 0
    assert sum(funnel["final"]["current"].values()) == final["awareness"]


def test_next_best_action_and_holdout_are_reported(captured: tuple[ScenarioResult, Any]) -> None:
    result, loop = captured
    nba = result.kpis["next_best_action"]["browse nurture/next best action"]
    arms = nba["arms"]
    assert set(arms) == {"email: new arrivals", "push: reminder", "ads: retargeting", "do nothing"}
    assert sum(a["pulls"] for a in arms.values()) == nba["decisions"] > 0
    assert sum(a["share"] for a in arms.values()) == pytest.approx(1.0, abs=0.01)
    assert set(nba["by_context"]) <= {"interest", "intent"}
    holdout = result.kpis["cart_recovery_vs_holdout"]
    assert holdout["treated"]["customers"] > holdout["holdout"]["customers"] > 0
    cart = result.kpis["journeys"][CART]
    assert cart["held_out"] > 0 and cart["entered"] > cart["held_out"]
    journeys = loop.world.actors["journeys"]
    stats = journeys.engine.stats[[j.name for j in journeys.engine.journeys].index(CART)]
    held_out = {u for u, _, treated in stats.assignments if not treated}
    log = loop.world.actors["email"].log
    cart_recipients = {e.user_id for e in log if e.campaign == CART}
    assert held_out and cart_recipients and not held_out & cart_recipients
    offers = [e for e in log if e.step == "offer"]
    assert offers and all(e.code and e.code in e.body for e in offers)


def test_same_seed_same_kpis() -> None:
    first, second = (
        trio.run(run, RunConfig(seed=11, customers=60, days=14), clock=virtual_clock())
        for _ in range(2)
    )
    assert to_json(first.kpis) == to_json(second.kpis)
    assert first.summary["log_digest"] == second.summary["log_digest"]


def test_registered_and_runnable_from_the_cli(tmp_path: Path) -> None:
    assert registry.get(NAME).name == NAME
    code = cli.main(
        ["run", NAME, "--customers", "40", "--days", "8", "--seed", "2", "--report", str(tmp_path)]
    )
    assert code == 0
    kpis = json.loads((tmp_path / "kpis.json").read_text())
    assert kpis["scenario"] == NAME and kpis["messages"]["per_customer_per_week"]["cap"] == 3
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "Funnel" in html and "<svg" in html
