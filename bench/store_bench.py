"""Store benchmark: bulk ingest, the stats endpoint and streamed exports at scale. Prints figures only.

Run from the repository root (about a minute and a half at the default size on two cores):

    .venv/bin/python bench/store_bench.py [--tasks 1000000] [--batch 50000] [--workdir DIR]
                                          [--port 8799] [--seed 1234] [--json-out FILE]

What it measures, against the issue's targets:
  ingest  `store.tasks.add_tasks` in-process, batch by batch (generating the tasks is not timed): tasks/s,
          rows/s (tasks + instances inserted), duplicates skipped, and tasks/s of the first vs the last 10%
          of batches (does the unique (dataset_id, fingerprint) index slow down as the table grows?).
          Target: at least 150,000 rows/s.
  export  GET /v1/datasets/{id}/export?format=F streamed, every format: bytes, lines, MB/s (1 MB = 1e6
          bytes), the server's RSS before and at peak (psutil, every 50 ms). The alpaca export filtered to
          one category (~1/8 of the tasks) and the full alpaca export each run first on a fresh server, so
          their RSS growth (peak minus before) compares ~1/8 with all of the data in the same run.
          Target: at least 150 MB/s, memory flat in the dataset's size.
  stats   GET /v1/datasets/{id}/stats on the second server, after the exports: the first call (cold: the
          balance report's verb sample and the labeller are computed, then cached until the data changes),
          3 warm-up calls, then 21 timed; median, p90, min. Target: median under 100 ms at 1M tasks. Then the
          same with `balance=false`. `--stats-only` skips the exports (one server, the stats alone).
The servers are real `instructforge serve` subprocesses, bound to and addressed at 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.records import Instance, NewTask  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.tasks import add_tasks  # noqa: E402

HOST = "127.0.0.1"  # the only address this script ever talks to
FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion")
CATEGORIES = (
    "brainstorming classification closed_qa creative_writing extraction open_qa rewriting summarization".split()
)
VERBS = "Write Explain Summarize List Describe Compare Classify Rewrite Suggest Translate Outline Draft Plan".split()
OBJECTS = (
    "a short poem|three reasons|the main idea|a polite email|a step-by-step plan|the sentiment|five questions|"
    "a product description|the key facts|a short story"
).split("|")
TOPICS = (
    "the sea|city trees|a delayed order|bicycle brakes|sourdough bread|solar panels|a job interview|"
    "the water cycle|team meetings|a rainy weekend|password safety"
).split("|")
WORDS = (
    "for children using simple words and a clear rhythm in plain English why cities plant trees along "
    "busy roads during summer with examples from history science cooking travel music sports health "
    "finance weather gardening software to customer support steps needed before a long trip next "
    "weekend each sentence as positive negative or neutral review"
).split()
DUP_SHARE, INPUT_SHARE, CLASSIFICATION_SHARE, RECENT = 0.02, 1 / 3, 0.15, 100_000


def _text(rng: random.Random, low: int, high: int) -> str:
    """Words until the text has between `low` and `high` characters."""
    target, parts, size = rng.randint(low + 1, high), [], 0  # the rstrip below drops at most one space
    while size < target:
        parts.append(rng.choice(WORDS))
        size += len(parts[-1]) + 1
    return " ".join(parts)[:target].rstrip()


def _instruction(rng: random.Random, index: int) -> str:
    """6-25 words; the `(#N)` token makes every one unique after normalisation."""
    count, words = rng.randint(6, 25), f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}".split()
    if count - len(words) >= 4:
        words += ["about", *rng.choice(TOPICS).split()]
    words += rng.choices(WORDS, k=max(0, count - len(words) - 1))
    return " ".join(words) + f" (#{index})" + rng.choice((".", "?", ":", ""))


def _variant(text: str, rng: random.Random) -> str:
    """An exact duplicate under the fingerprint: other case, spacing and punctuation."""
    body = text.rstrip(".?:")
    return rng.choice((body.upper(), f"  {body.lower()} !!", body.replace(" ", "  ") + "...", f"-- {body} --"))


def synthetic_batches(total: int, batch: int, seed: int) -> Iterator[list[NewTask]]:
    """Reproducible tasks, one instance each; ~2% repeat a recent instruction (in this or an earlier batch)."""
    rng, recent, kept = random.Random(seed), [""] * RECENT, 0
    for start in range(0, total, batch):
        tasks = []
        for index in range(start, min(start + batch, total)):
            if kept and rng.random() < DUP_SHARE:
                instruction = _variant(recent[rng.randrange(min(kept, RECENT))], rng)
            else:
                instruction = recent[kept % RECENT] = _instruction(rng, index)
                kept += 1
            instance = Instance(
                input=_text(rng, 10, 160) if rng.random() < INPUT_SHARE else "", output=_text(rng, 20, 400)
            )
            tasks.append(
                NewTask(
                    instruction=instruction,
                    instances=(instance,),
                    category=rng.choice(CATEGORIES),
                    is_classification=rng.random() < CLASSIFICATION_SHARE,
                    provenance={"bench_index": index},
                )
            )
        yield tasks


def ingest(db_path: Path, total: int, batch: int, seed: int) -> tuple[str, dict[str, Any]]:
    """Load the synthetic tasks in-process; time only the add_tasks calls."""
    rates, seconds, added, instances, duplicates = [], 0.0, 0, 0, 0
    store = Store.open(db_path)
    try:
        dataset_id = create_dataset(store, name="bench").id
        for tasks in synthetic_batches(total, batch, seed):
            started = time.perf_counter()
            result = add_tasks(store, dataset_id, tasks, source="seed", stage="bench")
            elapsed = time.perf_counter() - started
            seconds += elapsed
            rates.append(len(tasks) / elapsed)
            added, instances = added + result.added, instances + result.instances_added
            duplicates += result.duplicates_skipped
    finally:
        store.close()
    tenth = max(1, len(rates) // 10)
    return dataset_id, {
        "tasks_received": total,
        "tasks_added": added,
        "instances_added": instances,
        "duplicates_skipped": duplicates,
        "seconds": round(seconds, 2),
        "tasks_per_s": round(total / seconds),
        "rows_per_s": round((added + instances) / seconds),
        "first_10pct_tasks_per_s": round(statistics.fmean(rates[:tenth])),
        "last_10pct_tasks_per_s": round(statistics.fmean(rates[-tenth:])),
        "db_file_mb": round(db_path.stat().st_size / 1e6, 1),
    }


@contextmanager
def running_server(db_path: Path, workdir: Path, port: int) -> Iterator[tuple[httpx.Client, int]]:
    """A fresh `instructforge serve` on 127.0.0.1 over the bench database, stopped with SIGTERM."""
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            sys.exit(f"port {port} on {HOST} is already in use; pass --port")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUCTFORGE_")}
    env.update(
        INSTRUCTFORGE_DATABASE=str(db_path),
        INSTRUCTFORGE_DATA_DIR=str(workdir),
        INSTRUCTFORGE_HOST=HOST,
        INSTRUCTFORGE_LOG_LEVEL="warning",
        # the store alone: no vLLM engine starting beside the measurement, no default dataset
        INSTRUCTFORGE_ENGINE="none",
        INSTRUCTFORGE_DEFAULT_DATASET="false",
    )
    command = [str(Path(sys.executable).parent / "instructforge"), "serve", "--host", HOST, "--port", str(port)]
    with open(workdir / "server.log", "ab") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600) as client:
            wait_healthy(client, server)
            yield client, server.pid
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def wait_healthy(client: httpx.Client, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}; see server.log in the workdir")
        try:  # the port was free before the start (`running_server`), so whoever answers is this server
            response = client.get("/ready", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return
        sys.exit(f"/ready answered {response.status_code} {response.text[:200]}")
    sys.exit(f"the server was not ready within {timeout:.0f} s")


def bench_stats(client: httpx.Client, dataset_id: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    url, timings = f"/v1/datasets/{dataset_id}/stats", []
    for _ in range(25):  # the first (cold), 3 warm-up calls, 21 timed
        started = time.perf_counter()
        client.get(url, params=params).raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
    first, timings = timings[0], timings[4:]
    return {
        "first_ms": round(first, 1),
        "median_ms": round(statistics.median(timings), 1),
        "p90_ms": round(statistics.quantiles(timings, n=10)[8], 1),
        "min_ms": round(min(timings), 1),
    }


class RssSampler(threading.Thread):
    """The peak resident set size of one process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.done = psutil.Process(pid), 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.done.wait(0.05)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, self.process.memory_info().rss)


