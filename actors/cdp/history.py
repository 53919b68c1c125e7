"""A profile's event history, compact: coded, framed records sealed into compressed blocks.

Memory is the constraint that shapes this module (the target is <= 4 KB per profile with 50
events of history, see docs/cdp.md). A naive history keeps every event's ``properties`` dict,
its ``datetime`` and its message id alive as Python objects: several hundred bytes per event.
Here the history is one immutable ``bytes`` per profile of size-prefixed msgpack records,
with the call type, event name and source replaced by small integer codes from a vocabulary
shared by every profile of a model (~56 bytes for a rich storefront call, ~36 for a lean one).

Only the latest calls stay raw. A profile's first ``FIRST_SEAL * HISTORY_BLOCK`` (16) calls are
its raw records; the 16th seals them into one block, and from then on every ``HISTORY_BLOCK``
(8) calls are sealed, so fewer than 8 stay raw. Sealing delta codes the records (each timestamp
and numbered message id as the difference from the previous record's: a session's calls share
their timestamp and take consecutive ids, so both shrink to a byte), then compresses them with
raw deflate primed by a preset dictionary that the model's codec freezes, once it has encoded
enough records, from the latest of them (delta coded the same way). On the storefront
recording (10,000 customers over 90 days, ~52 calls each) blocks shrink ~5.9x (~2.9x on the
lean synthetic stream), and a profile's history takes ~790 bytes (~1,260 with blocks of 16
records as they are, ~2.9 KB raw). Sealing costs ~36 us per seal in a run (~2.8 us per sealed
call: decoding the records in one msgspec call, delta coding, deflate): ~2.4 % of the process
time of the 100,000-customer replay, against ~1.5 % with blocks of 16 sealed as they are
(~0.35 us more per ingested call, within the run-to-run noise of its events/s); a profile with
fewer than 16 calls pays nothing and stores its records as they are. The history ``limit``
drops whole blocks inside (fewer than three blocks more are stored); reads skip the excess, so
a profile shows exactly its latest ``limit`` calls.

Reading the history (the Profile API, snapshots, merges, tests) decompresses the blocks and
decodes the records back into :class:`HistoryEntry` values; nothing on the ingest hot path ever
decodes it, because the incremental state lives elsewhere (``event_counts``, computed trait
states). Appending a call copies the (compressed) history once, as before.

Engage's own events (``Audience Entered``/``Exited``) are not calls: a churny workspace makes
more of them than calls, so they do not go into the call history. Each profile keeps the latest
``engage_limit`` of them in a membership log (``membership_log.py``), merged back into
:attr:`Profile.events` by time when read (see :meth:`HistoryCodec.membership_entry`).
Memberships and the boolean audience traits are bit masks over the audiences' definition
order (one int each, no per-profile set or dict), decoded on read.
"""

from __future__ import annotations

import zlib
from collections import deque
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
HISTORY_BLOCK = 8
"""Calls per sealed history block, after the first seal (see ``HistoryCodec.seal``): the
raw tail of the latest calls stays short (under 8: ~310 bytes per profile of the storefront
recording, ~455 with blocks of 16), while a block still holds enough calls to compress well
against the dictionary (~93 bytes a block there, the first ones of 16 calls included)."""
FIRST_SEAL = 2
"""Blocks' worth of calls a history keeps raw before its first seal, which packs them all
into one block: the profiles sealed are those of 16 calls or more, as with blocks of 16, and
that first block compresses as well as one of 16. Sealing from 8 calls measured 8 % smaller
histories but 2.3x the sealing time on a 10-day stream, where most profiles have 8 to 15."""
ZDICT_SIZE = 8_192
"""Bytes of delta-coded recent records a codec freezes as its preset dictionary: 4 KB
measured 3 % larger histories (fewer products and kinds of calls in reach); this still fits
deflate's 8 KB window (see ``_ZLIB_WBITS``)."""
SAMPLE_SIZE = 2 * ZDICT_SIZE
"""Bytes of raw records a codec must have encoded before it freezes its dictionary (from the
latest of them): delta coding shrinks a sample by about a sixth, so the dictionary is full."""
_ZLIB_LEVEL = 3
"""Deflate level: 3 is the last of the fast levels (no lazy matching) and follows longer hash
chains than 1: histories 8 % smaller than at level 1 for 3 % more sealing time. Level 4 (lazy
matching) measured 3 % larger, 6 2 % smaller for 14 % more time."""
_ZLIB_WBITS = -13
"""Raw deflate (no zlib header or checksum: 6 bytes per block) with an 8 KB window: the
dictionary and a block stay (nearly all) in reach, and the compressor's state is small enough
that copying a primed one (see ``HistoryCodec.seal``) is cheaper than priming anew. A 16 KB
window measured 0.3 % smaller histories for 3 % more sealing time (twice the state to copy)."""
_ZLIB_MEMLEVEL = 4
"""Deflate's hash size: the default 8 measured the same sizes on these blocks and 12 % more
sealing time (a state ~3x larger to copy)."""
_SMALL_PREFIXES = tuple(bytes((size,)) for size in range(0x80))
"""The size prefixes of records under 128 bytes (msgpack positive fixints)."""
_INT_WIDTHS = {0xCC: 1, 0xCD: 2, 0xCE: 4}
"""Bytes after the type byte of a msgpack unsigned int (a record's size prefix from 128)."""
_encode_size = msgspec.msgpack.Encoder().encode


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

    def __len__(self) -> int:
        return len(self._names)


