"""One normal form for an engine endpoint: the server's root, to which the client adds `/v1/models`.

Clients of OpenAI-compatible servers are mostly given the *base URL* (`http://host:8000/v1`); the service
was given the root (`http://host:8000`) and called `.../v1/v1/models` on a base URL, which no server
answers. Both forms are accepted and reduced to the root here, the one place that knows the rule, wherever
an endpoint enters: the settings (INSTRUCTFORGE_ENDPOINTS, INSTRUCTFORGE_JUDGE_ENDPOINTS), a job's own
endpoints, and the client itself. Any other path stays (a reverse proxy at `http://host/vllm`), and so do
the userinfo and query (shown only through `domain.redaction`). The price: a server whose own root path
ends in `/v1` cannot be named (its `/v1` is read as the base URL's).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from domain.redaction import redact_url

_API_PREFIX = "/v1"  # what the client puts before `/models` and `/completions`
EXAMPLE = "http://host:8000 or http://host:8000/v1"


def normal_endpoint(url: str) -> str:
    """`http://h:8000/v1/` -> `http://h:8000`; `http://h/proxy/v1` -> `http://h/proxy`.

    Raises ValueError, naming the URL without its credentials, for anything but an http(s) URL with a host.
    """
    text = url.strip()
    if "://" not in text:  # `host:8000`, a bare name, an empty string: not echoed, it may be a mistyped secret
        raise ValueError(f"an endpoint needs an http:// or https:// scheme and a host; expected {EXAMPLE}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsed for its check: a port out of range or not a number raises
    except ValueError as exc:
        raise ValueError(f"{redact_url(text)!r} is not a URL ({exc}); expected {EXAMPLE}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{redact_url(text)!r} is not an http(s) URL with a host; expected {EXAMPLE}")
    path = parts.path.rstrip("/").removesuffix(_API_PREFIX).rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, parts.query, parts.fragment))


def normal_endpoints(urls: Iterable[str]) -> tuple[str, ...]:
    """Each endpoint in normal form, in order, each once (two spellings of one server are one endpoint)."""
    normal: dict[str, None] = {}
    for number, url in enumerate(urls, 1):
        try:
            normal[normal_endpoint(url)] = None
        except ValueError as exc:
            raise ValueError(f"endpoint {number}: {exc}") from None
    return tuple(normal)
