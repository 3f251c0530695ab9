"""Hostile solutions for the sandbox's tests, as data: each is a solution source and what the test expects.

An escape attempt defines `attempt()`, which returns what it found; the test asserts `attempt() == <value>`
with the value a contained run must find, so a pass proves containment and a broken attack shows up as a
failure (it never passes by accident). `$planted`, `$project_file` and `$socket` are filled in by the test
with host paths that a run must not reach.
"""

from __future__ import annotations

from typing import Literal

Needs = Literal["bwrap", "seccomp", "cgroups", ""]

READ_FILE = """
def attempt():
    try:
        with open('$path') as handle:
            handle.read()
    except OSError:
        return 'unreachable'
    return 'read'
"""

ESCAPES: dict[str, tuple[str, object, Needs]] = {
    # (solution, what attempt() returns in a contained run, what containment needs on the machine)
    "a world-readable file of the service (snapshot, WAL)": (
        READ_FILE.replace("$path", "$planted"),
        "unreachable",
        "bwrap",
    ),
    "the project's own code": (READ_FILE.replace("$path", "$project_file"), "unreachable", "bwrap"),
    "a path unix socket of a root listener": (
        """
import socket
def attempt():
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect('$socket')
            client.sendall(b'hello')
    except OSError:
        return 'blocked'
    return 'connected'
""",
        "blocked",
        "seccomp",
    ),
    "the command lines of the host's processes": (
        """
import os
def attempt():
    others = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                line = handle.read()
        except OSError:
            continue
        if b'/sandbox/harness.py' not in line:
            others.append(line)
    return others
""",
        [],
        "bwrap",
    ),
    "setuid programs and system calls": (
        """
import ctypes
def attempt():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
    libc = ctypes.CDLL(None, use_errno=True)
    refused = [libc.unshare(0x10000000), libc.ptrace(0, 0, 0, 0)]  # a user namespace; being traced
    return (fields['NoNewPrivs'].strip(), fields['Seccomp'].strip(), refused)
""",
        ("1", "2", [-1, -1]),
        "seccomp",
    ),
    "/tmp, /var/tmp and /dev/shm of the host": (
        "import os\ndef attempt():\n    return [os.listdir(d) for d in ('/tmp', '/var/tmp', '/dev/shm')]\n",
        [[], [], []],
        "bwrap",
    ),
    "memory of the run as a whole (3 processes of 250 MB)": (
        """
import os, time
def attempt():
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                block = b'x' * (250 << 20)
                time.sleep(1)
            except MemoryError:
                os._exit(1)
            os._exit(0)
        children.append(pid)
    held = sum(os.waitpid(child, 0)[1] == 0 for child in children)
    return 'bounded' if held < 3 else 'all held'
""",
        "bounded",
        "cgroups",
    ),
    "disk of the run as a whole (files under the per-file limit in /tmp, /var/tmp, /dev/shm)": (
        """
import errno
def attempt():
    for number, where in enumerate(['/tmp', '/var/tmp', '/dev/shm'] * 3):
        try:
            with open(f'{where}/fill-{number}', 'wb') as out:
                out.write(bytes(15 << 20))
        except OSError as exc:
            return 'full' if exc.errno == errno.ENOSPC else repr(exc)
    return 'all written'
""",
        "full",
        "bwrap",
    ),
}

# Values a test can return, sent back over the report pipe: what the parent must judge without failing.
VALUES: dict[str, tuple[str, str]] = {
    "10**5000": ("10 ** 5000", "got <an int of about 5001 digits>"),
    "-(10**5000)": ("-(10 ** 5000)", "got <a negative int of about 5001 digits>"),
    "[10**5000]": ("[10 ** 5000]", "got [<an int of about 5001 digits>]"),
    "a 50 MB string": ("'x' * 50_000_000", "got a value of 50000002 characters, over the limit"),
    "a 10,000-deep list": ("deep(10_000)", "got a value nested deeper than 100 levels"),
    "a cyclic list": ("cyclic()", "got a value nested deeper than 100 levels"),
    "an object whose __repr__ raises": ("Unprintable()", "got a Unprintable, not plain data"),
    "float nan": ("float('nan')", "got a value containing nan"),
    "bytes": ("b'\\x00\\xff'", "got b'\\x00\\xff'"),
    "a set": ("{3, 1, 2}", "got {1, 2, 3}"),
}
VALUE_HELPERS = """
def deep(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value
def cyclic():
    value = []
    value.append(value)
    return value
class Unprintable:
    def __repr__(self):
        raise RuntimeError('no')
"""

WRONG_FIB = "def fib(n):\n    return 0\n"
WRONG_EVEN = "def is_even(n):\n    return False\n"
TAMPERING = {
    "fake AssertionError": "import builtins\nbuiltins.AssertionError = type('Fake', (Exception,), {})\n",
    "exit disabled": "import os, sys\nsys.exit = lambda *a: None\nos._exit = lambda *a: None\n",
    "eval replaced": "import builtins\nbuiltins.eval = lambda *a, **k: 55\nbuiltins.compile = lambda *a, **k: '55'\n",
    "type and repr replaced": "import builtins\nbuiltins.type = lambda *a: int\nbuiltins.repr = lambda *a: '55'\n",
    "report rewritten": (
        "import os\nw = os.write\nos.write = lambda fd, data: w(fd, data.replace(b' V 0 0', b' V 0 55'))\n"
    ),
    "harness replaced": (
        "import __main__\n"
        "__main__._checker = lambda send, *a: (lambda index, *b: send('V', index, '55'))\n"
        "__main__._encoder = lambda *a: (lambda value, depth=0: '55')\n"
    ),
    "fake PASS lines": "print('PASS')\nprint('1 passed, 0 failed')\nprint('R - -')\n",
    "eq always true": (
        "class Always:\n    def __eq__(self, other):\n        return True\ndef fib(n):\n    return Always()\n"
    ),
    "forged reports": "import os\nos.write(3, b'0123456789abcdef V 0 55\\n0123456789abcdef D - 1\\n')\n",
    "report channel closed": "import os\nos.close(3)\n",
    # Issue 12: the nonce, found with gc, let a solution write its own reports for a bare assert.
    "nonce found with gc": (
        "import gc, os, re\n"
        "for found in gc.get_objects():\n"
        "    texts = [found] if type(found) is str else []\n"
        "    if callable(found) and getattr(found, '__closure__', None):\n"
        "        texts += [c.cell_contents for c in found.__closure__ if type(c.cell_contents) in (str, bytes)]\n"
        "    for text in texts:\n"
        "        text = text.decode('ascii', 'replace') if type(text) is bytes else text\n"
        "        if re.fullmatch('[0-9a-f]{32} ?', text):\n"
        "            for fd in range(3, 10):\n"
        "                try:\n"
        "                    os.write(fd, f'{text.strip()} V 0 True\\n{text.strip()} D - 1\\n'.encode())\n"
        "                except OSError:\n"
        "                    pass\n"
        "os._exit(0)\n"
    ),
    "a supervisor's exit report from the worker": (
        "import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'X - 0 0.0\\n')\n    except OSError:\n"
        "        pass\n"
    ),
}
