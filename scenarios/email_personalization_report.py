"""How email-personalization reads and shows its run: the email KPIs (segment sizes per day,
module rates, cadence against the cap, offer codes, the points summary), the printed summary,
the highlighted profile, the A/B readout and ``report.html``. Everything here reads the finished
loop, the referee's record of the hidden truth or the KPIs; nothing changes the run. The
experiment's design (arms, assignment, campaign, thresholds) stays in the scenario and is passed
in as an ``AbDesign``."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from promoloop.actors.analytics.ab_test import (
    decide,
    minimum_detectable_difference,
    two_proportion_z_test,
    welch_test,
)
from promoloop.actors.analytics.tiers import TierWatch
from promoloop.actors.cdp.points import PointsActor
from promoloop.actors.events import names
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.messaging.policy import Cap
from promoloop.actors.runtime import DAY, World
from promoloop.scenarios import html_report
from promoloop.scenarios.base import ScenarioResult

if TYPE_CHECKING:
    from promoloop.actors.messaging.personalizer import Personalized, Personalizer
    from promoloop.scenarios.loop import Loop

Orders = dict[str, list[tuple[float, int, int, str | None]]]
"""Per customer: (sim seconds, total paid in cents, discount in cents, code) of each order."""

SAMPLE_PROFILES = 10
TIERS = ("points_cold", "points_warm", "points_hot")
HIGHLIGHT_EVENTS = frozenset(
    {
        names.ORDER_COMPLETED,
        names.PRODUCT_ADDED,
        names.COUPON_APPLIED,
        names.EMAIL_DELIVERED,
        names.EMAIL_OPENED,
        names.EMAIL_LINK_CLICKED,
        names.AUDIENCE_ENTERED,
        names.AUDIENCE_EXITED,
        names.PUBLICATION_SUCCEEDED,
        names.REDEMPTION_SUCCEEDED,
    }
)


def email_kpis(
    loop: Loop,
    personalizer: Personalizer,
    outbox: Any,
    points: Any,
    watch: Any,
    audiences: list[str],
    cap: Cap,
    titles: dict[str, str],
    days: int,
) -> dict[str, Any]:
    """Everything but the experiment: points, segment sizes per day, tier transitions, the
    matrix, module rates, cadence, refusals, unsubscribes and offer codes."""
    world, model = loop.world, loop.cdp.model
    assert isinstance(outbox, EmailDestination) and isinstance(points, PointsActor)
    assert isinstance(watch, TierWatch)
    orders = loop.analytics.orders_by_user
    customers = len(loop.storefront.customers) if loop.storefront else 0
    refusals = Counter(reason for _, _, reason in outbox.refused)
    refusals.update({f"publish:{k}": v for k, v in personalizer.publish_refusals.items()})
    return {
        "events": sum(model.ingested.values()),
        "orders": loop.analytics.orders,
        "revenue_cents": loop.analytics.revenue_cents,
        "points": points_summary(points),
        "segments": {
            k: {"final": model.sizes.get(k, 0), "daily": daily_sizes(world, model, k, days)}
            for k in audiences
        },
        "transitions": {
            "total": len(watch.transitions),
            "by_move": watch.by_move(),
            "daily": watch.daily(days),
        },
        "matrix": [{"audience": r.audience, "module": r.module} for r in personalizer.matrix.rules]
        + [{"audience": "(default)", "module": personalizer.matrix.default}],
        "modules": module_rates(orders, personalizer, outbox),
        "cadence": cadence(outbox, world, cap, customers, days),
        "refusals": dict(sorted(refusals.items())),
        "unsubscribed": sum(
            any(kind == "unsubscribed" for kind, _ in entry.interactions) for entry in outbox.log
        ),
        "offers": offer_codes(loop, personalizer, titles),
    }


def points_summary(points: PointsActor) -> dict[str, Any]:
    """The points rules and what they did: customers scored, mean and max score, writes."""
    scores = list(points.ledger.scores.values())
    return {
        "rules": [
            {k: v for k, v in msgspec.to_builtins(r).items() if v is not None}
            for r in points.config.rules
        ],
        "floor": points.config.floor,
        "cap": points.config.cap,
        "scored_customers": len(scores),
        "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
        "max_score": max(scores, default=None),
        "identify_calls": points.written,
        "inactivity_penalties": points.ledger.penalties_applied,
    }


def daily_sizes(world: World, model: Any, key: str, days: int) -> list[int]:
    """An audience's size at the end of each day, from the CDP's (bucket start, size) series."""
    series = model.audience_size_series(key)
    starts = [world.time.seconds_at(bucket) for bucket, _ in series]
    ends = [bisect.bisect_left(starts, (day + 1) * DAY) - 1 for day in range(days)]
    return [series[last][1] if last >= 0 else 0 for last in ends]


def rate(numerator: float, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def module_rates(
    orders: Orders, personalizer: Personalizer, outbox: EmailDestination
) -> dict[str, Any]:
    """Per module: decided, sent, refused, and open / click / 7-day conversion of what went."""
    out: dict[str, Any] = {}
    for key in personalizer.matrix.modules:
        decided = [p for p in personalizer.decided if p.module == key]
        sent = [p for p in decided if p.sent and p.message_id is not None]
        kinds = [{k for k, _ in outbox.log.get(p.message_id or "").interactions} for p in sent]
        opened, clicked = sum("opened" in k for k in kinds), sum("clicked" in k for k in kinds)
        converted = sum(
            any(p.at < o[0] <= p.at + 7 * DAY for o in orders.get(p.user_id, ())) for p in sent
        )
        out[key] = {
            "decided": len(decided),
            "sent": len(sent),
            "refused": len(decided) - len(sent),
            "opened": opened,
            "clicked": clicked,
            "converted_7d": converted,
            "open_rate": rate(opened, len(sent)),
            "click_rate": rate(clicked, len(sent)),
            "conversion_rate_7d": rate(converted, len(sent)),
            "by_trigger": dict(sorted(Counter(p.trigger for p in decided).items())),
        }
    return out


def cadence(
    outbox: EmailDestination, world: World, cap: Cap, customers: int, days: int
) -> dict[str, Any]:
    """Messages per customer per week, and the most any customer got in any 7-day window."""
    by_user: dict[str, list[float]] = {}
    for email in outbox.sent:
        by_user.setdefault(email.user_id, []).append(world.time.seconds_at(email.sent_at))
    per_week: Counter[tuple[str, int]] = Counter()
    worst = 0
    for user_id, times in by_user.items():
        per_week.update((user_id, int(t // (7 * DAY))) for t in times)
        for end, t in enumerate(times):
            worst = max(worst, end - bisect.bisect_right(times, t - cap.window_days * DAY) + 1)
    return {
        "cap": {"max_messages": cap.max_messages, "window_days": cap.window_days},
        "emails_sent": len(outbox.sent),
        "customers_emailed": len(by_user),
        "mean_per_customer_per_week": round(len(outbox.sent) / customers / (days / 7), 4),
        "max_in_a_calendar_week": max(per_week.values(), default=0),
        "max_in_any_7_day_window": worst,
    }


def offer_codes(loop: Loop, personalizer: Personalizer, titles: dict[str, str]) -> dict[str, Any]:
    """Per offer campaign: codes published (to one customer each), delivered, redeemed."""
    codes = loop.analytics.code_campaigns
    redeemed: Counter[str] = Counter()
    discount: Counter[str] = Counter()
    for orders in loop.analytics.orders_by_user.values():
        for _, _, cents, code in orders:
            if code is not None and code in codes:
                redeemed[codes[code]] += 1
                discount[codes[code]] += cents
    offer_of = {key: m.offer_campaign for key, m in personalizer.matrix.modules.items()}
    out = {}
    for campaign_id, title in titles.items():
        sent = [p for p in personalizer.decided if p.sent and offer_of[p.module] == campaign_id]
        out[campaign_id] = {
            "name": title,
            "published": personalizer.codes_published[campaign_id],
            "delivered": len(sent),
            "redeemed": redeemed[title],
            "discount_cents": discount[title],
        }
    return out


# -- the A/B readout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AbDesign:
    """The pre-registered design, from the scenario: arms and their definitions, assignment,
    the campaign's time and outcome window, α and the minimum differences worth acting on."""

    name: str
    arms: dict[str, str]
    arm_of: Callable[[str], str]
    start: float
    outcome_days: float
    alpha: float
    min_difference: float
    """Primary: smallest difference in the recipients' true conversion rates worth acting on."""
    min_effect: float
    """Secondary: smallest difference in true extra conversions per customer of the arm."""


