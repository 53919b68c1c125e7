"""Customer profiles: identifiers, traits, a compact event history and audience memberships.

Memory is the constraint that shapes this module (the target is <= 4 KB per profile with 50
events of history, see docs/cdp.md). A naive history keeps every event's ``properties`` dict,
its ``datetime`` and its message id alive as Python objects: several hundred bytes per event.
Here the history is one ``bytearray`` per profile holding length-prefixed msgpack records, with
the call type, event name and source replaced by small integer codes from a vocabulary shared by
every profile of a model. Reading the history (the Profile API, snapshots, tests) decodes it back
into :class:`HistoryEntry` values; nothing on the ingest hot path ever decodes it, because the
incremental state lives elsewhere (``event_counts``, computed trait states).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from promoloop.actors.events import names

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENGAGE_SOURCE_NAME = "engage"
"""The source Engage events come from (``model.ENGAGE_SOURCE`` is this)."""


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are read as UTC, so arithmetic never mixes naive and aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def to_seconds(moment: datetime) -> float:
    """Unix seconds of an (aware or naive-as-UTC) datetime; the model's internal time unit."""
    return as_utc(moment).timestamp()


_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Exact integer microseconds since the Unix epoch (no float rounding): one subtraction
    and one integer division of timedeltas, both in C."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - UNIX_EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=micros)


class HistoryEntry(msgspec.Struct, frozen=True, gc=False):
    """One event as the profile remembers it (the Profile API's ``events`` item)."""

    timestamp: datetime
    type: str
    event: str | None
    source: str
    message_id: str
    properties: dict[str, Any]


class ExternalId(msgspec.Struct, frozen=True, gc=False):
    """One identifier of a profile, with where and when it was first seen (Profile API
    ``external_ids`` item)."""

    type: str
    id: str
    source: str
    created_at: datetime
    message_id: str


class Vocabulary:
    """Interns short strings (call types, event names, sources) as small ints for the history.

    One per model, shared by its profiles; codes are internal and never leave this module, so
    the order in which names are first seen does not affect any result.
    """

    __slots__ = ("_codes", "_names")

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._names: list[str] = []

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
        return code

    def name(self, code: int) -> str:
        return self._names[code]


