"""Audiences: event windows, "no X since Y", trait conditions, nesting, expiry, batch, sizes,
and the declarative form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from promoloop.actors.cdp import (
    ENGAGE_SOURCE,
    And,
    Audience,
    CdpModel,
    ComputedTrait,
    Not,
    Or,
    PerformedAfter,
    PerformedEvent,
    TraitCondition,
    load_audiences,
)
from promoloop.actors.events import Identify, Track, names

T0 = datetime(2026, 1, 5, tzinfo=UTC)
_ids = count(1)
ADDED, ORDER = names.PRODUCT_ADDED, names.ORDER_COMPLETED

ABANDONERS = Audience(
    key="cart_abandoners",
    name="Added to cart in the last 7 days, no order since",
    condition=And(
        conditions=[
            PerformedEvent(event=ADDED, within_days=7),
            Not(condition=PerformedAfter(event=ORDER, after=ADDED)),
        ]
    ),
)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def track(model: CdpModel, when: float, event: str, user: str = "u", **props: Any) -> list[Any]:
    call = Track(
        user_id=user,
        event=event,
        properties=props,
        timestamp=day(when),
        message_id=f"m{next(_ids)}",
    )
    return model.ingest("web", call, day(when))


def changes(routed: list[Any]) -> list[tuple[str, str]]:
    """(Audience Entered/Exited, audience key) of the engage tracks in ``routed``."""
    return [
        (e.event, e.properties["audience_key"])
        for s, e in routed
        if s == ENGAGE_SOURCE and isinstance(e, Track)
    ]


def members(model: CdpModel, key: str) -> list[str | None]:
    return [p.user_id for p in model.audience_members(key)]


def test_cart_abandoners_enter_leave_on_order_and_expire_after_the_window() -> None:
    """Added to cart → enters; an order after it → exits; a new add → enters again; seven days
    without another add → exits through the window, at the expiry time."""
    model = CdpModel(expiry_resolution=0)
    model.add_audience(ABANDONERS)
    assert changes(track(model, 0, ADDED)) == [(names.AUDIENCE_ENTERED, "cart_abandoners")]
    assert changes(track(model, 1, ORDER)) == [(names.AUDIENCE_EXITED, "cart_abandoners")]
    assert changes(track(model, 2, ADDED)) == [(names.AUDIENCE_ENTERED, "cart_abandoners")]
    assert changes(track(model, 3, "Product Viewed")) == []
    assert model.next_due() == day(7)  # the first add leaves the window: still a member
    assert changes(model.advance(day(7))) == []
    assert model.next_due() == day(9)
    assert changes(model.advance(day(8.9))) == []
    exited = model.advance(day(9))
    assert changes(exited) == [(names.AUDIENCE_EXITED, "cart_abandoners")]
    assert exited[0][1].timestamp == day(9)
    assert members(model, "cart_abandoners") == []
    profile = model.profile("user_id", "u")
    assert profile is not None and profile.traits["cart_abandoners"] is False


def test_performed_after_with_no_previous_anchor_means_ever() -> None:
    """performed_after(E, after=F) with no F yet is "E ever happened"."""
    model = CdpModel()
    model.add_audience(
        Audience(key="buyers", name="B", condition=PerformedAfter(event=ORDER, after="Refund"))
    )
    track(model, 0, ORDER)
    assert members(model, "buyers") == ["u"]
    track(model, 1, "Refund")
    assert members(model, "buyers") == []
    track(model, 2, ORDER)
    assert members(model, "buyers") == ["u"]


def test_at_most_and_windowed_counts() -> None:
    """'Between 1 and 2 orders in the last 30 days': the third order leaves it."""
    model = CdpModel()
    model.add_audience(
        Audience(
            key="occasional",
            name="O",
            condition=PerformedEvent(event=ORDER, at_least=1, at_most=2, within_days=30),
        )
    )
    track(model, 0, ORDER)
    track(model, 1, ORDER)
    assert members(model, "occasional") == ["u"]
    track(model, 2, ORDER)
    assert members(model, "occasional") == []


def test_trait_conditions_on_identify_traits_and_computed_traits() -> None:
    """A trait change (identify) or a computed trait's event re-evaluates the audience."""
    model = CdpModel()
    model.add_computed_trait(ComputedTrait(key="spent", kind="sum", event=ORDER, property="t"))
    model.add_audience(
        Audience(
            key="vip_pros",
            name="VIP pros",
            condition=And(
                conditions=[
                    TraitCondition(trait="plan", op="in", value=["pro", "team"]),
                    TraitCondition(trait="spent", op="gte", value=100),
                ]
            ),
        )
    )
    track(model, 0, ORDER, t=150)
    assert members(model, "vip_pros") == []
    routed = model.ingest("web", Identify(user_id="u", traits={"plan": "pro"}), day(1))
    assert changes(routed) == [(names.AUDIENCE_ENTERED, "vip_pros")]
    routed = model.ingest("web", Identify(user_id="u", traits={"plan": "free"}), day(2))
    assert changes(routed) == [(names.AUDIENCE_EXITED, "vip_pros")]


