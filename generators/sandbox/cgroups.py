"""Memory and process limits for a run as a whole: one control group per run, under the caller's own.

cgroup v2 where the caller's group can hand the memory and pids controllers to sub-groups; otherwise the v1
memory and pids hierarchies where they are mounted and writable (hybrid machines, such as this project's CI);
otherwise none, and the isolation report says that memory is then bounded per process only. Each run gets
`<own group>/instructforge-sandbox/run-<pid>-<n>` (in each hierarchy for v1) with its limits written before
the run's worker joins it; the worker joins by writing "0" to the `cgroup.procs` files it is handed, before
any untrusted code runs, so every process the solution makes is counted. The run's tmpfs pages are charged to
it too. After the run everything left in the group is killed and the group removed; that clean-up never
raises: a group that cannot be removed yet is left for the sweep of the next `probe_cgroups()`.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from typing import Literal

import msgspec

BASE_NAME = "instructforge-sandbox"
_CONTROLLERS = ("memory", "pids")
_KILL_PATIENCE_S = 5.0
_names = itertools.count()


class Cgroups(msgspec.Struct, frozen=True, kw_only=True):
    """Where the runs' groups are made: one base for v2, one per controller (memory, pids) for v1."""

    version: Literal["v2", "v1"]
    bases: tuple[str, ...]


def probe_cgroups() -> tuple[Cgroups | None, str | None]:
    """The usable hierarchy (after removing groups that dead callers left), or None and the reason."""
    mounts = _mounts()
    reasons = []
    for attempt in (_v2, _v1):
        found, reason = attempt(mounts)
        if found is not None:
            reason = _try_group(found)
        if found is not None and reason is None:
            for base in found.bases:
                _sweep_stale(base)
            return found, None
        reasons.append(reason)
    return None, "; ".join(reason for reason in reasons if reason)


def _try_group(cgroups: Cgroups) -> str | None:
    """Make and remove one group with limits, as a run would: None when that works, else why not."""
    try:
        RunGroup(cgroups, memory_mb=64, processes=1).close()
    except OSError as exc:
        return f"cgroup {cgroups.version}: cannot make a group with limits under {cgroups.bases[0]} ({exc.strerror})"
    return None


def _mounts() -> list[tuple[str, str, str, str]]:
    """(fs type, mount point, root inside the fs, super options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            tail = fields[fields.index("-") + 1 :]
            if tail[0] in ("cgroup", "cgroup2"):
                found.append((tail[0], fields[4], fields[3], tail[2]))
    return found


def _own_paths() -> dict[str, str]:
    """Controller name ("" for v2) -> the caller's group path, from /proc/self/cgroup."""
    paths = {}
    with open("/proc/self/cgroup") as listing:
        for line in listing:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _join(mount_point: str, mount_root: str, path: str) -> str:
    if mount_root != "/" and path.startswith(mount_root):
        path = path[len(mount_root) :]
    return os.path.join(mount_point, path.lstrip("/"))


def _v2(mounts: list[tuple[str, str, str, str]]) -> tuple[Cgroups | None, str | None]:
    unified = [(point, root) for kind, point, root, _ in mounts if kind == "cgroup2"]
    if not unified:
        return None, "no cgroup v2 mount"
    own = _join(*unified[0], _own_paths().get("", "/"))
    try:
        available = _read(f"{own}/cgroup.controllers").split()
        if not set(_CONTROLLERS) <= set(available):
            return None, f"cgroup v2: {own} does not offer the memory and pids controllers"
        _enable(own)
        base = f"{own}/{BASE_NAME}"
        os.makedirs(base, exist_ok=True)
        _enable(base)
    except OSError as exc:
        return None, f"cgroup v2: {own} cannot give memory and pids to sub-groups ({exc.strerror})"
    return Cgroups(version="v2", bases=(base,)), None


def _enable(group: str) -> None:
    wanted = set(_CONTROLLERS) - set(_read(f"{group}/cgroup.subtree_control").split())
    if wanted:  # EBUSY where the group holds processes itself (the "no internal processes" rule)
        _write(f"{group}/cgroup.subtree_control", " ".join(f"+{name}" for name in sorted(wanted)))


