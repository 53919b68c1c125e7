"""The scenarios `promoloop run` knows, by name, in design.md §1 order."""

from __future__ import annotations

from promoloop.scenarios import (
    email_personalization,
    journey_orchestration,
    predictive_loyalty,
    review_giftcard,
    segmentation_playbook,
)
from promoloop.scenarios.base import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        review_giftcard.SCENARIO,
        predictive_loyalty.SCENARIO,
        email_personalization.SCENARIO,
        journey_orchestration.SCENARIO,
        segmentation_playbook.SCENARIO,
    )
}


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise LookupError(f"unknown scenario {name!r} (known: {known})") from None
