"""Identity resolution and profiles: identify/alias merges, no merge across people, LWW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoloop.actors.cdp import (
    CdpModel,
    HistoryEntry,
    IdentifierRule,
    IdentityConfig,
    Profile,
)
from promoloop.actors.cdp.audiences import Audience, PerformedEvent
from promoloop.actors.cdp.identity import IdentityGraph, load_identity_config
from promoloop.actors.cdp.model import ENGAGE_SOURCE
from promoloop.actors.events import Alias, Identify, Page, Track

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def day(days: float) -> datetime:
    return T0 + timedelta(days=days)


def graph() -> IdentityGraph:
    counter = iter(range(1, 1000))
    return IdentityGraph(lambda: f"p{next(counter)}")


def test_anonymous_activity_becomes_the_identified_profile() -> None:
    """Events before sign-up and the identify that follows end up in one profile, reachable
    by both the anonymousId and the userId."""
    model = CdpModel()
    model.ingest("web", Page(anonymous_id="a-1", name="Home", timestamp=at(0)), at(0))
    model.ingest("web", Track(anonymous_id="a-1", event="Product Viewed", timestamp=at(1)), at(1))
    model.ingest(
        "web", Identify(user_id="u-1", anonymous_id="a-1", traits={"x": 1}, timestamp=at(2)), at(2)
    )
    model.ingest("web", Track(user_id="u-1", event="Order Completed", timestamp=at(3)), at(3))
    (profile,) = model.profiles()
    assert model.profile("user_id", "u-1") is profile
    assert model.profile("anonymous_id", "a-1") is profile
    assert profile.user_id == "u-1"
    assert profile.anonymous_ids == ["a-1"]
    assert [e.event or e.type for e in profile.events] == [
        "page",
        "Product Viewed",
        "identify",
        "Order Completed",
    ]


def test_identify_merges_a_second_anonymous_profile_into_the_known_one() -> None:
    """A known user seen later on a new device: that device's anonymous profile is absorbed,
    history kept in time order, counts summed, and its anonymousId now resolves to the user."""
    ids = graph()
    known = ids.resolve("u-1", "a-phone", at(0))
    known.remember(HistoryEntry(at(0), "track", "Signed Up", "web", "m1", {}))
    laptop = ids.resolve(None, "a-laptop", at(5))
    assert laptop is not known
    laptop.remember(HistoryEntry(at(5), "track", "Product Viewed", "web", "m2", {}))
    laptop.remember(HistoryEntry(at(6), "track", "Product Viewed", "web", "m3", {}))
    known.remember(HistoryEntry(at(7), "track", "Order Completed", "web", "m4", {}))

    merged = ids.resolve("u-1", "a-laptop", at(8))
    assert merged is known
    assert ids.merges == 1
    assert ids.lookup("anonymous_id", "a-laptop") is known
    assert ids.lookup("anonymous_id", "a-phone") is known
    assert known.anonymous_ids == ["a-phone", "a-laptop"]
    assert known.merged_from == [laptop.id]
    assert [e.message_id for e in known.events] == ["m1", "m2", "m3", "m4"]
    assert known.event_counts == {"Signed Up": 1, "Product Viewed": 2, "Order Completed": 1}
    assert ids.profiles() == [known]


def test_an_anonymous_id_of_another_user_is_never_merged() -> None:
    """Two people on one device: the second userId gets its own profile; the device stays
    with the first user; nobody's history moves."""
    ids = graph()
    pam = ids.resolve("pam", "shared-device", at(0))
    jim = ids.resolve("jim", "shared-device", at(1))
    assert jim is not pam
    assert ids.merges == 0
    assert ids.lookup("user_id", "pam") is pam
    assert ids.lookup("user_id", "jim") is jim
    assert ids.lookup("anonymous_id", "shared-device") is pam
    assert pam.user_id == "pam" and jim.user_id == "jim"
    assert "shared-device" not in jim.anonymous_ids
    # Also when both users are already known.
    again = ids.resolve("jim", "shared-device", at(2))
    assert again is jim
    assert ids.merges == 0
    assert len(ids.profiles()) == 2


