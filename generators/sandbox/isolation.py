"""How runs are isolated on this machine: the probe, per-run uids, work directories and clean-up.

Run as root (the strong mode), each run gets:
- its own network, IPC and pid namespaces (`unshare -n -i -p -f`): no network at all (not even loopback),
  no SysV IPC shared with the host, and every process of the run dies with it;
- its own uid, 60000 + slot, taken under a lock file so no two live runs share one, even across processes:
  RLIMIT_NPROC then counts this run alone, the run cannot signal or trace the service, cannot write outside
  its work directory and world-writable places, cannot read root's files;
- a fresh work directory (HOME and TMPDIR too) owned by that uid, removed afterwards, and a clean
  environment (PATH, HOME, TMPDIR, LANG and LC_ALL only).
After each run every process left with the run's uid is killed.

Without permission for namespaces the harness becomes the child subreaper instead, so that orphans come back
to it to be killed. Not root: no uid of its own (NPROC is set to what the caller's uid already runs plus the
limit), and the namespaces only where unprivileged user namespaces are allowed (`unshare -r`).
`probe_isolation()` says which mode applies; the README section lists what no mode guarantees.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import msgspec

UID_BASE = 60000
UID_SLOTS = 1000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_LOCK_DIR = "/run/instructforge-sandbox"
_NAMESPACE_FLAGS = ("-n", "-i", "-p", "-f", "--kill-child")
_PROBE_TIMEOUT_S = 10.0
_SYSTEM_PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3")


class Isolation(msgspec.Struct, frozen=True, kw_only=True):
    """The isolation this machine allows; `isolation_report()` returns the one the sandbox applies."""

    python: str  # the interpreter that runs the harness (`-I -S`: the standard library only)
    wrapper: tuple[str, ...]  # the command put before it, e.g. ("/usr/bin/unshare", "-n", ...)
    namespaces: tuple[str, ...]  # e.g. ("net", "ipc", "pid"); () where none could be made
    per_run_uid: bool  # True as root: each run has uid UID_BASE + slot
    notes: tuple[str, ...] = ()  # what this mode does not guarantee, in words


class SandboxBusyError(RuntimeError):
    """Every per-run uid is taken by a live run."""


def probe_isolation() -> Isolation:
    """The strongest isolation that works here: tries the namespaces once with /bin/true (a few ms)."""
    root = os.geteuid() == 0
    python = sandbox_python(root)
    unshare = shutil.which("unshare", path=SAFE_PATH)
    true = shutil.which("true", path=SAFE_PATH)
    wrappers = [(unshare, *_NAMESPACE_FLAGS)] if root else [(unshare, "-r", *_NAMESPACE_FLAGS)]
    notes: list[str] = []
    for wrapper in wrappers if unshare and true else []:
        if _works([*wrapper, true]):
            namespaces = ("net", "ipc", "pid") if root else ("user", "net", "ipc", "pid")
            return Isolation(python=python, wrapper=wrapper, namespaces=namespaces, per_run_uid=root, notes=())
        notes.append(f"`{' '.join(wrapper)}` is not permitted here: the network is NOT isolated")
    if not unshare:
        notes.append("no `unshare` command: the network is NOT isolated")
    notes.append("no pid namespace: the harness adopts orphans as child subreaper to kill them")
    if not root:
        notes.append("not root: runs share the caller's uid, so they can touch the caller's files and processes")
    return Isolation(python=python, wrapper=(), namespaces=(), per_run_uid=root, notes=tuple(notes))


def _works(command: list[str]) -> bool:
    try:
        done = subprocess.run(command, env={"PATH": SAFE_PATH}, capture_output=True, timeout=_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def sandbox_python(root: bool) -> str:
    """This interpreter, unless a dropped uid could not read its standard library (e.g. pyenv under /root)."""
    own = os.path.realpath(sys.executable)
    if not root or _readable_by_all(own, os.path.dirname(os.__file__)):
        return own
    for candidate in _SYSTEM_PYTHONS:
        binary = os.path.realpath(candidate)
        stdlib = os.path.join(os.path.dirname(os.path.dirname(binary)), "lib", os.path.basename(binary))
        if os.path.isdir(stdlib) and _readable_by_all(binary, stdlib):
            return binary
    return own


def _readable_by_all(*paths: str) -> bool:
    for path in paths:
        parts = os.path.abspath(path).split(os.sep)
        for depth in range(2, len(parts) + 1):
            try:
                mode = os.stat(os.sep.join(parts[:depth]) or os.sep).st_mode
            except OSError:
                return False
            if not mode & stat.S_IXOTH or (depth == len(parts) and not mode & stat.S_IROTH):
                return False
    return True


class UidSlot:
    """One per-run uid, held under an exclusive lock file until `release()`. The file's one byte says whether
    the last holder swept the uid ("c", clean) or may have left processes behind ("d", a holder died)."""

    def __init__(self, uid: int, lock_fd: int) -> None:
        self.uid = uid
        self._lock_fd = lock_fd

    def release(self) -> None:
        kill_uid(self.uid)
        os.pwrite(self._lock_fd, b"c", 0)
        os.close(self._lock_fd)  # closing drops the flock


def acquire_uid_slot(base: int = UID_BASE, slots: int = UID_SLOTS) -> UidSlot:
    _ensure_lock_dir()
    for uid in range(base, base + slots):
        fd = os.open(f"{_LOCK_DIR}/{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if os.pread(fd, 1, 0) != b"c":
            kill_uid(uid)
        os.pwrite(fd, b"d", 0)
        return UidSlot(uid, fd)
    raise SandboxBusyError(f"all {slots} sandbox uids from {base} are in use")


def _ensure_lock_dir() -> None:
    os.makedirs(_LOCK_DIR, mode=0o700, exist_ok=True)
    info = os.lstat(_LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{_LOCK_DIR} must be a directory owned by uid {os.geteuid()}, mode 0700")


def kill_uid(uid: int, patience_s: float = 5.0) -> int:
    """SIGKILL every process whose real uid is `uid` until none is left (killed processes still show until
    they are reaped, which a busy machine may take a while to do); returns how many were found alive.

    The signal is sent by `kill(-1)` from a child that takes the uid: the kernel then signals every process
    of the uid in one pass, so a fork bomb cannot fork faster than a pid-by-pid sweep kills."""
    killed, deadline = 0, time.monotonic() + patience_s
    while True:
        pids = processes_of(uid)
        if not pids or time.monotonic() > deadline:
            return killed
        _kill_all_as(uid)
        killed += len(pids)
        time.sleep(0.005)


def _kill_all_as(uid: int) -> None:
    pid = os.fork()
    if pid == 0:  # the child only makes two system calls, then leaves without running any Python cleanup
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def processes_of(uid: int) -> list[int]:
    """Live (not zombie) pids whose real uid is `uid`. Reads /proc/PID/status: a process that changed uid is
    non-dumpable, and its /proc entry then shows root as owner, so the entry's owner cannot be used."""
    found = []
    for pid, text in _process_statuses():
        state, real_uid = _status_field(text, b"State:"), _status_field(text, b"Uid:")
        if real_uid == str(uid).encode() and state not in (b"Z", b"X"):
            found.append(pid)
    return found


