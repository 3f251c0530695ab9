"""The seed-upload use case: parse, report near-duplicates, store; one entry point, `ingest_seeds`.

All or nothing: a bad record rejects the upload (nothing stored); exact duplicates are skipped and counted;
near-duplicates (ROUGE-L above the threshold against a stored task or an earlier seed) are reported, not
rejected: seeds come from people, and the report lets them decide.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable

import msgspec

from domain.records import NewTask
from domain.screening import NEAR_DUPLICATE_THRESHOLD, DuplicateScreen
from store.database import Store
from store.datasets import require_dataset
from store.dedup.screen import open_screen
from store.ingest.formats import SeedLimits, UploadKind, parse_seed_upload
from store.tasks import add_tasks

_MAX_REPORTED = 100


class NearDuplicateCheck(msgspec.Struct, frozen=True, kw_only=True):
    threshold: float = NEAR_DUPLICATE_THRESHOLD
    # Checked while the dataset plus the upload stay within this many tasks: beyond, the check costs
    # more than an upload should (the report then says None).
    max_tasks: int = 200_000


class NearDuplicateSeed(msgspec.Struct, frozen=True, kw_only=True):
    position: int  # 1-based line (JSON Lines) or item (JSON array)
    instruction: str
    match: str
    rouge_l: float


class SeedReport(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    upload_id: str
    received: int
    added: int
    instances_added: int
    duplicates_skipped: int
    duplicate_positions: list[int]  # 1-based lines (JSONL) or items (JSON array), first 100
    near_duplicates: int | None  # None: not checked (dataset too large)
    near_duplicate_examples: list[NearDuplicateSeed]  # first 100
    # Fields beyond the format's, by name: how many records keep each as provenance `metadata`, and how many
    # had each ignored (an instance's extra fields; metadata over the size bound). Never a reason to refuse.
    extra_fields: dict[str, int] = {}
    ignored_fields: dict[str, int] = {}


def ingest_seeds(
    store: Store,
    dataset_id: str,
    body: bytes,
    kind: UploadKind,
    limits: SeedLimits,
    check: NearDuplicateCheck,
    upload_id: str | None = None,
    screen: Callable[[], DuplicateScreen] | None = None,
) -> SeedReport:
    """Add the seed tasks of one upload to a dataset and report what happened to each.

    `screen` gives the near-duplicate screen (the service's shared one, `store.dedup.shared_screen`); without
    it the dataset's screen is built for this upload alone. The check runs before, and outside, the write
    lock; the insert holds the lock for SQL only.
    """
    with store.read() as cur:  # 404 before any parsing work
        require_dataset(cur, dataset_id)
        stored = cur.execute("SELECT count(*) FROM tasks WHERE dataset_id = ?", [dataset_id]).fetchall()[0][0]
    upload_id = upload_id or f"up_{secrets.token_hex(8)}"
    seeds = parse_seed_upload(body, kind, limits, upload_id)
    near = None
    if stored + len(seeds) <= check.max_tasks:
        chosen = screen() if screen is not None else open_screen(store, dataset_id, check.threshold)
        near = near_duplicate_seeds(chosen, seeds)
    result = add_tasks(store, dataset_id, seeds, source="seed", stage="seed_upload")
    return SeedReport(
        dataset_id=dataset_id,
        upload_id=upload_id,
        received=result.received,
        added=result.added,
        instances_added=result.instances_added,
        duplicates_skipped=result.duplicates_skipped,
        duplicate_positions=list(result.duplicate_positions),
        near_duplicates=None if near is None else len(near),
        near_duplicate_examples=(near or [])[:_MAX_REPORTED],
        extra_fields=_field_counts(seed.provenance.get("metadata", {}) for seed in seeds),
        ignored_fields=_field_counts(seed.provenance.get("ignored_fields", []) for seed in seeds),
    )


def _field_counts(per_record: Iterable[Iterable[str]]) -> dict[str, int]:
    """How many records name each field, most common first."""
    return dict(Counter(name for names in per_record for name in names).most_common())


def near_duplicate_seeds(screen: DuplicateScreen, seeds: list[NewTask]) -> list[NearDuplicateSeed]:
    """Seeds close to a stored task or an earlier seed, greedy in order as jobs screen candidates.

    Exact duplicates are the fingerprint's business (skipped and counted apart by the insert). Every seed is
    stored, so every one joins the screen, near-duplicates included.
    """
    found = []
    for position, seed in enumerate(seeds, start=1):
        duplicate = screen.check(seed.instruction)
        if duplicate is not None and duplicate.kind == "near" and duplicate.score < 1.0 and duplicate.match:
            found.append(NearDuplicateSeed(position=position, instruction=seed.instruction, match=duplicate.match,
                                           rouge_l=round(duplicate.score, 4)))  # fmt: skip
        screen.remember(seed.instruction)
    return found