def test_two_people_stay_two_profiles_in_the_model() -> None:
    """Through CdpModel: Jim's events on Pam's device do not land in Pam's history."""
    model = CdpModel()
    model.ingest("web", Identify(user_id="pam", anonymous_id="dev", timestamp=at(0)), at(0))
    model.ingest("web", Track(user_id="jim", anonymous_id="dev", event="X", timestamp=at(1)), at(1))
    pam = model.profile("user_id", "pam")
    jim = model.profile("user_id", "jim")
    assert pam is not None and jim is not None and pam is not jim
    assert pam.event_counts == {"identify": 1}
    assert jim.event_counts == {"X": 1}


def test_alias_merges_the_previous_anonymous_profile() -> None:
    """alias(previousId=anonymousId, userId) moves the anonymous history to the user."""
    model = CdpModel()
    model.ingest("web", Identify(user_id="u-1", anonymous_id="a-1", timestamp=at(0)), at(0))
    model.ingest("web", Track(anonymous_id="a-2", event="Cart Viewed", timestamp=at(1)), at(1))
    assert len(model.profiles()) == 2
    model.ingest("web", Alias(user_id="u-1", previous_id="a-2", timestamp=at(2)), at(2))
    (profile,) = model.profiles()
    assert model.profile("anonymous_id", "a-2") is profile
    assert profile.user_id == "u-1"
    assert profile.event_counts == {"identify": 1, "Cart Viewed": 1, "alias": 1}
    assert model.identity.merges == 1


@pytest.mark.parametrize(("user_id", "anonymous_id"), [(None, None), ("", ""), ("", None)])
def test_resolve_needs_an_identifier(user_id: str | None, anonymous_id: str | None) -> None:
    """An event without userId and anonymousId cannot be placed: ValueError."""
    with pytest.raises(ValueError, match="userId or an anonymousId"):
        graph().resolve(user_id, anonymous_id, at(0))


def test_lookup_with_an_unknown_identifier_type_raises() -> None:
    """Configured identifier types (user_id, anonymous_id, email by default) answer None for
    an unknown value; a type never configured nor seen is a typo: an error, not a miss."""
    ids = graph()
    ids.resolve("u-1", None, at(0))
    assert ids.lookup("user_id", "u-1") is not None
    assert ids.lookup("user_id", "nobody") is None
    assert ids.lookup("email", "pam@example.com") is None
    with pytest.raises(ValueError, match="'phone'"):
        ids.lookup("phone", "555-0100")
    with pytest.raises(ValueError, match="userId"):
        CdpModel().profile("userId", "u-1")


def test_traits_last_write_wins_by_timestamp_not_arrival() -> None:
    """An older identify that arrives late does not overwrite a newer trait value; a newer
    one does; traits it does not mention are untouched."""
    model = CdpModel()
    newer = Identify(user_id="u", traits={"plan": "pro", "city": "Scranton"}, timestamp=at(10))
    older = Identify(user_id="u", traits={"plan": "free", "age": 30}, timestamp=at(5))
    model.ingest("web", newer, at(10))
    model.ingest("web", older, at(11))
    profile = model.profile("user_id", "u")
    assert profile is not None
    assert profile.traits == {"plan": "pro", "city": "Scranton", "age": 30}
    model.ingest("web", Identify(user_id="u", traits={"plan": "team"}, timestamp=at(20)), at(20))
    assert profile.traits["plan"] == "team"


def test_events_without_a_timestamp_use_the_arrival_time() -> None:
    """A call with no timestamp is dated by when the CDP received it."""
    model = CdpModel()
    model.ingest("web", Identify(user_id="u", traits={"plan": "pro"}, timestamp=at(10)), at(10))
    model.ingest("web", Identify(user_id="u", traits={"plan": "free"}), at(3))
    profile = model.profile("user_id", "u")
    assert profile is not None
    assert profile.traits["plan"] == "pro"  # received at 3 < 10: older, loses
    assert profile.events[-1].timestamp == at(3)


