"""`discover_model` (generators.engine): at the server's root from either endpoint form; a refusal is final.

A 4xx other than 408/429 (a wrong path, a wrong key) raises EngineError, so the engine holder fails at once;
a 429 or 5xx is a server that may still come up, raised as httpx's error for the holder to ask again.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx
import pytest

from generators.engine import EngineError, discover_model


@contextmanager
def answering(status: int) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that lists one model at `/v1/models` when `status` is 200, else answers `status`."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            paths.append(self.path)
            ok = status == 200 and self.path == "/v1/models"
            body = b'{"data": [{"id": "m"}]}' if ok else b'{"detail": "no"}'
            self.send_response(200 if ok else (status if status != 200 else 404))
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_either_form_asks_the_servers_root() -> None:
    with answering(200) as (url, paths):
        assert anyio.run(discover_model, f"{url}/v1/") == "m"
        assert anyio.run(discover_model, url) == "m"
    assert paths == ["/v1/models", "/v1/models"]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_is_an_engine_error_naming_the_endpoint_and_the_status(status: int) -> None:
    with answering(status) as (url, _), pytest.raises(EngineError) as refused:
        anyio.run(discover_model, url)
    assert str(refused.value).startswith(f"{url} answered GET /v1/models with {status} ")


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_or_starting_server_is_not_a_refusal(status: int) -> None:
    with answering(status) as (url, _), pytest.raises(httpx.HTTPStatusError):
        anyio.run(discover_model, url)
