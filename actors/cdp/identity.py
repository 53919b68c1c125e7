"""Identity resolution: which profile an event belongs to, merging profiles when a call links
their identifiers, within per-identifier limits and priorities (Segment Unify's rules).

Identifiers of a call: ``userId`` (``user_id``), ``anonymousId`` (``anonymous_id``), the
traits a rule promotes (``email`` from ``traits.email`` or ``context.traits.email``), and
``context.externalIds`` items ``{"id", "type", ...}`` (custom external ids).

Flat matching, as Unify does it: find every profile that holds one of the call's identifiers.
None: create a profile. One or more: the union of their identifiers and the call's must respect
every rule's ``limit`` (by default at most one ``user_id``, five of anything else); if it does,
they become one profile (the one holding the call's highest-priority identifier absorbs the
others, history included, and records the merge). If it does not, the call's lowest-priority
identifier is dropped and matching starts again, so a conflicting ``userId`` starts a new
profile instead of merging two people, and a shared device stays with its first owner.

Limits have a period, as Unify's do ("1 ever", "5 weekly"): a profile may gain at most
``limit`` values of a type within any sliding ``period``; ``ever`` counts every value it holds.
A windowed limit counts the values *added* to the profile within the period before the call's
timestamp (an identifier's ``created_at``, the event time it was first seen), so once older
values have aged out of the window new ones are accepted again. Nothing is ever removed: values
outside the window stay on the profile and keep resolving to it (Segment: external ids "remain
for the lifetime of the user profile"). A call that would exceed a limit is handled by the same
priority rule whatever the period (the weakest identifier of the call is demoted), which is what
Segment documents. Blocked values (``rule.blocked``) are never promoted to identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from promoloop.actors.cdp.history import HistoryCodec
from promoloop.actors.cdp.profiles import ExternalId, Profile
from promoloop.actors.cdp.times import to_micros

_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")

Identifier = tuple[str, str]
"""(type, value)."""

Period = Literal["ever", "daily", "weekly", "monthly", "annually"]
PERIODS: dict[str, timedelta | None] = {
    "ever": None,
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
    "annually": timedelta(days=365),
}
"""The periods Unify's identity settings offer, as sliding windows (a month is 30 days, a year
365: Segment does not say how it counts them, and a fixed length keeps a window a window)."""


class IdentifierRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one identifier type is promoted and limited.

    ``priority``: lower is stronger (user_id 1, email 2 by default); when a merge would break a
    limit, the call's weakest identifier is dropped first. ``trait``: promote this trait (from
    identify ``traits`` or ``context.traits``) to an identifier of this type. ``limit`` values
    per ``period`` (``ever``, or a sliding ``daily``/``weekly``/``monthly``/``annually`` window
    over the values' first-seen times: "5 weekly" lets a constantly changing id such as
    ``anonymous_id`` keep coming, at most five new ones a week).
    """

    type: str
    limit: int = 5
    priority: int = 100
    trait: str | None = None
    blocked: frozenset[str] = frozenset()
    period: str = "ever"

    def __post_init__(self) -> None:
        if not _TYPE.match(self.type):
            raise ValueError(
                f"identifier_rule.type must be lowercase letters, digits, '_' or '.', "
                f"got {self.type!r}"
            )
        if self.limit < 1:
            raise ValueError(f"identifier_rule.limit must be >= 1, got {self.limit}")
        if self.period not in PERIODS:
            raise ValueError(
                f"identifier_rule.period must be one of {', '.join(PERIODS)}, "
                f"got {self.period!r} (rule {self.type!r})"
            )

    @property
    def window(self) -> timedelta | None:
        """The sliding window of the limit (None: values ever held)."""
        return PERIODS[self.period]


DEFAULT_RULES: tuple[IdentifierRule, ...] = (
    IdentifierRule(type="user_id", limit=1, priority=1),
    IdentifierRule(type="email", limit=5, priority=2, trait="email"),
    IdentifierRule(type="anonymous_id", limit=5, priority=3),
)
"""Segment's defaults: one user_id ever, five of anything else; user_id, email, then others."""

AUTO_PRIORITY = 1_000
"""Identifier types first seen in ``context.externalIds`` rank after every configured one
(alphabetically among themselves), with the default limit, as Unify auto-adds them."""


class IdentityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Unify's identity resolution settings: one rule per identifier type."""

    rules: tuple[IdentifierRule, ...] = DEFAULT_RULES
    accept_unconfigured: bool = True
    """Accept ``context.externalIds`` of types with no rule (auto-added, limit 5)."""

    def __post_init__(self) -> None:
        types = [rule.type for rule in self.rules]
        if len(set(types)) != len(types):
            raise ValueError(f"identity.rules lists an identifier type twice: {types}")
        for required in ("user_id", "anonymous_id"):
            if required not in types:
                raise ValueError(f"identity.rules must include a rule for {required!r}")


def load_identity_config(data: bytes | str | dict[str, Any]) -> IdentityConfig:
    """Identity settings from JSON (or its decoded dict), e.g. ``{"rules": [{"type":
    "anonymous_id", "limit": 5, "period": "weekly", "priority": 3}, ...]}``.

    Why a loader: settings come from files and scenario options, and a bad one must say which
    item and field is wrong (``identity: identifier_rule.period must be one of ... - at
    `$.rules[1]```) instead of failing later, or silently, on the first call it would affect.
    """
    try:
        if isinstance(data, dict):
            return msgspec.convert(data, IdentityConfig)
        return msgspec.json.decode(data, type=IdentityConfig)
    except msgspec.ValidationError as error:
        raise ValueError(f"identity: {error}") from None
    except msgspec.DecodeError as error:
        raise ValueError(f"identity: not JSON: {error}") from None


def _micros(window: timedelta | None) -> int | None:
    return None if window is None else window // timedelta(microseconds=1)


