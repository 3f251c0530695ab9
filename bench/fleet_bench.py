"""How much of a SIMULATED GPU fleet one service keeps busy: a self-instruct job against N simulated endpoints.

The fleet is `tests/simfleet` (each endpoint an OpenAI-compatible server with a latency model: the `h200-8b`
profile stands for one H200 serving an 8B model, `h200-1b` a 1B one; sources in tests/simfleet/profiles.py), in
this process; the service is a real `instructforge serve` (remote engine, engine concurrency and rounds in flight
as configured) on the 175 self-instruct seeds. For each endpoint count it runs one job for `--warmup` + `--seconds`
(then cancels it) and prints, over the last `--seconds` (the first ones are the adaptive limits' slow start): output
tokens/s the fleet produced, the fleet's capacity
(batch x per-stream rate, summed), utilisation (their ratio), peak concurrent requests per endpoint, accepted
tasks/s, the service process's CPU seconds per accepted task and its share of a core, rounds committed per second
and each endpoint's limit at the end (`GET /v1/engine`). Everything here is SIMULATED: no GPU is used.

    python bench/fleet_bench.py [--profile h200-8b|h200-1b|instant] [--endpoints 1,4,16] [--seconds 40] [--warmup 0]
                                [--concurrency N] [--rounds-in-flight N] [--prompts-per-round N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.load_bench import free_port, start_server  # noqa: E402
from tests.simfleet.server import SimFleet  # noqa: E402

args_verbose = False
SEEDS = REPO.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"


def run_one(profile: str, endpoints: int, args: argparse.Namespace, work: Path) -> dict:
    with SimFleet(profile, endpoints=endpoints, seed=endpoints) as fleet:
        env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": ",".join(fleet.urls)}
        env |= {name: str(value) for name, value in (("INSTRUCTFORGE_ENGINE_CONCURRENCY", args.concurrency),
                ("INSTRUCTFORGE_ROUNDS_IN_FLIGHT", args.rounds_in_flight)) if value is not None}  # fmt: skip
        port = free_port()
        server = start_server(work / f"data-{endpoints}", port, REPO, env)
        try:
            return measure(f"http://127.0.0.1:{port}", fleet, server.pid, args)
        finally:
            server.terminate()
            server.wait(30)


def measure(url: str, fleet: SimFleet, pid: int, args: argparse.Namespace) -> dict:
    with httpx.Client(base_url=url, timeout=60) as http:
        deadline = time.monotonic() + 60
        while http.get("/v1/engine").json()["status"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        dataset = http.post("/v1/datasets", json={"name": "fleet"}).json()["id"]
        http.post(f"/v1/datasets/{dataset}/seeds", content=SEEDS.read_bytes(),
                  headers={"content-type": "application/x-ndjson"}).raise_for_status()  # fmt: skip
        config = {"prompts_per_round": args.prompts_per_round} if args.prompts_per_round else {}
        job = http.post("/v1/jobs", json={"dataset_id": dataset, "target": 1_000_000, "config": config}).json()
        watch_limits(http, args.warmup)  # the limits' slow start, left out of the figures
        process, before = psutil.Process(pid), fleet.stats()
        at_start = http.get(f"/v1/jobs/{job['id']}").json()
        cpu0, started = sum(process.cpu_times()[:2]), time.monotonic()
        limits = watch_limits(http, args.seconds)
        state = http.get(f"/v1/jobs/{job['id']}").json()
        state["accepted"] -= at_start["accepted"]
        state["progress"]["rounds"] -= at_start["progress"]["rounds"]
        elapsed, cpu = time.monotonic() - started, sum(process.cpu_times()[:2]) - cpu0
        after = fleet.stats()
        http.post(f"/v1/jobs/{job['id']}/cancel")
    tokens = sum(a["tokens_out"] - b["tokens_out"] for a, b in zip(after, before, strict=True))
    accepted = state["accepted"]
    return {"tokens_per_s": tokens / elapsed, "capacity": fleet.capacity_tokens_per_s,
            "peak": max(a["peak_open"] for a in after), "rejected_429": sum(a["rejected_429"] for a in after),
            "accepted_per_s": accepted / elapsed, "cpu_per_task": cpu / accepted if accepted else float("nan"),
            "cpu_share": cpu / elapsed, "accepted": accepted, "limits": limits,
            "rounds_per_s": state["progress"]["rounds"] / elapsed}  # fmt: skip


def watch_limits(http: httpx.Client, seconds: float) -> list[int]:
    """Each endpoint's adaptive limit at the end, having looked every second (printed as the run goes)."""
    deadline, limits = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        loads = http.get("/v1/engine").json()["endpoints"]
        limits = [load["limit"] for load in loads]
        if args_verbose:
            print("  limits", limits, "in flight", [load["in_flight"] for load in loads], flush=True)
    return limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="h200-8b")
    parser.add_argument("--endpoints", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--warmup", type=float, default=0, help="seconds of the job left out of the figures")
    parser.add_argument("--concurrency", type=int, help="INSTRUCTFORGE_ENGINE_CONCURRENCY (default: the service's)")
    parser.add_argument("--rounds-in-flight", type=int, help="INSTRUCTFORGE_ROUNDS_IN_FLIGHT")
    parser.add_argument("--prompts-per-round", type=int, help="the job's config.prompts_per_round")
    parser.add_argument("--verbose", action="store_true", help="print the endpoints' limits every second")
    args = parser.parse_args()
    global args_verbose
    args_verbose = args.verbose
    print(f"SIMULATED fleet, profile {args.profile}; figures over {args.seconds:.0f} s of a job per endpoint count,"
          f" after its first {args.warmup:.0f} s")  # fmt: skip
    print("endpoints | output tok/s | capacity tok/s | utilisation | peak open/endpoint | 429s | accepted/s |"
          " service CPU s/task | service CPU share | rounds committed/s | limits at the end")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as work:
        for count in (int(n) for n in args.endpoints.split(",")):
            r = run_one(args.profile, count, args, Path(work))
            print(f"{count} | {r['tokens_per_s']:,.0f} | {r['capacity']:,.0f} | {r['tokens_per_s'] / r['capacity']:.3f}"
                  f" | {r['peak']} | {r['rejected_429']} | {r['accepted_per_s']:.2f} | {r['cpu_per_task']:.3f} |"
                  f" {r['cpu_share']:.2f} | {r['rounds_per_s']:.1f} | {r['limits']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
