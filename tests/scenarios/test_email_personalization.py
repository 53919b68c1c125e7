"""email-personalization end to end: points and tiers, the decision matrix's choices and codes,
the frequency cap and unsubscribes, the A/B test of targeting definitions against the hidden
truth (primary: conversion of each arm's campaign recipients; secondary: intent to treat over every
customer of each arm), determinism, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import trio

from promoloop.actors.analytics.ab_test import decide, two_proportion_z_test
from promoloop.actors.cdp.points import POINTS_SCORE, PointsActor
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.runtime import DAY, virtual_clock
from promoloop.scenarios.base import RunConfig, ScenarioResult
from promoloop.scenarios.cli import main
from promoloop.scenarios.email_personalization import (
    AB_TEST,
    ARMS,
    CAP,
    DEFAULT_CUSTOMERS,
    DEFAULT_DAYS,
    EXCLUSIVE,
    MIN_DIFFERENCE,
    OUTCOME_DAYS,
    RECOVERY,
    Simulation,
    arm_of,
    campaign_at,
    matrix,
    run,
    simulate,
)
from promoloop.scenarios.email_personalization_report import write_html


def _run(**config: Any) -> ScenarioResult:
    return trio.run(run, RunConfig(**config), clock=virtual_clock())


@pytest.fixture(scope="module")
def default() -> Simulation:
    """The scenario at its default seed and size (what the documented figures are about)."""
    return trio.run(simulate, RunConfig(seed=7), clock=virtual_clock())


def test_default_run_has_the_documented_size(default: Simulation) -> None:
    summary, kpis = default.result.summary, default.result.kpis
    assert (summary["customers"], summary["days"]) == (DEFAULT_CUSTOMERS, DEFAULT_DAYS)
    assert kpis["events"] > DEFAULT_CUSTOMERS * 20
    assert kpis["orders"] > DEFAULT_CUSTOMERS


def _converted(default: Simulation, user_id: str) -> bool:
    """An order within the outcome window after the campaign, from the analytics actor."""
    start = campaign_at(DEFAULT_DAYS)
    orders = default.loop.analytics.orders_by_user.get(user_id, ())
    return any(start < o[0] <= start + OUTCOME_DAYS * DAY for o in orders)


def _recipients(default: Simulation) -> dict[str, list[str]]:
    """Per arm, the customers the campaign decided for and actually sent (not refused)."""
    campaign = [p for p in default.personalizer.decided if p.trigger == AB_TEST]
    return {arm: [p.user_id for p in campaign if p.arm == arm and p.sent] for arm in ARMS}


def test_primary_readout_counts_each_arms_campaign_recipients(default: Simulation) -> None:
    """The primary metric is per recipient: recounted from the personalizer's sends and the
    orders; z and p are recomputed from the recipient counts written to kpis.json."""
    primary = default.result.kpis["ab_test"]["primary"]
    recipients = _recipients(default)
    for arm, definition in ARMS.items():
        a = primary["arms"][arm]
        converted = sum(_converted(default, u) for u in recipients[arm])
        assert (a["definition"], a["recipients"], a["conversions"]) == (
            definition,
            len(recipients[arm]),
            converted,
        )
        assert 0 < a["recipients"] <= a["targeted"]
        assert set(recipients[arm]) <= default.referee.reached
    a, b = primary["arms"]["A"], primary["arms"]["B"]
    z = two_proportion_z_test(a["conversions"], a["recipients"], b["conversions"], b["recipients"])
    pooled = (a["conversions"] + b["conversions"]) / (a["recipients"] + b["recipients"])
    se = math.sqrt(pooled * (1 - pooled) * (1 / a["recipients"] + 1 / b["recipients"]))
    by_hand = (a["conversions"] / a["recipients"] - b["conversions"] / b["recipients"]) / se
    assert primary["z"] == pytest.approx(by_hand, abs=1e-4)
    assert primary["z"] == pytest.approx(z.statistic, abs=1e-4)
    assert primary["p_value"] == pytest.approx(math.erfc(abs(by_hand) / math.sqrt(2)), rel=1e-2)
    assert primary["difference"] == pytest.approx(z.difference, abs=1e-4)
    assert primary["decision"] == decide(z, default.result.kpis["ab_test"]["alpha"])
    assert primary["detectable_difference"] == pytest.approx(2.8016 * se, rel=1e-3)


def test_primary_decision_matches_the_ground_truth(default: Simulation) -> None:
    """The truth is recomputed from the referee's hidden probabilities of each recipient:
    P(take) P(order | offer) + (1 - P(take)) P(order | none). At the default seed the test
    decides for an arm (not "none"), that arm is the truth's winner, and the measured difference
    lies within three standard errors of the true one."""
    referee = default.referee
    people = {c.user_id: c for c in default.loop.storefront.customers}  # type: ignore[union-attr]
    primary = default.result.kpis["ab_test"]["primary"]
    true_rate = {}
    for arm, users in _recipients(default).items():
        for u in users:  # P(take) is the storefront's open-then-click, nothing through a bounce
            hidden = people[u].hidden
            assert referee.takes[u] == (
                0.0 if hidden.email_bounces else hidden.email_open * hidden.email_click
            )
            assert 0.0 <= referee.buy_none[u] <= 1.0 and 0.0 <= referee.buy_offer[u] <= 1.0
        respond = [
            referee.takes[u] * referee.buy_offer[u] + (1 - referee.takes[u]) * referee.buy_none[u]
            for u in users
        ]
        true_rate[arm] = sum(respond) / len(users)
        assert primary["arms"][arm]["true_conversion_rate"] == pytest.approx(
            true_rate[arm], abs=1e-4
        )
    gap = true_rate["A"] - true_rate["B"]
    truth = primary["ground_truth"]
    assert truth["min_difference"] == MIN_DIFFERENCE
    assert truth["expected_difference"] == pytest.approx(gap, abs=1e-4)
    expected = ("A" if gap > 0 else "B") if abs(gap) >= MIN_DIFFERENCE else "none"
    assert truth["winner"] == expected
    assert primary["decision"] != "none"
    assert primary["decision"] == truth["winner"] and primary["match"] is True
    a, b = primary["arms"]["A"], primary["arms"]["B"]
    se = math.sqrt(
        a["conversion_rate"] * (1 - a["conversion_rate"]) / a["recipients"]
        + b["conversion_rate"] * (1 - b["conversion_rate"]) / b["recipients"]
    )
    assert abs(primary["difference"] - gap) < 3 * se


def test_secondary_itt_readout_is_over_every_customer(default: Simulation) -> None:
    """The secondary readout counts every customer of each arm, targeted or not; z and the
    decision are recomputed from those counts."""
    itt = default.result.kpis["ab_test"]["secondary_itt"]
    users = [c.user_id for c in default.loop.storefront.customers]  # type: ignore[union-attr]
    assert default.result.kpis["ab_test"]["campaign_day"] == pytest.approx(
        campaign_at(DEFAULT_DAYS) / DAY
    )
    counts = {}
    for arm, definition in ARMS.items():
        members = [u for u in users if arm_of(7, u) == arm]
        converted = sum(_converted(default, u) for u in members)
        a = itt["arms"][arm]
        assert (a["definition"], a["customers"], a["conversions"]) == (
            definition,
            len(members),
            converted,
        )
        assert 0 < a["offers_sent"] < a["customers"]
        counts[arm] = (converted, len(members))
    assert sum(n for _, n in counts.values()) == DEFAULT_CUSTOMERS
    z = two_proportion_z_test(*counts["A"], *counts["B"])
    assert itt["z"] == pytest.approx(z.statistic, abs=1e-4)
    assert itt["p_value"] == pytest.approx(z.p_value, rel=1e-2)
    assert itt["difference"] == pytest.approx(z.difference, abs=1e-4)
    assert itt["decision"] == decide(z, default.result.kpis["ab_test"]["alpha"])


def test_secondary_itt_truth_and_its_power(default: Simulation) -> None:
    """The incremental truth is recomputed from the referee's hidden effects of the emails each
    arm sent, per customer of the arm; the measured difference agrees with it within three
    standard errors, and the power note says "underpowered" exactly when the true difference is
    below what the test detects."""
    itt = default.result.kpis["ab_test"]["secondary_itt"]
    referee = default.referee
    per_customer = {}
    for arm, users in _recipients(default).items():
        a = itt["arms"][arm]
        assert len(users) == a["offers_sent"]
        effects = [referee.takes[u] * (referee.buy_offer[u] - referee.buy_none[u]) for u in users]
        per_customer[arm] = sum(effects) / a["customers"]
        assert a["true_extra_per_customer"] == pytest.approx(per_customer[arm], abs=1e-4)
    gap = per_customer["A"] - per_customer["B"]
    truth = itt["ground_truth"]
    assert truth["expected_difference"] == pytest.approx(gap, abs=1e-4)
    expected = ("A" if gap > 0 else "B") if abs(gap) >= truth["min_effect"] else "none"
    assert truth["winner"] == expected and itt["match"] == (itt["decision"] == expected)
    rate = sum(a["conversions"] for a in itt["arms"].values()) / DEFAULT_CUSTOMERS
    n_a, n_b = itt["arms"]["A"]["customers"], itt["arms"]["B"]["customers"]
    se = math.sqrt(rate * (1 - rate) * (1 / n_a + 1 / n_b))
    assert abs(itt["difference"] - gap) < 3 * se
    assert itt["detectable_difference"] == pytest.approx(2.8016 * se, rel=1e-3)
    assert itt["power"] == (
        "underpowered" if abs(gap) < itt["detectable_difference"] else "powered"
    )
    assert itt["power_note"].startswith(itt["power"])


def test_the_definitions_pick_different_customers(default: Simulation) -> None:
    """By the hidden truth, the RFM definition is mostly sure things (who buy anyway) and the
    engaged definition holds more persuadables: the primary metric (responsiveness, selection
    included) and the incremental effect point different ways, which is why both are shown."""
    picks = default.result.kpis["ab_test"]["definitions"]
    engaged, rfm = picks[ARMS["A"]], picks[ARMS["B"]]

    def share(pick: dict[str, Any], response: str) -> float:
        return pick["by_response"].get(response, 0) / pick["members"]

    assert share(rfm, "sure_thing") > 2 * share(engaged, "sure_thing")
    assert share(engaged, "persuadable") > share(rfm, "persuadable")
    assert engaged["mean_true_effect"] > rfm["mean_true_effect"]
    # ... while the sure things make RFM's members the likelier to order if sent the offer.
    assert rfm["mean_true_conversion"] > engaged["mean_true_conversion"] + MIN_DIFFERENCE


def test_the_campaign_targets_each_arm_by_its_own_definition(default: Simulation) -> None:
    users = [c.user_id for c in default.loop.storefront.customers]  # type: ignore[union-attr]
    arms = [arm_of(7, u) for u in users]
    assert 0.45 < arms.count("A") / len(arms) < 0.55
    assert arms != [arm_of(8, u) for u in users]
    campaign = [p for p in default.personalizer.decided if p.trigger == AB_TEST]
    assert {p.arm for p in campaign} == {"A", "B"}
    for p in campaign:
        assert p.arm == arm_of(7, p.user_id)
        assert ARMS[p.arm] in p.audiences and p.audience == ARMS[p.arm]
        assert p.module == "exclusive_offer" and p.at == campaign_at(DEFAULT_DAYS)
        assert p.code is not None and p.code.startswith("VIP-") and p.code in p.body
    targeted = {p.user_id for p in campaign}
    others = [
        p
        for p in default.personalizer.decided
        if p.at == campaign_at(DEFAULT_DAYS) and p.user_id not in targeted
    ]
    assert all(p.trigger == "newsletter" for p in others)  # everyone else: the week's mail
    assert len(others) + len(campaign) == len(default.personalizer.traits)
    everyday = [p for p in default.personalizer.decided if p.trigger != AB_TEST]
    assert all(p.module != "exclusive_offer" for p in everyday)


def test_points_are_written_back_and_tiers_follow_the_thresholds(default: Simulation) -> None:
    model = default.loop.cdp.model
    points = default.loop.world.actor("points")
    assert isinstance(points, PointsActor)
    checked = 0
    for user_id, score in points.ledger.scores.items():
        profile = model.find("user_id", user_id)
        assert profile is not None
        assert profile.traits[POINTS_SCORE] == score
        tier = "points_cold" if score < 10 else "points_warm" if score < 30 else "points_hot"
        assert profile.audiences & {"points_cold", "points_warm", "points_hot"} == {tier}
        checked += 1
    assert checked == DEFAULT_CUSTOMERS
    kpis = default.result.kpis
    moves = kpis["transitions"]["by_move"]
    for move in (
        "points_cold->points_warm",
        "points_warm->points_hot",
        "points_hot->points_warm",
        "points_warm->points_cold",
    ):
        assert moves.get(move, 0) > 0, move  # people move both ways, in real time
    assert kpis["transitions"]["total"] == sum(kpis["transitions"]["daily"])
    assert kpis["points"]["inactivity_penalties"] > 0
    hot = kpis["segments"]["points_hot"]["daily"]
    assert hot[0] == 0 and max(hot) > 0


def test_the_matrix_picks_the_module_of_the_first_matching_segment(default: Simulation) -> None:
    decided = [p for p in default.personalizer.decided if p.trigger != AB_TEST]
    assert {p.module for p in decided if p.sent} == {"new_arrivals", "cart_recovery", "newsletter"}
    for p in decided:
        members = set(p.audiences)
        if "abandoned_cart" in members:
            expected = "cart_recovery"
        elif "recent_purchaser" in members:
            expected = "new_arrivals"
        else:
            expected = "newsletter"
        assert p.module == expected, p


def test_recovery_emails_carry_a_code_published_to_that_customer(default: Simulation) -> None:
    engine = default.loop.promotions.model
    outbox = default.loop.world.actor("email")
    assert isinstance(outbox, EmailDestination)
    delivered = {m.message_id: m for m in outbox.sent}
    recovery = [p for p in default.personalizer.decided if p.module == "cart_recovery" and p.sent]
    assert recovery
    for p in recovery:
        assert p.code is not None and p.code.startswith("BACK-")
        assert p.code in p.body and "15%" in p.body
        voucher = engine.vouchers[p.code]
        assert voucher.holder == p.user_id and voucher.campaign_id == RECOVERY
        email = delivered[p.message_id or ""]
        assert email.code == p.code and email.user_id == p.user_id
    offers = default.result.kpis["offers"]
    assert offers[RECOVERY]["delivered"] == len(recovery)
    assert 0 < offers[RECOVERY]["redeemed"] <= offers[RECOVERY]["published"]
    assert 0 < offers[EXCLUSIVE]["redeemed"] <= offers[EXCLUSIVE]["published"]
    redeemed = {
        code
        for orders in default.loop.analytics.orders_by_user.values()
        for _, _, discount, code in orders
        if code is not None and discount > 0
    }
    assert redeemed & {p.code for p in recovery}  # redeemed at checkout by the storefront


def test_tokens_render_with_fallbacks(default: Simulation) -> None:
    sent = [p for p in default.personalizer.decided if p.sent]
    names = {c.first_name for c in default.loop.storefront.customers}  # type: ignore[union-attr]
    for p in sent[:200]:
        assert "{{" not in p.body and "{{" not in p.subject
        assert any(f"Hi {name}," in p.body for name in names)
    emails = matrix()
    _, body = emails.render(emails.decide({"recent_purchaser"}), {})
    assert body == "Hi there, thanks for your order! Just in: our bestsellers."


def test_frequency_cap_and_unsubscribes_are_honoured(default: Simulation) -> None:
    kpis = default.result.kpis
    cadence = kpis["cadence"]
    assert cadence["max_in_any_7_day_window"] <= CAP.max_messages
    assert cadence["max_in_a_calendar_week"] <= CAP.max_messages
    assert 0 < cadence["mean_per_customer_per_week"] <= CAP.max_messages
    assert kpis["refusals"]["frequency_cap"] > 0
    assert kpis["unsubscribed"] > 0
    outbox = default.loop.world.actor("email")
    assert isinstance(outbox, EmailDestination)
    left: dict[str, Any] = {}
    for entry in outbox.log:
        for kind, at in entry.interactions:
            if kind == "unsubscribed":
                left[entry.user_id] = min(at, left.get(entry.user_id, at))
    for entry in outbox.log:
        if entry.user_id in left:
            assert entry.sent_at <= left[entry.user_id]  # nothing after the unsubscribe
    refused = [p for p in default.personalizer.decided if not p.sent]
    assert {p.reason for p in refused} >= {"frequency_cap", "unsubscribed"}


def test_module_rates_are_reported(default: Simulation) -> None:
    modules = default.result.kpis["modules"]
    total = sum(m["sent"] for m in modules.values())
    assert total == default.result.kpis["cadence"]["emails_sent"]
    for key, m in modules.items():
        assert m["sent"] > 0, key
        assert 0 < m["open_rate"] < 1 and 0 <= m["click_rate"] <= m["open_rate"], key
        assert m["conversion_rate_7d"] is not None
    # A recovery email reaches people who were about to buy: it converts better than the
    # newsletter everybody gets.
    assert (
        modules["cart_recovery"]["conversion_rate_7d"] > modules["newsletter"]["conversion_rate_7d"]
    )


def test_the_funnel_by_stage_follows_the_orders(default: Simulation) -> None:
    funnel = default.result.kpis["funnel"]
    reached = list(funnel["reached"].values())
    assert reached == sorted(reached, reverse=True) and reached[0] > 0
    orders = default.loop.analytics.orders_by_user
    assert funnel["reached"]["purchase"] == sum(1 for o in orders.values() if len(o) >= 1)
    assert funnel["reached"]["retention"] == sum(1 for o in orders.values() if len(o) >= 2)
    assert sum(funnel["current"].values()) == funnel["reached"]["awareness"]
    assert len(funnel["daily"]) == default.result.summary["days"]
    assert funnel["daily"][-1] == reached


def test_a_run_too_short_for_the_test_skips_it(tmp_path: Path) -> None:
    assert campaign_at(29) == 14 * DAY + 10 * 3600
    with pytest.raises(ValueError, match="at least 29 days, got 28"):
        campaign_at(28)
    short = _run(seed=2, customers=60, days=21)
    assert short.kpis["ab_test"] == {
        "test": AB_TEST,
        "skipped": "a run of 21 days; the test needs 29",
    }
    assert short.kpis["offers"][EXCLUSIVE]["published"] == 0
    assert short.timeline[-1] == "A/B test skipped: a run of 21 days; the test needs 29"
    assert "A/B test skipped" in write_html(short, tmp_path).read_text()


def test_an_arm_without_recipients_has_no_primary_test(tmp_path: Path) -> None:
    """A tiny population where one definition selects nobody: the primary readout names the
    reason instead of testing, and the summary and report still render."""
    tiny = _run(seed=1, customers=30, days=29)
    primary = tiny.kpis["ab_test"]["primary"]
    counts = sorted(a["recipients"] for a in primary["arms"].values())
    assert counts[0] == 0 < counts[1]
    assert primary["skipped"] == "an arm sent no offer email" and primary["decision"] == "none"
    assert "z" not in primary and "winner" not in primary["ground_truth"]
    assert "  no test: an arm sent no offer email" in tiny.timeline
    assert "A/B test (primary): decision none" in write_html(tiny, tmp_path).read_text()


def test_same_seed_same_kpis_and_another_seed_differs() -> None:
    small = {"customers": 200, "days": 35}
    first, second = _run(seed=3, **small), _run(seed=3, **small)
    assert json.dumps(first.kpis, sort_keys=True) == json.dumps(second.kpis, sort_keys=True)
    assert first.summary["log_digest"] == second.summary["log_digest"]
    assert _run(seed=4, **small).summary["log_digest"] != first.summary["log_digest"]


def test_http_transport_gives_the_same_kpis() -> None:
    small = {"seed": 5, "customers": 150, "days": 30}
    inproc, over_http = _run(**small), _run(transport="http", **small)
    assert over_http.urls["segment"].startswith("http://127.0.0.1:")
    assert json.dumps(over_http.kpis, sort_keys=True) == json.dumps(inproc.kpis, sort_keys=True)


def test_cli_writes_kpis_json_and_report_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    args = ["run", "email-personalization", "--customers", "150", "--days", "30"]
    assert main([*args, "--seed", "5", "--report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "emails per customer per week" in printed and "decision" in printed
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["scenario"] == "email-personalization" and kpis["customers"] == 150
    for key in ("segments", "transitions", "modules", "cadence", "refusals", "offers", "ab_test"):
        assert key in kpis, key
    assert {"primary", "secondary_itt", "definitions"} <= set(kpis["ab_test"])
    for readout in ("primary", "secondary_itt"):
        assert {"arms", "decision", "ground_truth"} <= set(kpis["ab_test"][readout])
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 4
    assert "What each definition picks" in html
    assert "A/B test (primary)" in html and "A/B test (secondary, intent to treat)" in html
