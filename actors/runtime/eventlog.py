"""The run's event log: every delivery, in delivery order, folded into a hash.

Two runs with the same seed must produce the same digest; that is the reproducibility contract
(design.md §5) and the test that guards it compares these digests.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from promoloop.actors.runtime.envelope import Envelope


class LogEntry(msgspec.Struct, frozen=True):
    at: float
    source: str
    target: str
    seq: int
    body: Any


class EventLog:
    def __init__(self, *, enabled: bool = True, keep: bool = False) -> None:
        self.enabled = enabled
        self.keep = keep
        self.count = 0
        self.entries: list[LogEntry] = []
        self._hash = hashlib.blake2b(digest_size=16)
        self._encoder = msgspec.msgpack.Encoder()

    def record(self, envelope: Envelope) -> None:
        self.count += 1
        if not self.enabled:
            return
        entry = LogEntry(envelope.at, envelope.source, envelope.target, envelope.seq, envelope.body)
        self._hash.update(self._encoder.encode(entry))
        if self.keep:
            self.entries.append(entry)

    def digest(self) -> str:
        return self._hash.hexdigest()
