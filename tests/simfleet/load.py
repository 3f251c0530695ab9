"""The simulator's own CPU cost: `python -m tests.simfleet.load --profile h200-8b --streams 192 --seconds 20`.

Runs a fleet in a child process (`python -m tests.simfleet`), drives it with streamed self-instruct list
requests shaped as the service sends them, and prints the child's CPU seconds per output token and the output
tokens it fed per CPU-second: a bench whose simulator needs more CPU than it has measures the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import psutil

from generators.prompts import render_instructions_prompt

PROMPT = render_instructions_prompt([f"Write a short note about topic number {n}." for n in range(8)])
BODY = {"model": "sim", "prompt": PROMPT, "max_tokens": 128, "stop": ["\n\n"], "temperature": 0.7, "stream": True,
        "stream_options": {"include_usage": True}}  # fmt: skip


async def _stream_until(host: str, port: int, deadline: float) -> None:
    """Streamed requests on one kept-alive connection, read raw: httpx would cost more CPU than the simulator."""
    reader, writer = await asyncio.open_connection(host, port)
    payload = json.dumps(BODY).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n").encode()  # fmt: skip
    try:
        while time.monotonic() < deadline:
            writer.write(head + payload)
            await reader.readuntil(b"\r\n\r\n")
            await reader.readuntil(b"data: [DONE]\n\n\r\n0\r\n\r\n")  # the last chunk, then the chunked end
    finally:
        writer.close()
        await writer.wait_closed()


async def drive(urls: list[str], streams: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    addresses = [urlsplit(u) for u in urls]
    await asyncio.gather(*(_stream_until(a.hostname, a.port, deadline)
                           for a in (addresses[n % len(addresses)] for n in range(streams))))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="h200-8b")
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--streams", type=int, default=192)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    command = [sys.executable, "-m", "tests.simfleet", "--profile", args.profile, "--endpoints", str(args.endpoints)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        urls = child.stdout.readline().strip().split(",")
        process = psutil.Process(child.pid)
        cpu_before, started = sum(process.cpu_times()[:2]), time.monotonic()
        asyncio.run(drive(urls, args.streams, args.seconds))
        cpu, wall = sum(process.cpu_times()[:2]) - cpu_before, time.monotonic() - started
        stats = [httpx.get(f"{u}/sim/stats").json() for u in urls]
    finally:
        child.terminate()
        child.wait(10)
    tokens, requests = sum(s["tokens_out"] for s in stats), sum(s["completed"] for s in stats)
    capacity = sum(s["capacity_tokens_per_s"] for s in stats)
    print(
        f"SIMULATED {args.profile} x{args.endpoints}, {args.streams} streams, {wall:.1f} s: {requests} requests, "
        f"{tokens} tokens out ({tokens / wall:,.0f} tokens/s, {tokens / wall / capacity:.2f} of capacity)"
    )
    print(
        f"simulator CPU: {cpu:.2f} s = {cpu / tokens * 1e6:.1f} us per token, {cpu / requests * 1e3:.2f} ms per "
        f"request; feeds {tokens / cpu:,.0f} tokens per CPU-second"
    )


if __name__ == "__main__":
    main()
