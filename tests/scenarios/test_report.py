"""Report output: compact JSON that reads the same as plain JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promoloop.scenarios.report import to_json

CASES: list[Any] = [
    {"series": [[0, 1.5], [1, 2.0]], "sizes": [3, 4, 5], "nested": {"groups": [{"customers": 2}]}},
    [{"a": None, "b": True}, "x", []],
    {"empty": {}, "unicode": "café", "1": "int-like key"},
    42,
]


@pytest.mark.parametrize("data", CASES)
def test_to_json_parses_back_to_the_same_data(data: Any) -> None:
    assert json.loads(to_json(data)) == json.loads(json.dumps(data))


def test_scalar_series_stay_on_one_line() -> None:
    text = to_json({"daily": list(range(120)), "pairs": [[d, d * 2] for d in range(30)]})
    assert len(text.splitlines()) == 4