def export_figures(size: int, lines: int, elapsed: float, before: int, peak: int) -> dict[str, Any]:
    return {
        "bytes": size,
        "lines": lines,
        "seconds": round(elapsed, 2),
        "mb_per_s": round(size / 1e6 / elapsed, 1),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_peak_mb": round(peak / 1e6, 1),
        "rss_growth_mb": round((peak - before) / 1e6, 1),
    }


def bench_export(client: httpx.Client, server_pid: int, dataset_id: str, params: dict[str, str]) -> dict[str, Any]:
    before = psutil.Process(server_pid).memory_info().rss
    sampler, size, lines = RssSampler(server_pid), 0, 0
    sampler.start()
    started = time.perf_counter()
    try:
        with client.stream("GET", f"/v1/datasets/{dataset_id}/export", params=params) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(chunk_size=1 << 20):
                size, lines = size + len(chunk), lines + chunk.count(b"\n")
        elapsed = time.perf_counter() - started
    finally:
        peak = sampler.stop()
    return export_figures(size, lines, elapsed, before, peak)


def bench_export_curl(base_url: str, server_pid: int, dataset_id: str, export_format: str) -> dict[str, Any]:
    """The same export read by curl, a client that costs the shared two cores far less than httpx."""
    before = psutil.Process(server_pid).memory_info().rss
    sampler = RssSampler(server_pid)
    sampler.start()
    try:
        url = f"{base_url}/v1/datasets/{dataset_id}/export?format={export_format}"
        out = subprocess.run(
            ["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    finally:
        peak = sampler.stop()
    return export_figures(int(out[0]), 0, float(out[1]), before, peak)


def _no_balance(client: httpx.Client, dataset_id: str) -> dict[str, Any]:
    return bench_stats(client, dataset_id, {"balance": "false"})


def serve_and_measure(
    db_path: Path, workdir: Path, port: int, dataset_id: str, stats_only: bool = False
) -> dict[str, Any]:
    """The 1-category and the full alpaca export each run first on a fresh server, so their peaks compare."""
    subset, exports = f"alpaca category={CATEGORIES[0]}", {}
    if stats_only:
        with running_server(db_path, workdir, port) as (client, _):
            return {"stats": bench_stats(client, dataset_id), "stats_no_balance": _no_balance(client, dataset_id)}
    with running_server(db_path, workdir, port) as (client, pid):
        exports[subset] = bench_export(client, pid, dataset_id, {"format": "alpaca", "category": CATEGORIES[0]})
    with running_server(db_path, workdir, port) as (client, pid):
        for export_format in FORMATS:
            exports[export_format] = bench_export(client, pid, dataset_id, {"format": export_format})
        if shutil.which("curl"):
            for export_format in FORMATS:
                exports[f"{export_format} (curl)"] = bench_export_curl(
                    str(client.base_url).rstrip("/"), pid, dataset_id, export_format
                )
        stats, no_balance = bench_stats(client, dataset_id), _no_balance(client, dataset_id)
    growth = exports["alpaca"]["rss_growth_mb"] / max(exports[subset]["rss_growth_mb"], 0.1)
    return {"stats": stats, "stats_no_balance": no_balance, "export": exports,
            "rss_growth_ratio_full_vs_subset": round(growth, 2)}  # fmt: skip


def summary(config: dict[str, Any], ingested: dict[str, Any], served: dict[str, Any]) -> str:
    rows = [*config.items(), *((f"ingest {k}", v) for k, v in ingested.items())]
    rows += [(f"stats {k}", v) for k, v in served["stats"].items()]
    rows += [(f"stats balance=false {k}", v) for k, v in served["stats_no_balance"].items()]
    if "export" not in served:
        return "\n".join(f"{name:<34}{value:>13}" for name, value in rows)
    table = [f"{name:<34}{value:>13}" for name, value in rows]
    table += [
        "",
        f"{'export':<34}{'bytes':>13}{'lines':>10}{'s':>7}{'MB/s':>8}{'RSS MB before':>15}{'peak':>8}{'growth':>8}",
    ]
    for name, e in served["export"].items():
        table.append(
            f"{name:<34}{e['bytes']:>13}{e['lines']:>10}{e['seconds']:>7}{e['mb_per_s']:>8}"
            f"{e['rss_before_mb']:>15}{e['rss_peak_mb']:>8}{e['rss_growth_mb']:>8}"
        )
    ratio = served["rss_growth_ratio_full_vs_subset"]
    return "\n".join([*table, f"\nRSS growth, full alpaca / 1-category alpaca: {ratio} (about 1 when flat)"])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards; default: a temp dir, removed")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json-out", type=Path, default=None, help="also write the figures as JSON to FILE")
    parser.add_argument("--stats-only", action="store_true", help="skip the exports: ingest, then the stats")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="instructforge-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = (workdir / "bench.duckdb").resolve()
    if db_path.exists():
        sys.exit(f"{db_path} already exists; pass an empty --workdir")
    config = {"cpu_count": os.cpu_count(), "tasks": args.tasks, "batch": args.batch, "seed": args.seed}
    try:
        print(f"ingesting {args.tasks:,} tasks in batches of {args.batch:,} into {db_path} ...", flush=True)
        dataset_id, ingested = ingest(db_path, args.tasks, args.batch, args.seed)
        print(f"ingest: {ingested}\nserving on {HOST}:{args.port} ...", flush=True)
        served = serve_and_measure(db_path, workdir, args.port, dataset_id, args.stats_only)
        print("\n" + summary(config, ingested, served))
        if args.json_out:
            args.json_out.write_text(json.dumps({"config": config, "ingest": ingested, **served}, indent=2) + "\n")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
