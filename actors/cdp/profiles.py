"""Customer profiles: identifiers, traits, a compact event history and audience memberships.

Memory is the constraint that shapes this module (the target is <= 4 KB per profile with 50
events of history, see docs/cdp.md). A naive history keeps every event's ``properties`` dict,
its ``datetime`` and its message id alive as Python objects: several hundred bytes per event.
Here the history is one immutable ``bytes`` per profile of length-prefixed msgpack records,
with the call type, event name and source replaced by small integer codes from a vocabulary
shared by every profile of a model (~60 bytes for a rich storefront call, ~35 for a lean one).

Only the latest calls stay raw. Each time the raw tail reaches ``HISTORY_BLOCK`` (16) records
it is sealed: compressed into one block with raw deflate (level 1) primed by a preset
dictionary that the model's codec freezes, at its first seal, from the latest 4 KB of records
it encoded. Blocks of storefront calls shrink ~3.5x (without the dictionary ~2.2x; lean
synthetic calls ~1.9x), so 50 calls take ~1.2 KB instead of ~3.1 KB. Sealing costs ~25 us per
block in a run (~1.6 us per call, mostly zlib itself); a profile with fewer than 16 calls pays
nothing and stores its records as they are. The history ``limit`` drops whole blocks inside
(fewer than two blocks more are stored); reads skip the excess, so a profile shows exactly its
latest ``limit`` calls.

Reading the history (the Profile API, snapshots, merges, tests) decompresses the blocks and
decodes the records back into :class:`HistoryEntry` values; nothing on the ingest hot path ever
decodes it, because the incremental state lives elsewhere (``event_counts``, computed trait
states). Appending a call copies the (compressed) history once, as before.

Engage's own events (``Audience Entered``/``Exited``) are not calls: a churny workspace makes
more of them than calls, so they do not go into the call history. Each profile keeps the latest
``engage_limit`` of them in a membership log of two machine ints per change (time, and
sequence/audience/direction packed), merged back into :attr:`Profile.events` by time when read.
Memberships and the boolean audience traits are bit masks over the audiences' definition
order (one int each, no per-profile set or dict), decoded on read.
"""

from __future__ import annotations