@pytest.mark.parametrize(
    ("op", "expected", "value", "result"),
    [
        ("eq", "a", "a", True),
        ("ne", "a", "a", False),
        ("gt", 3, 4, True),
        ("gt", 3, "4", False),
        ("gte", 3, 3, True),
        ("lt", 3, 3, False),
        ("lte", 3, None, False),
        ("lte", "m", "a", True),
        ("in", ["x", "y"], "y", True),
        ("contains", "shoe", ["hat", "shoe"], True),
        ("contains", "oe", "shoe", True),
        ("contains", "z", {"z": 1}, False),
        ("exists", None, 0, True),
        ("missing", None, None, True),
        ("gt", 1, [2], False),
    ],
)
def test_trait_operators(op: str, expected: Any, value: Any, result: bool) -> None:
    model = CdpModel()
    model.add_audience(
        Audience(key="a", name="A", condition=TraitCondition(trait="x", op=op, value=expected))  # type: ignore[arg-type]
    )
    traits = {} if value is None else {"x": value}
    model.ingest("web", Identify(user_id="u", traits=traits | {"touch": 1}), day(0))
    model.ingest("web", Identify(user_id="u", traits={"x": value}), day(0))
    assert (members(model, "a") == ["u"]) is result


def test_or_and_not_nest() -> None:
    """(reviewed or ordered twice) and not unsubscribed."""
    model = CdpModel()
    model.add_audience(
        Audience(
            key="engaged",
            name="Engaged",
            condition=And(
                conditions=[
                    Or(
                        conditions=[
                            PerformedEvent(event=names.REVIEW_LEFT),
                            PerformedEvent(event=ORDER, at_least=2),
                        ]
                    ),
                    Not(condition=TraitCondition(trait="unsubscribed", op="eq", value=True)),
                ]
            ),
        )
    )
    track(model, 0, ORDER, user="a")
    track(model, 0, ORDER, user="a")
    track(model, 0, names.REVIEW_LEFT, user="b")
    track(model, 0, ORDER, user="c")
    assert members(model, "engaged") == ["a", "b"]
    model.ingest("web", Identify(user_id="a", traits={"unsubscribed": True}), day(1))
    assert members(model, "engaged") == ["b"]


def test_an_audience_can_use_an_earlier_audience() -> None:
    """Entering `reviewers` re-evaluates `vip_reviewers`, which uses its boolean trait; an
    audience cannot refer to one defined later (no cycles)."""
    model = CdpModel()
    model.add_audience(
        Audience(key="reviewers", name="R", condition=PerformedEvent(event=names.REVIEW_LEFT))
    )
    model.add_audience(
        Audience(
            key="vip_reviewers",
            name="VR",
            condition=And(
                conditions=[
                    TraitCondition(trait="reviewers", op="eq", value=True),
                    TraitCondition(trait="vip", op="eq", value=True),
                ]
            ),
        )
    )
    model.ingest("web", Identify(user_id="u", traits={"vip": True}), day(0))
    routed = track(model, 1, names.REVIEW_LEFT)
    assert changes(routed) == [
        (names.AUDIENCE_ENTERED, "reviewers"),
        (names.AUDIENCE_ENTERED, "vip_reviewers"),
    ]
    with pytest.raises(ValueError, match="refers to its own"):
        model.add_audience(
            Audience(key="selfish", name="S", condition=TraitCondition(trait="selfish"))
        )
    model2 = CdpModel()
    model2.add_audience(
        Audience(key="uses_later", name="U", condition=TraitCondition(trait="later"))
    )
    with pytest.raises(ValueError, match="defined earlier"):
        model2.add_audience(Audience(key="later", name="L", condition=PerformedEvent(event="E")))


