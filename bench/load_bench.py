"""Concurrent clients against a real `instructforge serve` (engine off): uploads, reads, stats, job posts.

Prints requests per second, p50 and p99 per kind of request and overall, and checks that every uploaded
instruction is stored exactly once (lost or duplicated records must be 0). Loopback only; bounded in time.

    python bench/load_bench.py [--clients 50] [--duration 30] [--preload 10000] [--upload-size 6]
                               [--code-tree PATH]   # serve another checkout's code (before/after figures)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from domain.fingerprint import fingerprint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS_SCRIPT = REPO.parent / "shared" / "bench" / "make_instruction_corpus.py"
MIX = (("upload", 0.4), ("records", 0.3), ("stats", 0.2), ("job", 0.1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def corpus(count: int, seed: int, workdir: Path) -> list[str]:
    out = workdir / f"corpus-{seed}.jsonl"
    subprocess.run([sys.executable, str(CORPUS_SCRIPT), str(count), str(out), "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    # One text per fingerprint (case and punctuation folded): the service stores each fingerprint once by
    # design, so with distinct fingerprints "stored exactly once" is an exact check.
    by_print = {fingerprint(text): text for text in reversed(texts)}
    return list(reversed(by_print.values()))


def seeds_body(texts: list[str]) -> bytes:
    return b"\n".join(json.dumps({"instruction": t, "output": f"An answer to: {t}"}).encode() for t in texts)


def start_server(
    data_dir: Path, port: int, code_tree: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUCTFORGE_")}
    env |= {"INSTRUCTFORGE_DATA_DIR": str(data_dir), "INSTRUCTFORGE_PORT": str(port), "INSTRUCTFORGE_ENGINE": "none",
            "INSTRUCTFORGE_DEFAULT_DATASET": "false", "INSTRUCTFORGE_LOG_LEVEL": "warning",
            "PYTHONPATH": str(code_tree)} | (extra_env or {})  # fmt: skip
    log = (data_dir.parent / "server.log").open("wb")
    command = [sys.executable, "-c", "from service.cli import main; main()", "serve"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=code_tree)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    sys.exit("the server did not start")


async def client(
    http: httpx.AsyncClient,
    dataset: str,
    pending: list[list[str]],
    stop_at: float,
    rng: random.Random,
    latencies: dict[str, list[float]],
    statuses: dict[str, dict[int, int]],
    sent: list[str],
) -> None:
    kinds, weights = zip(*MIX, strict=True)
    while time.monotonic() < stop_at:
        kind = rng.choices(kinds, weights)[0]
        if kind == "upload" and not pending:
            kind = "records"
        started = time.perf_counter()
        if kind == "upload":
            texts = pending.pop()
            response = await http.post(f"/v1/datasets/{dataset}/seeds", content=seeds_body(texts),
                                       headers={"content-type": "application/x-ndjson"})  # fmt: skip
            if response.status_code == 200:
                sent.extend(texts)
        elif kind == "records":
            cursor = str(rng.randrange(1, 10_000))
            response = await http.get(f"/v1/datasets/{dataset}/records", params={"limit": 20, "cursor": cursor})
        elif kind == "stats":
            response = await http.get(f"/v1/datasets/{dataset}/stats", params={"balance": "false"})
        else:
            response = await http.post("/v1/jobs", json={"dataset_id": dataset, "target": 5})
        latencies[kind].append(time.perf_counter() - started)
        statuses[kind][response.status_code] += 1


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def run(args: argparse.Namespace, base: str, dataset: str, uploads: list[list[str]]) -> tuple[dict, dict, list]:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    sent: list[str] = []
    limits = httpx.Limits(max_connections=args.clients + 5)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        stop_at = time.monotonic() + args.duration
        rngs = [random.Random(n) for n in range(args.clients)]
        await asyncio.gather(*(client(http, dataset, uploads, stop_at, rngs[n], latencies, statuses, sent)
                               for n in range(args.clients)))  # fmt: skip
    return latencies, statuses, sent


def stored_instructions(base: str, dataset: str) -> list[str]:
    with httpx.stream("GET", f"{base}/v1/datasets/{dataset}/export", params={"format": "alpaca"}, timeout=300) as r:
        return [json.loads(line)["instruction"] for line in r.iter_lines() if line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--preload", type=int, default=10_000)
    parser.add_argument("--upload-size", type=int, default=6)
    parser.add_argument("--code-tree", type=Path, default=REPO)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        workdir = Path(tmp)
        texts = corpus(args.preload + 40_000, seed=11, workdir=workdir)
        preload, rest = texts[: args.preload], texts[args.preload :]
        uploads = [rest[n : n + args.upload_size] for n in range(0, len(rest) - args.upload_size, args.upload_size)]
        uploads.reverse()  # clients pop from the end: the first uploads sent are the first of `rest`
        port = free_port()
        process = start_server(workdir / "data", port, args.code_tree.resolve())
        base = f"http://127.0.0.1:{port}"
        try:
            dataset = httpx.post(f"{base}/v1/datasets", json={"name": "load"}).json()["id"]
            started = time.perf_counter()
            loaded = httpx.post(f"{base}/v1/datasets/{dataset}/seeds", content=seeds_body(preload), timeout=600,
                                headers={"content-type": "application/x-ndjson"}).json()  # fmt: skip
            print(f"preload: {loaded['added']} tasks in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            latencies, statuses, sent = asyncio.run(run(args, base, dataset, uploads))
            elapsed = time.perf_counter() - started
            stored = stored_instructions(base, dataset)
        finally:
            process.terminate()
            process.wait(timeout=30)
    every = [v for values in latencies.values() for v in values]
    print(f"{args.clients} clients, {elapsed:.1f} s, {len(every)} requests: {len(every) / elapsed:.1f} req/s")
    for kind, values in sorted(latencies.items()) + [("all", every)]:
        codes = dict(statuses[kind]) if kind != "all" else ""
        print(f"  {kind:8s} n={len(values):5d}  p50={percentile(values, 50) * 1000:7.0f} ms"
              f"  p99={percentile(values, 99) * 1000:7.0f} ms  {codes}")  # fmt: skip
    expected = preload + sent
    counts: dict[int, int] = defaultdict(int)
    for text in stored:
        counts[fingerprint(text)] += 1
    lost = sum(1 for text in expected if counts.get(fingerprint(text), 0) == 0)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    unexpected = len(set(counts) - {fingerprint(t) for t in expected})
    print(f"records: expected {len(expected)}, stored {len(stored)}, lost {lost}, duplicated {duplicated},"
          f" unexpected {unexpected}")  # fmt: skip
    if lost or duplicated or unexpected:
        sys.exit(1)


if __name__ == "__main__":
    main()
