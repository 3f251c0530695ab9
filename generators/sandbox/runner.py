"""One child process, watched from outside: spawn, feed stdin, capture three pipes, enforce the wall clock.

Whatever the child does, `execute` returns within `wall_s` of the child's start report, plus the kill grace:
it never blocks on a pipe (poll with a deadline), keeps at most a capped amount of output, and kills the run
when it floods. The wall clock starts at the start report because making the namespaces can stall in the
kernel (network namespaces are torn down asynchronously); a start slower than `STARTUP_LIMIT_S` is killed too.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import time
from collections.abc import Callable, Sequence

import msgspec

from generators.sandbox.limits import OUTPUT_FLOOD_FACTOR, SandboxLimits

RESULTS_CAP = 16 << 20  # the report channel: far more than honest reports of any sane test list
_CHUNK = 1 << 16
_EXIT_GRACE_S = 0.2  # after the child exits, how long its pipes may stay open (left-over writers)
_KILL_GRACE_S = 1.0  # after the run's uid is killed, how long the supervisor gets to exit by itself
_TICK_S = 0.01  # poll period where pidfd_open is not available
_FD_FLOOR = 32  # the child's ends are moved at least this high before they are placed at fds 0, 1, 2...
STARTUP_LIMIT_S = 30.0  # from spawn to the harness's first report: interpreter start and namespaces


class RawRun(msgspec.Struct, frozen=True, kw_only=True):
    stdout: bytes
    stderr: bytes
    results: bytes
    started: bool  # the harness reported its start: the wall clock ran from then
    timed_out: bool
    flooded: str | None  # "stdout", "stderr" or "results" when the run was killed for writing too much
    exit_code: int | None  # of the direct child, as in subprocess: negative for a signal
    duration_s: float


class _Stream:
    """One pipe we read from, with what was kept of it."""

    def __init__(self, name: str, fd: int, cap: int, flood: int) -> None:
        self.name, self.fd, self.cap, self.flood = name, fd, cap, flood
        self.data = bytearray()
        self.seen = 0
        self.open = True

    def take(self, chunk: bytes) -> bool:
        """Keep what fits under the cap; False once the stream has flooded."""
        self.seen += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        return self.seen <= self.flood

    def close(self) -> None:
        if self.open:
            self.open = False
            os.close(self.fd)


class _Feeder:
    """The child's stdin: the payload, written without ever blocking, then closed."""

    def __init__(self, fd: int, payload: bytes) -> None:
        self.fd, self.pending, self.open = fd, memoryview(payload), True
        os.set_blocking(fd, False)

    def feed(self) -> None:
        try:
            written = os.write(self.fd, self.pending[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the child is gone or closed its stdin
            self.close()
            return
        self.pending = self.pending[written:]
        if not self.pending:
            self.close()

    def close(self) -> None:
        if self.open:
            self.open = False
            os.close(self.fd)


def execute(
    argv: list[str],
    env: dict[str, str],
    payload: bytes,
    limits: SandboxLimits,
    kill: Callable[[int], None],
    extra_fds: Sequence[int] = (),
) -> RawRun:
    """Run argv with the payload on stdin and `extra_fds` as its fds 4, 5, ... (the caller keeps and closes
    its own). `kill(pid)` kills what the run left (the process group is ours)."""
    child_ends, (stdin_w, out_r, err_r, res_r) = _pipes()
    child_ends += [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _FD_FLOOR) for fd in extra_fds]
    cap = limits.output_kb << 10
    feeder = _Feeder(stdin_w, payload)
    streams = [
        _Stream("stdout", out_r, cap, cap * OUTPUT_FLOOD_FACTOR),
        _Stream("stderr", err_r, cap, cap * OUTPUT_FLOOD_FACTOR),
        _Stream("results", res_r, RESULTS_CAP, RESULTS_CAP),
    ]
    started = time.monotonic()
    try:
        pid = _spawn(argv, env, child_ends)
        try:
            timed_out, flooded = _pump(pid, feeder, streams, _Clock(started, limits.wall_s))
        finally:
            exit_code = _end(pid, kill)  # whatever happened above, the child is killed and reaped
    finally:
        feeder.close()
        for stream in streams:
            stream.close()
    return RawRun(
        stdout=bytes(streams[0].data),
        stderr=bytes(streams[1].data),
        results=bytes(streams[2].data),
        started=streams[2].seen > 0,
        timed_out=timed_out,
        flooded=flooded,
        exit_code=exit_code,
        duration_s=time.monotonic() - started,
    )


def _spawn(argv: list[str], env: dict[str, str], child_ends: list[int]) -> int:
    try:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(child_ends)]
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setpgroup=0)
    finally:
        for fd in child_ends:
            os.close(fd)


