"""Profile metadata that is stored compactly (bytes per profile) reads back exactly: event
count names shared between profiles, identify trait times as one float while they agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promoloop.actors.cdp import CdpModel, ExternalId, Profile
from promoloop.actors.cdp.history import HistoryCodec
from promoloop.actors.events import Group, Identify, Track

T0 = datetime(2026, 3, 2, 9, 0, 0, 123_457, tzinfo=UTC)


def test_ingested_metadata_and_identifiers_keep_the_calls_values() -> None:
    model = CdpModel()
    mid0, mid1, mid2 = "storefront-000000344", "odd-id-x", "storefront-000000346"
    t1 = T0 + timedelta(seconds=1, microseconds=3)
    model.ingest("web", Track(anonymous_id="a1", event="Viewed", message_id=mid0, timestamp=T0), T0)
    model.ingest(
        "app",
        Identify(user_id="u1", anonymous_id="a1", message_id=mid1, timestamp=t1, traits={"k": 1}),
        t1,
    )
    model.ingest(
        "web",
        Track(user_id="u1", event="Viewed", message_id=mid2, timestamp=T0 - timedelta(hours=1)),
        t1,
    )
    profile = model.profile("user_id", "u1")
    assert profile is not None
    assert (profile.created_at, profile.first_message_id, profile.first_source) == (
        T0,
        mid0,
        "web",
    )
    assert (profile.updated_at, profile.last_message_id, profile.last_source) == (t1, mid1, "app")
    assert profile.identifiers == [
        ExternalId("anonymous_id", "a1", "web", T0, mid0),
        ExternalId("user_id", "u1", "app", t1, mid1),
    ]


def test_event_count_names_are_shared_between_profiles() -> None:
    """Each profile would otherwise keep its own copy of the decoded event name."""
    model = CdpModel()
    for user in ("u1", "u2"):
        name = "".join(["Product ", "Viewed"])  # a distinct object per call, as decoded
        model.ingest("web", Track(user_id=user, event=name, timestamp=T0), T0)
    model.ingest("web", Group(user_id="u1", group_id="g1", timestamp=T0), T0)
    p1, p2 = model.profile("user_id", "u1"), model.profile("user_id", "u2")
    assert p1 is not None and p2 is not None
    (k1,) = [k for k in p1.event_counts if k == "Product Viewed"]
    (k2,) = [k for k in p2.event_counts if k == "Product Viewed"]
    assert k1 is k2 and p1.event_counts["Product Viewed"] == 1


def test_trait_times_as_one_time_or_per_key_give_the_same_answers() -> None:
    """One float while every identify trait shares its time; a dict once they differ."""
    codec = HistoryCodec()
    profile = Profile("p1", T0, codec=codec)
    t = [(T0 + timedelta(minutes=m)).timestamp() for m in range(4)]
    assert profile.set_traits({"a": 1, "b": 2}, T0) == {"a": 1, "b": 2}
    assert profile._trait_times == t[0]
    assert profile.trait_times == {"a": t[0], "b": t[0]}
    assert profile.set_traits({"a": 1, "b": 3, "c": 4}, T0 + timedelta(minutes=2)) == {
        "b": 3,
        "c": 4,
    }
    assert type(profile._trait_times) is float
    assert profile.trait_times == {"a": t[2], "b": t[2], "c": t[2]}
    # an older call writes only a key it is the first to write
    assert profile.set_traits({"a": 9, "d": 5}, T0 + timedelta(minutes=1)) == {"d": 5}
    assert profile.trait_times == {"a": t[2], "b": t[2], "c": t[2], "d": t[1]}
    assert profile.traits == {"a": 1, "b": 3, "c": 4, "d": 5}
    assert profile.set_traits({"d": 6}, T0 + timedelta(minutes=3)) == {"d": 6}
    assert profile.trait_times == {"a": t[2], "b": t[2], "c": t[2], "d": t[3]}
    assert profile.set_traits({"a": 0, "b": 3, "c": 4, "d": 6}, T0 + timedelta(minutes=3)) == {
        "a": 0
    }
    assert profile.trait_times == dict.fromkeys("abcd", t[3])


def test_an_older_identify_does_not_overwrite_one_shared_time() -> None:
    profile = Profile("p1", T0, codec=HistoryCodec())
    profile.set_traits({"a": 1, "b": 2}, T0 + timedelta(minutes=5))
    assert profile.set_traits({"a": 7, "b": 8}, T0) == {}
    assert profile.traits == {"a": 1, "b": 2}
    assert profile.trait_times == dict.fromkeys("ab", (T0 + timedelta(minutes=5)).timestamp())


def test_engage_takes_a_key_of_one_shared_time_over() -> None:
    codec = HistoryCodec()
    codec.add_audience("vip", "VIP")
    profile = Profile("p1", T0, codec=codec)
    profile.set_traits({"vip": "no", "b": 2}, T0)
    profile.members |= 1
    profile.engage("vip", 0, True, False, 0, 1)
    assert profile.traits == {"vip": True, "b": 2}
    assert profile.trait_times == {"b": T0.timestamp()}
    later = T0 + timedelta(minutes=1)
    assert profile.set_traits({"vip": False, "b": 2}, later) == {"vip": False}
    assert profile.traits == {"vip": False, "b": 2}
    assert profile.trait_times == dict.fromkeys(("b", "vip"), later.timestamp())


def test_absorb_merges_trait_times_of_either_form() -> None:
    codec = HistoryCodec()
    mine = Profile("p1", T0, codec=codec)
    mine.set_traits({"a": 1, "b": 1}, T0 + timedelta(minutes=2))
    theirs = Profile("p2", T0, codec=codec)
    theirs.set_traits({"a": 2, "b": 2, "c": 2}, T0 + timedelta(minutes=1))
    theirs.set_traits({"b": 3}, T0 + timedelta(minutes=3))
    mine.absorb(theirs)
    assert mine.traits == {"a": 1, "b": 3, "c": 2}
    assert mine.trait_times == {
        "a": (T0 + timedelta(minutes=2)).timestamp(),
        "b": (T0 + timedelta(minutes=3)).timestamp(),
        "c": (T0 + timedelta(minutes=1)).timestamp(),
    }