def test_merge_keeps_the_newest_trait_of_both_profiles() -> None:
    """When an anonymous profile is absorbed, each trait keeps its most recent value."""
    known = Profile(id="k", created_at=at(0), user_id="u")
    known.set_traits({"plan": "pro", "color": "red"}, at(10))
    anonymous = Profile(id="a", created_at=at(-5), anonymous_ids=["a-1"])
    anonymous.set_traits({"plan": "free"}, at(5))
    anonymous.set_traits({"color": "blue"}, at(20))
    known.absorb(anonymous)
    assert known.traits == {"plan": "pro", "color": "blue"}
    assert known.created_at == at(-5)


def test_profile_snapshot_lists_ids_traits_and_events_in_time_order() -> None:
    """The Profile API view: external ids (email included), sorted traits, events by time."""
    profile = Profile(id="p", created_at=at(0), user_id="u", anonymous_ids=["a"])
    profile.set_traits({"email": "pam@example.com", "b": 2, "a": 1}, at(0))
    profile.remember(HistoryEntry(at(9), "track", "Late", "web", "m2", {"k": 1}))
    profile.remember(HistoryEntry(at(1), "page", None, "web", "m1", {}))
    snap = profile.snapshot()
    assert snap["external_ids"] == [
        {"type": "user_id", "id": "u"},
        {"type": "anonymous_id", "id": "a"},
        {"type": "email", "id": "pam@example.com"},
    ]
    assert list(snap["traits"]) == ["a", "b", "email"]
    assert [e["event"] or e["type"] for e in snap["events"]] == ["page", "Late"]
    assert snap["events"][0]["timestamp"] == at(1).isoformat()


def test_alias_between_two_known_users_is_refused_not_merged() -> None:
    """alias(previousId=an older userId) never puts two userIds on one profile: the new user
    gets its own profile, the refusal is recorded, and the old userId is not taken for an
    anonymousId."""
    model = CdpModel()
    model.ingest("web", Identify(user_id="old", traits={"email": "o@x"}, timestamp=at(0)), at(0))
    model.ingest("web", Identify(user_id="new", timestamp=at(1)), at(1))
    model.ingest("web", Alias(user_id="new", previous_id="old", timestamp=at(2)), at(2))
    old, new = model.profile("user_id", "old"), model.profile("user_id", "new")
    assert old is not None and new is not None and old is not new
    assert new.refused_merges == [old.id]
    assert new.anonymous_ids == []
    assert model.profile("anonymous_id", "old") is None
    assert old.traits == {"email": "o@x"}


def test_alias_to_an_unknown_user_still_keeps_people_apart() -> None:
    model = CdpModel()
    model.ingest("web", Identify(user_id="old", timestamp=at(0)), at(0))
    model.ingest("web", Alias(user_id="brand-new", previous_id="old", timestamp=at(1)), at(1))
    new = model.profile("user_id", "brand-new")
    assert new is not None and new is not model.profile("user_id", "old")
    assert new.refused_merges == [model.profile("user_id", "old").id]  # type: ignore[union-attr]


# -- generalised identity graph: email, external ids, limits, priority ------------------------


def test_email_links_profiles_and_resolves_to_the_same_profile() -> None:
    """An identify with traits.email makes email an identifier: a later anonymous call that
    carries the same email in context.traits lands on, or merges into, that person."""
    model = CdpModel()
    model.ingest(
        "web", Identify(user_id="pam", traits={"email": "pam@example.com"}, timestamp=at(0)), at(0)
    )
    model.ingest("web", Page(anonymous_id="a-9", timestamp=at(1)), at(1))
    model.ingest(
        "web",
        Track(
            anonymous_id="a-9",
            event="Email Link Clicked",
            context={"traits": {"email": "pam@example.com"}},
            timestamp=at(2),
        ),
        at(2),
    )
    (profile,) = model.profiles()
    for id_type, value in (
        ("user_id", "pam"),
        ("email", "pam@example.com"),
        ("anonymous_id", "a-9"),
    ):
        assert model.profile(id_type, value) is profile
    assert [(e.type, e.id) for e in profile.identifiers] == [
        ("user_id", "pam"),
        ("email", "pam@example.com"),
        ("anonymous_id", "a-9"),
    ]
    assert model.identity.merges == 1


