"""The child side of a sandboxed run: `python -I -S harness.py`, fed one job (marshal) on stdin.

It imports nothing from the project and only cheap standard modules, so a run costs about one interpreter
start. It starts as the parent's user and splits in two:

- the supervisor keeps that user, runs no untrusted code, waits for the worker, reaps orphans (it is pid 1
  of the run's pid namespace when there is one) and reports the worker's exit status and CPU time;
- the worker sets the resource limits, drops to the run's own uid (when started as root), enters the work
  directory and runs the solution, then each check, reporting each result as it goes.

Every report is one line on fd 3, `<nonce> <tag> <index> <payload>`; the parent trusts nothing else. The
worker reports values, never verdicts: see `checks.py`.
"""

import marshal
import os
import resource
import sys

RESULT_FD = 3
_MAX_DEPTH = 100
_MAX_TEXT = 2000
_MAX_VALUE_CHARS = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36


def main(exit=os._exit):
    job = marshal.loads(_read_stdin())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.closerange(RESULT_FD + 1, _fd_limit())
    os.umask(0o077)
    send = _sender(job["nonce"])
    send("R")
    # As pid 1 of its own pid namespace the supervisor gets every orphan anyway, and its exit kills them all.
    init = os.getpid() == 1
    if not init:
        _adopt_orphans()
    worker = os.fork()
    if worker == 0:
        try:
            _work(job, send)
        finally:
            exit(70)
    _supervise(worker, send, sweep=not init)


def _read_stdin():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _fd_limit():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < (1 << 20) else (1 << 16)


def _sender(nonce, write=os.write, encode=str.encode):
    # Everything the worker reports through is bound here, before any untrusted code runs: replacing
    # os.write, builtins or this module's globals afterwards does not change what these closures call.
    def send(tag, index="-", payload="-"):
        data = encode(f"{nonce} {tag} {index} {payload}\n", "utf-8", "backslashreplace")
        while data:
            data = data[write(RESULT_FD, data) :]

    return send


def _supervise(worker, send, sweep):
    """Wait for the worker (reaping any orphan handed to us meanwhile), kill and reap whatever it left
    behind, then report how the worker ended."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(71)
        if pid == worker:
            break
    if sweep:
        _sweep()
    cpu = usage.ru_utime + usage.ru_stime
    send("X", "-", f"{os.waitstatus_to_exitcode(status)} {cpu:.3f}")
    os._exit(0)


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
