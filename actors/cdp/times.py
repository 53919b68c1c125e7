"""Time conversions shared by the CDP: the model works in Unix seconds (floats) and stores
exact integer microseconds; datetimes appear only at its edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
