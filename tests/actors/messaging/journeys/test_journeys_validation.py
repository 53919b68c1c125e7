"""A journey that cannot run is refused when it is defined, naming the journey and the step."""

from __future__ import annotations

import pytest

from promoloop.actors.cdp.audiences import PerformedEvent, TraitCondition
from promoloop.actors.messaging.journeys import (
    Arm,
    AudienceEntry,
    Branch,
    Case,
    EventEntry,
    Exit,
    Journey,
    JourneyEngine,
    JourneyError,
    NextBestAction,
    PublishCode,
    Send,
    SetStage,
    StageEntry,
    Wait,
    WaitUntil,
    compile_journey,
)

ENTRY = AudienceEntry(audience="cart_abandoners")


def journey(*steps, **fields) -> Journey:  # type: ignore[no-untyped-def]
    return Journey(
        name=fields.pop("name", "cart"), entry=fields.pop("entry", ENTRY), steps=steps, **fields
    )


def refused(j: Journey, match: str, templates: set[str] | None = None) -> JourneyError:
    with pytest.raises(JourneyError, match=match) as info:
        compile_journey(j, templates)
    return info.value


def test_a_valid_journey_compiles_with_resolved_targets() -> None:
    compiled = compile_journey(
        journey(
            Send(name="nudge", channel="email", template="cart"),
            WaitUntil(name="buy?", event="Order Completed", timeout_days=2, on_event="thanks"),
            Send(name="reminder", channel="push", template="cart", next="end"),
            Send(name="thanks", channel="sms", template="thanks"),
            Exit(name="end"),
        ),
        templates={"cart", "thanks"},
    )
    nodes = compiled.nodes
    assert [n.next for n in nodes] == [1, 2, 4, 4, -1]
    assert nodes[1].targets == (3, 2)
    assert compiled.events == {"Order Completed"}


def test_duplicate_step_names() -> None:
    error = refused(journey(Wait(name="w", days=1), Wait(name="w", hours=2)), "duplicate step name")
    assert str(error) == "journey 'cart', step 'w': duplicate step name"
    assert (error.journey, error.step) == ("cart", "w")


def test_unknown_step_reference() -> None:
    refused(
        journey(Send(name="a", channel="email", template="t", next="nowhere")),
        r"journey 'cart', step 'a': refers to unknown step 'nowhere'",
    )
    refused(
        journey(
            Branch(
                name="b",
                cases=(Case(when=TraitCondition(trait="vip", value=True), goto="ghost"),),
            ),
            Exit(name="end"),
        ),
        r"step 'b': refers to unknown step 'ghost'",
    )


def test_unreachable_step() -> None:
    refused(
        journey(
            Send(name="a", channel="email", template="t"),
            Exit(name="end"),
            Send(name="orphan", channel="push", template="t"),
        ),
        r"step 'orphan': unreachable from the first step",
    )


def test_cycle_without_a_wait_names_the_loop() -> None:
    refused(
        journey(
            Send(name="a", channel="email", template="t"),
            Branch(
                name="again?",
                cases=(Case(when=TraitCondition(trait="vip", value=True), goto="a"),),
            ),
        ),
        r"step 'a': cycle without a wait: a -> again\? -> a",
    )


def test_a_cycle_through_a_wait_is_fine() -> None:
    compile_journey(
        journey(
            Send(name="a", channel="email", template="t"),
            Wait(name="pause", days=7),
            Branch(
                name="again?",
                cases=(Case(when=TraitCondition(trait="vip", value=True), goto="a"),),
            ),
        )
    )


def test_unknown_channel_in_a_send_or_an_arm() -> None:
    refused(
        journey(Send(name="a", channel="fax", template="t")),
        r"step 'a': unknown channel 'fax'",
    )
    refused(
        journey(
            NextBestAction(
                name="nba",
                arms=(Arm(name="x", channel="pigeon", template="t"), Arm(name="none")),
            )
        ),
        r"step 'nba': unknown channel 'pigeon'",
    )


def test_wait_until_needs_a_timeout_and_waits_a_duration() -> None:
    refused(
        journey(WaitUntil(name="buy?", event="Order Completed")),
        r"step 'buy\?': wait_until needs a positive timeout_days",
    )
    refused(journey(Wait(name="w")), r"step 'w': a wait needs a positive duration")


def test_missing_templates_when_the_known_set_is_given() -> None:
    j = journey(
        Send(name="a", channel="email", template="cart"),
        NextBestAction(name="nba", arms=(Arm(name="ad", channel="ads", template="retarget"),)),
    )
    refused(j, r"step 'a': unknown template 'cart'", templates=set())
    refused(j, r"step 'nba': unknown template 'retarget'", templates={"cart"})
    compile_journey(j)  # without the set, templates are not checked


def test_stages_reentry_and_conditions_are_checked() -> None:
    refused(journey(SetStage(name="s", stage="delight")), r"step 's': unknown stage 'delight'")
    refused(journey(Exit(name="e"), entry=StageEntry(stage="bliss")), "unknown entry stage 'bliss'")
    refused(journey(Exit(name="e"), reentry="after"), "reentry 'after' needs reentry_days > 0")
    refused(
        journey(
            Branch(
                name="b",
                cases=(
                    Case(
                        when=PerformedEvent(event="Product Viewed", at_least=3, within_days=7),
                        goto="e",
                    ),
                ),
            ),
            Exit(name="e"),
        ),
        r"step 'b': .*windowed counts define a CDP computed trait",
    )
    refused(journey(PublishCode(name="p", campaign="")), r"step 'p': publish_code needs a campaign")
    refused(
        journey(NextBestAction(name="n", arms=(Arm(name="a"), Arm(name="a")))),
        r"step 'n': duplicate arm names",
    )


def test_the_engine_refuses_duplicate_journey_names() -> None:
    j = journey(Exit(name="e"), entry=EventEntry(event="Signed Up"))
    with pytest.raises(JourneyError, match="journey 'cart': duplicate journey name"):
        JourneyEngine([j, j])


def test_holdout_share_must_leave_someone_treated() -> None:
    refused(journey(Exit(name="e"), holdout_share=1.0), r"holdout_share must be within \[0, 1\)")
