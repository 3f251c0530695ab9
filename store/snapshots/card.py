"""The data card of a snapshot: a Markdown page rendered from its manifest (pure)."""

from __future__ import annotations

from typing import Any

from store.snapshots.readers import EVIDENCE_LEGEND, readers_table

_SEED_LICENCE = (
    "The seed tasks that ship with InstructForge (`default` dataset, packaged code seeds) were written for the "
    "project and are Apache-2.0. Uploaded seed sets keep their own licence (the self-instruct seed tasks are "
    "Apache-2.0); generated records are model output: check the licence of the model that wrote them."
)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _counts(manifest: dict[str, Any]) -> list[str]:
    counts = manifest["counts"]
    categories = sorted(set(counts["train"]["by_category"]) | set(counts["validation"]["by_category"]))
    rows = [
        (c, counts["train"]["by_category"].get(c, 0), counts["validation"]["by_category"].get(c, 0)) for c in categories
    ]
    rows.append(("**all (tasks)**", counts["train"]["tasks"], counts["validation"]["tasks"]))
    rows.append(("**records (lines)**", counts["train"]["records"], counts["validation"]["records"]))
    return _table(("category", "train", "validation"), rows)


def _balance(balance: dict[str, Any]) -> list[str]:
    rows = [
        (name, dim["normalized_entropy"], dim["top"], dim["top_share"]) for name, dim in balance["dimensions"].items()
    ]
    lines = _table(("dimension", "normalised entropy (1 = even)", "largest", "largest share"), rows)
    verbs = ", ".join(f"{v['verb']} ({', '.join(v['nouns'])})" for v in balance["verb_noun"][:10])
    lines += ["", f"Top root verbs with their objects: {verbs or 'none found'}."]
    lines += [f"- warning: {w['message']}" for w in balance["warnings"]]
    return lines


def _generation(generation: dict[str, Any]) -> list[str]:
    rows = []
    for origin in generation["records_by_origin"]:
        templates = ", ".join(sorted((origin["templates"] or {}).values())) or "-"
        rows.append((origin["source"], origin["method"] or "-", origin["model"] or "-", templates, origin["tasks"]))
    lines = _table(("source", "method", "model", "templates", "tasks"), rows)
    for job in generation["jobs"]:
        params = job["params"]
        lines.append(
            f"- job `{job['id']}` ({job['method']}): target {params.get('target')}, seed {params.get('seed')}, "
            f"sampling {params.get('sampling')}"
        )
    return lines


def _contamination(report: dict[str, Any], excluded: int) -> list[str]:
    if not report["benchmarks"]:
        return ["No reference benchmark was registered: the records were not checked for contamination."]
    rows = [
        (b["benchmark"], b["ngram"], b["tasks"], b["ngram_tasks"], b["substring_tasks"]) for b in report["benchmarks"]
    ]
    lines = _table(("benchmark", "n", "contaminated tasks", "by n-gram", "by substring"), rows)
    return [
        *lines,
        "",
        f"Checked {report['tasks_checked']} tasks; contaminated tasks excluded from this snapshot: {excluded}.",
    ]


def _loading(manifest: dict[str, Any]) -> list[str]:
    """Which trainers read this format and with what option: the table in store/snapshots/readers.py."""
    lines = ["## Loading", readers_table((manifest["format"],)), "", EVIDENCE_LEGEND]
    system_prompt = manifest["spec"].get("system_prompt")
    if system_prompt is not None:
        lines += ["", f"Every conversation opens with this system turn: {system_prompt!r}."]
    if not manifest["counts"]["validation"]["records"]:
        lines += ["", "`validation.jsonl` is empty (validation_fraction 0, or no category with 2+ tasks): "
                  "load `train.jsonl` alone."]  # fmt: skip
    return lines


def data_card(manifest: dict[str, Any]) -> str:
    spec, selection = manifest["spec"], manifest["selection"]
    filters = {k: spec[k] for k in ("source", "category", "is_classification", "verified_only") if spec[k]}
    lines = [
        f"# {manifest['dataset_name']}: snapshot {manifest['number']}",
        "",
        f"Instruction data generated and curated by InstructForge. Snapshot `{manifest['snapshot_id']}` of dataset "
        f"`{manifest['dataset_id']}`, created {manifest['created_at']}, format `{manifest['format']}` "
        "(one JSON object per line).",
        "",
        f"Content SHA-256: `{manifest['content_sha256']}` (over the data files' hashes, listed in `manifest.json`).",
        "",
        *_loading(manifest),
        "",
        "## Counts",
        *_counts(manifest),
        "",
        "## Selection",
        f"- filters: {filters or 'none'}; per-category cap: {spec['per_category_cap'] or 'none'}",
        f"- split: {spec['validation_fraction']:.0%} validation, stratified by category, seed {spec['seed']}; "
        f"{selection['moved_to_train_near_duplicates']} validation tasks moved to train for being near-duplicates "
        f"(ROUGE-L > {spec['near_duplicate_threshold']}) of train tasks",
        f"- matched {selection['matched']} tasks; capped: {selection['capped_by_category'] or 'none'}",
        "",
        "## How it was generated",
        *_generation(manifest["generation"]),
        "",
        "## Balance",
        *_balance(manifest["balance"]),
        "",
        "## Contamination",
        *_contamination(manifest["contamination"], selection["excluded_contaminated"]),
        "",
        "## Licence",
        _SEED_LICENCE,
        "",
    ]
    return "\n".join(lines)