def test_a_new_user_id_with_a_known_email_starts_a_new_profile() -> None:
    """Segment's documented example: user abc123 has jane@example1.com; an event with user
    abc456 and the same email would put two user_ids on one profile, so the email (lower
    priority) is dropped from the call and abc456 gets a profile of its own."""
    model = CdpModel()
    jane = {"email": "jane@example1.com"}
    model.ingest("web", Identify(user_id="abc123", traits=jane, timestamp=at(0)), at(0))
    model.ingest("web", Identify(user_id="abc456", traits=jane, timestamp=at(1)), at(1))
    first, second = model.profile("user_id", "abc123"), model.profile("user_id", "abc456")
    assert first is not None and second is not None and first is not second
    assert model.profile("email", "jane@example1.com") is first
    assert second.ids_of("email") == []
    assert model.identity.demoted == 1
    assert model.identity.merges == 0


def test_custom_limits_allow_two_user_ids_and_custom_external_ids() -> None:
    """With user_id limited to 2 and a configured `phone` identifier promoted from a trait,
    a shared phone merges two user ids; context.externalIds of an unconfigured type are
    auto-added with the default limit and resolve too."""
    config = IdentityConfig(
        rules=(
            IdentifierRule(type="user_id", limit=2, priority=1),
            IdentifierRule(type="phone", limit=1, priority=2, trait="phone"),
            IdentifierRule(type="anonymous_id", limit=5, priority=3),
        )
    )
    model = CdpModel(identity=config)
    model.ingest("web", Identify(user_id="shop-1", traits={"phone": "+1555"}), at(0))
    external = {"externalIds": [{"id": "crm-7", "type": "crm_id", "collection": "users"}]}
    model.ingest(
        "crm", Identify(user_id="uuid-1", traits={"phone": "+1555"}, context=external), at(1)
    )
    (profile,) = model.profiles()
    assert profile.ids_of("user_id") == ["shop-1", "uuid-1"]
    assert model.profile("crm_id", "crm-7") is profile
    assert model.profile("phone", "+1555") is profile
    ext = next(e for e in profile.identifiers if e.type == "crm_id")
    assert (ext.source, ext.created_at) == ("crm", at(1))
    # a third user id on the same phone would break the limit: it stays apart
    model.ingest("web", Identify(user_id="shop-2", traits={"phone": "+1555"}), at(2))
    assert len(model.profiles()) == 2


def test_blocked_values_are_never_identifiers() -> None:
    """A hard-coded test value such as "anonymous" must not merge everybody who sent it."""
    config = IdentityConfig(
        rules=(
            IdentifierRule(type="user_id", limit=1, priority=1),
            IdentifierRule(
                type="anonymous_id", limit=5, priority=3, blocked=frozenset({"anonymous"})
            ),
        )
    )
    model = CdpModel(identity=config)
    model.ingest("web", Track(user_id="a", anonymous_id="anonymous", event="X"), at(0))
    model.ingest("web", Track(user_id="b", anonymous_id="anonymous", event="X"), at(1))
    assert len(model.profiles()) == 2
    with pytest.raises(ValueError, match="userId or an anonymousId"):
        model.ingest("web", Track(anonymous_id="anonymous", event="X"), at(2))