class Truth(Protocol):
    """What the referee recorded of the hidden state at the campaign."""

    reached: set[str]
    response: dict[str, str]
    in_definition: dict[str, list[str]]

    def effect(self, user_id: str) -> float: ...

    def respond(self, user_id: str) -> float: ...


def ab_readout(
    design: AbDesign,
    customers: list[str],
    orders: Orders,
    decided: Sequence[Personalized],
    truth: Truth,
) -> dict[str, Any]:
    """The primary readout (conversion of each arm's campaign recipients), the secondary
    intent-to-treat readout (incremental conversion per customer of the arm), and what each
    definition picks, each checked against the hidden truth."""
    end = design.start + design.outcome_days * DAY

    def bought(user_id: str) -> list[int]:
        return [o[1] for o in orders.get(user_id, ()) if design.start < o[0] <= end]

    campaign = [p for p in decided if p.trigger == design.name]
    targeted = {arm: [p.user_id for p in campaign if p.arm == arm] for arm in design.arms}
    recipients = {arm: [u for u in users if u in truth.reached] for arm, users in targeted.items()}
    return {
        "test": design.name,
        "question": "which segment definition, used to target the exclusive offer, selects "
        "customers who respond better to the campaign",
        "assignment": "50/50 by blake2b(seed/test/customer)",
        "campaign_day": round(design.start / DAY, 4),
        "alpha": design.alpha,
        "primary": _primary(design, targeted, recipients, bought, truth),
        "secondary_itt": _intent_to_treat(design, customers, recipients, bought, truth),
        "definitions": {d: _definition_truth(truth, d) for d in design.arms.values()},
    }


