"""Accounts and links, as Segment Unify builds them from ``group`` calls.

A ``group`` call (``userId``/``anonymousId`` + ``groupId`` + ``traits``) does two things in
Unify: it creates or updates the **account profile** named by ``group_id`` in the ``accounts``
collection (its own traits, last write wins by event timestamp, as a user's), and it **links**
the calling user's profile to that account. A user may belong to several accounts and an
account has many users; when two user profiles merge, the kept one has the union of both
profiles' links (the earliest link to an account wins its time and source).

An account is a :class:`Profile` (identifier ``group_id``, traits, a history of its group
calls, first/last message): the Profile API reads it with the same code as a user. Links are
kept here, not on the profiles, as two indexes (user profile id → group ids, group id → user
profile ids), so the user profiles of a workspace that sends no group calls carry nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.cdp.history import HistoryCodec
from promoloop.actors.cdp.profiles import ExternalId, Profile
from promoloop.actors.cdp.times import to_micros

ACCOUNT_ID_TYPE = "group_id"
"""The identifier type of an account profile (the only one: Unify keys accounts by groupId)."""


class Link(msgspec.Struct, frozen=True, gc=False):
    """When and where a user profile was first linked to an account."""

    created_at: datetime
    source: str
    message_id: str


def _first(link: Link) -> tuple[datetime, str]:
    return (link.created_at, link.message_id)


class Accounts:
    """Account profiles by ``group_id`` and the user ↔ account links.

    ``new_id`` names new account profiles (the model's ``acct_0000001`` sequence); ``codec``
    is the model's history codec, so an account's group calls are stored like a user's calls
    and bounded by the same ``history_limit``.
    """

    def __init__(self, codec: HistoryCodec, new_id: Callable[[], str]) -> None:
        self._codec = codec
        self._new_id = new_id
        self._by_group: dict[str, Profile] = {}
        self._groups_of: dict[str, dict[str, Link]] = {}
        """User profile id → {group id: link}."""
        self._users_of: dict[str, dict[str, Link]] = {}
        """Group id → {user profile id: link}."""

    def __len__(self) -> int:
        return len(self._by_group)

    # -- writes -----------------------------------------------------------------------------
    def group(
        self,
        user: Profile,
        group_id: str,
        traits: dict[str, Any],
        at: datetime,
        *,
        source: str,
        message_id: str,
    ) -> Profile:
        """Apply one group call made by ``user`` (already resolved): the account is created
        on first sight, its traits set (newest event timestamp wins), the call remembered in
        its history, and ``user`` linked to it. Returns the account."""
        account = self._by_group.get(group_id)
        if account is None:
            account = Profile(id=self._new_id(), created_at=at, codec=self._codec, source=source)
            ext = ExternalId(ACCOUNT_ID_TYPE, group_id, source, at, message_id)
            account.add_identifier(ext)
            self._by_group[group_id] = account
        elif at < account.created_at:
            account.created_at = at
            account.first_message_id = message_id
            account.first_source = source
        if traits:
            account.set_traits(traits, at)
        vocab = self._codec.vocabulary
        group = vocab.code("group")
        account.append_record(
            self._codec.encode_call(
                to_micros(at),
                group,
                -1,
                vocab.code(source),
                message_id,
                traits or None,
            ),
            group,
        )
        if at >= account.updated_at:
            account.set_newest(to_micros(at), message_id, source)
        link = Link(at, source, message_id)
        self._link(user.id, group_id, link)
        return account

    def _link(self, user_id: str, group_id: str, link: Link) -> None:
        groups = self._groups_of.setdefault(user_id, {})
        known = groups.get(group_id)
        if known is None or _first(link) < _first(known):
            groups[group_id] = link
            self._users_of.setdefault(group_id, {})[user_id] = link

    def merge_users(self, kept: Profile, absorbed: Profile) -> None:
        """``kept`` absorbs ``absorbed``: it takes the union of both profiles' links, and
        every account linked to ``absorbed`` now links to ``kept`` (one dict lookup when the
        absorbed profile never sent a group call)."""
        moved = self._groups_of.pop(absorbed.id, None)
        if not moved:
            return
        for group_id, link in moved.items():
            users = self._users_of[group_id]
            del users[absorbed.id]
            self._link(kept.id, group_id, link)

    # -- reads ------------------------------------------------------------------------------
    def find(self, id_type: str, value: str) -> Profile | None:
        """The account an identifier names (only ``group_id`` names accounts)."""
        if id_type != ACCOUNT_ID_TYPE:
            return None
        return self._by_group.get(value)

    def profiles(self) -> list[Profile]:
        """Every account, in creation order."""
        return list(self._by_group.values())

    def accounts_of(self, user: Profile) -> list[tuple[Profile, Link]]:
        """The accounts ``user`` is linked to, oldest link first (ties by group id)."""
        groups = self._groups_of.get(user.id)
        if not groups:
            return []
        ranked = sorted(groups.items(), key=lambda item: (_first(item[1]), item[0]))
        return [(self._by_group[group_id], link) for group_id, link in ranked]

    def users_of(self, account: Profile) -> list[tuple[str, Link]]:
        """The user profile ids linked to ``account``, oldest link first (ties by id)."""
        group_id = account.identifiers[0].id
        users = self._users_of.get(group_id)
        if not users:
            return []
        return sorted(users.items(), key=lambda item: (_first(item[1]), item[0]))