class IdentityGraph:
    """Identifier → profile index and the merge rules above."""

    def __init__(
        self,
        new_id: Callable[[], str],
        config: IdentityConfig | None = None,
        *,
        codec: HistoryCodec | None = None,
    ) -> None:
        self._new_id = new_id
        self.config = config or IdentityConfig()
        self._codec = codec
        rules = self.config.rules
        self._rules: dict[str, IdentifierRule] = {r.type: r for r in rules}
        self._windows: dict[str, int | None] = {r.type: _micros(r.window) for r in rules}
        """Each type's limit window in microseconds (None: values ever held)."""
        self._trait_rules = [r for r in rules if r.trait]
        self._promoted = frozenset(r.trait for r in self._trait_rules if r.trait)
        """Trait names some rule promotes to an identifier (``email`` by default)."""
        user, anonymous = self._rules["user_id"], self._rules["anonymous_id"]
        self._user_blocked = user.blocked
        self._anonymous_blocked = anonymous.blocked
        self._user_first = (user.priority, "user_id") <= (anonymous.priority, "anonymous_id")
        self._index: dict[str, dict[str, Profile]] = {r.type: {} for r in self.config.rules}
        self._profiles: dict[str, Profile] = {}
        self.merges = 0
        self.refused = 0
        self.demoted = 0
        """Identifiers dropped from a call because keeping them would break a limit."""
        self.on_merge: Callable[[Profile, Profile], None] | None = None
        """Called as ``on_merge(kept, absorbed)`` just before ``kept`` absorbs the other (the
        model merges computed trait states and audience sizes there)."""

    # -- compatibility views ----------------------------------------------------------------
    @property
    def by_user(self) -> dict[str, Profile]:
        return self._index["user_id"]

    @property
    def by_anonymous(self) -> dict[str, Profile]:
        return self._index["anonymous_id"]

    def types(self) -> list[str]:
        return sorted(self._index)

    # -- lookups ----------------------------------------------------------------------------
    def lookup(self, id_type: str, value: str) -> Profile | None:
        index = self._index.get(id_type)
        if index is None:
            raise ValueError(
                f"unknown identifier type {id_type!r} (known: {', '.join(self.types())})"
            )
        return index.get(value)

    def get(self, profile_id: str) -> Profile | None:
        return self._profiles.get(profile_id)

    def profiles(self) -> list[Profile]:
        """Every profile, by id (creation order)."""
        return list(self._profiles.values())

    def __len__(self) -> int:
        return len(self._profiles)

    # -- identifiers of a call --------------------------------------------------------------
    def _rule(self, id_type: str) -> IdentifierRule | None:
        rule = self._rules.get(id_type)
        if rule is None and self.config.accept_unconfigured and _TYPE.match(id_type):
            rule = IdentifierRule(type=id_type, priority=AUTO_PRIORITY)
            self._rules[id_type] = rule
            self._windows[id_type] = _micros(rule.window)
            self._index[id_type] = {}
        return rule

    def identifiers_of(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[Identifier]:
        """The call's identifiers, strongest first, blocked and malformed values left out."""
        plain = self._plain_ids(user_id, anonymous_id, traits, context)
        if plain is not None:
            # Most calls carry only a userId and/or an anonymousId: no rule lookups, no sort.
            user = None if plain[0] is None else ("user_id", plain[0])
            anonymous = None if plain[1] is None else ("anonymous_id", plain[1])
            if user is None:
                return [anonymous] if anonymous is not None else []
            if anonymous is None:
                return [user]
            return [user, anonymous] if self._user_first else [anonymous, user]
        found: list[Identifier] = []
        if user_id:
            found.append(("user_id", user_id))
        if anonymous_id:
            found.append(("anonymous_id", anonymous_id))
        context_traits = (context or {}).get("traits")
        for rule in self._trait_rules:
            assert rule.trait is not None
            for source in (traits, context_traits):
                value = source.get(rule.trait) if isinstance(source, dict) else None
                if isinstance(value, str) and value:
                    found.append((rule.type, value))
                    break
        external = (context or {}).get("externalIds")
        if isinstance(external, list):
            for item in external:
                if not isinstance(item, dict):
                    continue
                id_type, value = item.get("type"), item.get("id")
                if item.get("collection", "users") != "users":
                    continue
                if isinstance(id_type, str) and isinstance(value, str | int) and value != "":
                    found.append((id_type, str(value)))
        out: list[Identifier] = []
        for id_type, value in found:
            rule = self._rule(id_type)
            if rule is None or value in rule.blocked or (id_type, value) in out:
                continue
            out.append((id_type, value))
        out.sort(key=lambda ident: (self._rules[ident[0]].priority, ident[0]))
        return out

    def _plain_ids(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any] | None,
        context: dict[str, Any] | None,
    ) -> tuple[str | None, str | None] | None:
        """The call's usable userId and anonymousId (None for a missing or blocked one) when
        they are all it can carry: no promoted trait, no context traits or externalIds. None
        otherwise (the call needs the full rules)."""
        if (traits and not self._promoted.isdisjoint(traits)) or (
            context and ("traits" in context or "externalIds" in context)
        ):
            return None
        return (
            user_id if user_id and user_id not in self._user_blocked else None,
            anonymous_id if anonymous_id and anonymous_id not in self._anonymous_blocked else None,
        )

    # -- resolution -------------------------------------------------------------------------
    def resolve(
        self, user_id: str | None, anonymous_id: str | None, at: datetime, **where: Any
    ) -> Profile:
        """Compatibility form: resolve a call that carries only a userId/anonymousId."""
        ids = self.identifiers_of(user_id, anonymous_id)
        if not ids:
            raise ValueError("an event needs a userId or an anonymousId")
        return self.resolve_ids(ids, at, **where)

    def resolve_call(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any] | None,
        context: dict[str, Any] | None,
        at: datetime,
        *,
        source: str = "",
        message_id: str = "",
    ) -> Profile:
        """:meth:`identifiers_of` then :meth:`resolve_ids`: the profile of a call.

        Most calls carry only a userId and/or an anonymousId the graph already holds, on one
        profile: that profile is found with one or two index lookups, without building the
        call's identifier list (the outcome :meth:`resolve_ids` would reach, as the order of
        identifiers only matters when they name different profiles or none)."""
        plain = self._plain_ids(user_id, anonymous_id, traits, context)
        if plain is not None:
            user, anonymous = plain
            index = self._index
            if user is not None:
                found = index["user_id"].get(user)
                if found is not None and (
                    anonymous is None or index["anonymous_id"].get(anonymous) is found
                ):
                    return found
            elif anonymous is not None:
                found = index["anonymous_id"].get(anonymous)
                if found is not None:
                    return found
        ids = self.identifiers_of(user_id, anonymous_id, traits, context)
        return self.resolve_ids(ids, at, source=source, message_id=message_id)

    def resolve_ids(
        self, ids: list[Identifier], at: datetime, *, source: str = "", message_id: str = ""
    ) -> Profile:
        """Place a call with identifiers ``ids`` (strongest first) on one profile."""
        if not ids:
            raise ValueError("an event needs a userId or an anonymousId")
        first = self._index[ids[0][0]].get(ids[0][1])
        if first is not None and all(self._index[t].get(v) is first for t, v in ids[1:]):
            return first  # the common case: every identifier already names this profile
        ids = list(ids)
        while True:
            matches = self._matches(ids)
            if not matches:
                return self._create(ids, at, source, message_id)
            if self._within_limits(matches, ids, at):
                target = matches[0]
                for other in matches[1:]:
                    self._merge(target, other)
                self._attach(target, ids, at, source, message_id)
                return target
            ids.pop()  # drop the weakest identifier and match again
            self.demoted += 1

    def _matches(self, ids: list[Identifier]) -> list[Profile]:
        """Distinct profiles holding any of ``ids``, in the order of the strongest id."""
        found: list[Profile] = []
        for id_type, value in ids:
            profile = self._index[id_type].get(value)
            if profile is not None and profile not in found:
                found.append(profile)
        return found

    def _within_limits(self, profiles: list[Profile], ids: list[Identifier], at: datetime) -> bool:
        """Whether ``profiles`` merged, plus the call's ``ids``, respect every limit at ``at``.

        A windowed limit counts the values first seen after ``at - window`` (the call's new
        values count as seen now); an ``ever`` limit counts every value. Only calls that bring
        a new identifier or link profiles get here (see :meth:`resolve_ids`), never the hot
        path of a known visitor's track."""
        rules = self._rules
        windows = self._windows
        at_micros = to_micros(at)
        values: dict[str, set[str]] = {}
        for profile in profiles:
            for id_type, value, micros in profile.id_stamps():
                window = windows[id_type]
                if window is None or micros > at_micros - window:
                    values.setdefault(id_type, set()).add(value)
        for id_type, value in ids:
            if self._index[id_type].get(value) is None:  # held ones were counted above
                values.setdefault(id_type, set()).add(value)
        return all(len(seen) <= rules[t].limit for t, seen in values.items())

    def _attach(
        self, profile: Profile, ids: Iterable[Identifier], at: datetime, source: str, mid: str
    ) -> None:
        for id_type, value in ids:
            index = self._index[id_type]
            if value not in index:
                index[value] = profile
                profile.add_identifier(ExternalId(id_type, value, source, at, mid))

    def _create(self, ids: list[Identifier], at: datetime, source: str, message_id: str) -> Profile:
        profile = Profile(id=self._new_id(), created_at=at, codec=self._codec, source=source)
        self._profiles[profile.id] = profile
        kept: list[Identifier] = []
        counts: dict[str, int] = {}
        for id_type, value in ids:  # one call may list more values of a type than allowed
            if counts.get(id_type, 0) < self._rules[id_type].limit:
                counts[id_type] = counts.get(id_type, 0) + 1
                kept.append((id_type, value))
        self._attach(profile, kept, at, source, message_id)
        if not kept:  # no identifier to read the first message id from
            profile.first_message_id = message_id
        return profile

    def _merge(self, target: Profile, other: Profile) -> None:
        if self.on_merge is not None:
            self.on_merge(target, other)
        target.absorb(other)
        for id_type, value, _ in other.id_stamps():
            self._index[id_type][value] = target
        del self._profiles[other.id]
        self.merges += 1

    def resolve_alias(
        self, user_id: str | None, previous_id: str, at: datetime, **where: Any
    ) -> Profile:
        """``alias(previousId → userId)``: merge what ``previousId`` named into ``userId``'s
        profile. ``previousId`` may be an anonymousId (the usual case) or an earlier userId;
        two profiles that each have a userId are never merged (the user_id limit), so aliasing
        one known user to another leaves both as they are and records the refusal."""
        if not user_id:
            raise ValueError("alias needs a userId")
        previous = self.by_user.get(previous_id)
        if previous is None:
            return self.resolve_ids(self.identifiers_of(user_id, previous_id), at, **where)
        known = self.by_user.get(user_id)
        if known is previous:
            return known
        if known is None:
            known = self.resolve_ids([("user_id", user_id)], at, **where)
        if self._within_limits([known, previous], [], at):
            self._merge(known, previous)
            return known
        known.record_refusal(previous.id)
        self.refused += 1
        return known
