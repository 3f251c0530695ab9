"""The child side of a sandboxed run: `python -I -S harness.py`, fed one job on stdin.

It imports nothing from the project and only cheap standard modules, so a run costs about one interpreter
start. Stdin holds the job (a 4-byte length, then marshal data) and then the run's nonce. It starts as the
parent's user and splits in two before it reads the nonce, so the worker never holds it:

- the supervisor keeps that user and runs no untrusted code: it reads the nonce, reports the start, relays
  the worker's reports to fd 3 with the nonce in front of each, reaps orphans (it is pid 1 of the run's pid
  namespace when there is one) and reports the worker's exit status and CPU time;
- the worker joins the run's control groups, sets the resource limits, drops to the run's own uid (when
  started as root), sets no-new-privileges and the syscall filter (where no wrapper did), enters the work
  directory and runs the solution, then each check, writing each result to its pipe to the supervisor.
  It never has fd 3: it cannot write a report the parent would take for the supervisor's.

Every report on fd 3 is one line, `<nonce> <tag> <index> <payload>`; the parent trusts nothing else. The
worker reports values, never verdicts: see `checks.py`.
"""

import marshal
import os
import resource
import select
import sys

RESULT_FD = 3
_MAX_DEPTH = 100
_MAX_TEXT = 2000
_MAX_VALUE_CHARS = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_SUPERVISOR_TAGS = (b"R", b"X")  # reports only the supervisor makes
_TICK_MS = 10  # the worker's exit is polled this often where pidfd_open is missing


def main(exit=os._exit):
    job = marshal.loads(_read_exactly(int.from_bytes(_read_exactly(4), "little")))
    keep = job["cgroup_fds"]
    os.closerange(RESULT_FD + 1, min(keep, default=_fd_limit()))
    if keep:
        os.closerange(max(keep) + 1, _fd_limit())
    os.umask(0o077)
    # As pid 1 of its own pid namespace the supervisor gets every orphan anyway, and its exit kills them all.
    init = os.getpid() == 1
    if not init:
        _adopt_orphans()
    if job["uid"] is None:
        # The worker will share our uid: keep it out of our memory (/proc/1/mem) and fds. Before the fork,
        # or the worker could open them first (the check is made when they are opened).
        _undumpable()
    source, sink = os.pipe()
    worker = os.fork()
    if worker == 0:
        try:
            os.close(source)
            os.close(RESULT_FD)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)  # stdin still holds the nonce: not for the worker
            os.close(null)
            _work(job, _sender(b"", sink))
        finally:
            exit(70)
    os.close(sink)
    for fd in keep:
        os.close(fd)
    prefix = _read_exactly(64).strip() + b" "
    send = _sender(prefix, RESULT_FD)
    send("R")
    _supervise(worker, source, send, _forwarder(prefix, job["report_cap"], worker), sweep=not init)


