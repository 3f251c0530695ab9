"""A large generated import through a real `instructforge serve` (engine off): rows/s, MB/s and peak memory.

Writes an Alpaca-layout JSON Lines file of `--mb` megabytes (distinct random instructions, inputs and outputs of
Alpaca-like lengths), streams it to `POST /v1/datasets/{id}/imports` with the typed client, and samples the server
process's resident memory (psutil, every 0.2 s) from before the upload to after the answer. Prints the file's size
and rows, the wall time, rows/s and MB/s, the server's RSS before / peak / after, and the import's report.

    python bench/import_bench.py [--mb 1024] [--near-duplicates off|skip|keep] [--keep-file PATH]
                                 [--duckdb-memory-limit 512MB]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.load_bench import free_port, start_server  # noqa: E402
from domain.imports import ImportSpec  # noqa: E402
from service.client import Client  # noqa: E402

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fi", "go", "hu", "ja", "ke", "ly", "mo",
              "no", "pa", "qu", "re", "si", "to", "ul", "va", "we", "xi", "yo", "zu", "ar"]  # fmt: skip


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def write_file(path: Path, megabytes: int, seed: int = 0) -> int:
    """An Alpaca-layout JSON Lines file of about `megabytes` MB; its row count."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    target, rows, encoder = megabytes * 1024 * 1024, 0, msgspec.json.Encoder()
    with path.open("wb") as out:
        while out.tell() < target:
            lines = []
            for _ in range(1000):
                text = lambda lo, hi: " ".join(rng.choices(words, k=rng.randint(lo, hi)))  # noqa: E731
                lines.append(encoder.encode({"instruction": text(6, 24).capitalize() + ".",
                                             "input": text(0, 30) if rng.random() < 0.4 else "",
                                             "output": text(10, 90)}) + b"\n")  # fmt: skip
            out.write(b"".join(lines))
            rows += len(lines)
    return rows


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.stop_flag = psutil.Process(pid), 0, threading.Event()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def run(self) -> None:
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--near-duplicates", choices=("off", "skip", "keep"), default="off")
    parser.add_argument("--keep-file", type=Path, help="write (or reuse) the generated file here")
    parser.add_argument("--duckdb-memory-limit", help="the server's INSTRUCTFORGE_DUCKDB_MEMORY_LIMIT, e.g. 512MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-bench-") as work:
        path = args.keep_file or Path(work) / "big.jsonl"
        started = time.monotonic()
        rows = write_file(path, args.mb) if not path.exists() else sum(1 for _ in path.open("rb"))
        size = path.stat().st_size
        print(f"file: {size / 1e6:,.0f} MB, {rows:,} rows ({time.monotonic() - started:.0f} s to write or count)")
        port = free_port()
        limit = {"INSTRUCTFORGE_DUCKDB_MEMORY_LIMIT": args.duckdb_memory_limit} if args.duckdb_memory_limit else {}
        print(f"server: DuckDB memory limit {args.duckdb_memory_limit or 'DuckDB default (80% of RAM)'}")
        server = start_server(Path(work) / "data", port, REPO, limit)
        try:
            run_import(server.pid, port, path, size, args.near_duplicates)
        finally:
            server.terminate()
            server.wait(30)
            if args.keep_file is None:
                os.unlink(path)


def run_import(pid: int, port: int, path: Path, size: int, near: str) -> None:
    sampler = MemorySampler(pid)
    before = sampler.rss()
    sampler.start()
    with Client(f"http://127.0.0.1:{port}", timeout_s=3600) as client:
        dataset = client.datasets.create("bench")
        started = time.monotonic()
        report = client.imports.upload(dataset.id, path, ImportSpec(source="synthetic", license="CC0-1.0",
                                                                     near_duplicates=near))  # type: ignore[arg-type]
        wall = time.monotonic() - started
    sampler.stop_flag.set()
    sampler.join()
    after = sampler.rss()
    print(f"near_duplicates={near}: {wall:,.1f} s wall, {report.rows / wall:,.0f} rows/s, {size / 1e6 / wall:,.1f} MB/s"
          f" (upload and spooling included; the import alone: {report.seconds:,.1f} s, {report.rows_per_second:,.0f}"
          f" rows/s)")  # fmt: skip
    print(f"server RSS: before {before / 2**20:,.0f} MiB, peak {sampler.peak / 2**20:,.0f} MiB, after "
          f"{after / 2**20:,.0f} MiB (file {size / 2**20:,.0f} MiB)")  # fmt: skip
    print(f"added {report.added:,}, exact duplicates {report.exact_duplicates:,}, near-duplicates "
          f"{report.near_duplicates:,} (rows checked {report.near_duplicate_rows_checked:,})")  # fmt: skip


if __name__ == "__main__":
    main()
