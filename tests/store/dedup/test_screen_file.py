"""Shared screens kept on disk: a loaded screen answers as a rebuilt one, and any file that does not match the
database (stale, foreign, damaged, another format) is rebuilt instead of used."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from domain.fingerprint import fingerprint
from store import Store
from store.datasets import create_dataset, delete_dataset
from store.dedup import screen_file, shared_screen
from store.dedup.near_duplicates import NearDuplicateIndex
from store.dedup.screen_file import ScreenFiles
from store.dedup.shared_screen import ScreenCache, SharedScreen
from store.tasks import add_tasks
from tests.store.conftest import task

WORDS = [f"w{n}" for n in range(400)] + ["write", "list", "explain", "the", "a", "of", "poem", "sea"]
ROWS = 1_200  # above the index's exact_below (500): lookups go through the LSH bands


def instructions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))) for _ in range(count)]


def queries(stored: list[str], seed: int) -> list[str]:
    """Exact copies, one-word edits (near duplicates), and new instructions."""
    rng = random.Random(seed)
    edited = []
    for text in rng.sample(stored, 150):
        words = text.split()
        words[rng.randrange(len(words))] = rng.choice(WORDS)
        edited.append(" ".join(words))
    return rng.sample(stored, 50) + edited + instructions(100, seed + 1)


def answers(screen: SharedScreen, texts: list[str]) -> list[tuple]:
    """Every lookup a job or an upload makes: the exact fingerprint and the near-duplicate verdict."""
    view = screen.view()
    return [(fingerprint(t) in screen.fingerprints, view.index.is_near_duplicate(t)) for t in texts]


def fill(store: Store, dataset_id: str, texts: list[str]) -> None:
    for start in range(0, len(texts), 400):
        add_tasks(store, dataset_id, [task(t) for t in texts[start : start + 400]], source="seed", stage="upload")


def saved_screen(store: Store, dataset_id: str, files: ScreenFiles) -> SharedScreen:
    screen = opened(store, dataset_id, files)
    assert screen.saved_rows == 0 and screen.save() > 0
    return screen


def opened(store: Store, dataset_id: str, files: ScreenFiles | None) -> SharedScreen:
    screen = SharedScreen(dataset_id, 0.7)
    screen.files = files
    screen.refresh(store)
    return screen


@pytest.fixture
def stored(store: Store, dataset_id: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(shared_screen, "REFRESH_CHUNK", 250)  # several band runs, merged into one by the file
    texts = instructions(ROWS, 7)
    fill(store, dataset_id, texts)
    return texts


@pytest.fixture
def files(tmp_path: Path) -> ScreenFiles:
    return ScreenFiles(tmp_path / "index")


def test_a_loaded_screen_answers_every_lookup_as_a_rebuilt_one(
    store: Store, dataset_id: str, stored: list[str], files: ScreenFiles
) -> None:
    saved_screen(store, dataset_id, files)
    loaded, rebuilt = opened(store, dataset_id, files), opened(store, dataset_id, None)
    assert loaded.saved_rows == len(loaded.index) == ROWS  # read from the file, nothing rebuilt
    asked = queries(stored, 3)
    expected = answers(rebuilt, asked)
    assert answers(loaded, asked) == expected
    assert sum(exact for exact, _ in expected) == 50 and sum(near for _, (near, _, _) in expected) >= 150
    assert loaded.last_id == rebuilt.last_id and loaded.fingerprints == rebuilt.fingerprints


def test_an_index_with_documents_added_one_by_one_is_restored_exactly() -> None:
    texts = instructions(900, 11)
    index = NearDuplicateIndex(0.7, texts[:700])
    for text in texts[700:]:  # kept in the band index's recent dict, not yet a sorted run
        index.add(text)
    snapshot = index.snapshot()
    restored = NearDuplicateIndex(0.7)
    restored.restore(snapshot.texts, snapshot.codes, snapshot.cells, snapshot.tokens, snapshot.overflowed,
                     *index.merged_bands(snapshot))  # fmt: skip
    for text in queries(texts, 5):
        assert restored.best_match(text) == index.best_match(text)
        assert np.array_equal(restored.candidates(text), index.candidates(text))


def test_rows_committed_after_the_save_are_caught_up(
    store: Store, dataset_id: str, stored: list[str], files: ScreenFiles
) -> None:
    saved_screen(store, dataset_id, files)
    later = instructions(300, 8)
    fill(store, dataset_id, later)
    loaded = opened(store, dataset_id, files)
    assert loaded.saved_rows == ROWS and len(loaded.index) == ROWS + 300
    asked = queries(stored + later, 4)
    assert answers(loaded, asked) == answers(opened(store, dataset_id, None), asked)


def rebuilt_instead(store: Store, dataset_id: str, files: ScreenFiles, stored: list[str]) -> None:
    """The file is not used: the screen equals one built from the database alone."""
    screen = opened(store, dataset_id, files)
    assert screen.saved_rows == 0
    asked = queries(stored, 6)
    assert answers(screen, asked) == answers(opened(store, dataset_id, None), asked)


def test_a_file_that_holds_deleted_rows_is_rebuilt(
    store: Store, dataset_id: str, stored: list[str], files: ScreenFiles
) -> None:
    saved_screen(store, dataset_id, files)
    with store.write() as cur:  # what no API does today: a file must still never outlive its rows
        cur.execute("DELETE FROM instances WHERE task_id = (SELECT max(id) FROM tasks)")
        cur.execute("DELETE FROM tasks WHERE id = (SELECT max(id) FROM tasks)")
    rebuilt_instead(store, dataset_id, files, stored[:-1])


def test_a_file_from_another_database_is_rebuilt(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "first.duckdb")
    try:
        dataset_id = create_dataset(first, name="same").id
    finally:
        first.close()
    shutil.copy(tmp_path / "first.duckdb", tmp_path / "second.duckdb")  # the same dataset id, the same next ids
    first, second = Store.open(tmp_path / "first.duckdb"), Store.open(tmp_path / "second.duckdb")
    try:
        fill(first, dataset_id, instructions(ROWS, 7))
        fill(second, dataset_id, instructions(ROWS, 9))  # as many tasks, other instructions
        files = ScreenFiles(tmp_path / "index")
        saved_screen(first, dataset_id, files)
        rebuilt_instead(second, dataset_id, files, instructions(ROWS, 9))
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "empty", "not arrow"])
def test_a_damaged_file_is_rebuilt(
    store: Store, dataset_id: str, stored: list[str], files: ScreenFiles, damage: str
) -> None:
    saved_screen(store, dataset_id, files)
    path = files.path(dataset_id, 0.7)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped byte":
        data[len(data) // 2] ^= 0x40
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"{}" * 100)
    path.write_bytes(bytes(data))
    rebuilt_instead(store, dataset_id, files, stored)


@pytest.mark.parametrize("change", ["format", "parameters", "threshold"])
def test_a_file_of_another_format_or_index_is_rebuilt(
    store: Store, dataset_id: str, stored: list[str], files: ScreenFiles, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    saved_screen(store, dataset_id, files)
    if change == "format":
        monkeypatch.setattr(screen_file, "FORMAT_VERSION", screen_file.FORMAT_VERSION + 1)
        rebuilt_instead(store, dataset_id, files, stored)
    elif change == "parameters":
        screen = SharedScreen(dataset_id, 0.7, bands=32)
        screen.files = files
        screen.refresh(store)
        assert screen.saved_rows == 0 and len(screen.index) == ROWS
    else:  # another threshold has its own file: this one is not taken for it
        other = files.path(dataset_id, 0.8)
        shutil.copy(files.path(dataset_id, 0.7), other)
        screen = SharedScreen(dataset_id, 0.8)
        screen.files = files
        screen.refresh(store)
        assert screen.saved_rows == 0 and len(screen.index) == ROWS


def test_the_write_is_atomic_and_a_leftover_temporary_file_is_ignored(
    store: Store, dataset_id: str, stored: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = ScreenFiles(tmp_path / "index")
    saved_screen(store, dataset_id, files)
    before = files.path(dataset_id, 0.7).read_bytes()
    fill(store, dataset_id, instructions(50, 12))
    screen = opened(store, dataset_id, files)

    def crash(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(screen_file.os, "fsync", crash)
    with pytest.raises(OSError):
        screen.save()  # written to a temporary file, which is removed; the old file stays whole
    assert files.path(dataset_id, 0.7).read_bytes() == before
    assert [p.name for p in files.directory.iterdir()] == [files.path(dataset_id, 0.7).name]
    monkeypatch.undo()
    leftover = files.path(dataset_id, 0.7).with_name(files.path(dataset_id, 0.7).name + ".tmp-crashed")
    leftover.write_bytes(b"half a file")  # as a crash mid-write leaves it
    assert opened(store, dataset_id, files).saved_rows == ROWS  # the complete file is read, not the leftover
    ScreenFiles(files.directory)  # the next start clears it
    assert not leftover.exists()


def test_the_cache_saves_grown_screens_and_at_close_and_drops_deleted_datasets(
    store: Store, dataset_id: str, stored: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_screen, "SAVE_MIN_ROWS", 1_000)
    cache = ScreenCache(directory=tmp_path / "index")
    try:
        _, screen = cache.view(store, dataset_id, 0.7)  # built: 1,200 rows, so saved at once
    finally:
        cache.close()
    assert screen.saved_rows == ROWS
    fill(store, dataset_id, instructions(10, 13))  # fewer than SAVE_FRACTION more: saved only at close
    cache = ScreenCache(directory=tmp_path / "index")
    try:
        _, screen = cache.view(store, dataset_id, 0.7)
        assert screen.saved_rows == ROWS and len(screen.index) == ROWS + 10
    finally:
        cache.close()
    assert screen.saved_rows == ROWS + 10
    cache = ScreenCache(directory=tmp_path / "index")
    try:
        assert cache.view(store, dataset_id, 0.7)[1].saved_rows == ROWS + 10
        delete_dataset(store, dataset_id)
        cache.forget(dataset_id)
        assert list(cache.files.directory.iterdir()) == []
        kept = create_dataset(store, name="kept").id
        fill(store, kept, instructions(20, 14))
        cache.view(store, kept, 0.7)
    finally:
        cache.close()
    assert [p.name for p in (tmp_path / "index").iterdir()] == [cache.files.path(kept, 0.7).name]