def _read_exactly(size):
    data = b""
    while len(data) < size:
        chunk = os.read(0, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _fd_limit():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < (1 << 20) else (1 << 16)


def _sender(prefix, fd, write=os.write, encode=str.encode):
    # Everything the worker reports through is bound here, before any untrusted code runs: replacing
    # os.write, builtins or this module's globals afterwards does not change what these closures call.
    def send(tag, index="-", payload="-"):
        data = prefix + encode(f"{tag} {index} {payload}\n", "utf-8", "backslashreplace")
        while data:
            data = data[write(fd, data) :]

    return send


def _supervise(worker, source, send, forward, sweep):
    """Relay the worker's reports until it ends (reaping any orphan handed to us meanwhile), kill and reap
    whatever it left behind, then report how the worker ended."""
    status, usage = _relay(worker, source, forward)
    if sweep:
        _sweep()
    cpu = usage.ru_utime + usage.ru_stime
    send("X", "-", f"{os.waitstatus_to_exitcode(status)} {cpu:.3f}")
    os._exit(0)


def _relay(worker, source, forward):
    poller = select.poll()
    poller.register(source, select.POLLIN)
    try:
        pidfd = os.pidfd_open(worker)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        ended = _reap(worker)
        if ended is not None:
            break
        for fd, _ in poller.poll(None if pidfd is not None else _TICK_MS):
            if fd != source:
                continue
            chunk = os.read(source, 1 << 16)
            if chunk:
                forward(chunk)
            else:  # every writer closed it; the worker's exit is still to come
                poller.unregister(source)
    # The worker is gone: take what it wrote, not what a process it left running may still write.
    os.set_blocking(source, False)
    try:
        while chunk := os.read(source, 1 << 16):
            forward(chunk)
    except BlockingIOError:
        pass
    return ended


def _reap(worker):
    """(status, usage) once the worker is reaped; reaps any orphan on the way."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            os._exit(71)
        if pid == 0:
            return None
        if pid == worker:
            return status, usage


def _forwarder(prefix, cap, worker):
    """Each whole line of the worker, sent to fd 3 with the nonce in front. A supervisor's tag from the worker,
    or a line longer than `cap`, is sent as T (tampering); the worker is killed for the latter."""
    pending = [b""]

    def write(line):
        data = prefix + line + b"\n"
        while data:
            data = data[os.write(RESULT_FD, data) :]

    def forward(chunk):
        lines = (pending[0] + chunk).split(b"\n")
        pending[0] = lines.pop()
        for line in lines:
            write(b"T - -" if line.split(b" ", 1)[0] in _SUPERVISOR_TAGS else line)
        if len(pending[0]) > cap:
            pending[0] = b""
            write(b"T - -")
            try:
                os.kill(worker, 9)
            except OSError:  # as root under bubblewrap we may not signal the worker's uid: the clock ends it
                pass

    return forward


def _undumpable():
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _adopt_orphans():
    """Outside a pid namespace, become the child subreaper: the run's orphans (daemons that left the
    process group included) then come to us to be killed and reaped, not to the host's init."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass  # then the parent's sweep by uid (as root) is what finds them


def _sweep():
    """SIGKILL every child left (orphans re-parented to us) and reap them, until there is none."""
    while True:
        for pid in _children():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            os.wait4(-1, 0)
        except ChildProcessError:
            return


def _children():
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as listing:
                pids.extend(int(pid) for pid in listing.read().split())
        except OSError:
            pass
    return pids


def _work(job, send):
    try:
        _confine(job)
    except (OSError, ValueError) as exc:
        send("F", "-", repr(f"sandbox set-up failed: {exc}"))
        return
    check, checks, finish = _checker(send), list(job["checks"]), _finisher(send)
    namespace = _load(job["solution"], send)
    if namespace is not None:
        for index in range(len(checks)):
            mode, code = checks[index]
            check(index, mode, code, dict(namespace))
    finish(len(checks) if namespace is not None else None)


def _finisher(send, flush_all=(sys.stdout.flush, sys.stderr.flush), exit=os._exit, str=str):
    def finish(count):
        for flush in flush_all:
            try:
                flush()
            except BaseException:  # the solution may have closed the streams
                pass
        if count is not None:
            send("D", "-", str(count))
        exit(0)

    return finish


def _confine(job):
    for fd in job["cgroup_fds"]:  # join the run's groups first: every process made from here on is counted
        os.write(fd, b"0")
        os.close(fd)
    limits = job["limits"]
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1)  # SIGXCPU, then SIGKILL a second later
    _limit(resource.RLIMIT_AS, limits["memory_mb"] << 20)
    _limit(resource.RLIMIT_FSIZE, limits["file_mb"] << 20)
    _limit(resource.RLIMIT_NPROC, limits["nproc"])
    _limit(resource.RLIMIT_NOFILE, 256)
    if job["uid"] is not None:
        os.setgroups([])
        os.setgid(job["gid"])
        os.setuid(job["uid"])
    os.chdir(job["workdir"])
    os.environ.pop("PWD", None)  # bubblewrap always sets it; the environment is the parent's five names
    if job["harden"]:
        _harden(job["seccomp"])


