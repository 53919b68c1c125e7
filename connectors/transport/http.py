"""Serve a Quart (ASGI) app on Hypercorn inside the current trio run.

The mock APIs live in the same trio run as the simulated world, so the server must not own the
event loop (no ``hypercorn.trio.run``) and must survive a ``MockClock`` that jumps virtual days:
Hypercorn's idle keep-alive timer runs on the trio clock and would otherwise close connections
mid-run. (Quart's ``BODY_TIMEOUT``/``RESPONSE_TIMEOUT`` run on the trio clock as well; apps meant
for virtual time set them to None, as the Segment app does. A jump during a response otherwise
cancels it half-sent.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

_log = logging.getLogger("promoloop.connectors.transport.hypercorn")
"""Hypercorn's error log goes through standard logging (no handler of its own on stderr)."""


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = _log
    config.keep_alive_timeout = math.inf  # see module docstring: virtual clocks jump
    config.read_timeout = None
    return config


async def serve_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; ``task_status.started`` gets the real base URL.

    With ``port=0`` the OS picks a free port, and the URL reports the one it picked.
    """
    config = hypercorn_config(host, port)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, app, config, shutdown_trigger=trio.sleep_forever)
        )
        base_url = next((b for b in binds if b.startswith("http://")), None)
        if base_url is None:
            raise RuntimeError(f"Hypercorn bound no plain HTTP address: {binds}")
        task_status.started(base_url)


@asynccontextmanager
async def running_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """``async with running_app(app) as base_url:`` — the server stops when the block exits."""
    async with trio.open_nursery() as nursery:
        base_url: str = await nursery.start(partial(serve_app, app, host=host, port=port))
        try:
            yield base_url
        finally:
            nursery.cancel_scope.cancel()
