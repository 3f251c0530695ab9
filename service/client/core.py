"""The client's one seam onto HTTP: typed requests, streamed downloads, every failure as a ClientError."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from service import __version__
from service.client.errors import APIError, UnreachableError

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"  # the service's default host and port (service.settings.ServerSettings)
URL_ENV = "INSTRUCTFORGE_URL"
API_KEY_ENV = "INSTRUCTFORGE_API_KEY"
_CHUNK = 1 << 20


class Core:
    """An httpx.Client with the service's base URL and key; answers decoded into the API's own Structs."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"user-agent": f"instructforge-client/{__version__}"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        self.http = httpx.Client(base_url=self.url, headers=headers, transport=transport, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, type: type[T], **kwargs: Any) -> T:
        """One request; the answer decoded as `type`, or the service's error raised as an APIError."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        if response.is_error:
            raise APIError.from_response(response.status_code, response.content)
        return decode(response.content, type, response.status_code)

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed GET whose status was checked: an error answer is read whole and raised."""
        try:
            with self.http.stream("GET", path, **kwargs) as response:
                if response.is_error:
                    raise APIError.from_response(response.status_code, response.read())
                yield response
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc

    def download(self, path: str, target: Path, **kwargs: Any) -> tuple[str, int]:
        """Stream `path` into the file `target`; its SHA-256 (hex) and size, measured on the way."""
        digest, size = hashlib.sha256(), 0
        with self.stream(path, **kwargs) as response, target.open("wb") as out:
            for chunk in response.iter_bytes(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return digest.hexdigest(), size


def decode(content: bytes | str, type: type[T], status_code: int = 200) -> T:
    """An answer as the API's Struct; one this client cannot read (another version of the service, a proxy's
    page with a 200) is an APIError with the code `unexpected_answer`, not a crash."""
    try:
        return msgspec.json.decode(content, type=type)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise APIError(status_code, "unexpected_answer", f"not a {type.__name__}: {exc}") from None


def unreachable(url: str, exc: httpx.TransportError) -> UnreachableError:
    return UnreachableError(f"cannot reach {url}: {type(exc).__name__}: {exc}")