def _primary(
    design: AbDesign,
    targeted: dict[str, list[str]],
    recipients: dict[str, list[str]],
    bought: Callable[[str], list[int]],
    truth: Truth,
) -> dict[str, Any]:
    """Conversion per recipient: the customers each definition selected in its arm and who were
    sent the offer email; an order within the window counts. It compares the audiences'
    responsiveness (selection included), not the offer's incremental effect."""
    arms: dict[str, Any] = {}
    true_rate: dict[str, float] = {}
    for arm, definition in design.arms.items():
        users = recipients[arm]
        converted = sum(bool(bought(u)) for u in users)
        true_rate[arm] = sum(truth.respond(u) for u in users) / len(users) if users else 0.0
        arms[arm] = {
            "definition": definition,
            "targeted": len(targeted[arm]),
            "recipients": len(users),
            "conversions": converted,
            "conversion_rate": rate(converted, len(users)),
            "true_conversion_rate": round(true_rate[arm], 4) if users else None,
        }
    a, b = arms["A"], arms["B"]
    gap = true_rate["A"] - true_rate["B"]
    days = f"{design.outcome_days:g}"
    readout: dict[str, Any] = {
        "label": "primary (pre-registered): conversion of each arm's campaign recipients",
        "population": "recipients: customers of the arm whom its definition selected and who "
        "were sent the offer email",
        "metric": f"conversion: an order within {days} days after the campaign, per recipient",
        "reading": "compares how responsive the audiences each definition selects are (who is "
        "selected included), not the incremental effect of the offer",
        "statistic": "two-sided two-proportion z-test (pooled standard error)",
        "arms": arms,
    }
    method = (
        "mean over the arm's recipients of P(take) x P(order | offer) + (1 - P(take)) x "
        "P(order | none) over the window, P(take) = P(open) x P(click) (0 for a bouncing "
        "address), the order probabilities from the storefront's true_purchase_probability at "
        "the send"
    )
    if not (a["recipients"] and b["recipients"]):  # a small run: nobody to compare in an arm
        return readout | {
            "decision": "none",
            "skipped": "an arm sent no offer email",
            "ground_truth": {"method": method, "min_difference": design.min_difference},
        }
    z = two_proportion_z_test(a["conversions"], a["recipients"], b["conversions"], b["recipients"])
    pooled = (a["conversions"] + b["conversions"]) / (a["recipients"] + b["recipients"])
    mde = minimum_detectable_difference(
        pooled, a["recipients"], b["recipients"], alpha=design.alpha
    )
    winner = _winner(gap, design.min_difference)
    decision = decide(z, design.alpha)
    return readout | {
        "difference": round(z.difference, 4),
        "z": round(z.statistic, 4),
        "p_value": float(f"{z.p_value:.3g}"),
        "decision": decision,
        "detectable_difference": round(mde, 4),
        "ground_truth": {
            "method": method,
            "expected_difference": round(gap, 4),
            "min_difference": design.min_difference,
            "winner": winner,
        },
        "match": decision == winner,
    }