def _pipes() -> tuple[list[int], list[int]]:
    """The child's ends, to become its fds 0-3 (stdin, stdout, stderr, reports), and ours, in that order."""
    child_ends: list[int] = []
    ours: list[int] = []
    for index in range(4):
        read_end, write_end = (_above_std(fd) for fd in os.pipe())
        child_ends.append(read_end if index == 0 else write_end)
        ours.append(write_end if index == 0 else read_end)
    return child_ends, ours


def _above_std(fd: int) -> int:
    # A child end below the targets of the dup2s (fds 0 to 3 + extra fds) could be clobbered by one of them.
    if fd >= _FD_FLOOR:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _FD_FLOOR)
    os.close(fd)
    return moved


class _Clock:
    """The deadline: STARTUP_LIMIT_S after the spawn until the first report arrives, then wall_s after it."""

    def __init__(self, spawned: float, wall_s: float) -> None:
        self.deadline, self.wall_s, self.running = spawned + STARTUP_LIMIT_S, wall_s, False

    def remaining(self, now: float, reports: _Stream) -> float:
        if not self.running and reports.seen:
            self.running, self.deadline = True, now + self.wall_s
        return self.deadline - now


def _pump(pid: int, feeder: _Feeder, streams: list[_Stream], clock: _Clock) -> tuple[bool, str | None]:
    """Until the child has exited and its pipes are closed: (timed out, name of the flooded stream)."""
    poller = select.poll()
    poller.register(feeder.fd, select.POLLOUT)
    readers = {stream.fd: stream for stream in streams}
    for fd in readers:
        poller.register(fd, select.POLLIN)
    exit_watch = _ExitWatch(pid, poller)
    try:
        while readers or not exit_watch.exited_at:
            now = time.monotonic()
            remaining = clock.remaining(now, streams[2])
            if remaining <= 0:
                return True, None
            if exit_watch.exited_at and now - exit_watch.exited_at > _EXIT_GRACE_S:
                return False, None
            for fd, _ in poller.poll(exit_watch.wait_ms(remaining)):
                if fd == feeder.fd:
                    feeder.feed()
                    if not feeder.open:
                        poller.unregister(fd)
                elif fd == exit_watch.pidfd:
                    exit_watch.close()
                elif fd in readers and not _read(readers, fd, poller):
                    return False, readers[fd].name
            exit_watch.check()
        return False, None
    finally:
        exit_watch.close()


def _read(readers: dict[int, _Stream], fd: int, poller: select.poll) -> bool:
    chunk = os.read(fd, _CHUNK)
    if chunk:
        return readers[fd].take(chunk)
    poller.unregister(fd)
    readers.pop(fd).close()
    return True


class _ExitWatch:
    """Notices the child's exit without reaping it (so its pid and process group stay ours to signal)."""

    def __init__(self, pid: int, poller: select.poll) -> None:
        self.pid, self.poller, self.exited_at = pid, poller, 0.0
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
            poller.register(self.pidfd, select.POLLIN)
        except (AttributeError, OSError):
            self.pidfd = None

    def wait_ms(self, remaining_s: float) -> int:
        tick = remaining_s if self.pidfd is not None and not self.exited_at else min(remaining_s, _TICK_S)
        return max(1, int(tick * 1000) + 1)

    def check(self) -> None:
        if not self.exited_at and _exited(self.pid):
            self.exited_at = time.monotonic()

    def close(self) -> None:
        if self.pidfd is not None:
            self.poller.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None


def _end(pid: int, kill: Callable[[int], None]) -> int:
    """Kill whatever of the run is left, then reap the child: its exit code. After a normal end the caller
    still sweeps the run's uid; here the run is killed only when the child is still there."""
    if not _exited(pid):
        kill(pid)
    deadline = time.monotonic() + _KILL_GRACE_S
    while time.monotonic() < deadline and not _exited(pid):
        time.sleep(0.002)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _exited(pid: int) -> bool:
    """Whether the child has ended, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
