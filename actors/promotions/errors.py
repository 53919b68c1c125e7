"""The one exception the engine raises for a request it refuses."""

from __future__ import annotations


class PromotionError(Exception):
    """A request the engine refuses; ``key`` is the Voucherify error key, ``status`` the HTTP
    status the Voucherify API answers it with, so the HTTP face returns it unchanged."""

    def __init__(self, key: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.status = status
        self.subject: str | None = None
        """The code a multi-code request was refused on, when the model knows it."""
