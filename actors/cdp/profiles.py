"""Customer profiles: identifiers, traits, a compact event history and audience memberships.

Memory is the constraint that shapes this module (the target is <= 4 KB per profile with 50
events of history, see docs/cdp.md). A naive history keeps every event's ``properties`` dict,
its ``datetime`` and its message id alive as Python objects: several hundred bytes per event.
Here the history is one ``bytearray`` per profile holding length-prefixed msgpack records, with
the call type, event name and source replaced by small integer codes from a vocabulary shared by
every profile of a model. Reading the history (the Profile API, snapshots, tests) decodes it back
into :class:`HistoryEntry` values; nothing on the ingest hot path ever decodes it, because the
incremental state lives elsewhere (``event_counts``, computed trait states).

Engage's own events (``Audience Entered``/``Exited``) are not calls: a churny workspace makes
more of them than calls, so they do not go into the call history. Each profile keeps the latest
``engage_limit`` of them in a membership log of two machine ints per change (time, and
sequence/audience/direction packed), merged back into :attr:`Profile.events` by time when read.
Memberships and the boolean audience traits are bit masks over the audiences' definition
order (one int each, no per-profile set or dict), decoded on read.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from promoloop.actors.events import names

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENGAGE_SOURCE_NAME = "engage"
"""The source Engage events come from (``model.ENGAGE_SOURCE`` is this)."""
ENGAGE_HISTORY_LIMIT = 16
"""Engage membership events a profile keeps by default (the latest; see ``HistoryCodec``)."""
MAX_AUDIENCES = 0x8000
"""Audiences a model can define (the membership log packs the index in 15 bits)."""


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

    - ``[micros, type, event or -1, source, message_id]``: a call without properties (the
      message id as a string, or compacted, see :meth:`compact_id`);
    - ``[micros, type, event or -1, source, message_id, shape, value, ...]``: ``shape`` (>= 0)
      is the code of the tuple of top-level property keys, followed by their values. Keys
      repeat on every event of a kind, so a whole key set costs one small int, and encoding is
      one tuple built in C (no per-key work on the ingest path);
    ``limit`` bounds the number of calls a profile keeps (oldest dropped first); lifetime
    counts are kept separately in ``Profile.event_counts``, so dropping history never changes
    an audience or a computed trait. ``engage_limit`` bounds the Engage membership events a
    profile keeps in its membership log (see the module docstring).

    The codec also holds what every profile of a model shares to decode its bit masks: the
    audiences in definition order (``audience_keys``; bit ``i`` is audience ``i``).
    """

    def __init__(
        self,
        limit: int | None = None,
        vocabulary: Vocabulary | None = None,
        engage_limit: int | None = ENGAGE_HISTORY_LIMIT,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"history limit must be >= 1 or None, got {limit}")
        if engage_limit is not None and engage_limit < 0:
            raise ValueError(f"engage history limit must be >= 0 or None, got {engage_limit}")
        self.limit = limit
        self.engage_limit = engage_limit
        self.vocabulary = vocabulary or Vocabulary()
        self._shapes: dict[tuple[str, ...], int] = {}
        self._shape_keys: list[tuple[str, ...]] = []
        self._id_forms: dict[tuple[str, int], int] = {}
        self._id_form_list: list[tuple[str, int]] = []
        self.audience_names: dict[str, str] = {}
        """Audience key → name, for Engage membership events (set by the model)."""
        self.audience_keys: list[str] = []
        """Audience keys in definition order: bit ``i`` of a mask is ``audience_keys[i]``."""
        self.audience_bits: dict[str, int] = {}
        """Audience key → its bit (``1 << i``)."""
        self._sets: dict[int, frozenset[str]] = {}
        self._encode = msgspec.msgpack.Encoder().encode
        self._decoder = msgspec.msgpack.Decoder()

    def add_audience(self, key: str, name: str) -> int:
        """Register an audience (in definition order); returns its bit."""
        bit = self.audience_bits.get(key)
        if bit is None:
            bit = self.audience_bits[key] = 1 << len(self.audience_keys)
            self.audience_keys.append(key)
        self.audience_names[key] = name
        return bit

    def keys_of(self, mask: int) -> frozenset[str]:
        """The audience keys of a bit mask (shared frozensets: memberships repeat a lot)."""
        found = self._sets.get(mask)
        if found is None:
            keys = self.audience_keys
            found = frozenset(keys[i] for i in range(mask.bit_length()) if mask >> i & 1)
            if len(self._sets) > 4_096:
                self._sets.clear()
            self._sets[mask] = found
        return found

    def mask_of(self, keys: Iterable[str]) -> int:
        bits = self.audience_bits
        mask = 0
        for key in keys:
            mask |= bits[key]
        return mask

    def membership_entry(self, micros: int, packed: int) -> HistoryEntry:
        """The ``Audience Entered``/``Exited`` track a membership log entry stands for."""
        seq, index, entered = packed >> 16, (packed >> 1) & 0x7FFF, packed & 1
        key = self.audience_keys[index]
        return HistoryEntry(
            timestamp=from_micros(micros),
            type="track",
            event=names.AUDIENCE_ENTERED if entered else names.AUDIENCE_EXITED,
            source=ENGAGE_SOURCE_NAME,
            message_id=f"engage-{seq:08d}-t",
            properties={"audience_key": key, "audience_name": self.audience_names[key]},
        )

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

    def compact_id(self, message_id: str) -> str | list[int]:
        """A message id as ``[form, number]`` when it is a prefix and a run of ASCII digits
        (``storefront-000012345``): the prefix and the digit count are one small code shared
        by every id of that form, the digits one int. 7 bytes instead of 22 for the ids this
        project's producers send, with an exact round trip (leading zeros are the width).
        Other ids, and new forms beyond 128, are kept as they are."""
        head = message_id.rstrip("0123456789")
        width = len(message_id) - len(head)
        if not 0 < width <= 18:
            return message_id
        form = self._id_forms.get((head, width))
        if form is None:
            if len(self._id_form_list) >= 128:
                return message_id
            form = self._id_forms[(head, width)] = len(self._id_form_list)
            self._id_form_list.append((head, width))
        return [form, int(message_id[len(head) :])]

    def expand_id(self, stored: str | list[int]) -> str:
        if type(stored) is str:
            return stored
        head, width = self._id_form_list[stored[0]]
        return f"{head}{stored[1]:0{width}d}"

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
        stored = self.compact_id(message_id)
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
                stored,
                shape,
                *properties.values(),
            )
        else:
            record = (micros, type_code, event_code, source_code, stored)
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
            properties = dict(zip(self._shape_keys[items[5]], items[6:], strict=True))
        return HistoryEntry(
            timestamp=from_micros(items[0]),
            type=vocab.name(items[1]),
            event=None if items[2] < 0 else vocab.name(items[2]),
            source=vocab.name(items[3]),
            message_id=self.expand_id(items[4]),
            properties=properties,
        )

    def decode(self, buffer: bytes | bytearray) -> list[HistoryEntry]:
        view = memoryview(buffer)
        return [self.decode_record(view[start:end]) for start, end in self.records(buffer)]