def test_batch_and_adhoc_audiences_compute_on_demand_only() -> None:
    """Events do not move batch audiences; compute_audience evaluates every profile once."""
    model = CdpModel()
    model.add_audience(
        Audience(key="buyers", name="B", condition=PerformedEvent(event=ORDER), mode="batch")
    )
    track(model, 0, ORDER, user="a")
    track(model, 0, ORDER, user="b")
    assert members(model, "buyers") == []
    routed = model.compute_audience("buyers", day(1))
    assert changes(routed) == [(names.AUDIENCE_ENTERED, "buyers")] * 2
    assert members(model, "buyers") == ["a", "b"]
    assert model.compute_audience("buyers", day(2)) == []
    assert [a.key for a in model.scheduled_audiences()] == ["buyers"]
    with pytest.raises(KeyError, match="nope"):
        model.compute_audience("nope", day(2))


def test_audience_size_over_time_is_recorded_per_bucket() -> None:
    """One point per hour bucket in which the size changed: the size at the end of it."""
    model = CdpModel(size_resolution=3_600)
    model.add_audience(Audience(key="buyers", name="B", condition=PerformedEvent(event=ORDER)))
    model.add_audience(
        Audience(key="refunders", name="R", condition=PerformedEvent(event="Refund"))
    )
    track(model, 0, ORDER, user="a")
    track(model, 0.01, ORDER, user="b")
    track(model, 1, ORDER, user="c")
    assert model.sizes["buyers"] == 3
    assert model.audience_size_series("buyers") == [(day(0), 2), (day(1), 3)]
    assert model.audience_size_series("refunders") == []


def test_merging_two_members_counts_one() -> None:
    """Two profiles in the audience become one person: the size drops by one."""
    model = CdpModel()
    model.add_audience(Audience(key="viewers", name="V", condition=PerformedEvent(event="V")))
    track(model, 0, "V", user="u")
    model.ingest("web", Track(anonymous_id="a", event="V", timestamp=day(0)), day(0))
    assert model.sizes["viewers"] == 2
    model.ingest("web", Identify(user_id="u", anonymous_id="a"), day(1))
    assert model.sizes["viewers"] == 1
    assert len(model.audience_members("viewers")) == 1


