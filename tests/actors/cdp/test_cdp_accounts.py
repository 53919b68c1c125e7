"""Accounts and links from group calls, as Unify builds them: account profiles by group_id
with their own traits (LWW by event timestamp), user ↔ account links, links surviving merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promoloop.actors.cdp import CdpModel, Link
from promoloop.actors.events import Group, Identify, Track

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def group(model: CdpModel, minutes: float, group_id: str | int, mid: str, **kw: object) -> None:
    call = Group(group_id=group_id, message_id=mid, timestamp=at(minutes), **kw)  # type: ignore[arg-type]
    model.ingest("crm", call, at(minutes))


def test_a_group_call_creates_an_account_and_links_the_user() -> None:
    """The account is a profile of its own (group_id, traits, its group calls); the user keeps
    the call in its history and is linked to the account. Tracks make no account."""
    model = CdpModel()
    model.ingest("web", Track(user_id="pam", event="Signed Up", timestamp=at(0)), at(0))
    group(model, 1, "dunder", "g1", user_id="pam", traits={"name": "Dunder Mifflin"})
    pam = model.profile("user_id", "pam")
    account = model.account("dunder")
    assert pam is not None and account is not None
    assert account.id == "acct_0000001" and account.id != pam.id
    assert [(e.type, e.id, e.source) for e in account.identifiers] == [
        ("group_id", "dunder", "crm")
    ]
    assert account.traits == {"name": "Dunder Mifflin"}
    assert [(e.type, e.message_id, e.properties) for e in account.events] == [
        ("group", "g1", {"name": "Dunder Mifflin"})
    ]
    assert (account.first_message_id, account.last_source) == ("g1", "crm")
    assert [e.event or e.type for e in pam.events] == ["Signed Up", "group"]
    assert "name" not in pam.traits  # group traits are the account's, not the user's
    assert model.accounts_of(pam) == [(account, Link(at(1), "crm", "g1"))]
    assert model.users_of(account) == [(pam, Link(at(1), "crm", "g1"))]
    assert model.find_account("user_id", "pam") is None
    assert model.stats()["accounts"] == 1


def test_account_traits_last_write_wins_by_timestamp_and_numeric_ids_are_strings() -> None:
    """A late-arriving older group call does not overwrite a newer trait; the SDKs' numeric
    groupId names the same account as its string; the account's created_at is the earliest."""
    model = CdpModel()
    group(model, 10, 42, "g1", user_id="pam", traits={"plan": "pro", "seats": 10})
    group(model, 5, "42", "g0", user_id="jim", traits={"plan": "free", "city": "Scranton"})
    account = model.account("42")
    assert account is not None and len(model.accounts.profiles()) == 1
    assert account.traits == {"plan": "pro", "seats": 10, "city": "Scranton"}
    assert account.created_at == at(5) and account.first_message_id == "g0"
    assert account.updated_at == at(10) and account.last_message_id == "g1"
    assert [e.message_id for e in sorted(account.events, key=lambda e: e.timestamp)] == [
        "g0",
        "g1",
    ]


def test_users_and_accounts_are_many_to_many_and_links_are_not_repeated() -> None:
    model = CdpModel()
    group(model, 0, "dunder", "g1", user_id="pam")
    group(model, 1, "sabre", "g2", user_id="pam")
    group(model, 2, "dunder", "g3", user_id="jim")
    group(model, 3, "dunder", "g4", user_id="pam", traits={"x": 1})  # already linked
    pam, jim = model.profile("user_id", "pam"), model.profile("user_id", "jim")
    dunder, sabre = model.account("dunder"), model.account("sabre")
    assert pam and jim and dunder and sabre
    assert [(a.id, link.message_id) for a, link in model.accounts_of(pam)] == [
        (dunder.id, "g1"),
        (sabre.id, "g2"),
    ]
    assert [p.id for p, _ in model.users_of(dunder)] == [pam.id, jim.id]
    assert [p.id for p, _ in model.users_of(sabre)] == [pam.id]
    assert model.accounts_of(jim) == [(dunder, Link(at(2), "crm", "g3"))]


def test_merged_profiles_keep_the_union_of_their_links() -> None:
    """An anonymous visitor joins one account, the known user another, both the same third;
    identify merges them: the kept profile is linked to all three (the shared one by its
    earliest link), and the accounts point to the kept profile only."""
    model = CdpModel()
    group(model, 0, "dunder", "g1", anonymous_id="a-1")
    group(model, 1, "shared", "g2", anonymous_id="a-1")
    group(model, 2, "sabre", "g3", user_id="pam")
    group(model, 3, "shared", "g4", user_id="pam")
    anonymous = model.profile("anonymous_id", "a-1")
    assert anonymous is not None
    model.ingest("web", Identify(user_id="pam", anonymous_id="a-1", timestamp=at(4)), at(4))
    (pam,) = model.profiles()
    assert pam.merged_from == [anonymous.id]
    linked = {a.identifiers[0].id: link.message_id for a, link in model.accounts_of(pam)}
    assert linked == {"dunder": "g1", "shared": "g2", "sabre": "g3"}
    for group_id in ("dunder", "shared", "sabre"):
        account = model.account(group_id)
        assert account is not None
        assert [p.id for p, _ in model.users_of(account)] == [pam.id]
    assert model.accounts.accounts_of(anonymous) == []


def test_a_duplicate_group_call_changes_nothing() -> None:
    model = CdpModel()
    group(model, 0, "dunder", "g1", user_id="pam", traits={"plan": "pro"})
    group(model, 0, "dunder", "g1", user_id="pam", traits={"plan": "pro"})
    account = model.account("dunder")
    assert account is not None and len(account.events) == 1
    assert model.duplicates["crm"] == 1


def test_accounts_external_ids_in_context_are_not_user_identifiers() -> None:
    """``context.externalIds`` items of the accounts collection never merge users."""
    model = CdpModel()
    context = {"externalIds": [{"id": "acme", "type": "group_id", "collection": "accounts"}]}
    model.ingest("web", Track(user_id="pam", event="X", context=context), at(0))
    model.ingest("web", Track(user_id="jim", event="X", context=context), at(1))
    assert len(model.profiles()) == 2
    assert model.find("group_id", "acme") is None


def test_account_metadata_keeps_odd_message_ids_and_times_exactly() -> None:
    """Account metadata and its group_id identifier are packed like a user's: ids of no
    compact form and microseconds read back as they were sent."""
    model = CdpModel()
    first = at(5) + timedelta(microseconds=7)
    group(model, 10, "acme", "group call #1", user_id="pam")
    call = Group(user_id="pam", group_id="acme", message_id="g-0001", timestamp=first)
    model.ingest("crm", call, first)
    group(model, 20, "acme", "x-123456789012345678901", user_id="jim")
    account = model.account("acme")
    assert account is not None
    assert (account.created_at, account.first_message_id) == (first, "g-0001")
    assert (account.updated_at, account.last_message_id) == (at(20), "x-123456789012345678901")
    (ext,) = account.identifiers
    assert (ext.type, ext.id, ext.source, ext.created_at, ext.message_id) == (
        "group_id",
        "acme",
        "crm",
        at(10),
        "group call #1",
    )
    assert [pid for pid, _ in model.users_of(account)] == [
        model.profile("user_id", "pam"),
        model.profile("user_id", "jim"),
    ]
