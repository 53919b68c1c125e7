"""Identity resolution and profiles: identify/alias merges, no merge across people, LWW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoloop.actors.cdp import CdpModel, HistoryEntry, Profile
from promoloop.actors.cdp.identity import IdentityGraph
from promoloop.actors.events import Alias, Identify, Page, Track

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


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
    """Only user_id and anonymous_id are identifier types; a typo is an error, not a miss."""
    ids = graph()
    ids.resolve("u-1", None, at(0))
    assert ids.lookup("user_id", "u-1") is not None
    assert ids.lookup("user_id", "nobody") is None
    with pytest.raises(ValueError, match="'email'"):
        ids.lookup("email", "pam@example.com")
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
