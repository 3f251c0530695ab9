"""How balanced a dataset (or a snapshot's subset of it) is: counts, shares and evenness per dimension.

One DuckDB scan (GROUPING SETS) counts the tasks by category, classification, source, instruction length
band and (source, category) pair, whatever the dataset's size. The root verb and its direct-object noun (the
self-instruct paper's diversity analysis) come from `domain.verbs`, a Python heuristic, so they are read from a
deterministic sample of at most `verb_sample_limit` instructions: the tasks whose ids come first under
a fixed multiplicative hash, spread evenly over the id (arrival) range. `verb_sample` in the report says
how many were read; the verb dimension's counts are counts within that sample.

Evenness is the normalised Shannon entropy: H / log(k) over the k keys a dimension lists (1.0 = even,
0.0 = one key holds everything; 0.0 when k <= 1). Closed dimensions list every key, zeros included
(both classification keys, all five length bands), so k does not shrink with the data. The source
dimension is open (a task's source is "seed", "generated" or an import's name): it lists "seed" and
"generated" always (0 when none, so its shape is stable), then every import source present, largest first.

Warnings (share > `share_limit`):
- category, instruction_length, root_verb: any key whose share passes the limit;
- classification: only the `classification` key. Most instruction data is open-ended (26 of the 175
  seed tasks classify), so a non-classification majority is the normal state, not an imbalance;
- source, the mix: a generated majority is what generation is for, so the plain shares never warn. What
  does is the human-written part leaning on one origin: when the seed and imported tasks come from two
  or more sources, one holding more than the limit of them ("'alpaca' holds 91.0% of the seed and
  imported tasks"). One source alone is not a mix, and no warning;
- source, the domain: a source whose tasks are mostly (over the limit) in one category, in a dataset of
  two or more sources and two or more categories: a domain-specific source, said so with its category
  (`BalanceWarning.category`). Not when that category is the default one (a source that carries no
  categories is unlabelled, not specialised), nor for a source under `DOMAIN_MIN_TASKS` tasks (a few
  tasks in one category say nothing about a source), nor with one source (the category warnings say it).

`unanswered`: tasks with no instance yet (imported instructions awaiting an `annotate` job), by source.
A task's `text_chars` is stored as a sum over its instances (instruction, input and output lengths), and an
answer added later (an annotate job) replaces instances, never leaves none: a task with none now was
stored with `text_chars = 0`.
The count reads those candidates and confirms each against `instances` (an anti join): next to nothing
when nothing is unanswered, and right when an answer added later leaves `text_chars` as it was. Measured on
the 2-core machine at 1M tasks (best of 12): the scan with the (source, category) set 681 ms against 650 ms
without, when the words were counted per row by a regex; the unanswered count 18-32 ms with 100k
unanswered, 2 ms with none. The words are now stored at ingest (`tasks.instruction_words`, `store.words`),
and the scan reads them: 45-60 ms at 1M. The stats reuse their own scan for these counts
(`assemble_report`), and the verb analysis of a whole dataset is cached by (dataset, tasks, max task id,
sample limit): tasks only ever arrive with larger ids, so that key changes with any task added (`store.memo`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import msgspec
import pyarrow as pa

from domain.records import DEFAULT_CATEGORY, GENERATED_SOURCE, SEED_SOURCE
from domain.verbs import root_verb_noun
from store.database import Store
from store.datasets import require_dataset
from store.memo import Memo

LENGTH_BANDS = ("1-5 words", "6-10 words", "11-20 words", "21-40 words", "41+ words")
CLASSIFICATION_KEYS = ("classification", "other")
SOURCE_KEYS = (SEED_SOURCE, GENERATED_SOURCE)  # always listed first, 0 when none; import sources follow
DOMAIN_MIN_TASKS = 20  # a source smaller than this is never called domain-specific
DEFAULT_SHARE_LIMIT = 0.5
VERB_SAMPLE_LIMIT = 20_000
TOP_VERBS = 20
TOP_NOUNS = 4

# Words as `store.words` counts them, stored at ingest (`instruction_words`). max(id) names the tasks counted (with
# their number), the key of the verb analysis' cache.
_GROUPS = """
    SELECT GROUPING(category, is_classification, source, band), category, is_classification, source, band, count(*),
           max(id)
    FROM (
        SELECT id, category, is_classification, source,
               CASE WHEN instruction_words <= 5 THEN '1-5 words' WHEN instruction_words <= 10 THEN '6-10 words'
                    WHEN instruction_words <= 20 THEN '11-20 words' WHEN instruction_words <= 40 THEN '21-40 words'
                    ELSE '41+ words' END AS band
        FROM tasks WHERE dataset_id = ? {selection}
    )
    GROUP BY GROUPING SETS ((category), (is_classification), (source), (band), (source, category))
