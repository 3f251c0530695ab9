"""The sandbox against hostile code: each run ends in bounded time, and the host is checked afterwards.

Real child processes, no mocks. Networking is only ever aimed at a listener this test opens on 127.0.0.1 or
in a directory of its own. The attacks themselves are data, in `sandbox_attacks.py`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import msgspec
import pytest

from generators.sandbox import ExecutionResult, Sandbox, SandboxLimits, isolation_report, probe_isolation
from generators.sandbox.isolation import UID_BASE, UID_SLOTS
from generators.sandbox.runner import STARTUP_LIMIT_S
from tests.generators.sandbox_attacks import ESCAPES, TAMPERING, VALUE_HELPERS, VALUES, WRONG_EVEN, WRONG_FIB

ISOLATION = isolation_report()
# The fallback where bubblewrap and `unshare` are not permitted: the host's filesystem, no namespaces, and
# (to test the uid sweep alone) no control group either.
BARE = msgspec.structs.replace(probe_isolation(bubblewrap=False), wrapper=(), namespaces=(), cgroups=None)
needs_own_uid = pytest.mark.skipif(not ISOLATION.per_run_uid, reason="per-run uids need root; this is not root")
needs_netns = pytest.mark.skipif("net" not in ISOLATION.namespaces, reason="no network namespace here")
NEEDS = {
    "bwrap": pytest.mark.skipif(ISOLATION.filesystem != "private", reason="no bubblewrap here"),
    "seccomp": pytest.mark.skipif(ISOLATION.seccomp is None, reason="no libseccomp here"),
    "cgroups": pytest.mark.skipif(ISOLATION.cgroups is None, reason="no writable control groups here"),
}
# The wall clock starts at the harness's start report; before it, spawning alone stalls for seconds at times
# on this shared machine. So the bound on a run is STARTUP_LIMIT_S + wall_s + the kill grace: not a hang.
SLACK_S = STARTUP_LIMIT_S + 5.0
LOOP = "while True:\n    pass\n"
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
DAEMON = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        time.sleep(0.05)\n"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    """For runs that end by themselves: a wall clock long enough that a stall of this shared machine
    (seconds, at times) does not turn them into timeouts."""
    with Sandbox(SandboxLimits(wall_s=20.0), max_parallel=2, isolation=ISOLATION) as box:
        yield box


@pytest.fixture(scope="module")
def quick() -> Sandbox:
    """For runs that are meant to time out."""
    with Sandbox(SandboxLimits(wall_s=2.0), max_parallel=2, isolation=ISOLATION) as box:
        yield box


def timed_run(sandbox: Sandbox, solution: str, tests: list[str]) -> ExecutionResult:
    started = time.monotonic()
    result = sandbox.run_blocking(solution, tests)
    assert time.monotonic() - started < sandbox.limits.wall_s + SLACK_S
    return result


def sandbox_uid_processes() -> list[int]:
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        uid = int(status.split("\nUid:", 1)[1].split()[0])
        if UID_BASE <= uid < UID_BASE + UID_SLOTS:
            found.append(int(name))
    return found


def leftover_groups() -> list[str]:
    """Control groups of this process's runs that are still there."""
    bases = ISOLATION.cgroups.bases if ISOLATION.cgroups else ()
    return [name for base in bases for name in os.listdir(base) if name.startswith(f"run-{os.getpid()}-")]


def test_an_infinite_loop_times_out(quick: Sandbox) -> None:
    result = timed_run(quick, LOOP, ["assert True"])
    assert (result.status, result.error, result.tests_passed) == ("timeout", "timed out after 2 s", 0)


def test_the_cpu_time_limit_ends_a_busy_test() -> None:
    with Sandbox(SandboxLimits(cpu_s=1, wall_s=20.0), max_parallel=1, isolation=ISOLATION) as box:
        result = timed_run(box, "def spin():\n    while True:\n        pass\n", ["assert spin() == 1"])
    assert result.status == "timeout"
    # On a machine this busy the wall clock may come first, but one CPU second in 20 s is the likely end.
    assert result.error in ("CPU time limit of 1 s exceeded", "timed out after 20 s")


def test_a_fork_bomb_is_contained_and_leaves_no_process(quick: Sandbox) -> None:
    result = timed_run(quick, FORK_BOMB, ["assert True"])
    assert result.status == "timeout", result
    assert sandbox_uid_processes() == []
    assert leftover_groups() == []


