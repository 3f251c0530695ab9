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
    for key, label in (("multi_turn_records", "multi-turn records"), ("turns", "turns (user and assistant)")):
        if key in counts["train"]:  # snapshots made before multi-turn chats were kept lack them
            rows.append((f"**{label}**", counts["train"][key], counts["validation"][key]))
    return [*_table(("category", "train", "validation"), rows), *_chats(manifest)]


def _chats(manifest: dict[str, Any]) -> list[str]:
    """What happened to multi-turn chats: kept whole by the chat formats, cut to one exchange by Alpaca's."""
    counts = manifest["counts"]
    multi = sum(counts[split].get("multi_turn_records", 0) for split in ("train", "validation"))
    cut = sum(counts[split].get("conversations_cut_to_first_exchange", 0) for split in ("train", "validation"))
    if cut:
        return ["", f"Multi-turn conversations cut to their first exchange: {cut} records. The `{manifest['format']}` "
                "format holds one exchange a record (a chat format, `messages`, `sharegpt` or `prompt_completion`, "
                "keeps every turn); the format has no system turn, so system prompts are left out too."]  # fmt: skip
    if multi:
        return ["", f"Multi-turn conversations kept whole (every turn, up to the last answer): {multi} records."]
    return []


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


def _sources(manifest: dict[str, Any]) -> list[str]:
    """Per source: counts, share and the licences of its imports; then the licence notes on the mix."""
    if "sources" not in manifest:  # snapshots made before sources were recorded
        return [_SEED_LICENCE]
    rows = [(s["source"], s["tasks"], s["instances"], f"{s['share']:.1%}", ", ".join(s["licenses"]),
             ", ".join(s["urls"]) or "-") for s in manifest["sources"]]  # fmt: skip
    lines = _table(("source", "tasks", "instances", "share", "licence", "url"), rows)
    lines += ["", *(f"- {w['code']}: {w['message']}" for w in manifest["licence_warnings"])]
    return [*lines, "", manifest["licence_note"], "", _SEED_LICENCE]


def _or_dash(value: Any, pattern: str = "{}") -> str:
    return "-" if value is None else pattern.format(value)


def _mix(mix: dict[str, Any] | None) -> list[str]:
    """The mixing recipe: what each named group asked for against what the snapshot holds."""
    if mix is None:
        return ["No mixing recipe: every task that passed the filters and caps is in."]
    lines = [f"Categories are mixed first, then sources; {mix['tasks']} tasks in all."]
    for dimension in ("sources", "categories"):
        rows = [(g["name"], g["rule"], g["weight"] or g["cap"] or "-", _or_dash(g["available"]),
                 _or_dash(g["requested_share"], "{:.1%}"), g["tasks"], f"{g['share']:.1%}")
                for g in mix[dimension]]  # fmt: skip
        lines += ["", *_table((dimension[:-1] if dimension == "sources" else "category", "rule", "weight or cap",
                               "available", "requested share", "tasks", "achieved share"), rows)]  # fmt: skip
    return [*lines, "", *(f"- {note}" for note in mix["notes"])]


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
        lines += ["", f"Every conversation opens with this system turn: {system_prompt!r} (a record that came with "
                  "a system prompt of its own keeps that one)."]  # fmt: skip
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
        f"- matched {selection['matched']} tasks; capped: {selection['capped_by_category'] or 'none'}; "
        f"left out with no answer yet: {selection.get('unanswered', 0)}",
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
        "## Sources and licences",
        *_sources(manifest),
        "",
        "## Mixing recipe",
        *_mix(manifest.get("mix")),
        "",
    ]
    return "\n".join(lines)
