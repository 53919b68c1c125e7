"""One root seed, split deterministically per actor and per customer.

Streams are derived from ``(root, name)`` by hashing, never from creation order, so adding an
actor or a customer does not shift anybody else's random numbers.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


class Seeds:
    def __init__(self, root: int) -> None:
        if not isinstance(root, int) or isinstance(root, bool) or root < 0:
            raise ValueError(f"seed must be a non-negative integer, got {root!r}")
        self.root = root

    def derive(self, name: str) -> int:
        """A 64-bit seed for ``name``, stable across runs, platforms and PYTHONHASHSEED."""
        digest = hashlib.blake2b(f"{self.root}/{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def rng(self, name: str) -> random.Random:
        return random.Random(self.derive(name))

    def numpy(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self.derive(name))
