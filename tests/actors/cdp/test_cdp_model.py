"""CdpModel: real-time audiences (entered once, engage events), routing, configuration checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoloop.actors.cdp import ENGAGE_SOURCE, Audience, CdpModel, PerformedEvent, Subscription
from promoloop.actors.events import Alias, Identify, Page, SegmentEvent, Track, names

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
REVIEWERS = Audience(
    key="reviewers", name="Reviewers", condition=PerformedEvent(event=names.REVIEW_LEFT)
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def review(minutes: float, user_id: str | None = "u-1", anonymous_id: str | None = None) -> Track:
    return Track(
        message_id=f"rev-{minutes}",
        user_id=user_id,
        anonymous_id=anonymous_id,
        event=names.REVIEW_LEFT,
        timestamp=at(minutes),
        properties={"rating": 5},
    )


def model_with(*audiences: Audience) -> CdpModel:
    model = CdpModel()
    for audience in audiences or (REVIEWERS,):
        model.add_audience(audience)
    return model


def test_first_qualifying_event_enters_the_audience() -> None:
    """The first review emits, on the engage source, an Audience Entered track and an identify
    with the boolean trait, both for the user, and makes the profile a member."""
    model = model_with()
    routed = model.ingest("web", review(1), at(1))
    assert [source for source, _ in routed] == ["web", ENGAGE_SOURCE, ENGAGE_SOURCE]
    assert routed[0][1] == review(1)
    track, identify = routed[1][1], routed[2][1]
    assert isinstance(track, Track)
    assert track.event == names.AUDIENCE_ENTERED
    assert (track.user_id, track.anonymous_id) == ("u-1", None)
    assert track.properties == {"audience_key": "reviewers", "audience_name": "Reviewers"}
    assert track.timestamp == at(1)
    assert track.context["personas"]["computation_key"] == "reviewers"
    assert isinstance(identify, Identify)
    assert identify.user_id == "u-1"
    assert identify.traits == {"reviewers": True}
    assert track.message_id != identify.message_id

    profile = model.profile("user_id", "u-1")
    assert profile is not None
    assert profile.audiences == {"reviewers"}
    assert profile.traits["reviewers"] is True
    assert profile.event_counts[names.AUDIENCE_ENTERED] == 1
    assert model.audience_members("reviewers") == [profile]
    assert model.audience_changes["reviewers"] == 1


def test_second_qualifying_event_does_not_re_enter() -> None:
    """Already a member: the next review is routed alone, no second Audience Entered."""
    model = model_with()
    model.ingest("web", review(1), at(1))
    routed = model.ingest("web", review(2), at(2))
    assert routed == [("web", review(2))]
    profile = model.profile("user_id", "u-1")
    assert profile is not None
    assert profile.event_counts[names.AUDIENCE_ENTERED] == 1
    assert profile.event_counts[names.REVIEW_LEFT] == 2
    assert model.audience_changes["reviewers"] == 1


def test_other_events_and_other_people_do_not_enter() -> None:
    """Only the audience's event counts, and only for the person who performed it."""
    model = model_with()
    assert len(model.ingest("web", Track(user_id="u-1", event="Order Completed"), at(1))) == 1
    assert len(model.ingest("web", Page(user_id="u-2", name=names.REVIEW_LEFT), at(2))) == 1
    model.ingest("web", review(3, user_id="u-3"), at(3))
    assert [p.user_id for p in model.audience_members("reviewers")] == ["u-3"]


def test_at_least_n_waits_for_the_nth_event() -> None:
    """PerformedEvent(at_least=3) enters on the third qualifying event, not before."""
    model = model_with(
        Audience(key="fans", name="Fans", condition=PerformedEvent(event="Liked", at_least=3))
    )
    sizes = [
        len(model.ingest("web", Track(user_id="u", event="Liked", message_id=str(i)), at(i)))
        for i in range(4)
    ]
    assert sizes == [1, 1, 3, 1]


