"""A dataset's composition for the dashboard: length histograms and the root verbs with their direct objects.

Lengths (characters) are counted by DuckDB, one row per distinct length, then put into bins of one "nice"
width (1, 2 or 5 times a power of ten) chosen so that the longest length needs at most `max_bins` bins.

Verbs and objects: no parser model is available offline, so the root verb and its direct object come from
`domain.verbs.root_verb_noun`, the documented heuristic the balance report uses too (the imperative's first
word after a leading clause, "please" and modal prefixes; the object is the head noun of the noun phrase
after the verb, past determiners, numbers and pronouns). It runs in Python, so it reads the same
deterministic sample of at most `verb_sample_limit` instructions as the balance report. The top verbs and
their top objects are returned as a table and as the nodes of the self-instruct paper's sunburst (inner
ring: verbs, outer ring: objects), ready for a chart's ids/labels/parents/values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from domain.verbs import root_verb_noun
from store.balance.report import VERB_SAMPLE_LIMIT, VerbNouns, verb_noun_table
from store.database import Store
from store.datasets import require_dataset

MAX_BINS = 30
TOP_VERBS = 20  # as in the paper's figure
TOP_OBJECTS = 4

_TASK_LENGTHS = "SELECT instruction_chars, count(*) FROM tasks WHERE dataset_id = ? GROUP BY 1"
_INSTANCE_LENGTHS = """
    SELECT GROUPING(input_chars, output_chars), input_chars, output_chars, count(*)
    FROM instances WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((input_chars), (output_chars))
"""
# The balance report's sample: ids ordered by Knuth's multiplicative hash, so both read the same tasks.
_VERB_SAMPLE = """
    SELECT instruction FROM tasks WHERE dataset_id = ?
    ORDER BY (id::HUGEINT * 2654435761) % 4294967296, id LIMIT ?
"""


class Histogram(msgspec.Struct, frozen=True, kw_only=True):
    """Bin i holds the lengths in [starts[i], starts[i] + bin_width); `total` is the sum of `counts`."""

    bin_width: int
    starts: list[int]
    counts: list[int]
    total: int


class Sunburst(msgspec.Struct, frozen=True, kw_only=True):
    """Parallel lists: a verb's node has parent ""; an object's node has its verb's id as parent."""

    ids: list[str]
    labels: list[str]
    parents: list[str]
    values: list[int]


class Composition(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    tasks: int
    lengths: dict[str, Histogram]  # instruction, input (instances with an input only), output
    verb_sample: int  # instructions read for verbs
    verb_found: int  # of those, how many have a root verb
    verbs: list[VerbNouns]  # the top verbs, each with its top objects ("nouns")
    sunburst: Sunburst


def nice_bin_width(longest: int, max_bins: int = MAX_BINS) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that covers 0..longest in at most `max_bins` bins."""
    needed = max(1, math.ceil((longest + 1) / max_bins))
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= needed:
                return step * power
        power *= 10


def bin_lengths(histogram: Sequence[tuple[int, int]], max_bins: int = MAX_BINS) -> Histogram:
    """(length, count) pairs -> counts per bin, from the bin holding the shortest to the one holding the longest."""
    pairs = [(length, count) for length, count in histogram if count > 0]
    if not pairs:
        return Histogram(bin_width=1, starts=[], counts=[], total=0)
    width = nice_bin_width(max(length for length, _ in pairs), max_bins)
    first = min(length for length, _ in pairs) // width
    last = max(length for length, _ in pairs) // width
    counts = [0] * (last - first + 1)
    for length, count in pairs:
        counts[length // width - first] += count
    starts = [(first + n) * width for n in range(len(counts))]
    return Histogram(bin_width=width, starts=starts, counts=counts, total=sum(counts))


def sunburst_of(table: Sequence[VerbNouns]) -> Sunburst:
    """Verbs as the inner ring (value: the verb's count), their objects as the outer ring.

    The objects of a verb sum to at most its count (instructions without an object, or with a rarer one,
    leave the rest of the verb's arc empty), so a chart may draw it with branchvalues="total".
    """
    ids, labels, parents, values = [], [], [], []
    for row in table:
        ids.append(row.verb)
        labels.append(row.verb)
        parents.append("")
        values.append(row.count)
        for noun, count in row.nouns.items():
            ids.append(f"{row.verb}/{noun}")
            labels.append(noun)
            parents.append(row.verb)
            values.append(count)
    return Sunburst(ids=ids, labels=labels, parents=parents, values=values)


def verb_objects(
    instructions: Sequence[str], *, top_verbs: int = TOP_VERBS, top_objects: int = TOP_OBJECTS
) -> tuple[int, list[VerbNouns]]:
    """How many instructions have a root verb, and the top verbs with their top objects."""
    pairs = [root_verb_noun(text) for text in instructions]
    verbs, table = verb_noun_table(pairs, top_verbs=top_verbs, top_nouns=top_objects)
    return verbs.total, list(table)


def dataset_composition(
    store: Store, dataset_id: str, *, verb_sample_limit: int = VERB_SAMPLE_LIMIT, max_bins: int = MAX_BINS
) -> Composition:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        task_lengths = cur.execute(_TASK_LENGTHS, [dataset_id]).fetchall()
        instance_rows = cur.execute(_INSTANCE_LENGTHS, [dataset_id]).fetchall()
        sample = [row[0] for row in cur.execute(_VERB_SAMPLE, [dataset_id, verb_sample_limit]).fetchall()]
    found, table = verb_objects(sample)
    inputs = [(r[1], r[3]) for r in instance_rows if r[0] == 0b01 and r[1] > 0]
    outputs = [(r[2], r[3]) for r in instance_rows if r[0] == 0b10]
    return Composition(
        dataset_id=dataset_id,
        tasks=sum(count for _, count in task_lengths),
        lengths={
            "instruction": bin_lengths(task_lengths, max_bins),
            "input": bin_lengths(inputs, max_bins),
            "output": bin_lengths(outputs, max_bins),
        },
        verb_sample=len(sample),
        verb_found=found,
        verbs=table,
        sunburst=sunburst_of(table),
    )
