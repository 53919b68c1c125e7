"""ScoreBoard: exact mid-rank percentiles and thresholds over the current scores."""

from __future__ import annotations

import numpy as np
import pytest

from promoloop.actors.cdp.predictive.scores import ScoreBoard, midrank_percentiles


def test_percentiles_on_a_known_distribution() -> None:
    board = ScoreBoard()
    for i in range(1, 101):
        board.set(f"p{i:03d}", float(i))
    assert board.percentile_of("p080") == pytest.approx(79.5)
    assert board.percentile_of("p100") == pytest.approx(99.5)
    assert board.percentile(0.0) == 0.0
    top20 = [k for k in (f"p{i:03d}" for i in range(1, 101)) if board.percentile_of(k) >= 80]
    assert len(top20) == 20 and top20[0] == "p081"
    assert board.threshold(0.2) == 81.0


def test_percentiles_match_reference_on_random_scores_with_ties() -> None:
    rng = np.random.default_rng(3)
    values = [float(v) for v in np.round(rng.beta(2, 5, size=2000), 2)]
    board = ScoreBoard()
    for i, v in enumerate(values):
        board.set(f"k{i}", v)
    expected = midrank_percentiles(values)
    got = [board.percentile_of(f"k{i}") for i in range(len(values))]
    assert got == pytest.approx(expected)
    # A uniform sample: the percentile of a value is ~ 100 × its CDF.
    uni = ScoreBoard()
    for i, v in enumerate(rng.random(20000)):
        uni.set(f"u{i}", float(v))
    assert uni.percentile(0.25) == pytest.approx(25.0, abs=1.5)
    assert uni.percentile(0.9) == pytest.approx(90.0, abs=1.5)


def test_rescoring_replaces_and_discard_removes() -> None:
    board = ScoreBoard()
    board.set("a", 0.1)
    board.set("b", 0.5)
    board.set("a", 0.9)
    assert len(board) == 2
    assert board.percentile_of("a") == 75.0
    board.discard("a")
    assert board.get("a") is None and len(board) == 1
    assert board.percentile_of("b") == 50.0


def test_merge_shards_and_bad_share() -> None:
    a, b = ScoreBoard(), ScoreBoard()
    a.set("x", 1.0)
    b.set("y", 2.0)
    a.update_from(b)
    assert len(a) == 2 and a.percentile_of("y") == 75.0
    with pytest.raises(ValueError, match="top_share"):
        a.threshold(0.0)
    assert ScoreBoard().threshold(0.5) is None