def test_declarative_audiences() -> None:
    (audience,) = load_audiences(
        """[{"key": "cart_abandoners",
             "name": "Added to cart in the last 7 days, no order since",
             "condition": {"type": "and", "conditions": [
                {"type": "performed_event", "event": "Product Added", "within_days": 7},
                {"type": "not", "condition":
                    {"type": "performed_after", "event": "Order Completed",
                     "after": "Product Added"}}]}}]"""
    )
    assert audience == ABANDONERS


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"key": "a", "name": "A"}, r"audiences\[0\].*`condition`"),
        (
            {
                "key": "a",
                "name": "A",
                "condition": {"type": "performed_event", "event": "E", "at_least": 0},
            },
            r"performed_event\.at_least.*\$\.condition",
        ),
        (
            {
                "key": "a",
                "name": "A",
                "condition": {
                    "type": "and",
                    "conditions": [{"type": "trait", "trait": "x", "op": "between"}],
                },
            },
            r"\$\.condition\.conditions\[0\]\.op",
        ),
        (
            {"key": "a", "name": "A", "condition": {"type": "and", "conditions": []}},
            r"and\.conditions must not be empty",
        ),
        ({"key": "a", "name": "A", "condition": {"type": "sql"}}, r"Invalid value 'sql'"),
        (
            {
                "key": "a",
                "name": "A",
                "condition": {"type": "trait", "trait": "x", "op": "in", "value": 3},
            },
            r"trait\.value must be a list",
        ),
        (
            {
                "key": "a",
                "name": "A",
                "mode": "weekly",
                "condition": {"type": "performed_event", "event": "E"},
            },
            r"\$\.mode",
        ),
        (
            {
                "key": "a",
                "name": "A",
                "condition": {"type": "performed_event", "event": "E", "at_least": 3, "at_most": 2},
            },
            r"at_most",
        ),
    ],
)
def test_malformed_audiences_are_rejected_naming_the_field(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_audiences([item])


def test_a_trait_only_audience_holds_for_a_new_profile_from_its_first_call() -> None:
    """ "No email yet" reads only identify traits: a new anonymous visitor is in it from the
    first call, in real time exactly as a backfill over the same profiles finds."""
    model = CdpModel()
    model.add_audience(
        Audience(
            key="incomplete", name="no email", condition=TraitCondition(trait="email", op="missing")
        )
    )
    visit = Track(anonymous_id="anon-1", event=names.PRODUCT_VIEWED, message_id="v1")
    routed = model.ingest("web", visit, day(0))
    assert changes(routed) == [(names.AUDIENCE_ENTERED, "incomplete")]
    model.ingest("web", Identify(user_id="u", anonymous_id="anon-1", traits={"email": "u@x.io"},
                                 message_id="i1"), day(1))  # fmt: skip
    assert members(model, "incomplete") == []
    track(model, 2, ADDED, user="v")  # another new profile, a known user this time
    assert members(model, "incomplete") == ["v"]
    assert model.compute_audience("incomplete", day(3)) == []  # backfill agrees


def test_a_membership_gained_anonymously_is_announced_when_the_user_is_known() -> None:
    """The userId-keyed re-announcement goes out when Engage sends it: stamped with the time
    the identify was accepted, like every other change, not the identify's own timestamp."""
    model = CdpModel()
    model.add_audience(ABANDONERS)
    cart = Track(anonymous_id="anon-1", event=ADDED, message_id="c1", timestamp=day(0))
    assert changes(model.ingest("web", cart, day(0))) == [
        (names.AUDIENCE_ENTERED, "cart_abandoners")
    ]
    late = Identify(user_id="u", anonymous_id="anon-1", message_id="i1", timestamp=day(0.5))
    routed = model.ingest("web", late, day(1))  # a call that reached the CDP half a day late
    (entered,) = [e for s, e in routed if s == ENGAGE_SOURCE and isinstance(e, Track)]
    assert (entered.user_id, entered.event) == ("u", names.AUDIENCE_ENTERED)
    assert entered.timestamp == day(1)


def test_definitions_added_mid_run_are_evaluated_on_the_next_event_and_expiry() -> None:
    """The programs cached per event name and per expiring trait are rebuilt when an audience
    or a computed trait is added after events were ingested and windows expired: the next
    event of that name, and the next expiry, evaluate the new audience too."""
    model = CdpModel()
    model.add_computed_trait(
        ComputedTrait(key="views_2d", kind="count", event="Product Viewed", window_days=2)
    )
    model.add_audience(
        Audience(key="viewer", name="Viewer", condition=PerformedEvent(event="Product Viewed"))
    )
    assert changes(track(model, 0, "Product Viewed")) == [(names.AUDIENCE_ENTERED, "viewer")]
    assert changes(model.advance(day(2.5))) == []  # views_2d expired: no audience reads it
    model.add_audience(
        Audience(
            key="recent_viewer",
            name="Viewed in 2 days",
            condition=TraitCondition(trait="views_2d", op="gte", value=1),
        )
    )
    assert changes(track(model, 3, "Product Viewed")) == [(names.AUDIENCE_ENTERED, "recent_viewer")]
    model.add_computed_trait(
        ComputedTrait(key="views_1d", kind="count", event="Product Viewed", window_days=1)
    )
    model.add_audience(
        Audience(
            key="today",
            name="Viewed today",
            condition=TraitCondition(trait="views_1d", op="gte", value=1),
        )
    )
    assert changes(track(model, 3.5, "Product Viewed")) == [(names.AUDIENCE_ENTERED, "today")]
    assert changes(model.advance(day(4.6))) == [(names.AUDIENCE_EXITED, "today")]
    assert changes(model.advance(day(5.6))) == [(names.AUDIENCE_EXITED, "recent_viewer")]
