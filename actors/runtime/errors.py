"""Errors the runtime raises; each names the actor and the message involved."""

from __future__ import annotations


class ActorCrashed(RuntimeError):
    """An actor raised while handling a message; the whole run stops with this error."""

    def __init__(self, actor: str, message: object, source: str, cause: BaseException) -> None:
        self.actor = actor
        self.message = message
        self.source = source
        self.cause = cause
        kind = type(message).__name__
        super().__init__(
            f"actor {actor!r} crashed handling {kind} from {source!r}: "
            f"{type(cause).__name__}: {cause}"
        )


class UnknownActor(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no actor named {name!r} (known: {', '.join(sorted(known)) or 'none'})")


class Deadlock(RuntimeError):
    """Every actor with pending mail is itself waiting on a reply: nothing can move."""
