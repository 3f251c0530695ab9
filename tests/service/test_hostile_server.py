"""Hostile bytes and leaky settings against a real `instructforge serve`: JSON errors, no credentials."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.service.servers import Server

pytestmark = pytest.mark.server
SECRET = "hunter2"


def raw_exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client would send these) and read the whole answer."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"FOO\x01 / HTTP/1.1\r\nHost: x\r\n\r\n",  # not a method token
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",  # NUL in a header
        b"GET /v1/datasets HTTP/9.9\r\nHost: x\r\n\r\n",  # no such HTTP version
        b"GET /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS to a plain-HTTP port
    ],
)
def test_errors_raised_before_the_application_are_json(start, request_bytes: bytes) -> None:
    server = start()
    status, headers, body = raw_exchange(server, request_bytes)
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "status_code": 400, "code": "invalid_http", "detail": "the request is not valid HTTP/1.1", "extra": {}
    }  # fmt: skip
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}  # and the server goes on


def test_an_unknown_but_valid_method_token_is_a_json_405_with_allow(start) -> None:
    server = start()
    status, headers, body = raw_exchange(server, b"BREW /v1/datasets HTTP/1.1\r\nHost: x\r\n\r\n")
    if status == 400:  # httptools' parser knows a fixed list of methods and refuses the others
        assert json.loads(body)["code"] == "invalid_http"
    else:
        assert (status, json.loads(body)["code"]) == (405, "method_not_allowed")
        assert "GET" in headers["allow"]


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A remote 'engine' that answers 404 to everything, so the client's error names the URL."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_credentials_in_endpoint_urls_reach_no_answer_and_no_log(start, tmp_path: Path) -> None:
    remote = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    endpoint = f"http://admin:{SECRET}@127.0.0.1:{remote.server_address[1]}/?key={SECRET}"
    try:
        server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=endpoint,
                       INSTRUCTFORGE_ENGINE_START_TIMEOUT_S="3", INSTRUCTFORGE_LOG_LEVEL="debug")  # fmt: skip
        answers = []
        deadline = time.monotonic() + 60
        while (engine := httpx.get(f"{server.url}/v1/engine").json())["status"] != "failed":
            assert time.monotonic() < deadline, engine
            answers.append(json.dumps(engine))
            time.sleep(0.5)
        answers += [json.dumps(engine), httpx.get(f"{server.url}/health").text, httpx.get(f"{server.url}/ready").text]
        assert httpx.get(f"{server.url}/ready").json()["code"] == "engine_failed"
        assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
        server.stop()
    finally:
        remote.shutdown()
        remote.server_close()
    log = server.log.read_text()
    assert "engine failed to start" in log  # the failure is logged, with its traceback ...
    assert any("***@127.0.0.1" in answer for answer in answers)  # ... and the endpoint shown, redacted
    for text in (log, *answers):
        assert SECRET not in text
    assert str(tmp_path) not in "".join(answers)
