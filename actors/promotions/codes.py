"""Unique voucher codes from Voucherify's code config (length, charset, prefix, postfix, pattern).

A pattern uses ``#`` for each random character (``"GIFT-####-####"``); without one, ``length``
random characters are drawn. Uniqueness is guaranteed against every code the engine knows, and
generation refuses to run a config into exhaustion instead of looping forever.
"""

from __future__ import annotations

import random
import string

import msgspec

ALPHANUMERIC = string.digits + string.ascii_letters
ALPHABETIC = string.ascii_letters
ALPHABETIC_UPPERCASE = string.ascii_uppercase
ALPHABETIC_LOWERCASE = string.ascii_lowercase
NUMBERS = string.digits
UNAMBIGUOUS_UPPERCASE = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: what a customer can read off a push notification and type at checkout."""

MAX_FILL = 0.5
"""Refuse to use more than half of a config's code space: past that, collisions dominate."""


class CodeSpaceExhausted(RuntimeError):
    pass


class CodeConfig(msgspec.Struct, frozen=True, kw_only=True):
    length: int = 8
    charset: str = UNAMBIGUOUS_UPPERCASE
    prefix: str = ""
    postfix: str = ""
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is None and self.length < 1:
            raise ValueError(f"code_config.length must be >= 1, got {self.length}")
        if self.pattern is not None and "#" not in self.pattern:
            raise ValueError("code_config.pattern needs at least one '#' (a random character)")
        if len(self.charset) < 2 or len(set(self.charset)) != len(self.charset):
            raise ValueError("code_config.charset needs at least two distinct characters")

    @property
    def random_length(self) -> int:
        return self.pattern.count("#") if self.pattern is not None else self.length

    @property
    def capacity(self) -> int:
        return len(self.charset) ** self.random_length

    def draw(self, rng: random.Random) -> str:
        chars = rng.choices(self.charset, k=self.random_length)
        if self.pattern is None:
            body = "".join(chars)
        else:
            it = iter(chars)
            body = "".join(next(it) if c == "#" else c for c in self.pattern)
        return f"{self.prefix}{body}{self.postfix}"


def generate_codes(
    config: CodeConfig, count: int, rng: random.Random, taken: set[str], used: int | None = None
) -> list[str]:
    """``count`` new codes, none in ``taken`` (which is updated).

    ``taken`` holds every code the engine knows, so codes are unique across campaigns;
    ``used`` is how many of them this config already produced (default: all of ``taken``),
    which is what the exhaustion guard counts.
    """
    if count < 0:
        raise ValueError(f"cannot generate {count} codes")
    if (len(taken) if used is None else used) + count > config.capacity * MAX_FILL:
        raise CodeSpaceExhausted(
            f"{count} more codes would fill over {MAX_FILL:.0%} of the {config.capacity} codes "
            "this code_config allows: make the codes longer or the charset larger"
        )
    out: list[str] = []
    while len(out) < count:
        code = config.draw(rng)
        if code not in taken:
            taken.add(code)
            out.append(code)
    return out
