"""Mixing recipes: how many of a snapshot's tasks each source and each category gets (weights or caps).

A recipe names groups in two dimensions, `categories` and `sources`; each named group has a `weight` (a target
share) or a `cap` (at most that many tasks). In a dimension that names any group, a group it does not name keeps
all its tasks, or none with `others: "drop"`; a dimension that names none is left alone.

Within a dimension, capped and unnamed groups keep their tasks, and the weighted groups share the rest of the
total in proportion to their weights (2 and 1: two thirds and one third), so when every group is weighted the
weights are the shares of the snapshot's tasks. `total` defaults to the largest the weights allow (every weighted
group gets its full share); with a larger `total`, a group with fewer tasks than its share needs gives all of
them and the others share the shortfall by their weights: the achieved shares differ, and the manifest says so.

Categories are mixed first, then sources (most recipes are about sources: theirs come out exact); `total` sizes
the last dimension with weights. Which tasks a group keeps follows the snapshot's ranking (`rank_by`, `seed`:
`splits.take_best`), so the same recipe over the same tasks picks the same tasks. Pure, except `check_names`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from fractions import Fraction
from math import floor
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.errors import InvalidInputError
from domain.records import Source
from store.database import Store
from store.snapshots.splits import SplitRow, take_best
from store.sources import source_and_category_names

Category = Annotated[str, Meta(min_length=1, max_length=64)]
Dimension = Literal["categories", "sources"]
_ORDER: tuple[Dimension, ...] = ("categories", "sources")


class MixShare(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    weight: Annotated[float, Meta(gt=0, le=1_000_000)] | None = None  # relative to the other weights
    cap: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None

    def __post_init__(self) -> None:
        if (self.weight is None) == (self.cap is None):
            raise ValueError("a mix entry has either a weight or a cap")


class MixRecipe(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sources: Annotated[dict[Source, MixShare], Meta(max_length=1000)] = msgspec.field(default_factory=dict)
    categories: Annotated[dict[Category, MixShare], Meta(max_length=1000)] = msgspec.field(default_factory=dict)
    total: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None  # None: the largest the weights allow
    others: Literal["keep", "drop"] = "keep"  # groups a dimension does not name

    def __post_init__(self) -> None:
        if not self.sources and not self.categories:
            raise ValueError("a mix names at least one source or category")
        weighted = [s for s in (*self.sources.values(), *self.categories.values()) if s.weight is not None]
        if self.total is not None and not weighted:
            raise ValueError("mix.total sizes what the weights share: give a weight (caps alone: use max_tasks)")


class MixGroup(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    rule: Literal["weight", "cap", "kept", "dropped"]
    weight: float | None
    cap: int | None
    available: int | None  # tasks of the group when its dimension was mixed (None: a dimension not mixed)
    target: int | None  # tasks the recipe asked of it
    requested_share: float | None  # of its dimension's target total (weights only)
    short: bool  # fewer tasks than its share needed: all taken


def check_names(store: Store, dataset_id: str, recipe: MixRecipe) -> None:
    """A recipe may only name sources and categories the dataset has (a typo would silently mix nothing)."""
    with store.read() as cur:
        sources, categories = source_and_category_names(cur, dataset_id)
    for named, known, code, what in ((recipe.sources, sources, "unknown_source", "source"),
                                     (recipe.categories, categories, "unknown_category", "category")):  # fmt: skip
        unknown = sorted(set(named) - known)
        if unknown:
            raise InvalidInputError(
                f"the mix names {what} {', '.join(map(repr, unknown))}, which the dataset does not hold",
                code=code, extra={"unknown": unknown, "known": sorted(known)},
            )  # fmt: skip


def allocate(sizes: dict[str, int], weights: dict[str, Fraction], total: int) -> tuple[dict[str, int], set[str]]:
    """Share `total` by weight; a group smaller than its share gives all it has and the rest share the gap.

    Largest remainders round the shares (ties by name), so the counts add up to `total` while the groups last.
    """
    counts: dict[str, int] = {}
    short: set[str] = set()
    open_, left = dict(weights), total
    while open_:
        weight = sum(open_.values())
        lacking = sorted(g for g in open_ if sizes[g] * weight < left * open_[g])
        if not lacking:
            break
        for group in lacking:
            counts[group], left = sizes[group], left - sizes[group]
            short.add(group)
            del open_[group]
    if open_:
        weight = sum(open_.values())
        quotas = {g: left * w / weight for g, w in open_.items()}
        floors = {g: floor(q) for g, q in quotas.items()}
        for group in sorted(open_, key=lambda g: (floors[g] - quotas[g], g))[: left - sum(floors.values())]:
            floors[group] += 1
        counts.update(floors)
    return counts, short


def largest_total(sizes: dict[str, int], weights: dict[str, Fraction]) -> int:
    """The most tasks the weighted groups can give with every one at its full share."""
    weight = sum(weights.values())
    fits = [floor(sizes[g] * weight / w) for g, w in weights.items() if sizes[g]]
    return min(fits, default=0)


def _groups(rows: Sequence[SplitRow], key: Callable[[SplitRow], str], named: dict[str, MixShare]):
    groups: dict[str, list[SplitRow]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    for name in named:
        groups.setdefault(name, [])
    return dict(sorted(groups.items()))


class _Plan(msgspec.Struct, frozen=True):
    counts: dict[str, int]  # tasks each group keeps
    short: set[str]
    weights: dict[str, Fraction]
    weighted_total: int  # what the weighted groups share
    total: int  # the dimension's target: weighted_total and what the capped and unnamed groups keep


def _plan(
    sizes: dict[str, int], named: dict[str, MixShare], recipe: MixRecipe, total: int | None, dimension: str
) -> _Plan:
    """How many tasks each group of a dimension keeps: caps and unnamed groups first, weights share the rest."""
    weights = {n: Fraction(s.weight) for n, s in named.items() if s.weight is not None}
    fixed = {n: min(named[n].cap or 0, sizes[n]) if n in named else sizes[n] * (recipe.others == "keep")
             for n in sizes if n not in weights}  # fmt: skip
    kept = sum(fixed.values())
    if total is not None and total < kept:
        raise InvalidInputError(
            f"mix.total {total} is less than the {kept} tasks the capped and unnamed {dimension} keep: raise it, "
            "cap them, or set others to drop", code="mix_total_too_small", extra={"total": total, "kept": kept},
        )  # fmt: skip
    weighted_total = largest_total(sizes, weights) if total is None else total - kept
    counts, short = allocate(sizes, weights, weighted_total)
    return _Plan({**fixed, **counts}, short, weights, weighted_total, weighted_total + kept)


def _stage(
    rows: Sequence[SplitRow], dimension: Dimension, recipe: MixRecipe, total: int | None, rank_by: str, seed: int
) -> tuple[list[SplitRow], list[MixGroup]]:
    named: dict[str, MixShare] = getattr(recipe, dimension)
    groups = _groups(rows, (lambda r: r.category) if dimension == "categories" else (lambda r: r.source), named)
    plan = _plan({name: len(group) for name, group in groups.items()}, named, recipe, total, dimension)
    kept: list[SplitRow] = []
    report = []
    for name, group in groups.items():
        share, n = named.get(name), plan.counts[name]
        kept.extend(take_best(group, n, rank_by, seed))
        unnamed = "kept" if recipe.others == "keep" else "dropped"
        rule = "weight" if name in plan.weights else "cap" if share else unnamed
        ideal, requested = n, None
        if name in plan.weights:
            ideal_share = plan.weights[name] / sum(plan.weights.values())
            ideal = round(ideal_share * plan.weighted_total)
            requested = round(float(ideal_share * plan.weighted_total / plan.total), 4) if plan.total else None
        report.append(MixGroup(
            name=name, rule=rule, weight=share.weight if share else None, cap=share.cap if share else None,
            available=len(group), target=ideal, requested_share=requested, short=name in plan.short,
        ))  # fmt: skip
    return sorted(kept, key=lambda r: r.task_id), report


def mix_rows(
    rows: Sequence[SplitRow], recipe: MixRecipe | None, rank_by: str, seed: int
) -> tuple[list[SplitRow], dict[Dimension, list[MixGroup]]]:
    """The rows a recipe keeps, and per dimension what it asked of each group."""
    if recipe is None:
        return list(rows), {}
    mixed = [d for d in _ORDER if getattr(recipe, d)]
    sized = [d for d in mixed if any(s.weight is not None for s in getattr(recipe, d).values())]
    plans: dict[Dimension, list[MixGroup]] = {}
    kept = list(rows)
    for dimension in mixed:
        total = recipe.total if sized and dimension == sized[-1] else None
        kept, plans[dimension] = _stage(kept, dimension, recipe, total, rank_by, seed)
    return kept, plans


def _achieved(rows: Sequence[SplitRow], key: Callable[[SplitRow], str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[key(row)] += 1
    return counts


def mix_manifest(recipe: MixRecipe, plans: dict[Dimension, list[MixGroup]], final: Sequence[SplitRow]) -> dict:
    """The manifest's `mix`: the recipe, and per source and per category the requested and achieved shares."""
    total = len(final)
    out: dict[str, Any] = {"recipe": msgspec.to_builtins(recipe), "order": list(_ORDER), "tasks": total}
    notes = []
    for dimension, key in (("categories", lambda r: r.category), ("sources", lambda r: r.source)):
        achieved = _achieved(final, key)
        planned = {g.name: g for g in plans.get(dimension, [])}
        entries = []
        for name in sorted(set(achieved) | set(planned)):
            group = planned.get(name)
            group = group or MixGroup(name=name, rule="kept", weight=None, cap=None, available=None,
                                      target=None, requested_share=None, short=False)  # fmt: skip
            entry = msgspec.to_builtins(group)
            entry |= {"tasks": achieved.get(name, 0), "share": round(achieved.get(name, 0) / total, 4) if total else 0}
            entries.append(entry)
            if group.short:
                notes.append(f"{dimension[:-1] if dimension == 'sources' else 'category'} {name}: "
                             f"{group.available} tasks, fewer than the {group.target} its weight asked for: all "
                             f"taken (share {entry['share']} instead of {group.requested_share})")  # fmt: skip
        out[dimension] = entries
    out["notes"] = notes
    return out
