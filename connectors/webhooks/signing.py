"""How a webhook proves where it comes from: an HMAC of the raw body with a shared secret.

Two styles, as the emulated services sign: Segment's webhook destination sends
``X-Signature: hex(HMAC-SHA1(secret, body))``; Voucherify sends
``X-Voucherify-Signature: hex(HMAC-SHA256(secret, body))``. Verification uses a constant-time
comparison.
"""

from __future__ import annotations

import hashlib
import hmac

import msgspec


class Signature(msgspec.Struct, frozen=True):
    header: str
    algorithm: str

    def __post_init__(self) -> None:
        if self.algorithm not in hashlib.algorithms_guaranteed:
            raise ValueError(f"signature.algorithm {self.algorithm!r} is not a known hash")

    def sign(self, secret: str, body: bytes) -> str:
        return hmac.new(secret.encode(), body, self.algorithm).hexdigest()

    def verify(self, secret: str, body: bytes, received: str | None) -> bool:
        return received is not None and hmac.compare_digest(self.sign(secret, body), received)


SEGMENT_STYLE = Signature("X-Signature", "sha1")
VOUCHERIFY_STYLE = Signature("X-Voucherify-Signature", "sha256")
