"""Audience programs read up front the computed values every pass reads, and still read the
others only when a pass reaches them (a short-circuited operand costs nothing)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from promoloop.actors.cdp import Audience, CdpModel, ComputedTrait
from promoloop.actors.cdp.audiences import And, Not, Or, PerformedEvent, TraitCondition
from promoloop.actors.events import Track

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def model_counting_reads() -> tuple[CdpModel, Counter[int]]:
    """Views (count), favourite sku (most frequent) and cart recency audiences; every read of
    a computed trait by a program is counted per slot."""
    model = CdpModel(expiry_resolution=0.0)
    model.add_computed_traits(
        [
            ComputedTrait(key="views", kind="count", event="Product Viewed"),
            ComputedTrait(
                key="favourite", kind="most_frequent", event="Product Viewed", property="sku"
            ),
        ]
    )
    model.add_audiences(
        [
            Audience(
                key="fans",
                name="Fans of sku a",
                condition=And(
                    conditions=[
                        TraitCondition(trait="views", op="gte", value=3),
                        TraitCondition(trait="favourite", op="eq", value="a"),
                    ]
                ),
            ),
            Audience(
                key="browsing",
                name="Viewed lately or often",
                condition=Or(
                    conditions=[
                        PerformedEvent(event="Product Viewed", within_days=1),
                        Not(condition=TraitCondition(trait="views", op="lt", value=10)),
                    ]
                ),
            ),
        ]
    )
    reads: Counter[int] = Counter()
    engine = model.traits
    plain = engine.reader

    def counted(slot: int) -> Any:
        read = plain(slot)

        def reader(states: Any, now: float) -> Any:
            reads[slot] += 1
            return read(states, now)

        return reader

    engine.reader = counted  # type: ignore[method-assign]
    return model, reads


def view(model: CdpModel, n: int, sku: str) -> None:
    at = T0 + timedelta(hours=n)
    call = Track(
        user_id="u1",
        event="Product Viewed",
        properties={"sku": sku},
        timestamp=at,
        message_id=f"m{n}",
    )
    model.ingest("web", call, at)


def test_values_every_pass_reads_are_locals_computed_once_at_the_top() -> None:
    model, _ = model_counting_reads()
    program = model._event_program("Product Viewed")
    assert program is not None and program.__doc__ is not None
    source = program.__doc__
    views, favourite = model.traits.public["views"], model.traits.public["favourite"]
    head = source.split("    q = ", 1)[0]
    # views: the first operand of "fans"; the 1-day count: the first of "browsing".
    assert f"    v{views} = _k" in head
    assert f"    v{favourite} = _UNSET" in head  # only read when views >= 3
    assert source.count(f"v{views} is not _UNSET") == 0
    assert f"(v{favourite} if v{favourite} is not _UNSET" in source


def test_a_short_circuited_read_is_not_made_and_each_value_is_read_once_per_pass() -> None:
    model, reads = model_counting_reads()
    views, favourite = model.traits.public["views"], model.traits.public["favourite"]
    view(model, 0, "a")  # a new profile: the first call evaluates every audience
    reads.clear()
    view(model, 1, "a")  # 2 views: "fans" stops at its first operand
    assert reads[views] == 1 and reads[favourite] == 0
    view(model, 2, "a")  # 3 views: the favourite is read, once
    assert reads[views] == 2 and reads[favourite] == 1
    profile = model.profile("user_id", "u1")
    assert profile is not None and profile.audiences == {"browsing", "fans"}