def _v1(mounts: list[tuple[str, str, str, str]]) -> tuple[Cgroups | None, str | None]:
    own, bases = _own_paths(), []
    for controller in _CONTROLLERS:
        points = [(p, r) for kind, p, r, options in mounts if kind == "cgroup" and controller in options.split(",")]
        if not points or controller not in own:
            return None, f"no cgroup v1 {controller} hierarchy"
        base = os.path.join(_join(*points[0], own[controller]), BASE_NAME)
        try:
            os.makedirs(base, exist_ok=True)
        except OSError as exc:
            return None, f"cgroup v1: cannot make {base} ({exc.strerror})"
        bases.append(base)
    return Cgroups(version="v1", bases=tuple(bases)), None


class RunGroup:
    """The groups of one run, made with its limits; `procs_fds()` go to the worker, `close()` ends it all."""

    def __init__(self, cgroups: Cgroups, memory_mb: int, processes: int) -> None:
        self.cgroups = cgroups
        name = f"run-{os.getpid()}-{next(_names)}"
        self.paths = tuple(f"{base}/{name}" for base in cgroups.bases)
        memory = str(memory_mb << 20)
        try:
            for path in self.paths:
                os.mkdir(path, 0o755)
            if cgroups.version == "v2":
                self._limit(self.paths[0], {"memory.max": memory, "memory.swap.max": "0", "pids.max": str(processes)})
            else:
                self._limit(self.paths[0], {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory})
                self._limit(self.paths[1], {"pids.max": str(processes)})
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _limit(path: str, values: dict[str, str]) -> None:
        for name, value in values.items():
            if name.startswith("memory.memsw") or name == "memory.swap.max":  # only where swap is accounted
                if not os.path.exists(f"{path}/{name}"):
                    continue
            _write(f"{path}/{name}", value)

    def procs_fds(self) -> list[int]:
        """Open `cgroup.procs` files (close-on-exec: the caller hands them to the child explicitly)."""
        return [os.open(f"{path}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for path in self.paths]

    def memory_exhausted(self) -> bool:
        """Whether the kernel killed a process of the run for reaching the group's memory limit."""
        name = "memory.events" if self.cgroups.version == "v2" else "memory.oom_control"
        try:
            fields = dict(line.split() for line in _read(f"{self.paths[0]}/{name}").splitlines() if line.strip())
        except (OSError, ValueError):
            return False
        return int(fields.get("oom_kill", "0")) > 0

    def close(self) -> None:
        """Kill whatever is left in the groups and remove them. Never raises."""
        for path in self.paths:
            _empty_and_remove(path, self.cgroups.version)


def _empty_and_remove(path: str, version: str) -> None:
    deadline = time.monotonic() + _KILL_PATIENCE_S
    try:
        if version == "v2" and os.path.exists(f"{path}/cgroup.kill"):
            _write(f"{path}/cgroup.kill", "1")
        while time.monotonic() < deadline:
            pids = list(_members(path))
            if not pids:
                break
            for pid in pids:  # a fork bomb cannot outrun this for long: pids.max bounds it
                _kill(pid)
            time.sleep(0.002)
        while time.monotonic() < deadline:
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY until the last killed process has left the group
                time.sleep(0.005)
    except OSError:
        pass  # left for the next sweep


def _members(path: str) -> Iterator[int]:
    try:
        text = _read(f"{path}/cgroup.procs")
    except FileNotFoundError:
        return
    yield from (int(pid) for pid in text.split())


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _sweep_stale(base: str) -> None:
    """Remove the groups of callers that died during a run (their names carry the caller's pid)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    version = "v1" if os.path.exists(f"{base}/tasks") else "v2"
    for name in names:
        parts = name.split("-")
        owner = parts[1] if len(parts) == 3 and parts[0] == "run" else ""
        if owner.isascii() and owner.isdigit() and not _alive(int(owner)):
            _empty_and_remove(f"{base}/{name}", version)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)