"""
# GROUPING() bit patterns: the columns a row is grouped by have their bits clear.
_BY_CATEGORY, _BY_CLASSIFICATION, _BY_SOURCE, _BY_BAND = 0b0111, 0b1011, 0b1101, 0b1110
_BY_SOURCE_CATEGORY = 0b0101
# Candidates by `text_chars = 0`, confirmed against `instances` (see the module docstring).
_UNANSWERED = """
    SELECT source, count(*) FROM tasks t
    WHERE dataset_id = ? {selection} AND text_chars = 0
      AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.task_id = t.id)
    GROUP BY source
"""
# Knuth's multiplicative hash of the id: a fixed, evenly spread order, so the sample is reproducible. In UBIGINT,
# reduced first (ids are positive): the same order as the product in HUGEINT, ~3x faster over 1M ids.
_VERB_SAMPLE = """
    SELECT instruction FROM tasks WHERE dataset_id = ? {selection}
    ORDER BY ((id % 4294967296)::UBIGINT * 2654435761) % 4294967296, id LIMIT ?
"""
_SELECTION = "balance_selection"


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    counts: dict[str, int]
    shares: dict[str, float]
    normalized_entropy: float
    top: str | None  # the key with the largest share (ties: the first listed); None when empty
    top_share: float


class VerbNouns(msgspec.Struct, frozen=True, kw_only=True):
    verb: str
    count: int
    share: float  # of the sampled instructions that have a verb
    nouns: dict[str, int]  # its most frequent direct-object nouns


class BalanceWarning(msgspec.Struct, frozen=True, kw_only=True):
    dimension: str
    key: str
    share: float
    limit: float
    message: str
    category: str | None = None  # a domain-specific source's category (`share` is of the source's tasks)


class BalanceReport(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    tasks: int
    share_limit: float
    dimensions: dict[str, Distribution]  # category, classification, source, instruction_length, root_verb
    verb_noun: tuple[VerbNouns, ...]
    verb_sample: int  # instructions parsed for verbs (all of them when tasks <= the sample limit)
    verb_found: int  # of those, how many yielded a root verb
    warnings: tuple[BalanceWarning, ...]
    # tasks with no instance yet, by source: every source of the `source` dimension, 0 where none
    unanswered: dict[str, int] = msgspec.field(default_factory=dict)


def normalized_entropy(counts: Sequence[int]) -> float:
    """Shannon entropy over log(k), k = len(counts): 1.0 when even, 0.0 for one class or none."""
    total = sum(counts)
    if len(counts) <= 1 or total == 0:
        return 0.0
    entropy = -sum(c / total * math.log(c / total) for c in counts if c)
    return abs(round(entropy / math.log(len(counts)), 4))


def distribution(counts: Mapping[str, int], keys: Sequence[str] | None = None) -> Distribution:
    """Counts in the order of `keys` (zeros kept), else by count descending then key."""
    if keys is not None:
        ordered = {key: counts.get(key, 0) for key in keys}
    else:
        ordered = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    total = sum(ordered.values())
    shares = {key: round(count / total, 4) if total else 0.0 for key, count in ordered.items()}
    top = max(ordered, key=lambda key: ordered[key]) if total else None
    return Distribution(
        total=total,
        counts=ordered,
        shares=shares,
        normalized_entropy=normalized_entropy(list(ordered.values())),
        top=top,
        top_share=shares[top] if top is not None else 0.0,
    )


def verb_noun_table(
    pairs: Sequence[tuple[str | None, str | None]], *, top_verbs: int = TOP_VERBS, top_nouns: int = TOP_NOUNS
) -> tuple[Distribution, tuple[VerbNouns, ...]]:
    """The verb distribution over pairs with a verb, and the top verbs with their top nouns."""
    verbs = Counter(verb for verb, _ in pairs if verb is not None)
    nouns: dict[str, Counter[str]] = {}
    for verb, noun in pairs:
        if verb is not None and noun is not None:
            nouns.setdefault(verb, Counter())[noun] += 1
    verb_dist = distribution(verbs)
    table = tuple(
        VerbNouns(
            verb=verb,
            count=count,
            share=verb_dist.shares[verb],
            nouns=dict(sorted(nouns.get(verb, Counter()).items(), key=lambda item: (-item[1], item[0]))[:top_nouns]),
        )
        for verb, count in list(verb_dist.counts.items())[:top_verbs]
    )
    return verb_dist, table


def balance_warnings(dimensions: Mapping[str, Distribution], share_limit: float) -> tuple[BalanceWarning, ...]:
    """Shares over the limit, by the rules in the module docstring."""
    watched = {"category": None, "instruction_length": None, "root_verb": None, "classification": {"classification"}}
    warnings = []
    for name, only in watched.items():
        dist = dimensions.get(name)
        if dist is None:
            continue
        for key, share in dist.shares.items():
            if share > share_limit and (only is None or key in only):
                message = f"{name} {key!r} holds {share:.1%} of the tasks, over the {share_limit:.0%} limit"
                warnings.append(
                    BalanceWarning(dimension=name, key=key, share=share, limit=share_limit, message=message)
                )
    return tuple(warnings)


def source_distribution(counts: Mapping[str, int]) -> Distribution:
    """Seed and generated first (0 when none), then every other source present, largest first."""
    imported = sorted((key for key in counts if key not in SOURCE_KEYS), key=lambda key: (-counts[key], key))
    return distribution(counts, (*SOURCE_KEYS, *imported))


def source_warnings(
    sources: Distribution,
    categories_by_source: Mapping[str, Mapping[str, int]],
    categories: Distribution,
    share_limit: float,
) -> tuple[BalanceWarning, ...]:
    """The mix leaning on one seed or import source, then domain-specific sources (see the module docstring)."""
    domain = _domain_warnings(sources, categories_by_source, categories, share_limit)
    return _mix_warnings(sources, share_limit) + domain


def _mix_warnings(sources: Distribution, share_limit: float) -> tuple[BalanceWarning, ...]:
    human = {key: count for key, count in sources.counts.items() if key != GENERATED_SOURCE and count}
    if len(human) < 2:
        return ()
    total, warnings = sum(human.values()), []
    for key, count in human.items():
        share = round(count / total, 4)
        if share > share_limit:
            message = (f"source {key!r} holds {share:.1%} of the seed and imported tasks, over the "
                       f"{share_limit:.0%} limit: the mix leans on one source")  # fmt: skip
            warnings.append(
                BalanceWarning(dimension="source", key=key, share=share, limit=share_limit, message=message)
            )
    return tuple(warnings)


def _domain_warnings(
    sources: Distribution,
    categories_by_source: Mapping[str, Mapping[str, int]],
    categories: Distribution,
    share_limit: float,
) -> tuple[BalanceWarning, ...]:
    present = [key for key, count in sources.counts.items() if count]
    kinds = sum(1 for count in categories.counts.values() if count)
    if len(present) < 2 or kinds < 2:
        return ()
    warnings = []
    for key in present:
        mix = distribution(categories_by_source.get(key, {}))
        if mix.total < DOMAIN_MIN_TASKS or mix.top in (None, DEFAULT_CATEGORY) or mix.top_share <= share_limit:
            continue
        message = (f"source {key!r} is {mix.top_share:.1%} category {mix.top!r}, over the {share_limit:.0%} limit, "
                   f"in a dataset of {kinds} categories: a domain-specific source")  # fmt: skip
        warnings.append(BalanceWarning(
            dimension="source", key=key, share=mix.top_share, limit=share_limit, message=message, category=mix.top
        ))  # fmt: skip
    return tuple(warnings)


def unanswered_by_source(cur, dataset_id: str, selection: str = "") -> dict[str, int]:
    """Tasks with no instance, by source (only sources that have some); `selection` as `_register_selection`'s."""
    return dict(cur.execute(_UNANSWERED.format(selection=selection), [dataset_id]).fetchall())


