"""Identity resolution: which profile an event belongs to, merging anonymous activity on identify.

Rules (Segment Unify's defaults, simplified): a profile has at most one ``userId``; an
``anonymousId`` first seen on its own gets an anonymous profile; an event that carries both a
known ``userId`` and an ``anonymousId`` whose profile has no ``userId`` merges the anonymous
profile into the known one. An ``anonymousId`` already tied to a *different* ``userId`` is
never merged: two people sharing a device stay two profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from promoloop.actors.cdp.profiles import Profile


class IdentityGraph:
    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self.by_user: dict[str, Profile] = {}
        self.by_anonymous: dict[str, Profile] = {}
        self.merges = 0
        self.refused = 0

    def lookup(self, id_type: str, value: str) -> Profile | None:
        if id_type == "user_id":
            return self.by_user.get(value)
        if id_type == "anonymous_id":
            return self.by_anonymous.get(value)
        raise ValueError(f"unknown identifier type {id_type!r} (user_id or anonymous_id)")

    def resolve(self, user_id: str | None, anonymous_id: str | None, at: datetime) -> Profile:
        if not user_id and not anonymous_id:
            raise ValueError("an event needs a userId or an anonymousId")
        known = self.by_user.get(user_id) if user_id else None
        anonymous = self.by_anonymous.get(anonymous_id) if anonymous_id else None

        if user_id is None:
            return anonymous or self._create(None, anonymous_id, at)
        if known is None:
            if anonymous is not None and anonymous.user_id is None:
                anonymous.user_id = user_id
                self.by_user[user_id] = anonymous
                return anonymous
            known = self._create(user_id, None, at)
        if anonymous_id is not None:
            if anonymous is None:
                known.anonymous_ids.append(anonymous_id)
                self.by_anonymous[anonymous_id] = known
            elif anonymous is not known and anonymous.user_id is None:
                known.absorb(anonymous)
                for aid in anonymous.anonymous_ids:
                    self.by_anonymous[aid] = known
                self.merges += 1
        return known

    def resolve_alias(self, user_id: str | None, previous_id: str, at: datetime) -> Profile:
        """``alias(previousId → userId)``: merge what ``previousId`` named into ``userId``'s
        profile. ``previousId`` may be an anonymousId (the usual case) or an earlier userId;
        two profiles that each have a userId are never merged (at most one per profile), so
        aliasing one known user to another leaves both as they are and records the refusal."""
        if not user_id:
            raise ValueError("alias needs a userId")
        previous = self.by_user.get(previous_id)
        if previous is None:
            return self.resolve(user_id, previous_id, at)
        known = self.by_user.get(user_id)
        if known is previous:
            return known
        if known is None:
            known = self._create(user_id, None, at)
        known.refused_merges.append(previous.id)
        self.refused += 1
        return known

    def _create(self, user_id: str | None, anonymous_id: str | None, at: datetime) -> Profile:
        profile = Profile(id=self._new_id(), created_at=at, user_id=user_id)
        if user_id:
            self.by_user[user_id] = profile
        if anonymous_id:
            profile.anonymous_ids.append(anonymous_id)
            self.by_anonymous[anonymous_id] = profile
        return profile

    def profiles(self) -> list[Profile]:
        seen: dict[str, Profile] = {}
        for profile in [*self.by_user.values(), *self.by_anonymous.values()]:
            seen.setdefault(profile.id, profile)
        return sorted(seen.values(), key=lambda p: p.id)
