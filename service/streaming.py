"""Overlap producing a streamed response with sending it."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Iterator

import anyio

_END = object()


def prefetch(chunks: Iterator[bytes], depth: int = 2) -> AsyncIterator[bytes]:
    """Pull `chunks` on a thread of its own, up to `depth` ahead of the client.

    DuckDB renders the next export page while the event loop sends the current one; when the client
    goes away, the producer stops at its next chunk and the source iterator is closed.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    async def consume() -> AsyncIterator[bytes]:
        threading.Thread(target=produce, name="export-prefetch", daemon=True).start()
        try:
            while True:
                item = await anyio.to_thread.run_sync(buffer.get)
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stopped.set()

    return consume()