def _record_at(buffer: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """(body start, end) of the framed record at ``pos`` (see :class:`HistoryCodec`)."""
    head = buffer[pos]
    if head < 0x80:
        return pos + 1, pos + 1 + head
    width = _INT_WIDTHS.get(head)
    if width is None:
        raise ValueError(f"not a history record size prefix: {head:#x}")
    body = pos + 1 + width
    return body, body + int.from_bytes(buffer[pos + 1 : body], "big")


def _items_header(records: int) -> bytes:
    """A msgpack array header that makes ``records`` framed records one msgpack array of their
    size prefixes and bodies (decoded in one call: ~0.3 us a record instead of ~0.4)."""
    return b"\xdd" + (2 * records).to_bytes(4, "big")


class HistoryCodec:
    """Encodes :class:`HistoryEntry` values into a profile's history buffer and back.

    Record (msgpack array), preceded by its size as a msgpack unsigned int (one byte under 128
    bytes), so that consecutive framed records decode as one msgpack sequence:

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

    A profile's history is sealed at its ``FIRST_SEAL * block``-th record, then every ``block``
    records (see :meth:`seal` for the layout): the records are delta coded and compressed with
    a preset dictionary (:attr:`zdict`) that every profile of the codec shares, frozen once so
    that every block stays decodable.
    :meth:`decode_history` reads a history back; :meth:`records`, :meth:`decode` and
    :meth:`first_record_end` work on raw framed records.

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
        """Calls per sealed block (the first block holds ``FIRST_SEAL`` times as many)."""
        self._sample: deque[bytes] | None = deque()
        """The latest framed records encoded (at least ``SAMPLE_SIZE`` bytes of them once that
        many were; up to twice that between trims), until the dictionary is frozen from them."""
        self._sampled = 0
        """Bytes in ``_sample``."""
        self._zdict: bytes | None = None
        self._packer: zlib._Compress | None = None
        """A compressor primed with the dictionary: each seal copies it (~1.2 us, priming a
        new one with the 8 KB dictionary ~7.7 us)."""
        self._unprimed: zlib._Compress | None = None
        """The compressor of the blocks sealed before the dictionary is frozen."""
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

    def membership_entry(self, micros: int, seq: int, code: int) -> HistoryEntry:
        """The ``Audience Entered``/``Exited`` track a membership log change stands for
        (``code``: ``index << 1 | entered``, see ``membership_log.Change``)."""
        entered = code & 1
        key = self.audience_keys[code >> 1]
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
        """A record body with its size prefix: a msgpack unsigned int, so a run of framed
        records decodes in one call (see :meth:`seal`); one byte for records under 128 bytes
        (a byte less than a fixed 2-byte size, on every raw record), taken from a table."""
        size = len(body)
        if size < 0x80:
            return _SMALL_PREFIXES[size] + body
        return _encode_size(size) + body

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
        if sample is not None:  # only until the dictionary is frozen
            sample.append(framed)
            self._sampled += len(framed)
            if self._sampled >= 2 * SAMPLE_SIZE:
                self._trim_sample(sample)
        return framed

    def _trim_sample(self, sample: deque[bytes]) -> None:
        """Keep the latest records encoded, the fewest that hold ``SAMPLE_SIZE`` bytes. Run
        when the sample has grown to twice that (and before freezing), not on every call: a
        stream whose profiles never seal keeps sampling all along."""
        while len(sample) > 1 and self._sampled - len(sample[0]) >= SAMPLE_SIZE:
            self._sampled -= len(sample.popleft())

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
        pos = 0
        end = len(buffer)
        while pos < end:
            stop = _record_at(buffer, pos)[1]
            yield pos, stop
            pos = stop

    @staticmethod
    def first_record_end(buffer: bytes | bytearray) -> int:
        """Where the first record (prefix and body) ends."""
        return _record_at(buffer, 0)[1]

    def _entry(self, items: list[Any]) -> HistoryEntry:
        """The entry of a decoded record."""
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

    def decode_record(self, record: bytes | memoryview) -> HistoryEntry:
        return self._entry(self._decoder.decode(record[_record_at(record, 0)[0] :]))

    def decode(self, buffer: bytes | bytearray) -> list[HistoryEntry]:
        """Raw framed records (a profile's history may hold sealed blocks: read it with
        :meth:`decode_history`)."""
        view = memoryview(buffer)
        return [self.decode_record(view[start:end]) for start, end in self.records(buffer)]

    def _raw_items(self, framed: bytes | memoryview, count: int) -> list[list[Any]]:
        """The decoded records of ``count`` framed records, in one msgspec call."""
        return self._decoder.decode(b"".join((_items_header(count), framed)))[1::2]

    # -- sealed blocks ------------------------------------------------------------------------
    @property
    def zdict(self) -> bytes | None:
        """The preset dictionary of every sealed block (None until frozen, see
        :meth:`_freeze`). Frozen once set: changing it would make every block sealed with it
        undecodable."""
        return self._zdict

    def _delta_coded(self, items: list[list[Any]]) -> bytes:
        """What a block compresses: its decoded records as one msgpack array, each with its
        timestamp and message id number replaced by the difference from the previous
        record's (the first from 0; an id kept as a string is left as it is). Changes
        ``items``.

        The calls of a session share their timestamp and take consecutive message ids, so
        their 9 and 5 bytes of time and id number become one byte each, and a call's codes and
        property values stay together, where the dictionary holds them (a product viewed is
        one match). Column layouts measured larger (timestamps, ids and codes each apart:
        +0.6 %; property values grouped by shape too: +5 %) and took up to 1.7x the time.
        Deflate then reads ~15 % fewer bytes."""
        micros = number = 0
        for item in items:
            at = item[0]
            item[0] = at - micros
            micros = at
            stored = item[4]
            if type(stored) is list:
                current = stored[1]
                stored[1] = current - number
                number = current
        return self._encode(items)

    def _delta_decoded(self, coded: bytes) -> list[list[Any]]:
        """The decoded records of a block (the inverse of :meth:`_delta_coded`)."""
        items: list[list[Any]] = self._decoder.decode(coded)
        micros = number = 0
        for item in items:
            micros += item[0]
            item[0] = micros
            stored = item[4]
            if type(stored) is list:
                number += stored[1]
                stored[1] = number
        return items

    def _compressor(self) -> zlib._Compress:
        """The compressor a seal copies. The dictionary freezes at the first seal after the
        codec has encoded ``SAMPLE_SIZE`` bytes of records, not at the very first seal: in the
        recordings the first seal comes after 900-2,500 calls anyway, but a stream whose first
        profiles seal within its first few dozen calls (mostly sign-ups) would freeze a poor
        dictionary for good (sealing from 8 calls did: histories ~10 % larger). The few blocks
        sealed earlier are compressed without a dictionary: they never refer to it, so they
        decompress the same with it as without."""
        if self._packer is not None:
            return self._packer
        if self._sampled >= SAMPLE_SIZE:
            return self._freeze()
        if self._unprimed is None:
            self._unprimed = zlib.compressobj(
                _ZLIB_LEVEL, zlib.DEFLATED, _ZLIB_WBITS, _ZLIB_MEMLEVEL
            )
        return self._unprimed

    def _freeze(self) -> zlib._Compress:
        """Freeze the dictionary from the sampled records, delta coded ``block`` by ``block``
        as blocks are (the newest chunk last), keeping the latest ``ZDICT_SIZE`` bytes: a
        natural mix of the calls the model sees, so the kinds that repeat most are the most
        likely to be at its end, where deflate's matches are cheapest. (With records sealed as
        they were, ordering a sample by kind or taking the very first records measured 1-7 %
        worse.) Deterministic for a given input. Returns the primed compressor."""
        sample = self._sample or deque()
        self._trim_sample(sample)
        block = self.block
        items = self._raw_items(b"".join(sample), len(sample))
        starts = range(len(items) - block, -block, -block)
        coded = [self._delta_coded(items[max(0, start) : start + block]) for start in starts]
        zdict = b"".join(reversed(coded))[-ZDICT_SIZE:]
        self._zdict = zdict
        self._sample = None
        self._sampled = 0
        self._unprimed = None
        self._packer = zlib.compressobj(
            _ZLIB_LEVEL, zlib.DEFLATED, _ZLIB_WBITS, _ZLIB_MEMLEVEL, zdict=zdict
        )
        return self._packer

    @staticmethod
    def _prefix(size: int) -> bytes:
        """The sealed region's size prefix: 2 bytes, or 4 with the top bit set."""
        if size < 0x8000:
            return size.to_bytes(2, "big")
        return (size | 0x8000_0000).to_bytes(4, "big")

    @staticmethod
    def _region(history: bytes) -> tuple[int, int]:
        """(first block, raw tail) of a sealed history: where its sealed region's body starts
        and ends."""
        if history[0] & 0x80:
            return 4, 4 + (int.from_bytes(history[:4], "big") & 0x7FFF_FFFF)
        return 2, 2 + (history[0] << 8 | history[1])

    def _inflater(self) -> zlib._Decompress:
        """A decompressor for one block: with the dictionary once there is one (a block sealed
        before it was frozen never refers to it)."""
        return zlib.decompressobj(_ZLIB_WBITS, self._zdict or b"")

    def seal(self, history: bytes, stored: int) -> tuple[bytes, int]:
        """Compress the raw tail of ``history`` (``stored`` records, a multiple of ``block``)
        into a sealed block, and drop the oldest block when the others still hold ``limit``
        calls (and at least a first seal's worth). Returns the new history and its record
        count.

        Layout: a history of fewer than ``FIRST_SEAL * block`` records is its raw records (a
        seal before that changes nothing, and a short-lived profile never pays for one). The
        first seal compresses them all into one block; from then on the history is a sealed
        region, framed (2 bytes, or 4 with the top bit set) so that the raw tail is found
        without walking the blocks, then the raw tail (``stored % block`` records). The region
        holds the blocks back to back, each the raw deflate stream of its records delta coded
        (see :meth:`_delta_coded`): a deflate stream ends itself, so blocks need no frame."""
        block = self.block
        first_seal = FIRST_SEAL * block
        if stored < first_seal:
            return history, stored
        count = block
        if stored == first_seal:  # the first seal (a sealed history never drops back to it)
            first = sealed = 0
            count = stored
        else:
            first, sealed = self._region(history)
        packer = self._compressor().copy()
        coded = self._delta_coded(self._raw_items(memoryview(history)[sealed:], count))
        packed = packer.compress(coded) + packer.flush()
        kept: bytes | memoryview = memoryview(history)[first:sealed]
        limit = self.limit
        if limit is not None and kept and stored - block >= max(limit, first_seal):
            oldest, rest = self._first_block(kept)
            if stored - oldest >= max(limit, first_seal):
                kept = rest  # the oldest block goes
                stored -= oldest
        region = self._prefix(len(kept) + len(packed))
        return b"".join((region, kept, packed)), stored

    def _first_block(self, blocks: bytes | memoryview) -> tuple[int, bytes]:
        """The number of records in the first of ``blocks``, and the blocks after it."""
        inflater = self._inflater()
        coded = inflater.decompress(blocks)
        if not inflater.eof:
            raise ValueError("a history block is truncated")
        return len(self._decoder.decode(coded)), inflater.unused_data

    def _items(self, history: bytes, stored: int) -> list[list[Any]]:
        """The decoded records of a history of ``stored`` records, oldest first."""
        if stored < FIRST_SEAL * self.block:
            return self._raw_items(history, stored)
        first, sealed = self._region(history)
        blocks = history[first:sealed]
        items: list[list[Any]] = []
        while blocks:
            inflater = self._inflater()
            items += self._delta_decoded(inflater.decompress(blocks))
            if not inflater.eof:
                raise ValueError("a history block is truncated")
            blocks = inflater.unused_data
        tail = stored - len(items)
        if not 0 <= tail < self.block:
            raise ValueError(f"history blocks hold {len(items)} of {stored} records")
        items += self._raw_items(memoryview(history)[sealed:], tail)
        return items

    def unseal(self, history: bytes, stored: int) -> bytes:
        """The framed records of a history of ``stored`` records (see :meth:`seal`), oldest
        first, with its blocks decompressed: the very bytes :meth:`encode` gave."""
        if stored < FIRST_SEAL * self.block:
            return history
        framed, encode = self._framed, self._encode
        return b"".join([framed(encode(items)) for items in self._items(history, stored)])

    def decode_history(self, history: bytes, stored: int) -> list[HistoryEntry]:
        """The calls a history of ``stored`` records shows: exactly the latest ``limit`` (it
        may hold fewer than three blocks more, see :meth:`seal`), oldest first."""
        items = self._items(history, stored)
        limit = self.limit
        if limit is not None and stored > limit:
            items = items[stored - limit :]
        entry = self._entry
        return [entry(item) for item in items]


DEFAULT_CODEC = HistoryCodec()
"""For profiles built outside a model (tests, tools): unbounded, with its own vocabulary."""