@needs_own_uid
def test_a_daemon_that_left_the_process_group_is_killed_after_the_run(sandbox: Sandbox) -> None:
    result = timed_run(sandbox, DAEMON + "def f():\n    return 1\n", ["assert f() == 1"])
    assert result.status == "passed"
    assert sandbox_uid_processes() == []


@needs_own_uid
@pytest.mark.parametrize(
    ("solution", "status", "wall_s"),
    [
        (LOOP, "timeout", 2.0),
        (FORK_BOMB, "timeout", 2.0),
        (DAEMON, "passed", 20.0),
    ],
    ids=["loop", "fork bomb", "daemon"],
)
def test_without_namespaces_the_run_is_still_contained(solution: str, status: str, wall_s: float) -> None:
    # No pid namespace: the supervisor adopts the orphans and the parent sweeps the run's uid.
    with Sandbox(SandboxLimits(wall_s=wall_s), max_parallel=1, isolation=BARE) as box:
        result = timed_run(box, solution, ["assert True"])
    assert result.status == status, result
    assert sandbox_uid_processes() == []


@pytest.mark.parametrize("where", ["solution", "test"])
def test_allocating_10_gb_is_a_memory_error(sandbox: Sandbox, where: str) -> None:
    grab = "def grab():\n    return len(bytearray(10 * 1024 ** 3))\n"
    solution = grab + ("grab()\n" if where == "solution" else "")
    result = timed_run(sandbox, solution, ["assert grab() == 1"])
    assert result.status == "crashed"
    assert "MemoryError" in result.error


def test_a_5_gb_file_stops_at_the_file_size_limit_and_the_work_directory_goes(sandbox: Sandbox) -> None:
    name = f"big-{secrets.token_hex(4)}.bin"
    writer = (
        "import os\n"
        "def write():\n"
        "    print(os.getcwd())\n"
        "    try:\n"
        f"        with open('{name}', 'wb') as out:\n"
        "            for _ in range(5 * 1024):\n"
        "                out.write(bytes(1 << 20))\n"
        "    except OSError as exc:\n"
        "        print(exc)\n"
        f"    return os.path.getsize('{name}')\n"
    )
    result = timed_run(sandbox, writer, ["assert write() == 0"])
    assert (result.status, result.error) == ("failed", f"assert write() == 0: got {16 << 20}")
    workdir, reason = result.stdout.splitlines()
    assert "File too large" in reason
    # Under bubblewrap the work directory is the run's own /tmp, a tmpfs gone with the run; otherwise a host
    # directory removed after it.
    assert os.path.isabs(workdir) and not os.path.exists(os.path.join(workdir, name))
    if ISOLATION.filesystem == "host":
        assert not os.path.exists(workdir) and not os.path.exists(os.path.dirname(workdir))