def _intent_to_treat(
    design: AbDesign,
    customers: list[str],
    recipients: dict[str, list[str]],
    bought: Callable[[str], list[int]],
    truth: Truth,
) -> dict[str, Any]:
    """Secondary, descriptive: any order within the window over every customer of the arm,
    targeted or not: the offer's incremental effect, diluted over the arm, which this size
    cannot detect; the power sentence says so from the figures."""
    arms: dict[str, Any] = {}
    extra: dict[str, float] = {}
    revenue: dict[str, list[float]] = {}
    for arm, definition in design.arms.items():
        members = [u for u in customers if design.arm_of(u) == arm]
        baskets = [bought(u) for u in members]
        converted = sum(bool(b) for b in baskets)
        revenue[arm] = [sum(b) / 100 for b in baskets]
        extra[arm] = sum(truth.effect(u) for u in recipients[arm]) / len(members)
        responses = Counter(truth.response[u] for u in recipients[arm])
        arms[arm] = {
            "definition": definition,
            "customers": len(members),
            "offers_sent": len(recipients[arm]),
            "conversions": converted,
            "conversion_rate": rate(converted, len(members)),
            "revenue_per_customer": rate(sum(revenue[arm]), len(members)),
            "true_extra_per_customer": round(extra[arm], 4),
            "reached_by_response": dict(sorted(responses.items())),
        }
    a, b = arms["A"], arms["B"]
    z = two_proportion_z_test(a["conversions"], a["customers"], b["conversions"], b["customers"])
    welch = welch_test(revenue["A"], revenue["B"])
    pooled = (a["conversions"] + b["conversions"]) / (a["customers"] + b["customers"])
    mde = minimum_detectable_difference(pooled, a["customers"], b["customers"], alpha=design.alpha)
    gap = extra["A"] - extra["B"]
    decision = decide(z, design.alpha)
    winner = _winner(gap, design.min_effect)
    n = a["customers"] + b["customers"]
    verdict = "underpowered" if abs(gap) < mde else "powered"
    return {
        "label": "secondary (descriptive): incremental conversion, intent to treat",
        "population": "every customer of the arm (intent to treat)",
        "metric": f"conversion: an order within {design.outcome_days:g} days after the campaign",
        "statistic": "two-sided two-proportion z-test (pooled standard error)",
        "arms": arms,
        "difference": round(z.difference, 4),
        "z": round(z.statistic, 4),
        "p_value": float(f"{z.p_value:.3g}"),
        "decision": decision,
        "detectable_difference": round(mde, 4),
        "power": verdict,
        "power_note": f"{verdict}: with {n} customers this test detects a true difference of "
        f"{mde:.1%} with 80% power; the true difference in extra conversions is {gap:+.2%}",
        "revenue": {
            "statistic": "two-sided Welch test on revenue per customer",
            "difference": round(welch.difference, 2),
            "t": round(welch.statistic, 4),
            "p_value": float(f"{welch.p_value:.3g}"),
        },
        "ground_truth": {
            "method": "per customer of the arm: the sum over the recipients of P(take) x "
            "(P(order | offer) - P(order | none)) over the window",
            "expected_difference": round(gap, 4),
            "min_effect": design.min_effect,
            "winner": winner,
        },
        "match": decision == winner,
    }


def _winner(gap: float, minimum: float) -> str:
    """The truth's verdict: the larger arm when the true gap reaches the minimum, else none."""
    return ("A" if gap > 0 else "B") if abs(gap) >= minimum else "none"


def _definition_truth(truth: Truth, definition: str) -> dict[str, Any]:
    """Everyone in the definition at the campaign, in both arms: their mean true conversion if
    sent the offer, their mean true effect of it, and their hidden response segments."""
    members = truth.in_definition.get(definition, [])
    return {
        "members": len(members),
        "mean_true_conversion": rate(sum(truth.respond(u) for u in members), len(members)),
        "mean_true_effect": rate(sum(truth.effect(u) for u in members), len(members)),
        "by_response": dict(sorted(Counter(truth.response[u] for u in members).items())),
    }