def test_anonymous_profile_that_qualified_keeps_the_audience_after_merge() -> None:
    """An anonymous reviewer enters (engage events carry the anonymousId); once identified
    into a known profile, that profile is a member with the trait, and the entry is announced
    once more, now with the userId that destinations such as the promotion engine key on."""
    model = model_with()
    model.ingest("web", Identify(user_id="u-1", anonymous_id="a-phone", timestamp=at(0)), at(0))
    routed = model.ingest("web", review(1, user_id=None, anonymous_id="a-laptop"), at(1))
    entered = routed[1][1]
    assert isinstance(entered, Track) and entered.event == names.AUDIENCE_ENTERED
    assert (entered.user_id, entered.anonymous_id) == (None, "a-laptop")

    routed = model.ingest("web", Identify(user_id="u-1", anonymous_id="a-laptop"), at(2))
    assert model.identity.merges == 1
    (profile,) = model.profiles()
    assert profile.user_id == "u-1"
    assert "reviewers" in profile.audiences
    assert profile.traits["reviewers"] is True
    assert model.audience_members("reviewers") == [profile]
    assert [src for src, _ in routed] == ["web", ENGAGE_SOURCE, ENGAGE_SOURCE]
    assert (routed[1][1].user_id, routed[1][1].event) == ("u-1", names.AUDIENCE_ENTERED)  # type: ignore[union-attr]


def test_merge_that_completes_a_condition_enters_with_the_user_id() -> None:
    """Neither profile qualifies alone (one like each, at_least=2); merging them does, and the
    entry is emitted for the known userId."""
    model = model_with(
        Audience(key="fans", name="Fans", condition=PerformedEvent(event="Liked", at_least=2))
    )
    model.ingest("web", Track(user_id="u-1", anonymous_id="a-1", event="Liked"), at(0))
    model.ingest("web", Track(anonymous_id="a-2", event="Liked"), at(1))
    assert model.audience_members("fans") == []
    routed = model.ingest("web", Identify(user_id="u-1", anonymous_id="a-2"), at(2))
    engage = [event for source, event in routed if source == ENGAGE_SOURCE]
    assert [type(e) for e in engage] == [Track, Identify]
    assert engage[0].user_id == "u-1"
    assert [p.user_id for p in model.audience_members("fans")] == ["u-1"]


def _routes(model: CdpModel, items: list[tuple[str, SegmentEvent]]) -> dict[str, list[str]]:
    return {
        dest: [f"{src}:{getattr(e, 'event', None) or e.__struct_config__.tag}" for src, e in got]
        for dest, got in model.route(items).items()
    }


def test_route_applies_subscription_filters_and_keeps_order() -> None:
    """Each destination gets the events its filter accepts (by source, type, track name), in
    arrival order; destinations come sorted by name; unmatched events go nowhere."""
    model = CdpModel()
    model.subscribe(Subscription(destination="warehouse"))
    model.subscribe(Subscription(destination="engine", sources=frozenset({"web", ENGAGE_SOURCE})))
    model.subscribe(Subscription(destination="crm", types=frozenset({"identify"})))
    model.subscribe(
        Subscription(
            destination="push",
            sources=frozenset({"promotions"}),
            events=frozenset({names.PUBLICATION_SUCCEEDED}),
        )
    )
    items: list[tuple[str, SegmentEvent]] = [
        ("web", Identify(user_id="u")),
        ("promotions", Track(user_id="u", event=names.PUBLICATION_SUCCEEDED)),
        ("web", Track(user_id="u", event=names.ORDER_COMPLETED)),
        ("promotions", Track(user_id="u", event=names.REDEMPTION_SUCCEEDED)),
        ("promotions", Identify(user_id="u")),
        ("mobile", Page(user_id="u")),
        (ENGAGE_SOURCE, Track(user_id="u", event=names.AUDIENCE_ENTERED)),
    ]
    assert _routes(model, items) == {
        "crm": ["web:identify", "promotions:identify"],
        "engine": ["web:identify", "web:Order Completed", "engage:Audience Entered"],
        "push": ["promotions:customer.publication.succeeded"],
        "warehouse": [
            "web:identify",
            "promotions:customer.publication.succeeded",
            "web:Order Completed",
            "promotions:redemption.succeeded",
            "promotions:identify",
            "mobile:page",
            "engage:Audience Entered",
        ],
    }
    assert list(model.route(items)) == ["crm", "engine", "push", "warehouse"]
    batches = model.route_batches(items)
    assert list(batches) == ["crm", "engine", "push", "warehouse"]
    # One batch per run of consecutive events from one source, the runs in order.
    assert [(b.source, len(b.events)) for b in batches["warehouse"]] == [
        ("web", 1),
        ("promotions", 1),
        ("web", 1),
        ("promotions", 2),
        ("mobile", 1),
        (ENGAGE_SOURCE, 1),
    ]
    assert [(b.source, len(b.events)) for b in batches["engine"]] == [
        ("web", 2),
        (ENGAGE_SOURCE, 1),
    ]