@needs_netns
def test_no_connection_reaches_a_listener_on_loopback(sandbox: Sandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        client = (
            "import socket\n"
            "def connect():\n"
            f"    with socket.create_connection(('127.0.0.1', {port}), timeout=1) as s:\n"
            "        s.sendall(b'hello')\n"
            "    return 'connected'\n"
        )
        result = timed_run(sandbox, client, ["assert connect() == 'connected'"])
        assert result.status == "failed"
        assert "OSError" in result.error or "Error" in result.error
        with pytest.raises(BlockingIOError):
            listener.accept()


@needs_own_uid
def test_files_outside_the_work_directory_are_not_writable(sandbox: Sandbox, tmp_path: Path) -> None:
    private = tmp_path / "canary.txt"
    private.write_text("alive")
    shared_dir = Path(tempfile.mkdtemp(prefix="sandbox-canary-"))
    try:
        shared_dir.chmod(0o755)  # the run may look in, not change anything
        shared = shared_dir / "canary.txt"
        shared.write_text("alive")
        shared.chmod(0o644)
        for canary in (private, shared):
            attack = f"import os, shutil\ndef attack():\n    os.remove({str(canary)!r})\n    return 1\n"
            overwrite = f"def overwrite():\n    open({str(canary)!r}, 'w').write('gone')\n    return 1\n"
            result = timed_run(sandbox, attack + overwrite, ["assert attack() == 1", "assert overwrite() == 1"])
            assert (result.status, result.tests_passed) == ("failed", 0)
            # Under bubblewrap the file is not even there; otherwise the run's uid may not touch it.
            assert "PermissionError" in result.error or "FileNotFoundError" in result.error
            assert canary.read_text() == "alive"
    finally:
        shutil.rmtree(shared_dir)


def test_the_parents_environment_is_not_visible(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"s3cret-{secrets.token_hex(8)}"
    monkeypatch.setenv("INSTRUCTFORGE_TEST_SECRET", secret)
    spy = (
        "import os\n"
        "print(os.environ.get('INSTRUCTFORGE_TEST_SECRET'))\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        with open(f'/proc/{pid}/environ', 'rb') as env:\n"
        "            data = env.read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    print([v for v in data.split(b'\\0') if v.startswith(b'INSTRUCTFORGE_TEST_SECRET')])\n"
        "def env():\n    return sorted(os.environ)\n"
    )
    result = timed_run(sandbox, spy, ["assert env() == ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"])
    assert result.status == "passed"
    assert secret not in result.stdout + result.stderr
    assert result.stdout.startswith("None\n")


def test_a_gigabyte_on_stdout_is_capped_and_the_run_killed(sandbox: Sandbox) -> None:
    flood = "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))\n"
    result = timed_run(sandbox, flood, ["assert True"])
    assert (result.status, result.error) == ("crashed", "killed for writing more than 1024 KB to stdout")
    assert result.stdout == "x" * (sandbox.limits.output_kb << 10)


@pytest.mark.parametrize(
    "attack",
    [
        "os.kill(os.getppid(), signal.SIGKILL)",
        f"os.kill({os.getpid()}, signal.SIGKILL)",
        "os.killpg(0, signal.SIGKILL)",
        "os.kill(-1, signal.SIGKILL)",
    ],
)
def test_signals_cannot_reach_the_caller(sandbox: Sandbox, attack: str) -> None:
    result = timed_run(sandbox, f"import os, signal\n{attack}\n" + WRONG_FIB, ["assert fib(1) == 0"])
    assert result.status == "crashed"  # a refused signal raises; a run that kills itself ends early
    assert os.getppid() > 0  # and we are still here to check


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)"])
def test_exiting_before_the_asserts_is_not_a_pass(sandbox: Sandbox, exit_call: str) -> None:
    result = timed_run(sandbox, WRONG_FIB + exit_call + "\n", ["assert fib(10) == 55"])
    assert (result.status, result.tests_passed) == ("crashed", 0)


def test_exiting_inside_a_test_fails_it(sandbox: Sandbox) -> None:
    solution = "import os, sys\ndef quit_soft():\n    sys.exit(0)\ndef quit_hard():\n    os._exit(0)\n"
    assert sandbox.run_blocking(solution, ["assert quit_soft() == 1"]).status == "failed"
    result = sandbox.run_blocking(solution, ["assert quit_hard() == 1"])
    assert (result.status, result.error) == ("crashed", "the solution exited with code 0 before reporting test 1 of 1")


@pytest.mark.parametrize("test", ["assert fib(10) == 55", "assert is_even(4)"])
@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampering_with_the_harness_is_not_a_pass(sandbox: Sandbox, name: str, test: str) -> None:
    result = timed_run(sandbox, WRONG_FIB + WRONG_EVEN + TAMPERING[name], [test])
    assert result.status in ("failed", "crashed"), result
    assert result.tests_passed == 0


@pytest.fixture(scope="module")
def host() -> Iterator[dict[str, str]]:
    """What a run must not reach: a world-readable file in a world-readable directory (as a snapshot's
    code_tests.jsonl or the database's WAL were), the project's code, and a unix socket that accepts anyone."""
    directory = Path(tempfile.mkdtemp(prefix="sandbox-host-"))
    directory.chmod(0o755)
    planted = directory / "code_tests.jsonl"
    planted.write_text('{"tests": ["assert f() == 42"]}\n')
    planted.chmod(0o444)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(directory / "listener.sock"))
        os.chmod(directory / "listener.sock", 0o777)
        listener.listen(4)
        listener.setblocking(False)
        yield {"planted": str(planted), "project_file": __file__, "socket": str(directory / "listener.sock")}
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    shutil.rmtree(directory)


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=NEEDS[needs]) if needs else name for name, (_, _, needs) in ESCAPES.items()]
)
def test_escape_attempts_are_contained(sandbox: Sandbox, host: dict[str, str], name: str) -> None:
    solution, contained, _ = ESCAPES[name]
    result = timed_run(sandbox, Template(solution).substitute(host), [f"assert attempt() == {contained!r}"])
    assert (result.status, result.error) == ("passed", None)
    assert leftover_groups() == []


