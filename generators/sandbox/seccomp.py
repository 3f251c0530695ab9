"""The syscall filter of a run: what it denies, compiled to a BPF program by libseccomp (through ctypes).

The filter allows by default and refuses, with EPERM, the system calls a Python solution never needs and an
escape or a kernel exploit usually does: tracing and reading other processes, namespaces and mounts, kernel
keyrings, BPF, perf, io_uring (whose operations a filter cannot see), userfaultfd, modules, clocks, reboot.
`clone` is refused only with a namespace flag; `clone3`, whose flags a filter cannot read, answers ENOSYS so
that the C library falls back to `clone`. `socket` is refused for every address family but IPv4 and IPv6:
no unix socket can be made, so no path or abstract socket can be reached (`socketpair` still works).
A call made through another architecture's ABI (x32, i386) kills the process (libseccomp's default).

`compile_filter()` returns the program as raw `struct sock_filter` bytes, the format both `bwrap --seccomp`
and `prctl(PR_SET_SECCOMP)` take, or None where libseccomp is missing (the isolation report then says so).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

_LIBRARY = "libseccomp.so.2"
_ACT_ALLOW = 0x7FFF0000
_CMP_EQ, _CMP_GT, _CMP_LT, _CMP_MASKED_EQ = 4, 6, 2, 7

DENIED = (
    # other processes: tracing, reading or writing their memory, taking their file descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # namespaces, mounts and the root directory
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "mount_setattr",
    "fsopen", "fsconfig", "fsmount", "fspick", "open_by_handle_at", "name_to_handle_at",
    # kernel interfaces with a long record of exploits, and ones a solution has no use for
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "fanotify_init", "lookup_dcookie", "syslog", "acct", "quotactl",
    "quotactl_fd", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "vhangup", "iopl", "ioperm",
    # the machine itself
    "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "swapon",
    "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
)  # fmt: skip
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_SOCKET_FAMILIES = (socket.AF_INET, socket.AF_INET6)  # 2 and 10: everything else is refused


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def _errno(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


def compile_filter() -> bytes | None:
    """The filter as raw BPF instructions, or None where libseccomp cannot be loaded."""
    try:
        lib = ctypes.CDLL(_LIBRARY, use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    pointer, uint = ctypes.c_void_p, ctypes.c_uint
    lib.seccomp_rule_add_array.argtypes = [pointer, ctypes.c_uint32, ctypes.c_int, uint, pointer]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    context = lib.seccomp_init(_ACT_ALLOW)
    if not context:
        return None
    try:
        for action, name, comparisons in _rules():
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # not a system call of this architecture
                continue
            array = (_ArgCmp * max(1, len(comparisons)))(*comparisons)
            if lib.seccomp_rule_add_array(context, action, number, len(comparisons), array) != 0:
                return None
        return _export(lib, context)
    finally:
        lib.seccomp_release(context)


def _rules() -> list[tuple[int, str, list[_ArgCmp]]]:
    rules = [(_errno(errno.EPERM), name, []) for name in DENIED]
    rules.append((_errno(errno.ENOSYS), "clone3", []))
    # One rule per flag: libseccomp has no "masked, not equal"; the flags are clone's first argument.
    rules += [(_errno(errno.EPERM), "clone", [_ArgCmp(0, _CMP_MASKED_EQ, flag, flag)]) for flag in _NAMESPACE_FLAGS]
    low, high = _SOCKET_FAMILIES
    refused = [_ArgCmp(0, _CMP_LT, low, 0), _ArgCmp(0, _CMP_GT, high, 0)]
    refused += [_ArgCmp(0, _CMP_EQ, family, 0) for family in range(low + 1, high)]
    rules += [(_errno(errno.EPERM), "socket", [comparison]) for comparison in refused]
    return rules


def _export(lib: ctypes.CDLL, context: int) -> bytes | None:
    fd = os.memfd_create("instructforge-seccomp", os.MFD_CLOEXEC)
    try:
        if lib.seccomp_export_bpf(context, fd) != 0:
            return None
        size = os.lseek(fd, 0, os.SEEK_CUR)
        program = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    return program if program and len(program) % 8 == 0 else None