class HistoryCodec:
    """Encodes :class:`HistoryEntry` values into a profile's history buffer and back.

    Record (msgpack array), preceded by its length (2 bytes, or 4 with the top bit set for
    records >= 32 KB):

    - ``[micros, type, event or -1, source, message_id]``: a call without properties;
    - ``[micros, type, event or -1, source, message_id, shape, value, ...]``: ``shape`` (>= 0)
      is the code of the tuple of top-level property keys, followed by their values. Keys
      repeat on every event of a kind, so a whole key set costs one small int, and encoding is
      one tuple built in C (no per-key work on the ingest path);
    - ``[micros, type, event, source, seq, -1 - key]``: an Engage membership event
      (``Audience Entered``/``Exited``, message id ``engage-<seq>-t``) whose properties are
      ``{"audience_key": key, "audience_name": name}``, rebuilt from :attr:`audience_names`
      when read. Engage adds one per membership change, often more than the calls
      themselves, so they are kept in about 20 bytes.

    ``limit`` bounds the number of entries a profile keeps (oldest dropped first); lifetime
    counts are kept separately in ``Profile.event_counts``, so dropping history never changes
    an audience or a computed trait.
    """

    def __init__(self, limit: int | None = None, vocabulary: Vocabulary | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"history limit must be >= 1 or None, got {limit}")
        self.limit = limit
        self.vocabulary = vocabulary or Vocabulary()
        self._shapes: dict[tuple[str, ...], int] = {}
        self._shape_keys: list[tuple[str, ...]] = []
        self._membership_codes: tuple[int, int, int, int] | None = None
        self.audience_names: dict[str, str] = {}
        """Audience key → name, for Engage membership records (set by the model)."""
        self._encode = msgspec.msgpack.Encoder().encode
        self._decoder = msgspec.msgpack.Decoder()

    def shape(self, keys: tuple[str, ...]) -> int:
        code = self._shapes.get(keys)
        if code is None:
            code = self._shapes[keys] = len(self._shape_keys)
            self._shape_keys.append(keys)
        return code

    @staticmethod
    def _framed(body: bytes) -> bytes:
        size = len(body)
        if size < 0x8000:
            return size.to_bytes(2, "big") + body
        return (size | 0x8000_0000).to_bytes(4, "big") + body

    def encode_call(
        self,
        micros: int,
        type_code: int,
        event_code: int,
        source_code: int,
        message_id: str,
        properties: dict[str, Any] | None,
    ) -> bytes:
        """One framed record from already-coded parts (the model's hot path)."""
        if properties:
            shapes = self._shapes
            keys = tuple(properties)
            shape = shapes.get(keys)
            if shape is None:
                shape = self.shape(keys)
            record: tuple[Any, ...] = (
                micros,
                type_code,
                event_code,
                source_code,
                message_id,
                shape,
                *properties.values(),
            )
        else:
            record = (micros, type_code, event_code, source_code, message_id)
        return self._framed(self._encode(record))

    def encode_membership(self, micros: int, entered: bool, seq: int, key: str) -> bytes:
        """An Engage ``Audience Entered``/``Exited`` track on the ``engage`` source: its
        message id ``engage-<seq>-t`` kept as the int ``seq``, its properties as the
        audience key's code."""
        codes = self._membership_codes
        if codes is None:
            vocab = self.vocabulary
            codes = self._membership_codes = (
                vocab.code("track"),
                vocab.code(ENGAGE_SOURCE_NAME),
                vocab.code(names.AUDIENCE_EXITED),
                vocab.code(names.AUDIENCE_ENTERED),
            )
        record = (
            micros,
            codes[0],
            codes[3] if entered else codes[2],
            codes[1],
            seq,
            -1 - self.vocabulary.code(key),
        )
        return self._framed(self._encode(record))

    def encode(self, entry: HistoryEntry) -> bytes:
        vocab = self.vocabulary
        return self.encode_call(
            to_micros(entry.timestamp),
            vocab.code(entry.type),
            -1 if entry.event is None else vocab.code(entry.event),
            vocab.code(entry.source),
            entry.message_id,
            entry.properties,
        )

    def records(self, buffer: bytes | bytearray) -> Iterator[tuple[int, int]]:
        """(start, end) of each record's prefix+body in ``buffer``."""
        view = memoryview(buffer)
        pos = 0
        end = len(view)
        while pos < end:
            head = view[pos]
            if head & 0x80:
                size = int.from_bytes(view[pos : pos + 4], "big") & 0x7FFF_FFFF
                body = pos + 4
            else:
                size = int.from_bytes(view[pos : pos + 2], "big")
                body = pos + 2
            yield pos, body + size
            pos = body + size

    @staticmethod
    def first_record_end(buffer: bytes | bytearray) -> int:
        """Where the first record (prefix and body) ends."""
        if buffer[0] & 0x80:
            return 4 + (int.from_bytes(buffer[0:4], "big") & 0x7FFF_FFFF)
        return 2 + int.from_bytes(buffer[0:2], "big")

    def decode_record(self, record: bytes | memoryview) -> HistoryEntry:
        head = record[0]
        offset = 4 if head & 0x80 else 2
        items = self._decoder.decode(record[offset:])
        vocab = self.vocabulary
        properties: dict[str, Any] = {}
        if len(items) > 5:
            shape = items[5]
            if shape >= 0:
                properties = dict(zip(self._shape_keys[shape], items[6:], strict=True))
            else:
                key = vocab.name(-1 - shape)
                properties = {"audience_key": key, "audience_name": self.audience_names[key]}
        return HistoryEntry(
            timestamp=from_micros(items[0]),
            type=vocab.name(items[1]),
            event=None if items[2] < 0 else vocab.name(items[2]),
            source=vocab.name(items[3]),
            message_id=items[4] if type(items[4]) is str else f"engage-{items[4]:08d}-t",
            properties=properties,
        )

    def decode(self, buffer: bytes | bytearray) -> list[HistoryEntry]:
        view = memoryview(buffer)
        return [self.decode_record(view[start:end]) for start, end in self.records(buffer)]