def highlight(loop: Loop, personalizer: Personalizer) -> dict[str, Any] | None:
    """The profile of the first customer who redeemed an emailed code: ``points_score``, the
    tiers and the email → code → checkout story, with the events that tell it (the last 40)."""
    emailed = {p.code: p.user_id for p in personalizer.decided if p.sent and p.code}
    redeemed = sorted(
        (at, user_id)
        for user_id, orders in loop.analytics.orders_by_user.items()
        for at, _, _, code in orders
        if code is not None and emailed.get(code) == user_id
    )
    if not redeemed:
        return None
    profile = loop.cdp.model.find("user_id", redeemed[0][1])
    if profile is None:
        return None
    snapshot = profile.snapshot()
    events = [e for e in snapshot["events"] if e["event"] in HIGHLIGHT_EVENTS]
    return snapshot | {"events": events[-40:]}


def timeline(kpis: dict[str, Any]) -> list[str]:
    """The printed summary: modules, cadence, refusals, offers, segments and the A/B test."""
    lines = [f"{'module':<16} {'sent':>6} {'refused':>8} {'open':>6} {'click':>6} {'conv7d':>7}"]
    for key, m in kpis["modules"].items():
        lines.append(
            f"{key:<16} {m['sent']:>6} {m['refused']:>8} {_pct(m['open_rate']):>6} "
            f"{_pct(m['click_rate']):>6} {_pct(m['conversion_rate_7d']):>7}"
        )
    cadence = kpis["cadence"]
    lines.append(
        f"emails per customer per week: mean {cadence['mean_per_customer_per_week']}, "
        f"max in any 7 days {cadence['max_in_any_7_day_window']} "
        f"(cap {cadence['cap']['max_messages']})"
    )
    lines.append(f"refusals: {kpis['refusals']}")
    for campaign in kpis["offers"].values():
        lines.append(
            f"{campaign['name']}: published {campaign['published']}, delivered "
            f"{campaign['delivered']}, redeemed {campaign['redeemed']}"
        )
    finals = {k: s["final"] for k, s in kpis["segments"].items()}
    lines.append(f"segments at the end: {finals}")
    lines.append(f"tier transitions: {kpis['transitions']['by_move']}")
    lines.append(f"funnel (customers who reached each stage): {kpis['funnel']['reached']}")
    ab = kpis["ab_test"]
    if "skipped" in ab:
        return [*lines, f"A/B test skipped: {ab['skipped']}"]
    primary, itt = ab["primary"], ab["secondary_itt"]
    lines.append("A/B primary: conversion of each arm's campaign recipients (selection included)")
    for arm, a in primary["arms"].items():
        lines.append(
            f"  arm {arm} ({a['definition']}): {a['conversions']} of {a['recipients']} "
            f"recipients converted ({_pct(_ratio(a['conversions'], a['recipients']))}); true "
            f"{_pct(a['true_conversion_rate'])}"
        )
    truth = primary["ground_truth"]
    if "skipped" in primary:
        lines.append(f"  no test: {primary['skipped']}")
    else:
        lines.append(
            f"  z = {primary['z']}, p = {primary['p_value']}, decision {primary['decision']}; "
            f"ground truth {truth['winner']} (difference {truth['expected_difference']}, "
            f"minimum {truth['min_difference']}), match {primary['match']}"
        )
    lines.append("A/B secondary (intent to treat, incremental conversion per arm customer)")
    for arm, a in itt["arms"].items():
        lines.append(
            f"  arm {arm}: {a['conversions']} of {a['customers']} converted "
            f"({_pct(_ratio(a['conversions'], a['customers']))}); true extra per customer "
            f"{a['true_extra_per_customer']}"
        )
    lines.append(
        f"  z = {itt['z']}, p = {itt['p_value']}, decision {itt['decision']}; truth "
        f"{itt['ground_truth']['winner']}; {itt['power_note']}"
    )
    return lines