DEFAULT_CODEC = HistoryCodec()
"""For profiles built outside a model (tests, tools): unbounded, with its own vocabulary."""


class Profile:
    """A person as the CDP knows them.

    ``traits`` (a read-only view) are the identify traits (last write wins by event timestamp)
    plus the boolean audience traits Engage wrote; computed trait values are derived from
    ``computed`` states by the model (:meth:`CdpModel.traits_of`), so they take no room here
    until read. Memberships are bit masks (``members``, ``engaged``, ``announced_mask``) over
    the codec's audiences; ``audiences`` and ``announced`` decode them.
    """

    __slots__ = (
        "_codec",
        "_engage_log",
        "_history",
        "_merged_from",
        "_refused_merges",
        "announced_mask",
        "computed",
        "created_at",
        "due_since",
        "engaged",
        "event_counts",
        "first_message_id",
        "first_source",
        "history_size",
        "id",
        "identifiers",
        "identify_traits",
        "last_message_id",
        "last_source",
        "members",
        "next_due",
        "trait_times",
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
        self.identify_traits: dict[str, Any] | None = None
        """Traits set by identify calls (None until the first; most profiles have none)."""
        self.trait_times: dict[str, float] | None = None
        """Event time of each identify trait's latest write (last write wins by it)."""
        self._codec = codec or DEFAULT_CODEC
        self._history = b""
        """Framed records, exactly sized (immutable ``bytes``: a ``bytearray`` over-allocates
        by about an eighth, and re-copying a few KB per call costs less than that memory)."""
        self.history_size = 0
        self._engage_log: array[int] | None = None
        """Membership log: ``[micros, seq << 16 | index << 1 | entered, ...]``, latest last."""
        self.event_counts: dict[str, int] = {}
        self.members = 0
        """Bit mask of the audiences this profile is in."""
        self.engaged = 0
        """Bit mask of the audiences whose boolean trait Engage wrote (value: the member bit)."""
        self.announced_mask = 0
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

    # -- memberships ------------------------------------------------------------------------
    @property
    def audiences(self) -> frozenset[str]:
        """Keys of the audiences this profile is in."""
        return self._codec.keys_of(self.members)

    @property
    def announced(self) -> frozenset[str]:
        return self._codec.keys_of(self.announced_mask)

    def engage(
        self, key: str, index: int, entered: bool, announced: bool, micros: int, seq: int
    ) -> None:
        """Engage's side of a membership change of audience ``key`` (definition ``index``;
        the member bit itself is the model's to flip), in one call as it runs several times
        per ingested call:

        - the boolean trait: it replaces an identify trait of the same key (latest write in
          arrival order wins; the boolean has no timestamp). Its value is the member bit, so
          only the fact that Engage wrote it is stored (``engaged``);
        - ``announced``: whether destinations keyed by userId heard of this entry;
        - the ``Audience Entered``/``Exited`` track in the membership log (the latest
          ``engage_limit``) and in ``event_counts``.
        """
        bit = 1 << index
        self.engaged |= bit
        custom = self.identify_traits
        if custom and key in custom:
            del custom[key]
            if self.trait_times is not None:
                self.trait_times.pop(key, None)
        if announced:
            self.announced_mask |= bit
        else:
            self.announced_mask &= ~bit
        name = names.AUDIENCE_ENTERED if entered else names.AUDIENCE_EXITED
        counts = self.event_counts
        counts[name] = counts.get(name, 0) + 1
        limit = self._codec.engage_limit
        if limit == 0:
            return
        log = self._engage_log
        if log is None:
            log = self._engage_log = array("q")
        elif limit is not None and len(log) >= 2 * limit:
            del log[:2]
        log.append(micros)
        log.append(seq << 16 | index << 1 | entered)

    # -- traits and history -----------------------------------------------------------------
    @property
    def traits(self) -> dict[str, Any]:
        """Identify traits and audience booleans, as one dict (a fresh copy: write traits
        through identify calls, not into this)."""
        out = dict(self.identify_traits) if self.identify_traits else {}
        engaged = self.engaged
        if engaged:
            keys = self._codec.audience_keys
            members = self.members
            for index in range(engaged.bit_length()):
                if engaged >> index & 1:
                    out[keys[index]] = bool(members >> index & 1)
        return out

    def trait(self, key: str) -> Any:
        """One trait's value (identify trait or audience boolean), None when absent."""
        if self.engaged:
            bit = self._codec.audience_bits.get(key)
            if bit is not None and self.engaged & bit:
                return bool(self.members & bit)
        custom = self.identify_traits
        return custom.get(key) if custom is not None else None

    def set_traits(self, traits: dict[str, Any], at: datetime) -> dict[str, Any]:
        """Last write wins by event timestamp, not arrival order; returns what changed."""
        when = to_seconds(at)
        changed: dict[str, Any] = {}
        custom = self.identify_traits
        if custom is None:
            custom = self.identify_traits = {}
        times = self.trait_times
        if times is None:
            times = self.trait_times = {}
        bits = self._codec.audience_bits if self.engaged else None
        for key, value in traits.items():
            if bits is not None:
                bit = bits.get(key)
                if bit is not None and self.engaged & bit:
                    # Engage's boolean (untimed) is overwritten by any later identify.
                    if bool(self.members & bit) != value:
                        changed[key] = value
                    self.engaged &= ~bit
                    custom[key] = value
                    times[key] = when
                    continue
            previous = times.get(key)
            if previous is None or when >= previous:
                if key not in custom or custom[key] != value:
                    changed[key] = value
                custom[key] = value
                times[key] = when
        return changed

    def remember(self, entry: HistoryEntry) -> None:
        """Append to the history (bounded by the codec's limit) and count the event."""
        self.append_record(self._codec.encode(entry), entry.event or entry.type)

    def append_record(self, record: bytes, name: str) -> None:
        """Append one framed record (see :class:`HistoryCodec`) and count ``name`` (the event
        name, or the call type). The model encodes records itself, without building a
        :class:`HistoryEntry` per call."""
        history = self._history + record
        self.history_size += 1
        limit = self._codec.limit
        if limit is not None and self.history_size > limit:
            history = history[self._codec.first_record_end(history) :]
            self.history_size -= 1
        self._history = history
        counts = self.event_counts
        counts[name] = counts.get(name, 0) + 1

    @property
    def engage_size(self) -> int:
        """Engage membership events kept in the membership log."""
        return len(self._engage_log) // 2 if self._engage_log is not None else 0

    def _calls(self) -> list[HistoryEntry]:
        return self._codec.decode(self._history)

    def _memberships(self) -> list[HistoryEntry]:
        log = self._engage_log
        if not log:
            return []
        entry = self._codec.membership_entry
        return [entry(log[i], log[i + 1]) for i in range(0, len(log), 2)]

    @property
    def events(self) -> list[HistoryEntry]:
        """The remembered calls in arrival order (merges interleave them by time), with the
        kept Engage membership events merged in by time (after calls of the same instant)."""
        calls = self._calls()
        engage = self._memberships()
        if not engage:
            return calls
        return list(heapq.merge(calls, engage, key=_timestamp))

    def history_bytes(self) -> int:
        log = self._engage_log
        return len(self._history) + (len(log) * log.itemsize if log is not None else 0)

    def absorb(self, other: Profile) -> None:
        """Merge ``other`` into this one: identifiers, traits (newest wins), history (by time),
        counts and memberships. Computed trait states are merged by the model."""
        for ext in other.identifiers:
            if not self.has_id(ext.type, ext.id):
                self.identifiers.append(ext)
        self._absorb_traits(other)
        calls = sorted([*self._calls(), *other._calls()], key=lambda e: (e.timestamp, e.message_id))
        self._history = b""
        self.history_size = 0
        counts = self.event_counts
        self.event_counts = {}
        for entry in calls:
            self.remember(entry)
        self.event_counts = counts
        for name, count in other.event_counts.items():
            self.event_counts[name] = self.event_counts.get(name, 0) + count
        self._absorb_memberships(other)
        self.members |= other.members
        self.announced_mask |= other.announced_mask
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

    def _absorb_traits(self, other: Profile) -> None:
        """Identify traits: newest timestamp wins. Audience booleans (untimed): a member of
        either is a member (the masks are OR-ed), and a key one side has as an audience
        boolean and the other as an identify trait stays as this profile has it."""
        bits = self._codec.audience_bits
        mine = self.identify_traits or {}
        theirs_engaged = other.engaged
        for key in mine:
            bit = bits.get(key)
            if bit is not None and theirs_engaged & bit and key in (self.trait_times or {}):
                theirs_engaged &= ~bit  # ours is an identify trait: it stays
        self.engaged |= theirs_engaged
        if not other.identify_traits:
            return
        custom = self.identify_traits
        if custom is None:
            custom = self.identify_traits = {}
        times = self.trait_times
        if times is None:
            times = self.trait_times = {}
        other_times = other.trait_times or {}
        for key, value in other.identify_traits.items():
            bit = bits.get(key)
            if bit is not None and self.engaged & bit:
                continue  # ours is an audience boolean: Engage owns the key
            when = other_times.get(key)
            previous = times.get(key)
            if when is None:
                if key not in custom:
                    custom[key] = value
            elif previous is None or when >= previous:
                custom[key] = value
                times[key] = when

    def _absorb_memberships(self, other: Profile) -> None:
        theirs = other._engage_log
        if not theirs:
            return
        mine = self._engage_log or array("q")
        pairs = sorted(
            [(mine[i], mine[i + 1]) for i in range(0, len(mine), 2)]
            + [(theirs[i], theirs[i + 1]) for i in range(0, len(theirs), 2)]
        )
        limit = self._codec.engage_limit
        if limit is not None:
            pairs = pairs[len(pairs) - limit :] if limit else []
        merged = array("q")
        for micros, packed in pairs:
            merged.append(micros)
            merged.append(packed)
        self._engage_log = merged

    def external_ids(self) -> list[dict[str, str]]:
        """Identifiers by type (user_id, anonymous_id, email, then others), each in the
        order first seen."""
        order = {"user_id": 0, "anonymous_id": 1, "email": 2}
        ranked = sorted(
            enumerate(self.identifiers), key=lambda pair: (order.get(pair[1].type, 3), pair[0])
        )
        ids = [{"type": ext.type, "id": ext.id} for _, ext in ranked]
        if not self.ids_of("email"):
            email = self.trait("email")
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
                for e in sorted(self.events, key=_timestamp)
            ],
        }


def _timestamp(entry: HistoryEntry) -> datetime:
    return entry.timestamp