@NEEDS["bwrap"]
@NEEDS["cgroups"]
def test_a_run_killed_at_its_memory_limit_is_told_so() -> None:
    # Files in the run's tmpfs are memory the run's group pays for, beyond any per-process limit.
    filler = "def fill():\n    with open('/tmp/fill', 'wb') as out:\n        for _ in range(100):\n"
    filler += "            out.write(bytes(1 << 20))\n    return 1\n"
    limits = SandboxLimits(wall_s=20.0, memory_mb=64, disk_mb=128, file_mb=128)
    with Sandbox(limits, max_parallel=1, isolation=ISOLATION) as box:
        result = timed_run(box, filler, ["assert fill() == 1"])
    assert (result.status, result.error) == ("crashed", "the run reached its memory limit of 64 MB and was killed")
    assert leftover_groups() == []


@NEEDS["seccomp"]
@pytest.mark.parametrize("name", ["a path unix socket of a root listener", "setuid programs and system calls"])
def test_without_bubblewrap_the_harness_still_sets_no_new_privs_and_the_filter(host: dict[str, str], name: str) -> None:
    solution, contained, _ = ESCAPES[name]
    with Sandbox(SandboxLimits(wall_s=20.0), max_parallel=1, isolation=BARE) as box:
        result = timed_run(box, Template(solution).substitute(host), [f"assert attempt() == {contained!r}"])
    assert (result.status, result.error) == ("passed", None)


@pytest.mark.parametrize("name", list(VALUES))
def test_any_value_a_test_returns_is_judged_with_a_short_message(sandbox: Sandbox, name: str) -> None:
    value, message = VALUES[name]
    result = timed_run(sandbox, VALUE_HELPERS + f"def f():\n    return {value}\n", ["assert f() == 1"])
    assert (result.status, result.error) == ("failed", f"assert f() == 1: {message}")


@NEEDS["bwrap"]
@pytest.mark.parametrize("where", ["/tmp", "/var/tmp", "/dev/shm"])
def test_nothing_a_run_leaves_reaches_the_host_or_a_later_run(sandbox: Sandbox, where: str) -> None:
    token = secrets.token_hex(6)
    writer = (
        "import os\ndef attempt():\n    for i in range(2000):\n"
        f"        open(f'{where}/if-{token}-{{i}}', 'w').close()\n"
        f"    with open('{where}/if-{token}-big', 'wb') as out:\n        out.write(bytes(8 << 20))\n"
        f"    return len(os.listdir('{where}'))\n"
    )
    assert timed_run(sandbox, writer, ["assert attempt() == 2001"]).status == "passed"
    assert [name for name in os.listdir(where) if token in name] == []
    reader = f"import os\ndef attempt():\n    return os.listdir('{where}')\n"
    assert timed_run(sandbox, reader, ["assert attempt() == []"]).status == "passed"


@NEEDS["bwrap"]
def test_two_runs_at_once_do_not_share_dev_shm(sandbox: Sandbox) -> None:
    path = f"/dev/shm/if-{secrets.token_hex(6)}"
    writer = f"import time\ndef attempt():\n    open('{path}', 'w').write('hi')\n    time.sleep(2)\n    return 1\n"
    reader = (
        f"import os, time\ndef attempt():\n    for _ in range(20):\n        if os.path.exists('{path}'):\n"
        "            return 'seen'\n        time.sleep(0.1)\n    return 'not seen'\n"
    )
    results = sandbox.run_many([(writer, ["assert attempt() == 1"]), (reader, ["assert attempt() == 'not seen'"])])
    assert [(r.status, r.error) for r in results] == [("passed", None), ("passed", None)]
    assert not os.path.exists(path)


DEEP = "import os\nprint(os.getcwd())\nfor _ in range(1100):\n    os.mkdir('d')\n    os.chdir('d')\n"


@pytest.mark.parametrize("mode", ["isolation", "bare"])
def test_a_directory_1100_levels_deep_does_not_break_the_clean_up(sandbox: Sandbox, mode: str) -> None:
    solution, tests = DEEP + "def f():\n    return 1\n", ["assert f() == 1"]
    if mode == "bare":  # a work directory on the host, removed by the parent after the run
        with Sandbox(SandboxLimits(wall_s=20.0), max_parallel=1, isolation=BARE) as bare:
            result = timed_run(bare, solution, tests)
    else:
        result = timed_run(sandbox, solution, tests)
    assert (result.status, result.error) == ("passed", None)
    workdir = result.stdout.splitlines()[0]
    assert not os.path.exists(workdir if mode == "bare" else f"{workdir}/d")