def test_an_event_may_link_three_profiles_at_once() -> None:
    """userId + anonymousId + email each naming a different profile: all merge into the
    profile of the strongest identifier (the userId's), each merge recorded."""
    model = CdpModel()
    model.ingest("web", Identify(user_id="u", timestamp=at(0)), at(0))
    model.ingest("web", Page(anonymous_id="a", timestamp=at(1)), at(1))
    model.ingest(
        "web",
        Identify(anonymous_id="b", traits={"email": "e@x"}, timestamp=at(2)),
        at(2),
    )
    assert len(model.profiles()) == 3
    user = model.profile("user_id", "u")
    assert user is not None
    model.ingest(
        "web",
        Identify(user_id="u", anonymous_id="a", traits={"email": "e@x"}, timestamp=at(3)),
        at(3),
    )
    assert model.profiles() == [user]
    assert len(user.merged_from) == 2
    assert user.created_at == at(0)
    assert model.identity.merges == 2


def test_identifier_rules_are_validated() -> None:
    with pytest.raises(ValueError, match=r"identifier_rule\.limit"):
        IdentifierRule(type="email", limit=0)
    with pytest.raises(ValueError, match=r"identifier_rule\.type"):
        IdentifierRule(type="E-mail")
    with pytest.raises(ValueError, match="twice"):
        IdentityConfig(rules=(IdentifierRule(type="user_id"), IdentifierRule(type="user_id")))
    with pytest.raises(ValueError, match="'anonymous_id'"):
        IdentityConfig(rules=(IdentifierRule(type="user_id"),))


def test_alias_between_known_users_merges_when_the_limit_allows_it() -> None:
    """With two user ids allowed per profile, alias(old → new) merges them instead of
    refusing."""
    config = IdentityConfig(
        rules=(
            IdentifierRule(type="user_id", limit=2, priority=1),
            IdentifierRule(type="anonymous_id", priority=3),
        )
    )
    model = CdpModel(identity=config)
    model.ingest("web", Identify(user_id="old"), at(0))
    model.ingest("web", Identify(user_id="new"), at(1))
    model.ingest("web", Alias(user_id="new", previous_id="old"), at(2))
    (profile,) = model.profiles()
    assert profile.ids_of("user_id") == ["new", "old"]
    assert profile.refused_merges == []


def anonymous_limit(period: str, limit: int = 2) -> IdentityConfig:
    return IdentityConfig(
        rules=(
            IdentifierRule(type="user_id", limit=1, priority=1),
            IdentifierRule(type="anonymous_id", limit=limit, priority=3, period=period),
        )
    )


def visit(model: CdpModel, when: datetime, anonymous_id: str, user_id: str | None = "u") -> None:
    call = Track(user_id=user_id, anonymous_id=anonymous_id, event="Visit", timestamp=when)
    model.ingest("web", call, when)


def test_a_weekly_limit_slides_in_virtual_time() -> None:
    """anonymous_id "2 weekly": a third new device within the week is demoted (the call still
    lands on the user, the device is not attached, and alone it is a new visitor); once the
    first two were added more than a week ago, a new one is accepted. Old values are never
    removed: they keep resolving to the user."""
    model = CdpModel(identity=anonymous_limit("weekly"))
    visit(model, day(0), "a-1")
    visit(model, day(1), "a-2")
    user = model.profile("user_id", "u")
    assert user is not None and user.anonymous_ids == ["a-1", "a-2"]
    visit(model, day(6.9), "a-3")
    assert user.anonymous_ids == ["a-1", "a-2"]
    assert model.identity.demoted == 1
    assert user.event_counts["Visit"] == 3  # the call itself was kept on the user
    visit(model, day(6.95), "a-3", user_id=None)
    stranger = model.profile("anonymous_id", "a-3")
    assert stranger is not None and stranger is not user
    # a-1 (day 0) is out of the week on day 7.5, a-2 (day 1) is not: one new value fits
    visit(model, day(7.5), "a-4")
    assert user.anonymous_ids == ["a-1", "a-2", "a-4"]
    visit(model, day(7.6), "a-5")
    assert "a-5" not in user.anonymous_ids
    assert model.profile("anonymous_id", "a-1") is user
    # a-3's own profile merges in once the window has room for it again (day 8.1: a-2 has
    # aged out; a-4 and a-3 itself make two)
    visit(model, day(8.1), "a-3")
    assert model.profile("anonymous_id", "a-3") is user
    assert user.merged_from == [stranger.id]


