"""What a run sees under bubblewrap: a read-only view of the interpreter, and its own empty /tmp.

The run's root is a fresh tmpfs, read-only once built, holding only:
- the interpreter binary, its standard library (site-packages hidden under an empty read-only tmpfs),
  libpython where the binary links it, the system's shared libraries (`/usr/lib/<multiarch>`, the loader)
  and `/etc/ld.so.cache`, all read-only, each at its host path;
- the harness, read-only, at `SANDBOX_HARNESS`;
- a new /proc (the run's pid namespace: its own processes only), and in /dev only null, zero, full, random
  and urandom;
- `/tmp`, a tmpfs of `disk_mb` that is the run's only writable place, its working and home directory;
  `/var/tmp` and `/dev/shm` are links to it, so that the three share the one size limit.
No host directory is writable and none of the service's files (data dir, database, snapshots, the project's
code, /run, /home, host sockets) is there. The mount namespace, and with it the tmpfs, ends with the run:
nothing a run leaves behind outlives it, and the host never walks what it wrote.
"""

from __future__ import annotations

import os
import sys
import sysconfig

SANDBOX_HARNESS = "/sandbox/harness.py"
RUN_TMP = "/tmp"
_DEVICES = ("null", "zero", "full", "random", "urandom")
_LOADER_DIRS = ("/lib", "/lib64", "/usr/lib64", "/lib32", "/usr/lib32")  # mirrored: links stay links
_STREAMS = ("stdin", "stdout", "stderr")


def namespace_args(root: bool) -> list[str]:
    """New ipc, pid, network and uts namespaces; a new session (no controlling terminal to inject into); the
    harness as pid 1, so that the run ends when it does, and killed when the caller dies. As root, no user
    namespace and every capability dropped but the two the harness needs to drop to the run's own uid;
    otherwise a user namespace in which no further one can be made."""
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--hostname", "sandbox"]
    args += ["--die-with-parent", "--new-session", "--as-pid-1"]
    if root:
        return [*args, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*args, "--unshare-user", "--disable-userns"]


def interpreter_args(python: str) -> list[str]:
    """Read-only binds of what `python -I -S` needs: binary, standard library, libpython, shared libraries.
    `python` must be this interpreter (the paths come from its `sysconfig`)."""
    args: list[str] = []
    for path in _LOADER_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    libraries = f"/usr/lib/{multiarch}" if multiarch and os.path.isdir(f"/usr/lib/{multiarch}") else "/usr/lib"
    args += ["--ro-bind", libraries, libraries, "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += ["--ro-bind", python, python]
    stdlib = sysconfig.get_path("stdlib")
    args += ["--ro-bind", stdlib, stdlib]
    for hidden in _site_dirs(stdlib):
        args += ["--tmpfs", hidden, "--remount-ro", hidden]
    shared = _libpython()
    if shared is not None and not shared.startswith(libraries + "/"):
        args += ["--ro-bind", shared, shared]
    return args


def _site_dirs(stdlib: str) -> list[str]:
    """The base interpreter's site-packages where they lie inside the standard library (pyenv, python.org)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    found = {sysconfig.get_path(name, vars=base) for name in ("purelib", "platlib")}
    return sorted(path for path in found if path.startswith(stdlib + "/") and os.path.isdir(path))


def _libpython() -> str | None:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return None
    path = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
    return path if os.path.isfile(path) else None


def device_args() -> list[str]:
    args = ["--proc", "/proc", "--dir", "/dev"]
    for device in _DEVICES:
        args += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    args += ["--symlink", "/proc/self/fd", "/dev/fd"]
    for number, stream in enumerate(_STREAMS):
        args += ["--symlink", f"/proc/self/fd/{number}", f"/dev/{stream}"]
    return args


def static_args(bwrap: str, python: str, harness: str, root: bool) -> tuple[str, ...]:
    """Everything but the per-run tail (`run_args`)."""
    view = [*interpreter_args(python), "--ro-bind", harness, SANDBOX_HARNESS, *device_args()]
    view += ["--symlink", RUN_TMP, "/var/tmp", "--symlink", RUN_TMP, "/dev/shm"]
    return (bwrap, *namespace_args(root), *parent_dirs(view), *view)


_DESTINATION_AFTER = {"--ro-bind": 2, "--ro-bind-try": 2, "--dev-bind": 2, "--symlink": 2, "--tmpfs": 1, "--dir": 1}


def parent_dirs(view: list[str]) -> list[str]:
    """`--perms 0755 --dir` for every directory above a destination of `view`: bubblewrap makes the ones it
    needs mode 0700, which the run's own uid could not pass through (e.g. /usr, /root of a pyenv Python)."""
    parents: set[str] = set()
    for index, arg in enumerate(view):
        if arg in _DESTINATION_AFTER:
            destination = view[index + _DESTINATION_AFTER[arg]]
            while (destination := os.path.dirname(destination)) != "/":
                parents.add(destination)
    parents.add("/proc")
    args: list[str] = []
    for parent in sorted(parents, key=lambda path: (path.count("/"), path)):
        args += ["--perms", "0755", "--dir", parent]
    return args


def run_args(disk_mb: int, seccomp_fd: int | None) -> list[str]:
    """The run's own tmpfs (mode 1777: the run's uid is not its owner), then the root made read-only."""
    args = ["--perms", "1777", "--size", str(disk_mb << 20), "--tmpfs", RUN_TMP, "--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--chdir", RUN_TMP]
