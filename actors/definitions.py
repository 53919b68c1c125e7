"""Loading declarative definitions (audiences, computed traits, points rules, decision rows).

Every loader takes JSON text or already-parsed data and refuses bad input with the item's index
and the field (``audiences[0]: Expected `int`, got `str` - at `$.condition...```), so a
scenario's definition file fails at load, naming what to fix, never halfway through a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

DEFINITION_ERRORS = (msgspec.ValidationError, ValueError, TypeError)
"""What converting one item may raise: msgspec's own errors and the types' validation."""


def definition_items(data: bytes | str | Sequence[Any], label: str) -> list[Any]:
    """The items of a definition list, decoded from JSON when given as bytes or text."""
    items = msgspec.json.decode(data) if isinstance(data, bytes | str) else data
    if not isinstance(items, list):
        raise ValueError(f"{label} must be a list, got {type(items).__name__}")
    return items


def load_definitions(data: bytes | str | Sequence[Any], label: str, kind: type[T]) -> list[T]:
    """Each item converted to ``kind``; the first bad item is refused as ``label[index]``."""
    out: list[T] = []
    for index, item in enumerate(definition_items(data, label)):
        try:
            out.append(msgspec.convert(item, kind))
        except DEFINITION_ERRORS as error:
            raise ValueError(f"{label}[{index}]: {error}") from None
    return out
