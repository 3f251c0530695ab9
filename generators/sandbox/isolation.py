"""How runs are isolated on this machine: the probe, per-run uids, work directories and clean-up.

The strong mode wraps each run in bubblewrap (`bwrap`, Debian's `bubblewrap` package), see `view.py`: new
network, ipc, pid, uts and mount namespaces, a read-only view of only the interpreter, its own empty /tmp
(also its /var/tmp and /dev/shm, one size-limited tmpfs that dies with the run), no-new-privileges and the
syscall filter of `seccomp.py`. Every mode adds, where the machine allows:
- a control group per run (`cgroups.py`): memory and processes bounded for the run as a whole;
- as root, the run's own uid, 60000 + slot, taken under a lock file so no two live runs share one, even
  across processes: RLIMIT_NPROC then counts this run alone (the kernel exempts root's processes from it,
  so a run that kept the service's root uid would have no process limit without a pids cgroup), the run
  cannot signal, trace or read the harness's supervisor, and what it writes is not root's. Under
  bubblewrap the uid is redundant for files (nothing of the host is writable or even there) but not for
  those limits: it is kept. After each run every process left with the run's uid is killed.

Without bubblewrap (missing, or not permitted to make namespaces) the fallback is `unshare -n -i -p -f`
where permitted (no network, own IPC and pids), else nothing: the harness then becomes the child subreaper
so that orphans come back to it to be killed. Either way the run then sees the host's filesystem (what is
world-readable), the host's /tmp, /var/tmp and /dev/shm and path sockets; it works in a fresh directory
removed afterwards; the harness sets no-new-privileges and the syscall filter itself. Not root: no uid of
its own (NPROC is set to what the caller's uid already runs plus the limit). `probe_isolation()` says which
mode applies and, in `notes`, what it does not guarantee.
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
from typing import Literal

import msgspec

from generators.sandbox import view
from generators.sandbox.cgroups import Cgroups, probe_cgroups
from generators.sandbox.seccomp import compile_filter

UID_BASE = 60000
UID_SLOTS = 1000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_LOCK_DIR = "/run/instructforge-sandbox"
_NAMESPACE_FLAGS = ("-n", "-i", "-p", "-f", "--kill-child")
_PROBE_TIMEOUT_S = 10.0
_SYSTEM_PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3")
_HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
HOST_FILESYSTEM_NOTE = (
    "no bubblewrap: the run sees the host's filesystem where it is world-readable (the service's files "
    "included), the host's /tmp, /var/tmp and /dev/shm (what it leaves there stays), and path unix sockets "
    "only through the syscall filter's ban on unix sockets"
)


class Isolation(msgspec.Struct, frozen=True, kw_only=True):
    """The isolation this machine allows; `isolation_report()` returns the one the sandbox applies."""

    python: str  # the interpreter that runs the harness (`-I -S`: the standard library only)
    wrapper: tuple[str, ...]  # the command put before it, e.g. ("/usr/bin/bwrap", "--unshare-ipc", ...)
    namespaces: tuple[str, ...]  # e.g. ("net", "ipc", "pid", "uts", "mount"); () where none could be made
    per_run_uid: bool  # True as root: each run has uid UID_BASE + slot
    notes: tuple[str, ...] = ()  # what this mode does not guarantee, in words
    filesystem: Literal["private", "host"] = "host"  # private: bubblewrap's view (`view.py`) is the wrapper
    seccomp: bytes | None = None  # the syscall filter (raw BPF), None where libseccomp is missing
    cgroups: Cgroups | None = None  # where each run gets its control group; None: limits per process only


class SandboxBusyError(RuntimeError):
    """Every per-run uid is taken by a live run."""


def probe_isolation(*, bubblewrap: bool = True) -> Isolation:
    """The strongest isolation that works here; it starts one wrapped interpreter to be sure (tens of ms).
    `bubblewrap=False` probes the fallback, as on a machine without it."""
    root = os.geteuid() == 0
    seccomp = compile_filter()
    cgroups, cgroup_reason = probe_cgroups()
    notes = [] if seccomp is not None else ["no syscall filter: libseccomp.so.2 could not be loaded"]
    if cgroups is None:
        notes.append(
            f"no control group for the runs ({cgroup_reason}): memory is bounded per process (RLIMIT_AS), "
            "processes by RLIMIT_NPROC, disk by the size of the run's tmpfs (under bubblewrap) or per file"
        )
    bwrap = shutil.which("bwrap", path=SAFE_PATH) if bubblewrap else None
    if bwrap is not None:
        found = _bubblewrap(bwrap, root, seccomp)
        if found is not None:
            return msgspec.structs.replace(found, notes=tuple(notes), cgroups=cgroups)
        notes.append("`bwrap` is installed but cannot make its namespaces here")
    elif bubblewrap:
        notes.append("no `bwrap` command (Debian package bubblewrap)")
    fallback = _fallback(root)
    notes += [HOST_FILESYSTEM_NOTE, *fallback.notes]
    return msgspec.structs.replace(fallback, notes=tuple(notes), seccomp=seccomp, cgroups=cgroups)


def _bubblewrap(bwrap: str, root: bool, seccomp: bytes | None) -> Isolation | None:
    python = os.path.realpath(sys.executable)
    wrapper = view.static_args(bwrap, python, _HARNESS, root)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, seccomp or b"")
        os.close(write_end)
        tail = view.run_args(1, read_end if seccomp else None)
        works = _works([*wrapper, *tail, python, "-I", "-S", "-c", "pass"], pass_fds=(read_end,))
    finally:
        os.close(read_end)
    if not works:
        return None
    namespaces = ("net", "ipc", "pid", "uts", "mount") + (() if root else ("user",))
    return Isolation(
        python=python, wrapper=wrapper, namespaces=namespaces, per_run_uid=root, filesystem="private", seccomp=seccomp
    )


def _fallback(root: bool) -> Isolation:
    python = sandbox_python(root)
    unshare = shutil.which("unshare", path=SAFE_PATH)
    true = shutil.which("true", path=SAFE_PATH)
    wrapper = (unshare, *_NAMESPACE_FLAGS) if root else (unshare, "-r", *_NAMESPACE_FLAGS)
    notes: list[str] = []
    if unshare and true:
        if _works([*wrapper, true]):
            namespaces = ("net", "ipc", "pid") if root else ("user", "net", "ipc", "pid")
            return Isolation(python=python, wrapper=wrapper, namespaces=namespaces, per_run_uid=root, notes=())
        notes.append(f"`{' '.join(wrapper)}` is not permitted here: the network is NOT isolated")
    else:
        notes.append("no `unshare` command: the network is NOT isolated")
    notes.append("no pid namespace: the harness adopts orphans as child subreaper to kill them")
    if not root:
        notes.append("not root: runs share the caller's uid, so they can touch the caller's files and processes")
    return Isolation(python=python, wrapper=(), namespaces=(), per_run_uid=root, notes=tuple(notes))


def _works(command: list[str], pass_fds: tuple[int, ...] = ()) -> bool:
    try:
        done = subprocess.run(
            command, env={"PATH": SAFE_PATH}, capture_output=True, timeout=_PROBE_TIMEOUT_S, pass_fds=pass_fds
        )
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
        """Never raises: a slot whose sweep failed stays marked "d" and is swept by its next holder."""
        try:
            kill_uid(self.uid)
            os.pwrite(self._lock_fd, b"c", 0)
        except OSError:
            pass
        finally:
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
    """Remove a run's work directory, whatever the run left in it. Never raises: a tree that cannot be removed
    is left behind rather than failing the caller."""
    try:
        shutil.rmtree(path)
    except (OSError, RecursionError):  # rmtree recurses: a tree ~1,000 levels deep exhausts the stack
        pass
    for command in (["chmod", "-R", "u+rwx", "--", path], ["rm", "-rf", "--one-file-system", "--", path]):
        if not os.path.lexists(path):
            return
        try:  # coreutils walk any depth without recursion; chmod first, for directories the run made 0
            subprocess.run(command, env={"PATH": SAFE_PATH}, capture_output=True, check=False, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return


def clean_env(workdir: str) -> dict[str, str]:
    return {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