import heapq
import sys
import zlib
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
HISTORY_BLOCK = 16
"""Calls per sealed history block (see ``HistoryCodec``): small enough that the raw tail of
the latest calls stays short, large enough that deflate finds repeats within a block."""
ZDICT_SIZE = 4_096
"""Bytes of recent records a codec freezes as its preset dictionary at its first seal."""
_ZLIB_LEVEL = 1
"""Fastest deflate level: on ~1 KB blocks primed by the dictionary, level 2 gains ~3 % on rich
calls but loses ~2 % on lean ones."""
_ZLIB_WBITS = -13
"""Raw deflate (no zlib header or checksum: 6 bytes per block) with an 8 KB window: the whole
dictionary and a typical block (~1 KB) stay in reach, and the compressor's state is small
enough that copying a primed one (see ``HistoryCodec.seal``) is cheaper than priming anew."""
_ZLIB_MEMLEVEL = 4
"""Deflate's hash size: 4 loses 0.3 % of the ratio against the default 8 on these blocks and
makes the state ~10x smaller to copy."""


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
    ``limit`` bounds the number of calls a profile shows (oldest dropped first); lifetime
    counts are kept separately in ``Profile.event_counts``, so dropping history never changes
    an audience or a computed trait. ``engage_limit`` bounds the Engage membership events a
    profile keeps in its membership log (see the module docstring).

    A profile's history is sealed every ``block`` records (see :meth:`seal` for the layout):
    the raw records are compressed with a preset dictionary (:attr:`zdict`) that every
    profile of the codec shares, frozen at the first seal so that every block stays
    decodable. :meth:`decode_history` reads a history back; :meth:`records`, :meth:`decode`
    and :meth:`first_record_end` work on raw framed records.

    The codec also holds what every profile of a model shares to decode its bit masks: the
    audiences in definition order (``audience_keys``; bit ``i`` is audience ``i``).
    """

    def __init__(
        self,
        limit: int | None = None,
        vocabulary: Vocabulary | None = None,
        engage_limit: int | None = ENGAGE_HISTORY_LIMIT,
        *,
        block: int = HISTORY_BLOCK,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"history limit must be >= 1 or None, got {limit}")
        if engage_limit is not None and engage_limit < 0:
            raise ValueError(f"engage history limit must be >= 0 or None, got {engage_limit}")
        if not 2 <= block <= 255:
            raise ValueError(f"history block must be 2..255 calls, got {block}")
        self.limit = limit
        self.engage_limit = engage_limit
        self.block = block
        """Calls per sealed block (a block's header stores its count in one byte)."""
        self._sample: bytearray | None = bytearray()
        """The latest records encoded, until the first seal freezes the dictionary from it."""
        self._zdict: bytes | None = None
        self._packer: zlib._Compress | None = None
        """A compressor primed with the dictionary: each seal copies it (~3 us less than
        priming a new one, a fifth of a seal)."""
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
        framed = self._framed(self._encode(record))
        sample = self._sample
        if sample is not None:  # only until the first seal: then one attribute test per call
            sample += framed
            if len(sample) > 2 * ZDICT_SIZE:
                del sample[:-ZDICT_SIZE]
        return framed

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
        """Raw framed records (a profile's history may hold sealed blocks: read it with
        :meth:`decode_history`)."""
        view = memoryview(buffer)
        return [self.decode_record(view[start:end]) for start, end in self.records(buffer)]

    # -- sealed blocks ------------------------------------------------------------------------
    @property
    def zdict(self) -> bytes | None:
        """The preset dictionary of every sealed block (None until the first seal). Frozen
        once set: changing it would make every block sealed with it undecodable."""
        return self._zdict

    def _freeze(self, tail: bytes) -> zlib._Compress:
        """The dictionary, from the latest ``ZDICT_SIZE`` bytes of records encoded before the
        first seal: a natural mix of the calls the model sees, so the kinds that repeat most
        are the most likely to be at its end, where deflate's matches are cheapest. (Ordering a
        sample by kind, or taking the very first records, measured 1-7 % worse.) Deterministic
        for a given input. The sealing tail stands in when nothing was encoded here. Returns
        the primed compressor."""
        sample = self._sample
        zdict = bytes(sample[-ZDICT_SIZE:]) if sample else tail[-ZDICT_SIZE:]
        self._zdict = zdict
        self._sample = None
        self._packer = zlib.compressobj(
            _ZLIB_LEVEL, zlib.DEFLATED, _ZLIB_WBITS, _ZLIB_MEMLEVEL, zdict=zdict
        )
        return self._packer

    @staticmethod
    def _prefix(size: int) -> bytes:
        """A frame's size prefix (as records have: 2 bytes, or 4 with the top bit set)."""
        if size < 0x8000:
            return size.to_bytes(2, "big")
        return (size | 0x8000_0000).to_bytes(4, "big")

    @staticmethod
    def _frame_at(buffer: bytes | memoryview, pos: int) -> tuple[int, int]:
        """(body start, end) of the frame (record, block or sealed region) at ``pos``."""
        if buffer[pos] & 0x80:
            body = pos + 4
            return body, body + (int.from_bytes(buffer[pos:body], "big") & 0x7FFF_FFFF)
        body = pos + 2
        return body, body + (buffer[pos] << 8 | buffer[pos + 1])

    def seal(self, history: bytes, stored: int) -> tuple[bytes, int]:
        """Compress the raw tail of ``history`` (``stored`` records, a multiple of ``block``:
        the tail holds exactly ``block``) into a sealed block, and drop the oldest block when
        the others still hold ``limit`` calls. Returns the new history and its record count.

        Layout: a history of fewer than ``block`` records is its raw records. From then on
        it is one sealed region, framed like a record (so the tail is found without walking
        the blocks), holding ``stored // block`` blocks, then the raw tail. A block is framed
        too, and its body is its record count (one byte) then the raw deflate stream."""
        block = self.block
        if stored > block:
            first, sealed = self._frame_at(history, 0)
        else:
            first = sealed = 0
        tail = history[sealed:]
        primed = self._packer
        if primed is None:
            primed = self._freeze(tail)
        packer = primed.copy()
        packed = packer.compress(tail) + packer.flush()
        limit = self.limit
        if limit is not None and stored - block >= limit:
            first = self._frame_at(history, first)[1]  # the oldest block goes
            stored -= block
        kept = memoryview(history)[first:sealed]
        head = self._prefix(len(packed) + 1)
        region = self._prefix(len(kept) + len(head) + 1 + len(packed))
        return b"".join((region, kept, head, bytes((block,)), packed)), stored

    def unseal(self, history: bytes, stored: int) -> bytes:
        """The framed records of a history of ``stored`` records (see :meth:`seal`), oldest
        first, with its blocks decompressed."""
        blocks = stored // self.block
        if not blocks:
            return history
        pos, sealed = self._frame_at(history, 0)
        parts: list[bytes] = []
        for _ in range(blocks):
            body, end = self._frame_at(history, pos)
            if history[body] != self.block:
                raise ValueError(f"history block of {history[body]} records, not {self.block}")
            unpacker = zlib.decompressobj(_ZLIB_WBITS, self._zdict or b"")
            parts.append(unpacker.decompress(history[body + 1 : end]))
            pos = end
        if pos != sealed:
            raise ValueError("history blocks do not match the record count")
        parts.append(history[sealed:])
        return b"".join(parts)

    def decode_history(self, history: bytes, stored: int) -> list[HistoryEntry]:
        """The calls a history of ``stored`` records shows: exactly the latest ``limit`` (it
        may hold almost two blocks more, see :meth:`seal`), oldest first."""
        raw = self.unseal(history, stored)
        limit = self.limit
        start = 0
        if limit is not None and stored > limit:
            for _ in range(stored - limit):
                start = self._frame_at(raw, start)[1]
        view = memoryview(raw)[start:]
        return [self.decode_record(view[s:e]) for s, e in self.records(view)]


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
        "_anonymous_id",
        "_codec",
        "_engage_log",
        "_history",
        "_merged_from",
        "_refused_merges",
        "_stored",
        "_trait_times",
        "_user_id",
        "announced_mask",
        "computed",
        "created_at",
        "due_since",
        "engaged",
        "event_counts",
        "first_message_id",
        "first_source",
        "id",
        "identifiers",
        "identify_traits",
        "last_message_id",
        "last_source",
        "members",
        "next_due",
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
        """In the order first seen; add through :meth:`add_identifier` (never removed)."""
        self._user_id: str | None = None
        self._anonymous_id: str | None = None
        if user_id:
            self.add_identifier(ExternalId("user_id", user_id, source, created_at, ""))
        for anonymous_id in anonymous_ids:
            self.add_identifier(ExternalId("anonymous_id", anonymous_id, source, created_at, ""))
        self.identify_traits: dict[str, Any] | None = None
        """Traits set by identify calls (None until the first; most profiles have none)."""
        self._trait_times: float | dict[str, float] | None = None
        """Event time (Unix seconds) of each identify trait's latest write (last write wins by
        it), read through :attr:`trait_times`: one float while every identify trait was last
        written at that time (a profile's identify usually sets them all at once: a float
        instead of a dict of ~5 keys, ~180 bytes), a dict once their times differ."""
        self._codec = codec or DEFAULT_CODEC
        self._history = b""
        """Sealed blocks then the raw tail of framed records (see ``HistoryCodec.seal``), in
        one exactly sized immutable ``bytes``: a ``bytearray`` over-allocates by about an
        eighth, a second object would cost ~40 B, and re-copying the ~1 KB per call costs
        less than either."""
        self._stored = 0
        """Records in ``_history`` (fewer than two blocks beyond the codec's limit)."""
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
    def add_identifier(self, ext: ExternalId) -> None:
        """Append an identifier, keeping the first ``user_id`` and ``anonymous_id`` at hand:
        every Engage event names the profile by them, and finding them by walking the
        identifiers cost ~3 µs a membership change (the identifiers are not otherwise read
        on the ingest path, so their objects are out of the CPU caches by then)."""
        self.identifiers.append(ext)
        if ext.type == "user_id":
            if self._user_id is None:
                self._user_id = ext.id
        elif ext.type == "anonymous_id" and self._anonymous_id is None:
            self._anonymous_id = ext.id

    @property
    def user_id(self) -> str | None:
        """The first user id seen (a profile holds one unless its identity rules allow more)."""
        return self._user_id

    @property
    def first_anonymous_id(self) -> str | None:
        return self._anonymous_id

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
        if not self.engaged & bit:
            # Engage takes the key over from an identify trait once; while it holds it, an
            # identify of the key clears the bit (see :meth:`set_traits`), so the traits dict
            # (rarely in the CPU caches here) is only looked at on the first change.
            self.engaged |= bit
            custom = self.identify_traits
            if custom and key in custom:
                del custom[key]
                times = self._trait_times
                if type(times) is dict:  # a float still holds for the other keys
                    times.pop(key, None)
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
        one = self._trait_times
        # Every identify trait ends up written at ``when`` (none yet, or this call rewrites
        # all of them and is not older): one float stands for their times.
        shared = (one is None and not custom) or (
            type(one) is float and when >= one and custom.keys() <= traits.keys()
        )
        times = None if shared else self._times_dict()
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
                    if times is not None:
                        times[key] = when
                    continue
            previous = None if times is None else times.get(key)
            if previous is None or when >= previous:
                if key not in custom or custom[key] != value:
                    changed[key] = value
                custom[key] = value
                if times is not None:
                    times[key] = when
        if times is None:
            self._trait_times = when
        return changed

    @property
    def trait_times(self) -> dict[str, float] | None:
        """Event time (Unix seconds) of each identify trait's latest write (a fresh dict when
        they all share one time: see ``_trait_times``)."""
        times = self._trait_times
        if times is None or type(times) is dict:
            return times
        return dict.fromkeys(self.identify_traits or (), times)

    def _times_dict(self) -> dict[str, float]:
        """The trait times as a dict from now on (keys are about to get different times)."""
        times = self._trait_times
        if type(times) is dict:
            return times
        found: dict[str, float] = (
            {} if times is None else dict.fromkeys(self.identify_traits or (), times)
        )
        self._trait_times = found
        return found

    def remember(self, entry: HistoryEntry) -> None:
        """Append to the history (bounded by the codec's limit) and count the event."""
        self.append_record(self._codec.encode(entry), entry.event or entry.type)

    def append_record(self, record: bytes, name: str) -> None:
        """Append one framed record (see :class:`HistoryCodec`) and count ``name`` (the event
        name, or the call type). The model encodes records itself, without building a
        :class:`HistoryEntry` per call. Once per ``block`` records the raw tail is sealed
        (compressed); nothing is decoded here."""
        codec = self._codec
        history = self._history + record
        stored = self._stored + 1
        limit = codec.limit
        if limit is not None and stored > limit and limit < codec.block:
            # A limit below a block never seals: the raw tail is trimmed record by record.
            history = history[codec.first_record_end(history) :]
            stored -= 1
        elif stored % codec.block == 0:
            history, stored = codec.seal(history, stored)
        self._history = history
        self._stored = stored
        counts = self.event_counts
        count = counts.get(name)
        if count is None:
            # A new key: the name is usually the call's own decoded string, ~60 bytes every
            # profile would keep a copy of; the interned one is shared.
            counts[sys.intern(name)] = 1
        else:
            counts[name] = count + 1  # the dict keeps the key it has

    @property
    def history_size(self) -> int:
        """Calls in the history: at most the codec's limit (whole blocks are dropped, so
        almost two blocks more may be stored; reads skip them)."""
        stored = self._stored
        limit = self._codec.limit
        return stored if limit is None or stored <= limit else limit

    @property
    def engage_size(self) -> int:
        """Engage membership events kept in the membership log."""
        return len(self._engage_log) // 2 if self._engage_log is not None else 0

    def _calls(self) -> list[HistoryEntry]:
        return self._codec.decode_history(self._history, self._stored)

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
        """Bytes the history really stores: sealed blocks, raw tail and membership log."""
        log = self._engage_log
        return len(self._history) + (len(log) * log.itemsize if log is not None else 0)

    def absorb(self, other: Profile) -> None:
        """Merge ``other`` into this one: identifiers, traits (newest wins), history (by time),
        counts and memberships. Computed trait states are merged by the model."""
        for ext in other.identifiers:
            if not self.has_id(ext.type, ext.id):
                self.add_identifier(ext)
        self._absorb_traits(other)
        calls = sorted([*self._calls(), *other._calls()], key=lambda e: (e.timestamp, e.message_id))
        self._history = b""
        self._stored = 0
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
        timed = self.trait_times or {}
        for key in mine:
            bit = bits.get(key)
            if bit is not None and theirs_engaged & bit and key in timed:
                theirs_engaged &= ~bit  # ours is an identify trait: it stays
        self.engaged |= theirs_engaged
        if not other.identify_traits:
            return
        custom = self.identify_traits
        if custom is None:
            custom = self.identify_traits = {}
        times = self._times_dict()
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
