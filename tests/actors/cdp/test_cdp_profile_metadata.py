"""Profile metadata that is stored compactly (bytes per profile) reads back exactly: event
counts by vocabulary code, identify trait times as one float while they agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promoloop.actors.cdp import CdpModel, ExternalId, Profile
from promoloop.actors.cdp.history import HistoryCodec, HistoryEntry
from promoloop.actors.cdp.times import to_micros
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


def test_event_counts_are_kept_by_vocabulary_code_with_the_names_shared() -> None:
    """Each profile would otherwise keep a dict keyed by its own copy of the decoded name."""
    model = CdpModel()
    for user in ("u1", "u2"):
        name = "".join(["Product ", "Viewed"])  # a distinct object per call, as decoded
        model.ingest("web", Track(user_id=user, event=name, timestamp=T0), T0)
    model.ingest("web", Group(user_id="u1", group_id="g1", timestamp=T0), T0)
    model.ingest("web", Track(user_id="u1", event="Product Viewed", timestamp=T0), T0)
    p1, p2 = model.profile("user_id", "u1"), model.profile("user_id", "u2")
    assert p1 is not None and p2 is not None
    assert p1.event_counts == {"Product Viewed": 2, "group": 1}
    assert p2.event_counts == {"Product Viewed": 1}
    (k1,) = [k for k in p1.event_counts if k == "Product Viewed"]
    (k2,) = [k for k in p2.event_counts if k == "Product Viewed"]
    assert k1 is k2
    assert (p1.count("Product Viewed"), p2.count("group"), p2.count("Never Seen")) == (2, 0, 0)
    assert p1.counts.itemsize == 2


def test_a_count_past_the_item_type_widens_every_count() -> None:
    codec = HistoryCodec()
    vocabulary = codec.vocabulary
    a, b = vocabulary.code("A"), vocabulary.code("B")
    profile = Profile("p1", T0, codec=codec)
    profile.remember(HistoryEntry(T0, "track", "B", "web", "m1", {}))
    assert list(profile.counts) == [0, 1]
    profile.counts[a] = 65_535
    profile.remember(HistoryEntry(T0, "track", "A", "web", "m2", {}))
    assert profile.counts.typecode == "Q"
    assert (profile.count("A"), profile.count("B")) == (65_536, 1)
    assert profile.event_counts == {"A": 65_536, "B": 1}
    other = Profile("p2", T0, codec=codec)
    other.remember(HistoryEntry(T0, "track", "C", "web", "m3", {}))
    other.counts[b] = 65_535
    absorbed = Profile("p3", T0, codec=codec)
    absorbed.remember(HistoryEntry(T0, "track", "B", "web", "m4", {}))
    absorbed.absorb(other)  # 1 + 65,535 does not fit two bytes
    assert absorbed.event_counts == {"B": 65_536, "C": 1}
    assert absorbed.history_size == 2


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
    profile.engage("vip", 0, True, False, 0, 1, codec.vocabulary.code("Audience Entered"))
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


def test_identifiers_are_packed_and_read_back_exactly() -> None:
    codec = HistoryCodec()
    profile = Profile("p1", T0, codec=codec)
    later = T0 + timedelta(days=3, microseconds=7)
    ids = [
        ExternalId("anonymous_id", "a1", "web", T0, "storefront-000000001"),
        ExternalId("email", "x@y.z", "crm", later, "a-b-007x"),
        ExternalId("user_id", "42", "app", T0, ""),
        ExternalId("anonymous_id", "a2", "web", later, "00000000000000000000123"),
    ]
    for ext in ids:
        profile.add_identifier(ext)
    assert profile.identifiers == ids
    assert (profile.user_id, profile.first_anonymous_id) == ("42", "a1")
    assert (profile.ids_of("email"), profile.anonymous_ids) == (["x@y.z"], ["a1", "a2"])
    assert profile.has_id("user_id", "42")
    assert not profile.has_id("email", "42") and not profile.has_id("user_id", "43")


def test_identify_traits_are_packed_with_their_keys_shared() -> None:
    codec = HistoryCodec()
    codec.add_audience("vip", "VIP")
    one, two = Profile("p1", T0, codec=codec), Profile("p2", T0, codec=codec)
    assert (one.identify_traits, one.trait("a")) == (None, None)
    one.set_traits({"a": 1, "vip": "no", "c": None}, T0)
    two.set_traits(dict([("a", 2.0), ("vip", "yes"), ("c", [1])]), T0)
    assert one._traits is not None and two._traits is not None
    assert one._traits[0] is two._traits[0]
    assert (one.trait("a"), one.trait("c"), one.trait("zz"), two.trait("c")) == (1, None, None, [1])
    view = one.identify_traits
    assert view == {"a": 1, "vip": "no", "c": None}
    view["a"] = 5  # a copy: the profile is unchanged
    assert one.trait("a") == 1
    one.members |= 1
    one.engage("vip", 0, True, False, 0, 1, codec.vocabulary.code("Audience Entered"))
    assert one.identify_traits == {"a": 1, "c": None}
    assert one.traits == {"a": 1, "c": None, "vip": True}
    one.absorb(two)  # same time: theirs wins for keys they have, vip stays Engage's
    assert one.identify_traits == {"a": 2.0, "c": [1]}
    assert one.trait("vip") is True


def test_the_newest_call_is_read_from_the_history_or_kept_when_an_older_one_follows() -> None:
    model = CdpModel(history_limit=3)

    def call(mid: str, minutes: int, source: str = "web") -> None:
        at = T0 + timedelta(minutes=minutes)
        model.ingest(source, Track(user_id="u1", event="E", message_id=mid, timestamp=at), at)

    call("m1", 10)
    profile = model.profile("user_id", "u1")
    assert profile is not None
    assert (profile.last_message_id, profile.last_source, profile._newest) == ("m1", "web", None)
    call("m2", 5, "app")  # older: m1 stays the newest, kept apart from the history
    assert (profile.last_message_id, profile.last_source) == ("m1", "web")
    for n in range(3, 7):  # older calls push m1 out of the history: still known
        call(f"m{n}", n)
    assert "m1" not in [e.message_id for e in profile.events]
    assert (profile.last_message_id, profile.updated_at) == ("m1", T0 + timedelta(minutes=10))
    call("m7", 10, "app")  # same time as m1, arrived later: the newest
    assert (profile.last_message_id, profile.last_source, profile._newest) == ("m7", "app", None)
    other = Profile("p9", T0, codec=model.codec)
    other.remember(HistoryEntry(T0 + timedelta(minutes=10), "track", "E", "crm", "o1", {}))
    other.set_newest(to_micros(T0 + timedelta(minutes=10)), "o1", "crm")
    profile.absorb(other)  # a tie: this profile's newest stays
    assert (profile.last_message_id, profile.last_source) == ("m7", "app")
    later = Profile("p8", T0, codec=model.codec)
    later.set_newest(to_micros(T0 + timedelta(minutes=11)), "l1", "crm")
    profile.absorb(later)
    assert (profile.last_message_id, profile.last_source) == ("l1", "crm")
    assert profile.updated_at == T0 + timedelta(minutes=11)
