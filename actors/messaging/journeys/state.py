"""What the journey engine remembers per customer, kept compact for populations of 100k+.

A customer is a handful of slots: the traits and audiences the CDP told us, counts and last
times of the few events the journeys read (not the whole history), the lifecycle stage and the
journeys they are in. A run (one customer in one journey) is a step index, a wake time and a
version number that invalidates stale wake-ups in the engine's heap, so there is no trio task
and no sleep per customer.
"""

from __future__ import annotations

from typing import Any


class Run:
    """One customer in one journey."""

    __slots__ = ("code", "entered", "journey", "step", "user", "version", "waiting", "wake")

    def __init__(self, user: str, journey: int, entered: float) -> None:
        self.user = user
        self.journey = journey
        self.step = 0
        self.entered = entered
        self.wake = 0.0
        self.version = 0
        self.waiting: str | None = None
        """The event a ``wait_until`` step waits for, else None."""
        self.code: str | None = None
        """The last code a ``publish_code`` step obtained in this run."""


class CustomerState:
    __slots__ = ("audiences", "counts", "history", "last", "runs", "stage", "traits")

    def __init__(self) -> None:
        self.traits: dict[str, Any] = {}
        self.audiences: set[str] = set()
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.runs: dict[int, Run] = {}
        """Active runs by journey index."""
        self.history: dict[int, float] = {}
        """Journey index → sim second the customer last entered it (re-entry rules)."""
        self.stage = -1
        """Index in STAGES; -1 until the customer is first seen."""

    def trait(self, key: str) -> Any:
        """An identify trait, else the audience boolean (True for a member, else None)."""
        value = self.traits.get(key)
        if value is None and key in self.audiences:
            return True
        return value
