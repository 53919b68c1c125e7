"""A profile's event history, compact: coded, framed records sealed into compressed blocks.

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

import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.cdp.times import from_micros, to_micros
from promoloop.actors.events import names

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


class HistoryEntry(msgspec.Struct, frozen=True, gc=False):
    """One event as the profile remembers it (the Profile API's ``events`` item)."""

    timestamp: datetime
    type: str
    event: str | None
    source: str
    message_id: str
    properties: dict[str, Any]


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
