"""The vLLM server child process: the real engine over HTTP, and its lifecycle with stand-in children."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from generators.model import DEFAULT_SERVED_NAME
from generators.vllm_server import VLLMServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_PROMPT = (
    "Task 1: Write a haiku about autumn leaves.\n"
    "Task 2: Explain how a refrigerator keeps food cold.\n"
    "Task 3: List three tips for a job interview.\n"
    "Task 4:"
)
# A stand-in server: starts a grandchild in its own process group, reports both pids, then waits.
STAND_IN = """
import os, signal, subprocess, sys, time
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[2], "w") as handle:
    handle.write(f"{os.getpid()} {grandchild.pid}")
time.sleep(120)
"""
# A parent that starts a stand-in server and never stops it; the test SIGKILLs this parent.
ORPHANING_PARENT = """
import sys, time
from pathlib import Path
from generators.vllm_server import VLLMServer

class StandIn(VLLMServer):
    def command(self):
        return [sys.executable, "-c", sys.argv[1], "plain", sys.argv[2]]

server = StandIn("unused", served_model_name="unused", log_path=Path(sys.argv[3]))
server.start()
time.sleep(120)
"""


class StandInServer(VLLMServer):
    """The real start/stop machinery around a small Python child instead of vLLM."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        super().__init__("unused", served_model_name="unused", log_path=tmp_path / "stand-in.log")
        self.pid_file = tmp_path / "pids"
        self.mode = mode

    def command(self) -> list[str]:
        return [sys.executable, "-c", STAND_IN, self.mode, str(self.pid_file)]


def _wait_for_pids(pid_file: Path, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pid_file.read_text() if pid_file.exists() else ""
        if len(text.split()) == 2:
            return [int(pid) for pid in text.split()]
        time.sleep(0.05)
    raise AssertionError(f"no pids in {pid_file} after {timeout} s")


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _all_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def client(vllm_server: VLLMServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vllm_server.base_url, timeout=120.0, trust_env=False) as http:
        yield http


def test_models_lists_the_served_name(client: httpx.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert DEFAULT_SERVED_NAME in [entry["id"] for entry in response.json()["data"]]


def test_completion_continues_the_task_list(client: httpx.Client) -> None:
    body = {
        "model": DEFAULT_SERVED_NAME,
        "prompt": TASK_PROMPT,
        "max_tokens": 32,
        "temperature": 0.7,
        "seed": 1,
        "stop": ["\n"],
    }
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    choice = payload["choices"][0]
    assert choice["text"].strip()
    assert "\n" not in choice["text"]
    assert choice["finish_reason"] in ("stop", "length")
    assert 0 < payload["usage"]["completion_tokens"] <= 32


def test_chat_completion_answers(client: httpx.Client) -> None:
    body = {
        "model": DEFAULT_SERVED_NAME,
        "messages": [{"role": "user", "content": "Name one colour of the rainbow."}],
        "max_tokens": 24,
        "temperature": 0.0,
    }
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    message = payload["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"].strip()
    assert "<|im_end|>" not in message["content"]
    assert payload["usage"]["completion_tokens"] > 0


def test_wait_ready_raises_with_log_tail_when_the_server_exits(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    server = VLLMServer(str(missing), served_model_name="missing", log_path=tmp_path / "server.log")
    server.start()
    try:
        with pytest.raises(RuntimeError, match="exited with code") as failure:
            server.wait_ready(timeout=55)
    finally:
        server.stop()
    tail = server.log_tail()
    assert tail and tail in str(failure.value)
    assert "no-such-model" in str(failure.value)
    assert not server.is_running()


def test_command_and_environment() -> None:
    server = VLLMServer("/models/m", served_model_name="m", port=8123, kv_cache_gib=3, extra_args=["--seed", "7"])
    command = server.command()
    assert command[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert command[command.index("--model") + 1] == "/models/m"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "--enforce-eager" in command and command[-2:] == ["--seed", "7"]
    assert "--enable-prefix-caching" in command  # the templates' fixed text first is worth caching
    assert server.base_url == "http://127.0.0.1:8123"
    env = server.environment()
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    assert (
        VLLMServer("m", served_model_name="m", cpu_threads_bind="0-1").environment()["VLLM_CPU_OMP_THREADS_BIND"]
        == "0-1"
    )
    unbound = VLLMServer("m", served_model_name="m", cpu_threads_bind=None).environment()
    assert unbound.get("VLLM_CPU_OMP_THREADS_BIND") == os.environ.get("VLLM_CPU_OMP_THREADS_BIND")


@pytest.mark.parametrize("mode", ["plain", "ignore-term"])
def test_stop_ends_the_whole_process_group(tmp_path: Path, mode: str) -> None:
    server = StandInServer(tmp_path, mode)
    server.start()
    pids = _wait_for_pids(server.pid_file)
    assert server.is_running()
    server.stop(timeout=2)
    assert not server.is_running()
    assert _all_gone(pids, timeout=5)
    server.stop()  # idempotent


def test_server_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """The death signal follows the forking thread; a pooled worker thread that exits must not stop the server."""
    server = StandInServer(tmp_path, "plain")
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        server_pid, _ = _wait_for_pids(server.pid_file)
        time.sleep(1.0)  # a death signal would have arrived by now
        assert _alive(server_pid) and server.is_running()
    finally:
        server.stop(timeout=2)
    assert not _alive(server_pid)


def test_server_dies_with_its_sigkilled_parent(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHANING_PARENT, STAND_IN, str(pid_file), str(tmp_path / "stand-in.log")],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    server_pid = 0
    try:
        server_pid, _ = _wait_for_pids(pid_file)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert _all_gone([server_pid], timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if server_pid:  # the stand-in's own child has no death signal; vLLM's engine processes watch their parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server_pid, signal.SIGKILL)
