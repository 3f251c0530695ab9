"""Credentials out of every answer and log line: URLs lose their userinfo and their query.

Endpoint URLs may carry a password (`http://user:secret@host/`) or a token in the query (`?key=...`).
Whatever the service shows of a URL (engine status, job errors, logs, printed settings) goes through here.
"""

from __future__ import annotations

import re

REDACTED = "***"
# scheme://[userinfo@]rest-of-URL, where the URL ends at whitespace or a quote (as in exception messages).
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"<>`]+)")


def redact_url(url: str) -> str:
    """`http://u:p@host:8000/v1?key=k#x` -> `http://***@host:8000/v1?***`; a URL without secrets is unchanged.

    Anything before the last `@` ahead of the query is taken as userinfo, even where a raw `/` or `?`-less
    password would make a URL parser read it as the path: a path with an `@` loses a little, a secret nothing.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return REDACTED
    location, _, query = rest.partition("?")
    location = location.partition("#")[0]
    if "@" in location:
        location = f"{REDACTED}@{location.rsplit('@', 1)[1]}"
    return f"{scheme}://{location}" + (f"?{REDACTED}" if query else "")


def redact_text(text: str) -> str:
    """Every URL inside free text (an exception message, a status line) redacted as `redact_url` does."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