def test_event_filter_only_matches_tracks() -> None:
    """An events filter never lets a non-track call through, whatever its name."""
    sub = Subscription(destination="d", events=frozenset({"Home"}))
    assert sub.accepts("web", Track(user_id="u", event="Home"))
    assert not sub.accepts("web", Page(user_id="u", name="Home"))
    assert not sub.accepts("web", Alias(user_id="u", previous_id="a"))


@pytest.mark.parametrize("key", ["Reviewers", "1st", "has-dash", "", "a" * 64, "with space"])
def test_audience_key_must_be_snake_case(key: str) -> None:
    """Audience keys become trait names: anything but snake_case is refused, naming the field."""
    with pytest.raises(ValueError, match=r"audience\.key"):
        Audience(key=key, name="X", condition=PerformedEvent(event="e"))


def test_audience_key_accepts_snake_case() -> None:
    """The boundary: 63 characters of snake_case is a valid key."""
    assert Audience(key="a" * 63, name="X", condition=PerformedEvent(event="e")).key == "a" * 63


@pytest.mark.parametrize("at_least", [0, -1])
def test_performed_event_at_least_must_be_positive(at_least: int) -> None:
    """at_least < 1 would make everybody a member: refused, naming the field."""
    with pytest.raises(ValueError, match=r"performed_event\.at_least"):
        PerformedEvent(event="e", at_least=at_least)


def test_performed_event_needs_an_event_name() -> None:
    """An empty event name is refused, naming the field."""
    with pytest.raises(ValueError, match=r"performed_event\.event"):
        PerformedEvent(event="")


def test_duplicate_audience_and_unknown_members_query() -> None:
    """Defining a key twice is an error; asking for members of an unknown audience too."""
    model = model_with()
    with pytest.raises(ValueError, match="already defined"):
        model.add_audience(REVIEWERS)
    with pytest.raises(KeyError, match="nope"):
        model.audience_members("nope")


def test_audience_joined_anonymously_is_announced_with_the_user_id_on_identify() -> None:
    """Destinations keyed by userId (the promotion engine) hear of a membership gained while
    anonymous once the profile is identified, exactly once."""
    model = model_with()
    routed = model.ingest("web", review(1, user_id=None, anonymous_id="a-9"), at(1))
    entered = [e for _, e in routed if isinstance(e, Track) and e.event == names.AUDIENCE_ENTERED]
    assert [(e.user_id, e.anonymous_id) for e in entered] == [(None, "a-9")]

    identify = Identify(user_id="u-9", anonymous_id="a-9", timestamp=at(2))
    routed = model.ingest("web", identify, at(2))
    entered = [e for _, e in routed if isinstance(e, Track) and e.event == names.AUDIENCE_ENTERED]
    assert [(e.user_id, e.properties["audience_key"]) for e in entered] == [("u-9", "reviewers")]

    again = model.ingest("web", Identify(user_id="u-9", timestamp=at(3)), at(3))
    assert [s for s, _ in again] == ["web"]
