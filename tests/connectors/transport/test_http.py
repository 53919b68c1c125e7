"""serve_app / running_app: Hypercorn inside the test's own trio run, on a real free port."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
import quart_trio
import trio
import trio.testing

from promoloop.connectors.transport.http import running_app, serve_app


def make_app() -> quart_trio.QuartTrio:
    app = quart_trio.QuartTrio(__name__)
    # Quart's own timeouts run on the trio clock too; a virtual jump would fire them.
    app.config.update(BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)

    @app.get("/")
    async def index() -> str:
        return "hello"

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


async def test_idle_connection_survives_a_virtual_week(mock_clock: trio.testing.MockClock) -> None:
    """Hypercorn's keep-alive timer runs on the trio clock; a virtual jump must not fire it.

    A raw socket, because the timer is armed while a connection is open and idle, and httpx
    only connects when it sends.
    """
    async with running_app(make_app()) as base_url:
        port = urlsplit(base_url).port
        assert port is not None
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await trio.testing.wait_all_tasks_blocked()  # the server holds the idle connection
            mock_clock.jump(7 * 24 * 3600)
            await trio.testing.wait_all_tasks_blocked()  # any expired timer has fired
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while not received.endswith(b"hello"):
                chunk = await stream.receive_some()
                if not chunk:
                    break
                received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b"hello")
