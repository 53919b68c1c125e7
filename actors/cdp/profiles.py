"""Customer profiles: identifiers, traits, a compact event history (see
:mod:`promoloop.actors.cdp.history`) and audience memberships as bit masks.

Memory is the constraint that shapes this module (the target is <= 4 KB per profile with 50
events of history, see docs/cdp.md): rarely read data is kept in compact forms and decoded
when the Profile API or a merge reads it, never on the ingest path.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.cdp import membership_log
from promoloop.actors.cdp.history import DEFAULT_CODEC, HistoryCodec, HistoryEntry
from promoloop.actors.cdp.membership_log import HEAD
from promoloop.actors.cdp.times import from_micros, to_micros, to_seconds

_encode_meta = msgspec.msgpack.Encoder().encode
_decode_meta = msgspec.msgpack.Decoder(list[list[Any]]).decode


class ExternalId(msgspec.Struct, frozen=True, gc=False):
    """One identifier of a profile, with where and when it was first seen (Profile API
    ``external_ids`` item)."""

    type: str
    id: str
    source: str
    created_at: datetime
    message_id: str


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
        "_first_message_id",
        "_history",
        "_id_meta",
        "_ids",
        "_merged_from",
        "_newest",
        "_refused_merges",
        "_stored",
        "_trait_times",
        "_traits",
        "announced_mask",
        "computed",
        "counts",
        "created_micros",
        "due_since",
        "engaged",
        "first_anonymous_id",
        "first_source",
        "id",
        "members",
        "next_due",
        "synced",
        "updated_micros",
        "user_id",
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
        self._codec = codec or DEFAULT_CODEC
        self.created_micros = self.updated_micros = to_micros(created_at)
        """Event times (integer microseconds) of the oldest and the newest call: an int (32
        bytes) instead of keeping the call's ``datetime`` (48), and the hot path compares
        ints. Read as datetimes through :attr:`created_at` and :attr:`updated_at`."""
        self._ids: tuple[str, ...] = ()
        """The identifier values in the order first seen (the same strings the identity
        graph's index holds); add through :meth:`add_identifier` (never removed)."""
        self._id_meta = b""
        """The rest of each identifier, packed (see :meth:`add_identifier`): read through
        :attr:`identifiers`."""
        self.user_id: str | None = None
        """The first user id seen (a profile holds one unless its identity rules allow more).
        Read-only outside :meth:`add_identifier`, which sets it; a plain attribute, not a
        property, as the change path reads it several times per call."""
        self.first_anonymous_id: str | None = None
        """The first anonymous id seen (read-only, like :attr:`user_id`)."""
        if user_id:
            self.add_identifier(ExternalId("user_id", user_id, source, created_at, ""))
        for anonymous_id in anonymous_ids:
            self.add_identifier(ExternalId("anonymous_id", anonymous_id, source, created_at, ""))
        self._traits: tuple[Any, ...] | None = None
        """Traits set by identify calls, packed as ``(keys, value, ...)`` (see
        :func:`_pack_traits`; None until the first, most profiles have none), read through
        :attr:`identify_traits` and :meth:`trait`."""
        self._trait_times: float | dict[str, float] | None = None
        """Event time (Unix seconds) of each identify trait's latest write (last write wins by
        it), read through :attr:`trait_times`: one float while every identify trait was last
        written at that time (a profile's identify usually sets them all at once: a float
        instead of a dict of ~5 keys, ~180 bytes), a dict once their times differ."""
        self._history = b""
        """Sealed blocks then the raw tail of framed records (see ``HistoryCodec.seal``), in
        one exactly sized immutable ``bytes``: a ``bytearray`` over-allocates by about an
        eighth, a second object would cost ~40 B, and re-copying the ~1 KB per call costs
        less than either."""
        self._stored = 0
        """Records in ``_history`` (fewer than two blocks beyond the codec's limit)."""
        self._engage_log: array[int] | None = None
        """The latest Engage membership events (see :mod:`~promoloop.actors.cdp.membership_log`);
        None until the first."""
        self.counts = array("H", bytes(2 * len(self._codec.vocabulary)))
        """Lifetime count of each event name (or call type, for calls other than tracks),
        indexed by its code in the codec's vocabulary, read through :meth:`count` and
        :attr:`event_counts`. Two bytes a name (widened on overflow, see
        :meth:`_count_slow`) instead of a dict of ~7 names (~270 bytes, its keys the decoded
        strings); the model already has the code of every call it records."""
        self.members = 0
        """Bit mask of the audiences this profile is in."""
        self.engaged = 0
        """Bit mask of the audiences whose boolean trait Engage wrote (value: the member bit)."""
        self.announced_mask = 0
        """Audiences whose entry destinations have heard of with this profile's userId."""
        self._merged_from: list[str] | None = None
        self._refused_merges: list[str] | None = None
        self.synced: tuple[Any, ...] = ()
        """The values of the model's synced computed traits last sent to destinations (see
        ``CdpModel._sync``)."""
        self.computed: list[Any] | None = None
        """Computed trait states, indexed by the model's trait slots (None until needed)."""
        self.next_due = float("inf")
        """Earliest Unix second at which a windowed state of this profile changes."""
        self.due_since = float("-inf")
        """Since when time-driven changes of this profile may be unprocessed (the model's
        expiry re-evaluates only what changed after it)."""
        self._first_message_id: str | None = None
        """The message id of the oldest call, when not the first identifier's (which a new
        profile's identifiers carry: read from there, not kept twice; see
        :attr:`first_message_id`)."""
        self.first_source = source
        self._newest: tuple[str, str] | None = None
        """``(message id, source)`` of the newest call (by event time) when it is not the
        history's latest record: an older call arrived after it, or a merge chose it. None
        while the latest record is the newest call, as it nearly always is: the message id
        is then read from the history (:attr:`last_message_id`), not kept (~70 bytes)."""

    @property
    def created_at(self) -> datetime:
        """The event time of the profile's oldest call (UTC)."""
        return from_micros(self.created_micros)

    @created_at.setter
    def created_at(self, at: datetime) -> None:
        self.created_micros = to_micros(at)

    @property
    def updated_at(self) -> datetime:
        """The event time of the profile's newest call (UTC)."""
        return from_micros(self.updated_micros)

    @updated_at.setter
    def updated_at(self, at: datetime) -> None:
        self.updated_micros = to_micros(at)

    @property
    def first_message_id(self) -> str:
        """The message id of the oldest call ("" when unknown)."""
        first = self._first_message_id
        if first is not None:
            return first
        if not self._id_meta:
            return ""
        return self._codec.expand_id(self._meta()[0][3])

    @first_message_id.setter
    def first_message_id(self, message_id: str) -> None:
        self._first_message_id = message_id

    @property
    def last_message_id(self) -> str:
        """The message id of the newest call (by event time; "" before any)."""
        return self._newest_call()[0]

    @property
    def last_source(self) -> str:
        """The source of the newest call (by event time)."""
        return self._newest_call()[1]

    def _newest_call(self, calls: list[HistoryEntry] | None = None) -> tuple[str, str]:
        """``(message id, source)`` of the newest call; ``calls``: the history, when the
        caller has decoded it already."""
        newest = self._newest
        if newest is not None:
            return newest
        if not self._stored:
            return ("", self.first_source)
        latest = (self._calls() if calls is None else calls)[-1]
        return (latest.message_id, latest.source)

    def keep_newest(self) -> None:
        """Called before a call older than :attr:`updated_at` is recorded: the newest call
        is no longer the latest record, so its message id and source are kept apart (read
        from the history once: out-of-order calls are rare)."""
        if self._newest is None:
            self._newest = self._newest_call()

    def set_newest(self, micros: int, message_id: str, source: str) -> None:
        """Record a call as the newest (its time, message id and source) explicitly."""
        self.updated_micros = micros
        self._newest = (message_id, source)

    def __repr__(self) -> str:
        return f"Profile(id={self.id!r}, user_id={self.user_id!r})"

    # -- identifiers ------------------------------------------------------------------------
    def add_identifier(self, ext: ExternalId) -> None:
        """Append an identifier, keeping the first ``user_id`` and ``anonymous_id`` at hand:
        every Engage event names the profile by them, and finding them by walking the
        identifiers cost ~3 µs a membership change (the identifiers are not otherwise read
        on the ingest path, so they are out of the CPU caches by then).

        The values stay strings (the identity index holds the same objects); type, source,
        time and message id of every identifier are packed into one msgpack ``bytes``
        (vocabulary codes, integer microseconds, a compacted message id): ~90 bytes for a
        profile's usual three identifiers instead of ~320 for a list of three
        :class:`ExternalId` objects and a message id string. Each identifier appends its own
        msgpack array (nothing is re-packed); :meth:`_meta` reads them all in one call."""
        codec = self._codec
        code = codec.vocabulary.code
        self._id_meta += _encode_meta(
            (
                code(ext.type),
                code(ext.source),
                to_micros(ext.created_at),
                codec.compact_id(ext.message_id),
            )
        )
        self._ids = (*self._ids, ext.id)
        if ext.type == "user_id":
            if self.user_id is None:
                self.user_id = ext.id
        elif ext.type == "anonymous_id" and self.first_anonymous_id is None:
            self.first_anonymous_id = ext.id

    @property
    def identifiers(self) -> list[ExternalId]:
        """Every identifier in the order first seen (unpacked: see :meth:`add_identifier`)."""
        if not self._ids:
            return []
        codec = self._codec
        name = codec.vocabulary.name
        return [
            ExternalId(name(kind), value, name(source), from_micros(micros), codec.expand_id(mid))
            for value, (kind, source, micros, mid) in zip(self._ids, self._meta(), strict=True)
        ]

    def _meta(self) -> list[list[Any]]:
        """Each identifier's ``[type code, source code, micros, compacted message id]``: the
        appended arrays of :attr:`_id_meta`, decoded as one array (a msgpack array header
        before them)."""
        count = len(self._ids)
        return _decode_meta(b"\xdd" + count.to_bytes(4, "big") + self._id_meta)

    def id_stamps(self) -> list[tuple[str, str, int]]:
        """``(type, value, first seen in microseconds)`` of each identifier: what identity
        limits read, without building :class:`ExternalId` objects."""
        name = self._codec.vocabulary.name
        return [
            (name(kind), value, micros)
            for value, (kind, _, micros, _) in zip(self._ids, self._meta(), strict=True)
        ]

    @property
    def anonymous_ids(self) -> list[str]:
        return self.ids_of("anonymous_id")

    def ids_of(self, id_type: str) -> list[str]:
        return [ext.id for ext in self.identifiers if ext.type == id_type]

    def has_id(self, id_type: str, value: str) -> bool:
        if value not in self._ids:
            return False
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
        self,
        key: str,
        index: int,
        entered: bool,
        announced: bool,
        micros: int,
        seq: int,
        code: int,
        follows: bool = False,
    ) -> None:
        """Engage's side of a membership change of audience ``key`` (definition ``index``;
        the member bit itself is the model's to flip), in one call as it runs several times
        per ingested call:

        - the boolean trait: it replaces an identify trait of the same key (latest write in
          arrival order wins; the boolean has no timestamp). Its value is the member bit, so
          only the fact that Engage wrote it is stored (``engaged``);
        - ``announced``: whether destinations keyed by userId heard of this entry;
        - the ``Audience Entered``/``Exited`` track (vocabulary ``code``) in the counts and
          in the membership log (the latest ``engage_limit``; see
          :mod:`~promoloop.actors.cdp.membership_log`). ``follows``: this change has the time
          of the profile's previous one and the next sequence number (the caller knows).
        """
        bit = 1 << index
        if not self.engaged & bit:
            # Engage takes the key over from an identify trait once; while it holds it, an
            # identify of the key clears the bit (see :meth:`set_traits`), so the traits dict
            # (rarely in the CPU caches here) is only looked at on the first change.
            self.engaged |= bit
            packed = self._traits
            if packed is not None and key in packed[0]:
                custom = self.identify_traits or {}
                del custom[key]
                self._traits = _pack_traits(custom)
                times = self._trait_times
                if type(times) is dict:  # a float still holds for the other keys
                    times.pop(key, None)
        if announced:
            self.announced_mask |= bit
        else:
            self.announced_mask &= ~bit
        try:
            self.counts[code] += 1
        except (IndexError, OverflowError):
            self._count_slow(code)
        limit = self._codec.engage_limit
        if limit == 0:
            return
        log = self._engage_log
        if log is None:
            log = self._engage_log = array("q", (0,))
            follows = False
        if follows:
            log.append(index << 1 | entered)
        else:
            log.append(seq << 17 | HEAD | index << 1 | entered)
            log.append(micros)
        size = log[0]
        if limit is None or size < limit:
            log[0] = size + 1
        # Over the limit: drop the oldest (see membership_log; a full log drops on every change;
        # the log holds at least the change just appended after the oldest, so log[3] exists).
        elif log[3] & HEAD:
            del log[1:3]  # the next is a head of its own
        else:
            log[1] = ((log[1] >> 17) + 1) << 17 | HEAD | log[3]  # the next becomes the head
            del log[3]

    # -- traits and history -----------------------------------------------------------------
    @property
    def identify_traits(self) -> dict[str, Any] | None:
        """The traits identify calls set (a fresh dict; None when there are none)."""
        packed = self._traits
        if packed is None:
            return None
        return dict(zip(packed[0], packed[1:], strict=True))

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
        packed = self._traits
        if packed is not None:
            keys = packed[0]
            if key in keys:
                return packed[keys.index(key) + 1]
        return None

    def set_traits(self, traits: dict[str, Any], at: datetime) -> dict[str, Any]:
        """Last write wins by event timestamp, not arrival order; returns what changed."""
        when = to_seconds(at)
        changed: dict[str, Any] = {}
        custom = self.identify_traits or {}
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
        self._traits = _pack_traits(custom)
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
        codec = self._codec
        self.append_record(codec.encode(entry), codec.vocabulary.code(entry.event or entry.type))

    def append_record(self, record: bytes, code: int) -> None:
        """Append one framed record (see :class:`HistoryCodec`) and count the vocabulary
        ``code`` of its event name (or call type). The model encodes records itself, without
        building a :class:`HistoryEntry` per call. Once per ``block`` records the raw tail is
        sealed (compressed); nothing is decoded here."""
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
        try:
            self.counts[code] += 1
        except (IndexError, OverflowError):
            self._count_slow(code)

    def _count_slow(self, code: int, n: int = 1) -> None:
        """Add ``n`` to the count of ``code`` when :attr:`counts` is too short for it (a name
        this profile has not seen yet) or the count would overflow the item type (then every
        count widens to 8 bytes). Off the common path: both are rare, so the hot path is a
        bare ``+= 1``."""
        counts = self.counts
        if code >= len(counts):
            counts.frombytes(bytes(counts.itemsize * (code + 1 - len(counts))))
        if counts[code] + n >= 1 << 8 * counts.itemsize:
            counts = self.counts = array("Q", counts)
        counts[code] += n

    def count(self, name: str) -> int:
        """How many events named ``name`` (or calls of that type) this profile has had."""
        code = self._codec.vocabulary.code(name)
        counts = self.counts
        return counts[code] if code < len(counts) else 0

    @property
    def event_counts(self) -> dict[str, int]:
        """Lifetime counts by event name (or call type), as a fresh dict."""
        name = self._codec.vocabulary.name
        return {name(code): n for code, n in enumerate(self.counts) if n}

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
        return self._engage_log[0] if self._engage_log is not None else 0

    def _calls(self) -> list[HistoryEntry]:
        return self._codec.decode_history(self._history, self._stored)

    def _memberships(self) -> list[HistoryEntry]:
        entry = self._codec.membership_entry
        return [entry(*change) for change in membership_log.changes(self._engage_log)]

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
        mine, theirs = self._calls(), other._calls()
        newest = max(
            (self.updated_micros, 1, *self._newest_call(mine)),
            (other.updated_micros, 0, *other._newest_call(theirs)),
        )  # the newer one; on a tie, this profile's
        for ext in other.identifiers:
            if not self.has_id(ext.type, ext.id):
                self.add_identifier(ext)
        self._absorb_traits(other)
        calls = sorted([*mine, *theirs], key=lambda e: (e.timestamp, e.message_id))
        self._history = b""
        self._stored = 0
        counts = self.counts
        self.counts = array("H")  # re-recording the calls must not count them again
        for entry in calls:
            self.remember(entry)
        self.counts = counts
        for code, count in enumerate(other.counts):
            if count:
                self._count_slow(code, count)
        self._absorb_memberships(other)
        self.members |= other.members
        self.announced_mask |= other.announced_mask
        if self._merged_from is None:
            self._merged_from = []
        self._merged_from.append(other.id)
        if other.created_micros < self.created_micros:
            self.created_micros = other.created_micros
            self.first_message_id = other.first_message_id
            self.first_source = other.first_source
        self.set_newest(newest[0], newest[2], newest[3])

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
        theirs = other.identify_traits
        if not theirs:
            return
        custom = mine
        times = self._times_dict()
        other_times = other.trait_times or {}
        for key, value in theirs.items():
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
        self._traits = _pack_traits(custom)

    def _absorb_memberships(self, other: Profile) -> None:
        theirs = membership_log.changes(other._engage_log)
        if not theirs:
            return
        merged = sorted([*membership_log.changes(self._engage_log), *theirs])
        limit = self._codec.engage_limit
        if limit is not None:
            merged = merged[len(merged) - limit :] if limit else []
        self._engage_log = membership_log.build(merged)

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


_KEY_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}
"""One shared tuple per set of identify trait keys (profiles of a workspace have a few)."""
_MAX_KEY_TUPLES = 4_096
"""Beyond this many distinct key sets, tuples are no longer shared (bounded memory whatever
keys callers send)."""


def _pack_traits(custom: dict[str, Any]) -> tuple[Any, ...] | None:
    """``(keys, value, ...)`` of identify traits: 88 bytes for a profile's usual five instead
    of 184 for a dict, the keys tuple shared with every profile that has the same keys."""
    if not custom:
        return None
    keys = tuple(custom)
    shared = _KEY_TUPLES.get(keys)
    if shared is None:
        shared = keys
        if len(_KEY_TUPLES) < _MAX_KEY_TUPLES:
            _KEY_TUPLES[keys] = keys
    return (shared, *custom.values())