def _register_selection(cur, task_ids: Sequence[int] | None) -> str:
    """SQL restricting `tasks` to the given ids (an Arrow table scanned by a semi join, not an IN list)."""
    if task_ids is None:
        return ""
    cur.register(_SELECTION, pa.table({"id": pa.array(task_ids, pa.int64())}))
    return f"AND id IN (SELECT id FROM {_SELECTION})"


# The root verbs of a dataset's whole sample, by (store, dataset, tasks, max task id, sample limit): parsing
# them is most of what the stats' balance report costs once the counts are a scan of stored columns (see
# `store.memo` for why the key is exact). A snapshot's subset (`task_ids`) is not cached.
Verbs = tuple[Distribution, tuple[VerbNouns, ...], int]  # the verb distribution, the table, the sample's size
_VERBS: Memo[Verbs] = Memo()


class BalanceCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What one scan of `tasks` counts for the report (the stats' scan, or the report's own)."""

    categories: dict[str, int]
    classification: dict[str, int]  # by CLASSIFICATION_KEYS
    sources: dict[str, int]
    bands: dict[str, int]  # by LENGTH_BANDS
    categories_by_source: dict[str, dict[str, int]]
    max_id: int  # the largest task id counted (0 when none): with the count, the verb cache's key


def length_band(words: int | None) -> str:
    """The band of an instruction's word count, as `_GROUPS` bands it (NULL: the last band, as SQL's ELSE)."""
    for limit, band in zip((5, 10, 20, 40), LENGTH_BANDS, strict=False):
        if words is not None and words <= limit:
            return band
    return LENGTH_BANDS[-1]


def _counts_of(rows: Sequence[tuple]) -> BalanceCounts:
    classification = {r[2]: r[5] for r in rows if r[0] == _BY_CLASSIFICATION}
    categories_by_source: dict[str, dict[str, int]] = {}
    for r in rows:
        if r[0] == _BY_SOURCE_CATEGORY:
            categories_by_source.setdefault(r[3], {})[r[1]] = r[5]
    return BalanceCounts(
        categories={r[1]: r[5] for r in rows if r[0] == _BY_CATEGORY},
        classification={"classification": classification.get(True, 0), "other": classification.get(False, 0)},
        sources={r[3]: r[5] for r in rows if r[0] == _BY_SOURCE},
        bands={r[4]: r[5] for r in rows if r[0] == _BY_BAND},
        categories_by_source=categories_by_source,
        max_id=max((r[6] for r in rows if r[0] == _BY_SOURCE), default=0),
    )


def _verb_analysis(cur, key: tuple | None, sample_sql: str, params: list) -> Verbs:
    def compute() -> Verbs:
        sample = cur.execute(sample_sql, params).fetchall()
        verb_dist, table = verb_noun_table([root_verb_noun(row[0]) for row in sample])
        return verb_dist, table, len(sample)

    return compute() if key is None else _VERBS.get(key, compute)


def dataset_verbs(cur, store: Store, dataset_id: str, counts: BalanceCounts, limit: int) -> Verbs:
    """The verb analysis of a whole dataset's sample, cached; `counts` read in the caller's transaction."""
    key = (store.path, dataset_id, sum(counts.sources.values()), counts.max_id, limit)
    return _verb_analysis(cur, key, _VERB_SAMPLE.format(selection=""), [dataset_id, limit])


def assemble_report(
    dataset_id: str, counts: BalanceCounts, verbs: Verbs, unanswered: Mapping[str, int], share_limit: float
) -> BalanceReport:
    """The report from its counts, its verb analysis and the unanswered tasks by source."""
    verb_dist, table, sampled = verbs
    dimensions = {
        "category": distribution(counts.categories),
        "classification": distribution(counts.classification, CLASSIFICATION_KEYS),
        "source": source_distribution(counts.sources),
        "instruction_length": distribution(counts.bands, LENGTH_BANDS),
        "root_verb": verb_dist,
    }
    warnings = balance_warnings(dimensions, share_limit) + source_warnings(
        dimensions["source"], counts.categories_by_source, dimensions["category"], share_limit
    )
    return BalanceReport(
        dataset_id=dataset_id,
        tasks=dimensions["source"].total,
        share_limit=share_limit,
        dimensions=dimensions,
        verb_noun=table,
        verb_sample=sampled,
        verb_found=verb_dist.total,
        warnings=warnings,
        unanswered={key: unanswered.get(key, 0) for key in dimensions["source"].counts},
    )


def balance_report(
    store: Store,
    dataset_id: str,
    *,
    share_limit: float = DEFAULT_SHARE_LIMIT,
    task_ids: Sequence[int] | None = None,
    verb_sample_limit: int = VERB_SAMPLE_LIMIT,
) -> BalanceReport:
    """The balance of a dataset, or of the tasks among `task_ids` that belong to it (others are ignored)."""
    with store.read() as cur:
        cur.execute("BEGIN TRANSACTION")  # one snapshot: the counts, the verb cache's key and the sample agree
        try:
            require_dataset(cur, dataset_id)
            selection = _register_selection(cur, task_ids)
            counts = _counts_of(cur.execute(_GROUPS.format(selection=selection), [dataset_id]).fetchall())
            if task_ids is None:
                verbs = dataset_verbs(cur, store, dataset_id, counts, verb_sample_limit)
            else:
                verbs = _verb_analysis(cur, None, _VERB_SAMPLE.format(selection=selection),
                                       [dataset_id, verb_sample_limit])  # fmt: skip
            unanswered = unanswered_by_source(cur, dataset_id, selection)
            if task_ids is not None:
                cur.unregister(_SELECTION)
        finally:
            cur.execute("COMMIT")  # reads only: nothing to keep or undo
    return assemble_report(dataset_id, counts, verbs, unanswered, share_limit)
