"""The Segment Spec as msgspec Structs: the public vocabulary every actor speaks.

Field names are snake_case in Python and camelCase on the wire (``rename="camel"``), so the
JSON the official SDKs send decodes straight into these types and encodes back unchanged.
Unknown wire fields (``_metadata``, ``version``, ``channel``...) are tolerated, as Segment does.
Structs are frozen: an event is a fact, and several actors may hold the same instance. They are
not tracked by the cyclic garbage collector (``gc=False``: an event never references itself), which
keeps a CDP holding millions of them in history from paying for GC passes over them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import msgspec.structs

JsonObject = dict[str, Any]


class _Call(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    rename="camel",
    tag_field="type",
    omit_defaults=True,
    gc=False,
):
    """Fields shared by every Segment call (the spec's "common fields")."""

    message_id: str = ""
    timestamp: datetime | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    context: JsonObject = msgspec.field(default_factory=dict)
    integrations: JsonObject = msgspec.field(default_factory=dict)

    @property
    def identity(self) -> str:
        """A readable id for logs: the userId when known, else the anonymousId."""
        return self.user_id or self.anonymous_id or "?"


class Identify(_Call, tag="identify"):
    traits: JsonObject = msgspec.field(default_factory=dict)


class Track(_Call, tag="track"):
    event: str
    properties: JsonObject = msgspec.field(default_factory=dict)


class Page(_Call, tag="page"):
    name: str | None = None
    category: str | None = None
    properties: JsonObject = msgspec.field(default_factory=dict)


class Screen(_Call, tag="screen"):
    name: str | None = None
    category: str | None = None
    properties: JsonObject = msgspec.field(default_factory=dict)


def _as_str(value: str | int) -> str:
    return value if isinstance(value, str) else str(value)


class Group(_Call, tag="group"):
    group_id: str | int
    """Always a ``str`` once built: the official SDKs send numeric group ids as JSON numbers."""
    traits: JsonObject = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "group_id", _as_str(self.group_id))


class Alias(_Call, tag="alias"):
    previous_id: str | int
    """Always a ``str`` once built (numeric ids arrive as JSON numbers from the SDKs)."""

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "previous_id", _as_str(self.previous_id))


SegmentEvent = Identify | Track | Page | Screen | Group | Alias
"""Tagged union on ``type``: decode any single call without knowing its kind first."""

EVENT_TYPES: dict[str, type[_Call]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Identify, Track, Page, Screen, Group, Alias)
}


class Batch(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """The ``/v1/batch`` envelope. ``context``/``integrations`` here apply to every call."""

    batch: list[SegmentEvent]
    sent_at: datetime | None = None
    context: JsonObject = msgspec.field(default_factory=dict)
    integrations: JsonObject = msgspec.field(default_factory=dict)
    write_key: str | None = None
