from __future__ import annotations

import threading
import time

import anyio
import pytest

from service.streaming import prefetch


async def collect(stream) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_all_chunks_arrive_in_order() -> None:
    chunks = [f"chunk {n}\n".encode() for n in range(50)]
    assert anyio.run(collect, prefetch(iter(chunks), depth=3)) == chunks


def test_a_failing_source_raises_in_the_consumer() -> None:
    def source():
        yield b"first"
        raise RuntimeError("page query failed")

    with pytest.raises(RuntimeError, match="page query failed"):
        anyio.run(collect, prefetch(source()))


def test_a_client_that_leaves_stops_and_closes_the_source() -> None:
    produced, closed = [], threading.Event()

    def source():
        try:
            for n in range(1000):
                produced.append(n)
                yield b"x"
        finally:
            closed.set()

    async def take_two() -> None:
        stream = prefetch(source(), depth=1)
        async for _ in stream:
            if len(produced) >= 2:
                break
        await stream.aclose()

    anyio.run(take_two)
    assert closed.wait(timeout=5)
    time.sleep(0.3)
    assert len(produced) < 10
