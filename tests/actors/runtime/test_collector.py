import gc

import pytest
import trio

from promoloop.actors.runtime import World, virtual_clock
from promoloop.actors.runtime.collector import YOUNG_THRESHOLD, tuned_collector


def test_tuned_collector_raises_the_young_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with tuned_collector(before[0] + 1_234) as tuned:
        assert gc.get_threshold() == tuned == (before[0] + 1_234, before[1], before[2])
    assert gc.get_threshold() == before


def test_tuned_collector_never_lowers_a_higher_setting_and_nests() -> None:
    before = gc.get_threshold()
    with tuned_collector(before[0] + 10_000):
        with tuned_collector(10) as inner:
            assert inner[0] == before[0] + 10_000
        assert gc.get_threshold()[0] == before[0] + 10_000
    assert gc.get_threshold() == before


def test_tuned_collector_restores_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), tuned_collector(before[0] + 5):
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_tuned_collector_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="threshold"), tuned_collector(0):
        pass


def test_a_world_runs_with_the_tuned_collector_and_restores_it() -> None:
    before = gc.get_threshold()
    seen: list[int] = []
    world = World(seed=1, record=False)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(world.run, 10.0)
            await trio.sleep(1)
            seen.append(gc.get_threshold()[0])

    trio.run(main, clock=virtual_clock())
    assert seen == [max(before[0], YOUNG_THRESHOLD)]
    assert gc.get_threshold() == before
