from __future__ import annotations

from store.snapshots.splits import SplitRow, cap_per_category, separate_near_duplicates, stratified_split


def rows(category: str, count: int, start: int) -> list[SplitRow]:
    return [SplitRow(start + n, category, 1000 * start + n) for n in range(count)]


ROWS = rows("math", 20, 0) + rows("writing", 10, 100) + rows("code", 1, 200)


def test_each_category_gives_its_share_to_validation() -> None:
    sides = stratified_split(ROWS, 0.2, seed=1)
    validation = [r for r in ROWS if sides[r.task_id] == "validation"]
    assert sorted(r.category for r in validation) == ["math"] * 4 + ["writing"] * 2
    assert sides[200] == "train"  # a category of one task stays whole in train
    assert set(sides) == {r.task_id for r in ROWS}


def test_the_split_depends_on_seed_and_fingerprint_not_on_order() -> None:
    assert stratified_split(ROWS, 0.2, seed=1) == stratified_split(list(reversed(ROWS)), 0.2, seed=1)
    assert stratified_split(ROWS, 0.2, seed=1) != stratified_split(ROWS, 0.2, seed=2)
    base = stratified_split(ROWS, 0.2, seed=1)
    grown = stratified_split([*ROWS, *rows("math", 1, 300)], 0.2, seed=1)
    assert sum(grown[task] != side for task, side in base.items()) <= 1  # the newcomer may take one slot


def test_small_categories_still_get_one_validation_task() -> None:
    sides = stratified_split(rows("rare", 3, 0), 0.1, seed=0)
    assert sorted(sides.values()) == ["train", "train", "validation"]
    assert set(stratified_split(rows("rare", 3, 0), 0.0, seed=0).values()) == {"train"}


def test_caps_keep_a_seeded_choice_per_category_and_report_the_rest() -> None:
    kept, dropped = cap_per_category(ROWS, 5, seed=3)
    assert [r.category for r in kept].count("math") == 5 and [r.category for r in kept].count("code") == 1
    assert dropped == {"math": 15, "writing": 5}
    assert cap_per_category(ROWS, 5, seed=3) == (kept, dropped)
    assert cap_per_category(ROWS, None, seed=3) == (ROWS, {})


def test_validation_tasks_that_nearly_duplicate_train_move_to_train() -> None:
    sides = {1: "train", 2: "validation", 3: "validation", 4: "validation"}
    texts = {1: "alpha", 2: "alpha again", 3: "gamma", 4: "alpha again too"}
    index: list[str] = ["alpha"]

    def is_near(text: str) -> bool:
        return any(text.startswith(kept) for kept in index)

    moved = separate_near_duplicates(sides, texts, is_near, index.append)
    assert moved == [2, 4]
    assert sides == {1: "train", 2: "train", 3: "validation", 4: "train"}
