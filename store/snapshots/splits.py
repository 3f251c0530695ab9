"""How a snapshot picks and splits its records. Pure functions over (task id, category, fingerprint) rows.

Every choice is a deterministic function of the snapshot's seed and each task's fingerprint (not of its
id or arrival order), so the same request over the same tasks gives the same split, and a task keeps its
side of the split when unrelated tasks are added.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import msgspec

Split = str  # "train" or "validation"


class SplitRow(msgspec.Struct, frozen=True, array_like=True):
    task_id: int
    category: str
    fingerprint: int
    score: float | None = None  # the judge's current score, when the task was judged
    source: str = ""  # where the task came from (mixing recipes group by it)


def rank_key(seed: int, fingerprint: int) -> bytes:
    """A stable pseudo-random rank for a task under a seed."""
    return hashlib.blake2b(f"{seed}:{fingerprint}".encode(), digest_size=8).digest()


def _by_category(rows: Iterable[SplitRow], seed: int) -> dict[str, list[SplitRow]]:
    groups: dict[str, list[SplitRow]] = defaultdict(list)
    for row in rows:
        groups[row.category].append(row)
    for group in groups.values():
        group.sort(key=lambda r: rank_key(seed, r.fingerprint))
    return dict(sorted(groups.items()))


def cap_per_category(rows: Sequence[SplitRow], cap: int | None, seed: int) -> tuple[list[SplitRow], dict[str, int]]:
    """At most `cap` tasks per category (a seeded random choice); also how many each category lost."""
    if cap is None:
        return list(rows), {}
    kept: list[SplitRow] = []
    dropped: dict[str, int] = {}
    for category, group in _by_category(rows, seed).items():
        kept.extend(group[:cap])
        if len(group) > cap:
            dropped[category] = len(group) - cap
    return sorted(kept, key=lambda r: r.task_id), dropped


def take_best(rows: Sequence[SplitRow], max_tasks: int | None, rank_by: str, seed: int) -> list[SplitRow]:
    """At most `max_tasks` rows: the highest judge scores first (`quality`; unjudged last), or a seeded random
    choice (`random`); ties and the random order both follow the seeded rank, so the choice is reproducible."""
    if max_tasks is None or len(rows) <= max_tasks:
        return list(rows)
    if rank_by == "quality":
        ordered = sorted(rows, key=lambda r: (r.score is None, -(r.score or 0.0), rank_key(seed, r.fingerprint)))
    else:
        ordered = sorted(rows, key=lambda r: rank_key(seed, r.fingerprint))
    return sorted(ordered[:max_tasks], key=lambda r: r.task_id)


def stratified_split(rows: Sequence[SplitRow], fraction: float, seed: int) -> dict[int, Split]:
    """Validation gets round(fraction * n) of each category (at least one where a category has 2+ tasks)."""
    sides: dict[int, Split] = {}
    for group in _by_category(rows, seed).values():
        wanted = round(fraction * len(group))
        if fraction > 0 and wanted == 0 and len(group) >= 2:
            wanted = 1
        for position, row in enumerate(group):
            sides[row.task_id] = "validation" if position < wanted else "train"
    return sides


def separate_near_duplicates(
    sides: dict[int, Split], texts: dict[int, str], is_near: Callable[[str], bool], add: Callable[[str], None]
) -> list[int]:
    """Move each validation task that nearly duplicates a train task to train; return the moved ids.

    `is_near`/`add` are a near-duplicate index already holding every train instruction. A moved task
    joins the index, so a later validation task close to it moves too.
    """
    moved = []
    for task_id in sorted(t for t, side in sides.items() if side == "validation"):
        if is_near(texts[task_id]):
            sides[task_id] = "train"
            add(texts[task_id])
            moved.append(task_id)
    return moved