def test_an_ever_limit_never_slides() -> None:
    """The same traffic under "2 ever": a month later the third device is still refused, and
    its anonymous profile is never merged into the user."""
    model = CdpModel(identity=anonymous_limit("ever"))
    visit(model, day(0), "a-1")
    visit(model, day(1), "a-2")
    visit(model, day(2), "a-3", user_id=None)
    visit(model, day(30), "a-3")
    user = model.profile("user_id", "u")
    assert user is not None and user.anonymous_ids == ["a-1", "a-2"]
    assert model.profile("anonymous_id", "a-3") is not user
    assert len(model.profiles()) == 2


def test_a_windowed_limit_counts_a_merged_profile_values_by_when_they_were_added() -> None:
    """Merging two profiles counts, per windowed type, the union's values added within the
    window before the call: old devices of both sides do not block the merge."""
    model = CdpModel(identity=anonymous_limit("daily"))
    visit(model, day(0), "a-1")
    visit(model, day(0.1), "a-2")
    visit(model, day(0.2), "b-1", user_id=None)
    model.ingest("web", Identify(anonymous_id="b-1", traits={"email": "e@x"}), day(0.3))
    visit(model, day(0.5), "b-1")  # 3 values within a day: refused
    assert len(model.profiles()) == 2
    visit(model, day(1.15), "b-1")  # a-1, a-2 older than a day; b-1 (day 0.2) too
    (user,) = model.profiles()
    assert user.anonymous_ids == ["a-1", "a-2", "b-1"]
    assert user.traits["email"] == "e@x"  # the visitor's identify came along


def test_user_id_one_ever_still_starts_a_new_profile() -> None:
    """ "1 ever" on user_id is not a window: a second userId on a known device, a year later,
    is another person."""
    model = CdpModel(identity=anonymous_limit("weekly", limit=5))
    visit(model, day(0), "a-1", user_id="u-1")
    visit(model, day(365), "a-1", user_id="u-2")
    assert model.profile("user_id", "u-1") is not model.profile("user_id", "u-2")
    assert model.profile("anonymous_id", "a-1") is model.profile("user_id", "u-1")


def test_identity_config_periods_are_validated_and_loaded() -> None:
    with pytest.raises(ValueError, match=r"identifier_rule\.period must be one of .*'fortnightly'"):
        IdentifierRule(type="anonymous_id", period="fortnightly")
    config = load_identity_config(
        {
            "rules": [
                {"type": "user_id", "limit": 1, "priority": 1},
                {"type": "anonymous_id", "limit": 5, "priority": 3, "period": "weekly"},
                {
                    "type": "email",
                    "limit": 5,
                    "priority": 2,
                    "trait": "email",
                    "period": "annually",
                },
            ]
        }
    )
    periods = {rule.type: (rule.limit, rule.period, rule.window) for rule in config.rules}
    assert periods == {
        "user_id": (1, "ever", None),
        "anonymous_id": (5, "weekly", timedelta(days=7)),
        "email": (5, "annually", timedelta(days=365)),
    }
    assert load_identity_config(b'{"rules": [{"type": "user_id"}, {"type": "anonymous_id"}]}')
    bad_period = {"rules": [{"type": "user_id"}, {"type": "anonymous_id", "period": "hourly"}]}
    with pytest.raises(
        ValueError, match=r"^identity: identifier_rule\.period .* at `\$\.rules\[1\]`"
    ):
        load_identity_config(bad_period)
    bad_limit = {"rules": [{"type": "user_id", "limit": "5 weekly"}]}
    with pytest.raises(ValueError, match=r"Expected `int`, got `str` - at `\$\.rules\[0\]\.limit`"):
        load_identity_config(bad_limit)
    with pytest.raises(ValueError, match=r"unknown field `window`"):
        load_identity_config({"rules": [{"type": "user_id", "window": "weekly"}]})
    with pytest.raises(ValueError, match="identity: not JSON"):
        load_identity_config("{rules")


