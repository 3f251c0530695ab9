"""A scripted OpenAI-compatible completions server for tests that need a real job without vLLM.

It answers self-instruct's three prompts (the task list, classification, an instance) from a script, one
listed task per request, after a fixed delay per request so a job runs long enough to be watched.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class ScriptedEngine(http.server.ThreadingHTTPServer):
    """`/v1/models` and `/v1/completions` on 127.0.0.1; `script` is what the model lists, one a request."""

    daemon_threads = True

    def __init__(self, script: list[str | None], delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script, self.delay_s, self.lock = list(script), delay_s, threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, prompt: str) -> str:
        if prompt.endswith("Classification:"):
            return " No"
        if prompt.endswith("Input:"):  # an instance: no input, then the output
            task = prompt.rsplit("Task:", 1)[1].split("\n", 1)[0].strip()
            return f" None\nOutput: Here is a careful answer to the request: {task.lower()} It is complete."
        with self.lock:  # the list of new tasks: the next scripted one, then nothing usable
            return f" {self.script.pop(0)}" if self.script else ""


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    server: ScriptedEngine

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _unknown_path(self, path: str) -> bool:
        """Only the two paths a server serves answer (a client's `/v1/v1/models` gets vLLM's 404)."""
        if self.path == path:
            return False
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()
        return True

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if not self._unknown_path("/v1/models"):
            self._send({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self._unknown_path("/v1/completions"):
            return
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        time.sleep(self.server.delay_s)
        text = self.server.answer(body["prompt"])
        self._send({"choices": [{"text": text, "finish_reason": "stop"}], "usage": {"completion_tokens": 8}})

    def log_message(self, *args) -> None:
        pass


@contextmanager
def scripted_engine(script: list[str | None], delay_s: float) -> Iterator[ScriptedEngine]:
    """The engine serving on a thread for the duration of the block."""
    server = ScriptedEngine(script, delay_s)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
