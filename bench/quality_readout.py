"""Read a record-only job's tasks: every model-free flag per rule (to read precision), the judge histogram with the
top and bottom 10, self-consistency agreement, categories. Figures and examples, no assertions.

    .venv/bin/python bench/quality_readout.py http://127.0.0.1:8791 DATASET_ID JOB_ID
"""
import collections
import json
import statistics
import sys

import httpx

URL, DS, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
items, cursor = [], None
while True:
    params = {"source": "generated", "limit": 1000, **({"cursor": cursor} if cursor else {})}
    page = httpx.get(f"{URL}/v1/datasets/{DS}/records", params=params, timeout=60).json()
    items += page["items"]; cursor = page.get("next")
    if not cursor: break
items = [r for r in items if r["provenance"].get("job_id") == JOB]
print("records", len(items))
def short(s, n=160): return (s or "").replace("\n", " \\n ")[:n]
flags = collections.defaultdict(list)
for r in items:
    for f in r["provenance"].get("quality_flags") or []:
        flags[f["reason"]].append((r, f))
print("\n## flags per rule:", {k: len(v) for k, v in flags.items()}, "flagged records",
      sum(1 for r in items if r["provenance"].get("quality_flags")))
for rule, hits in sorted(flags.items()):
    print(f"\n### {rule} ({len(hits)})")
    for r, f in hits[:25]:
        inst = r["instances"][f.get("instance") or 0] if r["instances"] else {"input": "", "output": ""}
        print(f"- [{r['id']}] I: {short(r['instruction'])} | IN: {short(inst['input'], 100)} | OUT: {short(inst['output'], 140)} | {json.dumps(f.get('detail'))[:120]}")
j = [r for r in items if r.get("judgement")]
outcomes = collections.Counter(r["judgement"]["outcome"] for r in j)
scores = sorted(((r["judgement"]["score"], r) for r in j if r["judgement"]["outcome"] == "scored"), key=lambda x: x[0])
print("\n## judge outcomes", dict(outcomes))
if scores:
    vals = [s for s, _ in scores]
    hist = collections.Counter(min(int(s * 2) / 2, 4.5) for s in vals)
    print("histogram (bin start, width 0.5):", dict(sorted(hist.items())))
    print("median", statistics.median(vals), "mean", round(statistics.mean(vals), 3), "min", vals[0], "max", vals[-1])
    for title, part in (("top 10", scores[-10:][::-1]), ("bottom 10", scores[:10])):
        print(f"\n### {title}")
        for s, r in part:
            inst = r["instances"][0]
            print(f"- {s:.2f} [{r['id']}] I: {short(r['instruction'])} | IN: {short(inst['input'], 80)} | OUT: {short(inst['output'], 120)} | flags={[f['reason'] for f in r['provenance'].get('quality_flags') or []]}")
    flagged = [s for s, r in scores if r["provenance"].get("quality_flags")]
    clean = [s for s, r in scores if not r["provenance"].get("quality_flags")]
    if flagged and clean:
        print("\nmedian score flagged", statistics.median(flagged), len(flagged), "clean", statistics.median(clean), len(clean))
c = [r["provenance"]["consistency"] for r in items if r["provenance"].get("consistency")]
print("\n## consistency", len(c), "kinds", dict(collections.Counter(x["kind"] for x in c)),
      "agreement", dict(sorted(collections.Counter(round(x["agreement"], 2) for x in c).items())))
print("\n## categories", dict(collections.Counter(r["category"] for r in items).most_common()))