def _process_statuses() -> Iterator[tuple[int, bytes]]:
    """(pid, /proc/PID/status) of every process still there when read."""
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/status", "rb") as status:
                yield int(name), status.read()
        except OSError:
            continue


def _status_field(status: bytes, name: bytes) -> bytes | None:
    start = status.find(b"\n" + name)
    if start < 0:
        return None
    fields = status[start + len(name) + 1 : status.find(b"\n", start + 1)].split()
    return fields[0] if fields else None


def own_task_count() -> int:
    """Threads run by the caller's real uid: RLIMIT_NPROC counts them all when runs share that uid."""
    uid, total = str(os.getuid()).encode(), 0
    for _, text in _process_statuses():
        if _status_field(text, b"Uid:") == uid:
            total += int(_status_field(text, b"Threads:") or 1)
    return total


def make_workdir(uid: int | None) -> tuple[str, str]:
    """(outer, work): outer is the caller's, mode 0711, so the run cannot rename its own directory away;
    work is the run's own."""
    outer = tempfile.mkdtemp(prefix="instructforge-sandbox-")
    work = os.path.join(outer, "work")
    os.mkdir(work, 0o700)
    if uid is not None:
        os.chmod(outer, 0o711)
        os.chown(work, uid, uid)
    return outer, work


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):  # e.g. nested deeper than rmtree's recursion allows
        subprocess.run(["rm", "-rf", "--one-file-system", path], env={"PATH": SAFE_PATH}, check=False, timeout=60)


def clean_env(workdir: str) -> dict[str, str]:
    return {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
