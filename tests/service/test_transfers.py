"""Large transfers over HTTP: gzip when asked for, conditional (304) and partial (206/416) snapshot downloads."""

from __future__ import annotations

import gzip
import zlib

import anyio
import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.compression import GzipMiddleware, accepts_gzip, compressible
from service.file_ranges import UnsatisfiableRange, byte_range, etag_matches
from service.settings import Settings
from tests.service.conftest import assert_error

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


@pytest.fixture
def file_url(client: TestClient, dataset_id: str, seed_bytes: bytes) -> str:
    """The URL of a snapshot's largest JSON Lines file (the 175 seed tasks, split)."""
    upload = client.post(f"/v1/datasets/{dataset_id}/seeds", content=seed_bytes,
                         headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert upload.status_code == 200, upload.text
    snapshot = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={"seed": 3})
    assert snapshot.status_code == 201, snapshot.text
    return max(snapshot.json()["files"], key=lambda entry: entry["records"])["url"]


def raw_get(client: TestClient, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent on the wire (httpx's `content` would be decoded already)."""
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_gzip_round_trip_equals_the_plain_body(client: TestClient, file_url: str) -> None:
    plain, plain_body = raw_get(client, file_url, IDENTITY)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["accept-ranges"] == "bytes" and int(plain.headers["content-length"]) == len(plain_body)
    zipped, zipped_body = raw_get(client, file_url, {"accept-encoding": "gzip, deflate"})
    assert zipped.status_code == 200 and zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped_body) == plain_body and len(zipped_body) < len(plain_body) / 2
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert zipped.headers["etag"] == "W/" + plain.headers["etag"]  # another representation: a weak tag
    refused, refused_body = raw_get(client, file_url, {"accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused_body == plain_body


@pytest.mark.parametrize("level", [0, 1, 9])
def test_the_gzip_level_setting_is_used_and_0_turns_it_off(settings: Settings, level: int) -> None:
    server = msgspec.structs.replace(settings.server, gzip_level=level)
    with TestClient(app=create_app(msgspec.structs.replace(settings, server=server))) as client:
        response, body = raw_get(client, "/schema/openapi.json", GZIP)  # large JSON
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == (None if level == 0 else "gzip")
    plain = body if level == 0 else gzip.decompress(body)
    assert msgspec.json.decode(plain)["openapi"].startswith("3.")
    if level:
        assert body == _gzip_at(plain, level)  # exactly the bytes of gzip at that level


def _gzip_at(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_small_and_error_answers_are_not_compressed(client: TestClient) -> None:
    health, body = raw_get(client, "/health", GZIP)
    assert health.status_code == 200 and "content-encoding" not in health.headers and b"ok" in body
    missing, body = raw_get(client, "/v1/snapshots/sn_missing", GZIP)
    assert missing.status_code == 404 and "content-encoding" not in missing.headers and b"snapshot" in body


def test_if_none_match_with_the_etag_is_a_304(client: TestClient, file_url: str) -> None:
    first = client.get(file_url, headers=IDENTITY)
    etag = first.headers["etag"]
    for offered in (etag, f'"other", {etag}', "W/" + etag, "*"):
        again = client.get(file_url, headers=IDENTITY | {"if-none-match": offered})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, offered
    zipped_etag = client.get(file_url, headers=GZIP).headers["etag"]
    assert client.get(file_url, headers=GZIP | {"if-none-match": zipped_etag}).status_code == 304
    stale = client.get(file_url, headers={"if-none-match": '"1-2-3"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_a_range_is_a_206_with_exactly_those_bytes(client: TestClient, file_url: str) -> None:
    whole = client.get(file_url, headers=IDENTITY).content
    size = len(whole)
    cases = {"bytes=10-99": (10, 100), "bytes=-50": (size - 50, size), f"bytes={size - 7}-": (size - 7, size),
             f"bytes=0-{size * 10}": (0, size), "bytes=0-0": (0, 1)}  # fmt: skip
    for header, (start, stop) in cases.items():
        part, body = raw_get(client, file_url, GZIP | {"range": header})  # a 206 is never gzipped
        assert part.status_code == 206, (header, part.text)
        assert body == whole[start:stop] and "content-encoding" not in part.headers, header
        assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}", header
        assert int(part.headers["content-length"]) == stop - start, header


def test_a_range_past_the_end_is_a_416_with_the_error_shape(client: TestClient, file_url: str) -> None:
    size = len(client.get(file_url).content)
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0", "bytes=" + "9" * 5000 + "-"):
        response = client.get(file_url, headers={"range": header})
        assert_error(response, 416, "range_not_satisfiable")
        assert response.headers["content-range"] == f"bytes */{size}"


def test_several_ranges_or_a_stale_if_range_get_the_whole_file(client: TestClient, file_url: str) -> None:
    """The documented choice: one range per request; several are answered 200 with the whole file."""
    whole = client.get(file_url, headers=IDENTITY)
    weak = "W/" + whole.headers["etag"]  # If-Range takes only the strong tag
    ignored = [{"range": "bytes=0-9,20-29"}, {"range": "bytes=5-1"}, {"range": "lines=1-2"},
               {"range": "bytes=0-9", "if-range": '"stale"'}, {"range": "bytes=0-9", "if-range": weak}]  # fmt: skip
    for headers in ignored:
        response = client.get(file_url, headers=IDENTITY | headers)
        assert response.status_code == 200 and response.content == whole.content, headers
    current = client.get(file_url, headers=IDENTITY | {"range": "bytes=0-9", "if-range": whole.headers["etag"]})
    assert current.status_code == 206 and current.content == whole.content[:10]


def test_byte_range_reads_one_range_and_ignores_what_does_not_parse() -> None:
    assert byte_range("bytes=0-499", 1000) == range(0, 500)
    assert byte_range("Bytes = 500-", 1000) == range(500, 1000)
    assert byte_range("bytes=-200", 1000) == range(800, 1000)
    assert byte_range("bytes=-5000", 1000) == range(0, 1000)
    assert byte_range("bytes=990-5000", 1000) == range(990, 1000)
    for ignored in ("bytes=0-1,4-5", "bytes=-", "bytes=a-b", "bytes=9-1", "items=0-1", "bytes 0-1", "bytes=٣-٤"):
        assert byte_range(ignored, 1000) is None, ignored
    for unsatisfiable, size in (("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=0-", 0), ("bytes=-1", 0)):
        with pytest.raises(UnsatisfiableRange):
            byte_range(unsatisfiable, size)


def test_etag_matching_is_the_weak_comparison() -> None:
    assert etag_matches('"a"', '"a"') and etag_matches('W/"a"', '"a"') and etag_matches('"x", "a"', '"a"')
    assert etag_matches(" * ", '"a"') and not etag_matches('"b"', '"a"') and not etag_matches("", '"a"')


def test_accept_encoding_is_read_with_its_q_values() -> None:
    for header in ("gzip", "gzip, deflate, br, zstd", "*", "br;q=1.0, gzip;q=0.5", "identity, *;q=0.1", "x-gzip"):
        assert accepts_gzip(header), header
    for header in ("", "identity", "gzip;q=0", "br, *;q=0", "gzip;q=0, *", "gzip;q=bad"):
        assert not accepts_gzip(header), header


def test_only_plain_text_200s_are_compressible() -> None:
    def start(status: int, *headers: tuple[bytes, bytes]) -> dict:
        return {"type": "http.response.start", "status": status, "headers": list(headers)}

    ndjson = (b"content-type", b"application/x-ndjson")
    assert compressible(start(200, ndjson)) and compressible(start(200, (b"content-type", b"text/markdown")))
    assert compressible(start(200, (b"content-type", b"application/vnd.oai.openapi+json")))
    assert not compressible(start(206, ndjson, (b"content-range", b"bytes 0-9/99")))
    assert not compressible(start(200, ndjson, (b"content-range", b"bytes 0-9/99")))
    assert not compressible(start(200, ndjson, (b"content-encoding", b"gzip")))
    assert not compressible(start(304, ndjson)) and not compressible(start(404, ndjson))
    for media_type in (b"text/event-stream", b"application/octet-stream", b"application/gzip", b"image/png"):
        assert not compressible(start(200, (b"content-type", media_type))), media_type


def test_a_streamed_answer_is_compressed_chunk_by_chunk() -> None:
    """Every chunk the app sends goes out at once, and what arrived so far decodes to exactly what was sent."""
    chunks = [(f'{{"n": {n}, "text": "{"word " * 40}"}}\n' * 20).encode() for n in range(5)]

    async def app(scope, receive, send) -> None:
        headers = [(b"content-type", b"application/x-ndjson"), (b"etag", b'"v1"')]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for n, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": n < len(chunks) - 1})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "headers": [(b"accept-encoding", b"gzip")]}
    anyio.run(GzipMiddleware(app, level=1), scope, receive, send)
    start, bodies = sent[0], sent[1:]
    headers = dict(start["headers"])
    assert headers[b"content-encoding"] == b"gzip" and b"content-length" not in headers
    assert headers[b"etag"] == b'W/"v1"'
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert [decoder.decompress(body["body"]) for body in bodies] == chunks
    assert [body["more_body"] for body in bodies] == [True] * 4 + [False] and decoder.eof


@pytest.mark.server
def test_a_real_server_streams_the_export_gzipped(start, seed_bytes: bytes) -> None:
    """`instructforge serve` (uvicorn) sends the NDJSON export chunked and gzipped; decoded, it is the plain export."""
    server = start(INSTRUCTFORGE_EXPORT_PAGE_CHARS="10000")  # the smallest page: several chunks
    with httpx.Client(base_url=server.url, timeout=30) as http:
        dataset = http.post("/v1/datasets", json={"name": "big"}).json()["id"]
        uploaded = http.post(f"/v1/datasets/{dataset}/seeds", content=seed_bytes,
                             headers={"content-type": "application/x-ndjson"})  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        url = f"/v1/datasets/{dataset}/export"
        plain = http.get(url, headers=IDENTITY)
        with http.stream("GET", url, headers=GZIP) as zipped:
            raw = list(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in zipped.headers
        assert gzip.decompress(b"".join(raw)) == plain.content and len(plain.content.splitlines()) == 175
        assert len(b"".join(raw)) < len(plain.content) / 2
