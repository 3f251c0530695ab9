"""Evolved tasks of evol jobs: how instruction length moved per operator (parent -> evolved), depths, examples.

    .venv/bin/python bench/evol_readout.py http://127.0.0.1:8791 DATASET_ID JOB_ID[,JOB_ID...]
"""
import collections
import statistics
import sys

import httpx

URL, DS, JOBS = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
items = httpx.get(f"{URL}/v1/datasets/{DS}/records", params={"source": "generated", "limit": 1000}, timeout=60).json()["items"]
ev = [r for r in items if r["provenance"].get("job_id") in JOBS]
print("evolved records", len(ev))
w = lambda s: len(s.split())
by_op = collections.defaultdict(list)
for r in ev:
    p = r["provenance"]
    by_op[p["operator"]].append((w(p["parent_instruction"]), w(r["instruction"])))
allp = [a for v in by_op.values() for a, _ in v]; allc = [b for v in by_op.values() for _, b in v]
print("instruction words median parent -> evolved:", statistics.median(allp), "->", statistics.median(allc),
      "mean", round(statistics.mean(allp), 1), "->", round(statistics.mean(allc), 1))
for op, v in sorted(by_op.items()):
    print(f"  {op}: n={len(v)} median {statistics.median([a for a,_ in v])} -> {statistics.median([b for _,b in v])}")
print("depths", dict(collections.Counter(r["provenance"]["evol_depth"] for r in ev)))
print("output words median", statistics.median([w(r["instances"][0]["output"]) for r in ev]))
for r in ev[:12]:
    p = r["provenance"]
    print(f"- [{p['operator']}, depth {p['evol_depth']}] {p['parent_instruction'][:110]!r}\n    -> {r['instruction'][:200]!r}\n    OUT: {r['instances'][0]['output'][:120]!r}")