def _harden(program):
    """No new privileges (setuid programs run as the caller), then the syscall filter: what bubblewrap does
    for a run it wraps, done here where nothing wraps the run."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if program:

        class Program(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

        filter_program = Program(len(program) // 8, program)
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(filter_program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def _limit(kind, soft, hard=None):
    """Lower a limit (never above the hard limit already there: raising it needs privileges)."""
    ceiling = resource.getrlimit(kind)[1]
    hard = soft if hard is None else hard
    if ceiling != resource.RLIM_INFINITY:
        soft, hard = min(soft, ceiling), min(hard, ceiling)
    resource.setrlimit(kind, (soft, hard))


def _load(solution, send):
    namespace = {"__name__": "__solution__", "__builtins__": __builtins__}
    try:
        exec(compile(solution, "<solution>", "exec"), namespace)
    except MemoryError:
        send("C", "-", repr("MemoryError while loading the solution"))
        return None
    except BaseException as exc:  # the solution may raise anything, SystemExit included
        send("C", "-", repr(_describe(exc)))
        return None
    return namespace


def _checker(send, compile=compile, eval=eval, exec=exec, repr=repr, len=len, str=str):
    describe, literal = _describe, _encoder()

    def check(index, mode, code, namespace):
        try:
            if mode == "exec":
                exec(compile(code, f"<test {index}>", "exec"), namespace)
                send("P", index)
                return
            value = eval(compile(code, f"<test {index}>", "eval"), namespace)
        except MemoryError:
            send("M", index, repr("MemoryError"))
            return
        except BaseException as exc:
            send("E", index, repr(describe(exc)))
            return
        try:
            text = literal(value)
        except (TypeError, ValueError, RecursionError, MemoryError) as exc:
            send("N", index, repr(str(exc)[:_MAX_TEXT]))
            return
        if len(text) > _MAX_VALUE_CHARS:
            send("N", index, repr(f"a value of {len(text)} characters, over the limit"))
            return
        send("V", index, text)

    return check


def _describe(exc):
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    if isinstance(exc, SyntaxError) and exc.lineno:
        text = f"{exc.msg} (line {exc.lineno})"
    return (f"{name}: {text}" if text else name)[:_MAX_TEXT]


def _encoder(type=type, repr=repr, hex=hex, int_repr=int.__repr__, float_repr=float.__repr__, len=len):
    """Plain data -> a Python literal. Exact builtin types only, so no user __eq__/__repr__ ever runs, and
    the parent reads it back with ast.literal_eval."""
    big, infinite = 10**300, (float("inf"), float("-inf"))
    sequences = (list, tuple, set, frozenset)

    def literal(value, depth=0):
        kind = type(value)
        if depth > _MAX_DEPTH:
            raise ValueError(f"a value nested deeper than {_MAX_DEPTH} levels")
        if value is None or kind is bool or kind is str or kind is bytes:
            return repr(value)
        if kind is int:
            return int_repr(value) if -big < value < big else hex(value)
        if kind is float:
            if value != value:
                raise ValueError("a value containing nan")
            return float_repr(value) if value not in infinite else ("-1e999" if value < 0 else "1e999")
        if kind in sequences:
            items = ", ".join([literal(item, depth + 1) for item in value])
            if kind is list:
                return f"[{items}]"
            if kind is tuple:
                return f"({items},)" if len(value) == 1 else f"({items})"
            return f"{{{items}}}" if value else "set()"
        if kind is dict:
            pairs = [f"{literal(k, depth + 1)}: {literal(v, depth + 1)}" for k, v in value.items()]
            return "{" + ", ".join(pairs) + "}"
        raise TypeError(f"a {kind.__name__}, not plain data")

    return literal


if __name__ == "__main__":
    main()
