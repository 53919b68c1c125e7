"""serve_app / running_app: Hypercorn inside the test's own trio run, on a real free port."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
import quart_trio
import trio
import trio.testing
from quart import request

from promoloop.connectors.transport.http import running_app, serve_app


def make_app() -> quart_trio.QuartTrio:
    app = quart_trio.QuartTrio(__name__)

    @app.get("/")
    async def index() -> str:
        return "hello"

    @app.get("/peer")
    async def peer() -> dict[str, int]:
        """The client's port: the same one twice means the connection was kept alive."""
        return {"port": request.scope["client"][1]}

    return app


async def test_running_app_serves_on_a_real_port_and_stops_on_exit() -> None:
    async with running_app(make_app()) as base_url:
        parts = urlsplit(base_url)
        assert parts.scheme == "http"
        assert parts.hostname == "127.0.0.1"
        assert parts.port is not None and parts.port > 0
        async with httpx.AsyncClient() as client:
            response = await client.get(base_url + "/")
        assert response.status_code == 200
        assert response.text == "hello"
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(base_url + "/")


async def test_serve_app_reports_its_url_through_task_status() -> None:
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(serve_app, make_app())
        async with httpx.AsyncClient() as client:
            response = await client.get(base_url + "/")
        assert response.text == "hello"
        nursery.cancel_scope.cancel()


async def test_keep_alive_survives_a_virtual_week(mock_clock: trio.testing.MockClock) -> None:
    """Hypercorn's idle timer runs on the trio clock; a virtual jump must not close connections."""
    async with running_app(make_app()) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        first = (await client.get("/peer")).json()["port"]
        mock_clock.jump(7 * 24 * 3600)
        await trio.testing.wait_all_tasks_blocked()  # let any expired timer fire
        second = (await client.get("/peer")).json()["port"]
    assert first == second