def _funnel_series(funnel: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    daily = funnel["daily"]
    return {
        stage: [(float(day), float(row[i])) for day, row in enumerate(daily)]
        for i, stage in enumerate(funnel["stages"])
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    """From the counts, not the rounded rate kept in kpis.json (71/141 prints 50.4 %)."""
    return numerator / denominator if denominator else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def write_html(result: ScenarioResult, directory: Path) -> Path:
    """``report.html``: segment sizes, transitions, modules, cadence, offers and the test."""
    kpis = result.kpis
    segments = kpis["segments"]

    def series(keys: list[str]) -> dict[str, list[tuple[float, float]]]:
        return {k: [(float(d), float(v)) for d, v in enumerate(segments[k]["daily"])] for k in keys}

    columns = ("sent", "refused", "open_rate", "click_rate", "conversion_rate_7d")
    modules_rows = [{"module": k} | {c: m[c] for c in columns} for k, m in kpis["modules"].items()]
    others = [k for k in segments if k not in TIERS]
    s = result.summary
    run = {"seed": s["seed"], "customers": s["customers"], "days": s["days"]}
    run |= {"events": kpis["events"], "orders": kpis["orders"]}
    sections = [
        ("Run", html_report.table([run | {"emails": kpis["cadence"]["emails_sent"]}])),
        ("Points tiers", html_report.line_chart("members per day", series(list(TIERS)))),
        ("Behaviour and RFM", html_report.line_chart("members per day", series(others))),
        (
            "Tier transitions",
            html_report.bar_chart(
                "moves between tiers",
                {k: float(v) for k, v in kpis["transitions"]["by_move"].items()},
            ),
        ),
        (
            "Funnel by stage",
            html_report.table(
                [{"": kind} | kpis["funnel"][kind] for kind in ("reached", "current")]
            )
            + html_report.line_chart(
                "customers who reached each stage, per day",
                _funnel_series(kpis["funnel"]),
            ),
        ),
        ("Emails by module", html_report.table(modules_rows)),
        (
            "Emails sent by module",
            html_report.bar_chart(
                "emails", {k: float(m["sent"]) for k, m in kpis["modules"].items()}
            ),
        ),
        ("Cadence (frequency cap)", html_report.table([_flat_cadence(kpis["cadence"])])),
        (
            "Refusals by reason",
            html_report.bar_chart(
                "refused sends", {k: float(v) for k, v in kpis["refusals"].items()}
            ),
        ),
        (
            "Offer codes",
            html_report.table([{"campaign": k} | v for k, v in kpis["offers"].items()]),
        ),
        *_ab_sections(kpis["ab_test"]),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.html"
    path.write_text(html_report.page(f"promoloop: {result.scenario}", sections))
    return path


def _ab_sections(ab: dict[str, Any]) -> list[tuple[str, str]]:
    """The A/B test: the primary readout and its verdict against the truth, the secondary
    intent-to-treat readout with its power, who was reached and what each definition picks."""
    if "skipped" in ab:
        return [("A/B test skipped", html_report.table([{"reason": ab["skipped"]}]))]
    primary, itt = ab["primary"], ab["secondary_itt"]
    sections = []
    for readout, title in ((primary, "primary"), (itt, "secondary, intent to treat")):
        truth = readout["ground_truth"]
        arms = [
            {"arm": arm} | {k: v for k, v in a.items() if k != "reached_by_response"}
            for arm, a in readout["arms"].items()
        ]
        verdict = {
            "population": readout["population"],
            "metric": readout["metric"],
            "alpha": ab["alpha"],
            "z": readout.get("z"),
            "p-value": readout.get("p_value"),
            "decision": readout["decision"],
            "detectable difference": readout.get("detectable_difference"),
            "true difference (A − B)": truth.get("expected_difference"),
            "minimum": truth.get("min_difference", truth.get("min_effect")),
            "true winner": truth.get("winner", "none"),
            "match": str(readout.get("match", readout.get("skipped"))),
        }
        note = readout.get("reading") or readout["power_note"]
        sections.append(
            (
                f"A/B test ({title}): decision {readout['decision']}, "
                f"truth {truth.get('winner', 'none')}",
                html_report.table(arms)
                + html_report.table([verdict])
                + html_report.table([{"note": note}]),
            )
        )
    picks = [
        {
            "definition": d,
            "members": t["members"],
            "mean true conversion if sent": t["mean_true_conversion"],
            "mean true effect": t["mean_true_effect"],
        }
        | t["by_response"]
        for d, t in ab["definitions"].items()
    ]
    reached = [{"arm": arm} | a["reached_by_response"] for arm, a in itt["arms"].items()]
    return [
        *sections,
        ("Who each arm's offer reached (hidden response)", html_report.table(reached)),
        ("What each definition picks (hidden truth)", html_report.table(picks)),
    ]


def _flat_cadence(cadence: dict[str, Any]) -> dict[str, Any]:
    cap = cadence["cap"]
    return {"cap": f"{cap['max_messages']} / {cap['window_days']:g} days"} | {
        k: v for k, v in cadence.items() if k != "cap"
    }