def test_engage_events_name_the_profile_by_its_first_user_id_or_anonymous_id() -> None:
    """Engage's events carry the profile's first userId, or, while it has none, its first
    anonymousId; the cached ids follow identify calls and merges (the anonymous profile's
    ids come after the known one's)."""
    model = CdpModel()
    model.add_audience(
        Audience(
            key="viewers",
            name="Viewers",
            condition=PerformedEvent(event="Product Viewed", at_least=1),
        )
    )
    model.add_audience(
        Audience(key="buyers", name="Buyers", condition=PerformedEvent(event="Order Completed"))
    )
    track = Track(anonymous_id="a-1", event="Product Viewed", timestamp=at(0))
    (_, entered, _) = model.ingest("web", track, at(0))
    assert (entered[1].user_id, entered[1].anonymous_id) == (None, "a-1")
    model.ingest("web", Page(anonymous_id="a-2", timestamp=at(1)), at(1))
    model.ingest("web", Identify(user_id="u-1", anonymous_id="a-2", timestamp=at(2)), at(2))
    model.ingest("web", Identify(user_id="u-1", anonymous_id="a-1", timestamp=at(3)), at(3))
    (profile,) = model.profiles()
    assert (profile.user_id, profile.first_anonymous_id) == ("u-1", "a-2")
    assert profile.anonymous_ids == ["a-2", "a-1"]
    order = Track(anonymous_id="a-1", event="Order Completed", timestamp=at(4))
    routed = model.ingest("web", order, at(4))
    engage = [e for source, e in routed if source == ENGAGE_SOURCE]
    assert [(e.user_id, e.anonymous_id) for e in engage] == [("u-1", None), ("u-1", None)]


@pytest.mark.parametrize("seed", range(8))
def test_resolving_a_call_equals_its_identifiers_resolved(seed: int) -> None:
    """``resolve_call`` (with its shortcut for calls whose ids are known and agree) places
    every call on the same profile as ``identifiers_of`` + ``resolve_ids``, creations,
    merges, demotions and blocked values included, over random calls of few ids."""
    import random

    rng = random.Random(seed)
    config = IdentityConfig(
        rules=(
            IdentifierRule(type="user_id", limit=1, priority=1, blocked=frozenset({"test"})),
            IdentifierRule(type="email", limit=2, priority=2, trait="email"),
            IdentifierRule(
                type="anonymous_id", limit=3, priority=3, blocked=frozenset({"anonymous"})
            ),
        )
    )
    counters = [iter(range(1, 10_000)), iter(range(1, 10_000))]
    fast = IdentityGraph(lambda: f"p{next(counters[0])}", config)
    slow = IdentityGraph(lambda: f"p{next(counters[1])}", config)
    placed: list[tuple[str, str]] = []
    for n in range(400):
        user = rng.choice([None, "test", *(f"u{i}" for i in range(6))])
        anonymous = rng.choice([None, "anonymous", *(f"a{i}" for i in range(10))])
        traits = {"email": f"e{rng.randrange(4)}@x.io"} if rng.random() < 0.15 else None
        context = {"traits": {"email": "e1@x.io"}} if rng.random() < 0.05 else {}
        when = at(n)
        if user in (None, "test") and anonymous in (None, "anonymous") and not (traits or context):
            with pytest.raises(ValueError, match="userId or an anonymousId"):
                fast.resolve_call(user, anonymous, traits, context, when, source="web")
            continue
        a = fast.resolve_call(user, anonymous, traits, context, when, source="web")
        ids = slow.identifiers_of(user, anonymous, traits, context)
        b = slow.resolve_ids(ids, when, source="web")
        placed.append((a.id, b.id))
    assert all(a == b for a, b in placed)
    assert (fast.merges, fast.demoted) == (slow.merges, slow.demoted)
    assert sorted(p.id for p in fast.profiles()) == sorted(p.id for p in slow.profiles())
    assert len({a for a, _ in placed}) > 5 and fast.merges > 0  # they created and merged
