"""The membership log folds runs of changes (same time, consecutive numbers) into one int each
and still gives back every change exactly: alone, once full (the oldest dropped), through a model
whose computed-trait syncs take numbers between changes, and across merges."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from promoloop.actors.cdp import ENGAGE_SOURCE, CdpModel
from promoloop.actors.cdp import membership_log as log_of
from promoloop.actors.cdp.history import HistoryCodec
from promoloop.actors.cdp.membership_log import Change
from promoloop.actors.cdp.profiles import Profile
from promoloop.actors.events import Identify, Track
from promoloop.scenarios.bench_cdp import configure_population, event_at

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def random_changes(rng: random.Random, count: int) -> list[Change]:
    out: list[Change] = []
    micros, seq = rng.randint(-(10**15), 10**15), rng.randint(1, 10**9)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.6:
            seq += 1  # a run: same time, next number
        elif roll < 0.8:
            seq += rng.randint(2, 5)  # same time, numbers taken in between
        else:
            micros += rng.choice((-1, 1)) * rng.randint(1, 10**12)
            seq += rng.randint(1, 3)
        out.append((micros, seq, rng.randrange(0x10000)))
    return out


def test_build_and_read_back_any_changes() -> None:
    rng = random.Random(7)
    for _ in range(200):
        changes = random_changes(rng, rng.randint(0, 40))
        log = log_of.build(changes)
        assert log_of.changes(log) == changes
        assert log[0] == len(changes)
        heads = sum(
            1
            for i, (micros, seq, _) in enumerate(changes)
            if i == 0 or (micros, seq) != (changes[i - 1][0], changes[i - 1][1] + 1)
        )
        assert len(log) == 1 + len(changes) + heads  # followers are one item


def test_a_full_log_drops_the_oldest_and_keeps_the_rest_exactly() -> None:
    """Profile.engage appends each change and, past the limit, drops the oldest (a follower
    of the dropped one becomes a head): the log then reads back as the latest ``limit``
    changes exactly, whatever the times and numbers."""
    rng = random.Random(11)
    for _ in range(60):
        changes = random_changes(rng, rng.randint(1, 30))
        limit = rng.randint(1, len(changes))
        codec = HistoryCodec(engage_limit=limit)
        profile = Profile("p", T0, codec=codec)
        previous: Change | None = None
        for micros, seq, code in changes:
            follows = previous is not None and (micros, seq) == (previous[0], previous[1] + 1)
            entered = bool(code & 1)
            profile.engage(f"a{code >> 1}", code >> 1, entered, False, micros, seq, 0, follows)
            previous = (micros, seq, code)
        assert log_of.changes(profile._engage_log) == changes[-limit:]
        assert profile._engage_log is not None and profile._engage_log[0] == limit
    assert log_of.changes(None) == []


def engage_tracks(routed: list[tuple[str, Any]]) -> dict[str, list[Track]]:
    """Engage's ``Audience Entered``/``Exited`` tracks by the user id they name."""
    out: dict[str, list[Track]] = {}
    for source, event in routed:
        if source == ENGAGE_SOURCE and isinstance(event, Track):
            out.setdefault(event.user_id or "", []).append(event)
    return out


def test_a_profile_shows_the_latest_engage_events_it_was_sent() -> None:
    """The representative definitions (a synced trait takes numbers between changes) over a
    stream of known users: each profile's Engage events are the latest 16 of those routed."""
    model = configure_population(CdpModel(engage_history_limit=16))
    routed: list[tuple[str, Any]] = []
    users = 12
    for i in range(3_000):
        call = event_at(i, 3_000, users, 20 * 86_400.0)
        routed.extend(model.ingest("web", call, call.timestamp or T0))
        if i % 50 == 0:
            traits = {"email": f"u{i % users}@example.com", "plan": "pro" if i % 100 else "free"}
            who = Identify(user_id=call.user_id, traits=traits, timestamp=call.timestamp)
            routed.extend(model.ingest("web", who, call.timestamp or T0))
    sent = engage_tracks(routed)
    followers = 0
    for profile in model.profiles():
        expected = sent.get(profile.user_id or "", [])[-16:]
        engage = [e for e in profile.events if e.source == ENGAGE_SOURCE]
        assert [(e.message_id, e.timestamp, e.event, e.properties) for e in engage] == [
            (t.message_id, t.timestamp, t.event, t.properties) for t in expected
        ]
        log = profile._engage_log
        if log is not None:
            followers += 2 * log[0] + 1 - len(log)
    assert followers > 0  # runs were folded


def test_merged_logs_keep_the_latest_changes_of_both() -> None:
    model = configure_population(CdpModel(engage_history_limit=6))
    for i in range(400):
        call = event_at(i, 400, 4, 5 * 86_400.0)
        anonymous = Track(
            anonymous_id=f"anon-{call.user_id}",
            event=call.event,
            properties=call.properties,
            timestamp=call.timestamp,
            message_id=f"a-{i}",
        )
        model.ingest("web", call if i < 300 else anonymous, call.timestamp or T0)
    merged_any = False
    for user in range(4):
        user_id = f"user-{user:07d}"
        known = model.profile("user_id", user_id)
        visitor = model.profile("anonymous_id", f"anon-{user_id}")
        assert known is not None and visitor is not None and known is not visitor
        both = [e for p in (known, visitor) for e in p.events if e.source == ENGAGE_SOURCE]
        kept = sorted(both, key=lambda e: (e.timestamp, e.message_id))[-6:]
        at = T0 + timedelta(days=6)
        merge = Identify(user_id=user_id, anonymous_id=f"anon-{user_id}", timestamp=at)
        new = engage_tracks(model.ingest("web", merge, at)).get(user_id, [])
        assert model.profile("anonymous_id", f"anon-{user_id}") is known
        after = [e for e in known.events if e.source == ENGAGE_SOURCE]
        assert [(e.message_id, e.timestamp, e.properties) for e in after] == [
            (e.message_id, e.timestamp, e.properties) for e in [*kept, *new][-6:]
        ]
        merged_any = merged_any or bool(visitor.events and kept)
    assert merged_any
