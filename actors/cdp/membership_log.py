"""A profile's membership log: its latest Engage ``Audience Entered``/``Exited`` events, as
machine ints in one ``array("q")``.

Each change is an audience index, a direction, a time (integer microseconds) and Engage's
sequence number (its message id). Changes come in runs: one call moves a profile in or out of
several audiences at once, with consecutive sequence numbers and the same time (68 % of the
changes on the representative 90-day stream). So a change that follows the previous one of
the log that way is stored as one int, and only the first of a run spends three ints' worth
(two items):

- ``log[0]``: how many changes the log holds;
- a *head*: ``seq << 17 | HEAD | index << 1 | entered``, then ``micros``;
- a *follower*: ``index << 1 | entered`` (no ``HEAD`` bit): the previous change's time, and
  its sequence number plus one.

Items are read from the start (a head's second item may be any int, even a negative time
before 1970; it is never read as a tag). On the representative stream a full log of 16
changes takes ~170 bytes of items instead of 256 for ``(micros, packed)`` pairs.

Appending and, once the log is full, dropping the oldest are done inline by
:meth:`Profile.engage`, which runs several times per call (the model knows whether a change
follows the profile's previous one). The oldest is a head: when the next change follows it,
that one becomes the head (same time, number one more); otherwise both of the head's items
go. Reading and rebuilding are here.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

HEAD = 1 << 16
"""Tags the first item of a head (audience indexes take 15 bits, the direction one)."""
CODE = HEAD - 1
"""Mask of ``index << 1 | entered`` in a head's or follower's item."""

Change = tuple[int, int, int]
"""``(micros, seq, index << 1 | entered)``."""


def changes(log: array[int] | None) -> list[Change]:
    """Every change of the log, oldest first."""
    out: list[Change] = []
    if not log:
        return out
    micros = seq = 0
    i, end = 1, len(log)
    while i < end:
        item = log[i]
        if item & HEAD:
            seq = item >> 17
            micros = log[i + 1]
            i += 2
        else:
            seq += 1
            i += 1
        out.append((micros, seq, item & CODE))
    return out


def build(entries: Iterable[Change]) -> array[int]:
    """A log of ``entries`` (in order), runs folded into followers."""
    log = array("q", (0,))
    last_micros = last_seq = None
    count = 0
    for micros, seq, code in entries:
        if micros == last_micros and last_seq is not None and seq == last_seq + 1:
            log.append(code)
        else:
            log.append(seq << 17 | HEAD | code)
            log.append(micros)
        last_micros, last_seq = micros, seq
        count += 1
    log[0] = count
    return log