DEFAULT_CODEC = HistoryCodec()
"""For profiles built outside a model (tests, tools): unbounded, with its own vocabulary."""


class Profile:
    """A person as the CDP knows them.

    ``traits`` are the identify traits (last write wins by event timestamp) plus the boolean
    audience traits; computed trait values are derived from ``computed`` states by the model
    (:meth:`CdpModel.traits_of`), so they take no room here until read.
    """

    __slots__ = (
        "_codec",
        "_history",
        "_merged_from",
        "_refused_merges",
        "announced",
        "audiences",
        "computed",
        "created_at",
        "due_since",
        "event_counts",
        "first_message_id",
        "first_source",
        "history_size",
        "id",
        "identifiers",
        "last_message_id",
        "last_source",
        "next_due",
        "trait_times",
        "traits",
        "updated_at",
    )

    def __init__(
        self,
        id: str,
        created_at: datetime,
        user_id: str | None = None,
        anonymous_ids: Iterable[str] = (),
        *,
        codec: HistoryCodec | None = None,
        source: str = "",
    ) -> None:
        self.id = id
        self.created_at = created_at
        self.updated_at = created_at
        self.identifiers: list[ExternalId] = []
        if user_id:
            self.identifiers.append(ExternalId("user_id", user_id, source, created_at, ""))
        for anonymous_id in anonymous_ids:
            self.identifiers.append(
                ExternalId("anonymous_id", anonymous_id, source, created_at, "")
            )
        self.traits: dict[str, Any] = {}
        self.trait_times: dict[str, float] = {}
        self._codec = codec or DEFAULT_CODEC
        self._history = bytearray()
        self.history_size = 0
        self.event_counts: dict[str, int] = {}
        self.audiences: frozenset[str] = frozenset()
        self.announced: frozenset[str] = frozenset()
        """Audiences whose entry destinations have heard of with this profile's userId."""
        self._merged_from: list[str] | None = None
        self._refused_merges: list[str] | None = None
        self.computed: list[Any] | None = None
        """Computed trait states, indexed by the model's trait slots (None until needed)."""
        self.next_due = float("inf")
        """Earliest Unix second at which a windowed state of this profile changes."""
        self.due_since = float("-inf")
        """Since when time-driven changes of this profile may be unprocessed (the model's
        expiry re-evaluates only what changed after it)."""
        self.first_message_id = ""
        self.first_source = source
        self.last_message_id = ""
        self.last_source = source

    def __repr__(self) -> str:
        return f"Profile(id={self.id!r}, user_id={self.user_id!r})"

    # -- identifiers ------------------------------------------------------------------------
    @property
    def user_id(self) -> str | None:
        for ext in self.identifiers:
            if ext.type == "user_id":
                return ext.id
        return None

    @property
    def anonymous_ids(self) -> list[str]:
        return [ext.id for ext in self.identifiers if ext.type == "anonymous_id"]

    def ids_of(self, id_type: str) -> list[str]:
        return [ext.id for ext in self.identifiers if ext.type == id_type]

    def has_id(self, id_type: str, value: str) -> bool:
        return any(ext.type == id_type and ext.id == value for ext in self.identifiers)

    @property
    def merged_from(self) -> list[str]:
        """Profiles absorbed into this one (identify or alias merges)."""
        return self._merged_from if self._merged_from is not None else []

    @property
    def refused_merges(self) -> list[str]:
        """Profiles a call asked to merge in but could not: identifier limits forbade it."""
        return self._refused_merges if self._refused_merges is not None else []

    def record_refusal(self, other_id: str) -> None:
        if self._refused_merges is None:
            self._refused_merges = []
        self._refused_merges.append(other_id)

    # -- traits and history -----------------------------------------------------------------
    def set_traits(self, traits: dict[str, Any], at: datetime) -> dict[str, Any]:
        """Last write wins by event timestamp, not arrival order; returns what changed."""
        when = to_seconds(at)
        changed: dict[str, Any] = {}
        for key, value in traits.items():
            previous = self.trait_times.get(key)
            if previous is None or when >= previous:
                if key not in self.traits or self.traits[key] != value:
                    changed[key] = value
                self.traits[key] = value
                self.trait_times[key] = when
        return changed

    def remember(self, entry: HistoryEntry) -> None:
        """Append to the history (bounded by the codec's limit) and count the event."""
        self.append_record(self._codec.encode(entry), entry.event or entry.type)

    def append_record(self, record: bytes, name: str) -> None:
        """Append one framed record (see :class:`HistoryCodec`) and count ``name`` (the event
        name, or the call type). The model encodes records itself, without building a
        :class:`HistoryEntry` per call."""
        self._history += record
        self.history_size += 1
        limit = self._codec.limit
        if limit is not None and self.history_size > limit:
            del self._history[: self._codec.first_record_end(self._history)]
            self.history_size -= 1
        counts = self.event_counts
        counts[name] = counts.get(name, 0) + 1

    @property
    def events(self) -> list[HistoryEntry]:
        """The remembered events in arrival order (merges interleave them by time)."""
        return self._codec.decode(self._history)

    def history_bytes(self) -> int:
        return len(self._history)

    def absorb(self, other: Profile) -> None:
        """Merge ``other`` into this one: identifiers, traits (newest wins), history (by time),
        counts and memberships. Computed trait states are merged by the model."""
        for ext in other.identifiers:
            if not self.has_id(ext.type, ext.id):
                self.identifiers.append(ext)
        for key, value in other.traits.items():
            when = other.trait_times.get(key)
            previous = self.trait_times.get(key)
            if when is None:
                # An audience boolean (Engage's, untimed): a member of either is a member.
                if key not in self.traits:
                    self.traits[key] = value
                elif previous is None and isinstance(value, bool):
                    self.traits[key] = bool(self.traits[key]) or value
            elif previous is None and key in self.traits:
                continue  # ours is an audience boolean: Engage owns the key
            elif previous is None or when >= previous:
                self.traits[key] = value
                self.trait_times[key] = when
        entries = sorted([*self.events, *other.events], key=lambda e: (e.timestamp, e.message_id))
        self._history = bytearray()
        self.history_size = 0
        counts = self.event_counts
        self.event_counts = {}
        for entry in entries:
            self.remember(entry)
        self.event_counts = counts
        for name, count in other.event_counts.items():
            self.event_counts[name] = self.event_counts.get(name, 0) + count
        self.audiences = self.audiences | other.audiences
        if self._merged_from is None:
            self._merged_from = []
        self._merged_from.append(other.id)
        if other.created_at < self.created_at:
            self.created_at = other.created_at
            self.first_message_id = other.first_message_id
            self.first_source = other.first_source
        if other.updated_at > self.updated_at:
            self.updated_at = other.updated_at
            self.last_message_id = other.last_message_id
            self.last_source = other.last_source

    def external_ids(self) -> list[dict[str, str]]:
        """Identifiers by type (user_id, anonymous_id, email, then others), each in the
        order first seen."""
        order = {"user_id": 0, "anonymous_id": 1, "email": 2}
        ranked = sorted(
            enumerate(self.identifiers), key=lambda pair: (order.get(pair[1].type, 3), pair[0])
        )
        ids = [{"type": ext.type, "id": ext.id} for _, ext in ranked]
        if not self.ids_of("email"):
            email = self.traits.get("email")
            if isinstance(email, str) and email:
                ids.append({"type": "email", "id": email})
        return ids

    def snapshot(self) -> dict[str, Any]:
        """A transport-independent view, as the Profile API would show it; events by time,
        ties in arrival order."""
        return {
            "id": self.id,
            "external_ids": self.external_ids(),
            "traits": dict(sorted(self.traits.items())),
            "audiences": sorted(self.audiences),
            "merged_from": list(self.merged_from),
            "refused_merges": list(self.refused_merges),
            "events": [
                {
                    "timestamp": e.timestamp.isoformat(),
                    "type": e.type,
                    "event": e.event,
                    "source": e.source,
                    "properties": e.properties,
                }
                for e in sorted(self.events, key=lambda e: e.timestamp)
            ],
        }
