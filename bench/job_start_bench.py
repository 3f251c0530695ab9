"""Job start at scale: seconds from `POST /v1/jobs` until the first request reaches the (SIMULATED) engine.

Loads `--tasks` synthetic tasks into a dataset (bench/store_bench.py's generator, in-process, as seeds), starts a
real `instructforge serve` in remote mode against one simulated `h200-8b` endpoint (tests/simfleet), and times three
job starts: the first after the service started (the dataset's near-duplicate screen is built then), a second one
on the same running service (the screen is kept between jobs), and a first one again after a restart. Each job is
cancelled once its first request arrived.

    python bench/job_start_bench.py [--tasks 1000000] [--imported]

--imported stores the tasks as an import's (source `synthetic`) and adds the 175 self-instruct seeds, the shape of
a large merged dataset; without it they are all seeds (every one a few-shot example and a labeller example).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.load_bench import free_port, start_server  # noqa: E402
from bench.store_bench import ingest  # noqa: E402
from store import Store  # noqa: E402
from tests.simfleet.server import SimFleet  # noqa: E402

SEEDS = REPO.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"


def as_import(db: Path) -> None:
    store = Store.open(db)
    try:
        with store.write() as cur:
            cur.execute("UPDATE tasks SET source = 'synthetic'")
    finally:
        store.close()


def first_request_s(url: str, dataset: str, fleet: SimFleet) -> float:
    before = sum(s["requests"] for s in fleet.stats())
    with httpx.Client(base_url=url, timeout=120) as http:
        started = time.monotonic()
        job = http.post("/v1/jobs", json={"dataset_id": dataset, "target": 1_000_000}).json()
        while sum(s["requests"] for s in fleet.stats()) == before:
            if time.monotonic() - started > 600:
                raise SystemExit("no request within 600 s")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        http.post(f"/v1/jobs/{job['id']}/cancel")
        while http.get(f"/v1/jobs/{job['id']}").json()["status"] not in ("cancelled", "succeeded", "failed"):
            time.sleep(0.2)
    return elapsed


def serve(data: Path, fleet: SimFleet):
    port = free_port()
    env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": fleet.urls[0],
           "INSTRUCTFORGE_DATABASE": str(data / "bench.duckdb")}  # fmt: skip
    server = start_server(data, port, REPO, env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while httpx.get(f"{url}/v1/engine", timeout=30).json()["status"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.2)
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--imported", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="job-start-") as work, SimFleet("h200-8b", endpoints=1) as fleet:
        data = Path(work)
        dataset, figures = ingest(data / "bench.duckdb", args.tasks, 50_000, 1234)
        if args.imported:
            as_import(data / "bench.duckdb")
        kind = "an import's, plus the 175 seeds" if args.imported else "seeds"
        print(f"{figures['tasks_added']:,} tasks stored as {kind} ({figures['seconds']:.0f} s); SIMULATED engine")
        for label in ("first job after start", "second job, same service"):
            if label.startswith("first"):
                server, url = serve(data, fleet)
                if args.imported:
                    httpx.post(f"{url}/v1/datasets/{dataset}/seeds", content=SEEDS.read_bytes(), timeout=600,
                               headers={"content-type": "application/x-ndjson"}).raise_for_status()  # fmt: skip
            print(f"{label}: {first_request_s(url, dataset, fleet):.1f} s to the first engine request", flush=True)
        server.terminate()
        server.wait(60)
        server, url = serve(data, fleet)
        print(f"first job after a restart: {first_request_s(url, dataset, fleet):.1f} s to the first engine request")
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
