"""Running percentiles of each score across profiles.

Choice: an exact order-statistic structure (``sortedcontainers.SortedList``, already a
dependency of trio) holding the *current* score of every profile, plus a key → score map.
Replacing a profile's score is two O(log n) operations and a percentile is two bisections.

Why not ``river.stats.Quantile`` or a histogram: those summarise a *stream of values*, so a
profile scored 30 times would count 30 times, stale scores would never leave, and a sketch
answers "which value is the 80th percentile" only approximately. An audience "top 20%
likelihood to purchase" needs the rank of a profile among the profiles' *current* scores,
exactly and consistently (same inputs ⇒ same members). At 100k profiles the sorted list costs
~1-2 MB per score. It is also mergeable: shards with disjoint keys combine with
:meth:`ScoreBoard.update_from`.

Percentile convention (mid-rank): ``100 * (below + 0.5 * equal) / n``: the share of profiles
with a lower score, ties counted half. With n distinct scores, "percentile >= 80" selects
exactly the top 20%.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from sortedcontainers import SortedList


class ScoreBoard:
    """Current scores of one trait across profiles, with exact percentiles."""

    def __init__(self) -> None:
        self._sorted: SortedList = SortedList()
        self._by_key: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def set(self, key: str, score: float) -> None:
        old = self._by_key.get(key)
        if old is not None:
            if old == score:
                return
            self._sorted.remove(old)
        self._by_key[key] = score
        self._sorted.add(score)

    def discard(self, key: str) -> None:
        old = self._by_key.pop(key, None)
        if old is not None:
            self._sorted.remove(old)

    def get(self, key: str) -> float | None:
        return self._by_key.get(key)

    def percentile(self, score: float) -> float:
        """Mid-rank percentile (0-100) of ``score`` among the current scores."""
        n = len(self._sorted)
        if n == 0:
            return 50.0
        below = self._sorted.bisect_left(score)
        equal = self._sorted.bisect_right(score) - below
        return 100.0 * (below + 0.5 * equal) / n

    def percentile_of(self, key: str) -> float | None:
        score = self._by_key.get(key)
        return None if score is None else self.percentile(score)

    def threshold(self, top_share: float) -> float | None:
        """The lowest score inside the top ``top_share`` (0-1] of profiles, e.g. 0.2 for the
        top 20%: an audience condition can compare a profile's score against it live."""
        if not 0.0 < top_share <= 1.0:
            raise ValueError(f"top_share must be in (0, 1], got {top_share!r}")
        n = len(self._sorted)
        if n == 0:
            return None
        k = max(1, round(top_share * n))
        return self._sorted[n - k]

    def update_from(self, other: ScoreBoard) -> None:
        """Merge another board (a shard) into this one; its scores win on shared keys."""
        for key, score in other._by_key.items():
            self.set(key, score)


def midrank_percentiles(values: list[float]) -> list[float]:
    """Reference implementation for tests: each value's mid-rank percentile in ``values``."""
    ordered = sorted(values)
    n = len(ordered)
    return [
        100.0
        * (bisect_left(ordered, v) + 0.5 * (bisect_right(ordered, v) - bisect_left(ordered, v)))
        / n
        for v in values
    ]
