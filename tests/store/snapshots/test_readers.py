"""The `tested` claims of store/snapshots/readers.py, run on files the snapshot code wrote.

TRL's SFTTrainer (the installed version) takes one training step on a tiny random Llama (hidden 32, 2 layers)
with the packaged SmolLM2 tokenizer and its chat template; which tokens carry the loss is read from the labels
the trainer's own collator builds (-100: no loss).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest

from store import Store
from store.snapshots.readers import READER_NAMES, READERS, readers_table
from store.snapshots.snapshot import SnapshotSpec, create_snapshot
from store.tasks import add_tasks
from tests.store.conftest import task
from tests.store.conversations import MULTI_SYSTEM, MULTI_TURNS, chat_tasks

REPO_ROOT = Path(__file__).resolve().parents[3]
ANSWER = "The sum of 2 and 3 is 5."
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM"  # what SmolLM2's template adds without a system turn
TASKS = [
    task("Add the two numbers.", ANSWER, input="2 and 3", category="math"),
    task("Name the capital of France.", "Paris.", category="geography"),
    task("Spell the word river backwards.", "revir", category="words"),
    task("Give a colour of the clear daytime sky.", "Blue.", category="words"),
    task("Which planet is called the red one?", "Mars.", category="geography"),
]
# SmolLM2's template with TRL's `{% generation %}` markers around the assistant's content.
MARKED_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on the shared cores more threads wait on each other (see trainer/modeling.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def snapshot_train(store: Store, dataset_id: str, root: Path, fmt: str, **spec: Any) -> Path:
    """The train.jsonl of a snapshot written by the real snapshot code."""
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    request = SnapshotSpec(format=fmt, validation_fraction=0, **spec)  # type: ignore[arg-type]
    snap = create_snapshot(store, dataset_id, request, root)
    return Path(snap.path) / "train.jsonl"


def sft(train: Path, tok: Any, out: Path, **options: Any) -> Any:
    """SFTTrainer on the file as it is (no conversion), a tiny random model, one step at most."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    formatting_func = options.pop("formatting_func", None)
    args = SFTConfig(output_dir=str(out), max_steps=1, per_device_train_batch_size=2, max_length=128,
                     use_cpu=True, report_to="none", save_strategy="no", logging_steps=1, **options)  # fmt: skip
    dataset = datasets.load_dataset("json", data_files=str(train), split="train")
    return SFTTrainer(model=LlamaForCausalLM(config), args=args, train_dataset=dataset, processing_class=tok,
                      formatting_func=formatting_func)  # fmt: skip


def loss_text(trainer: Any, tok: Any, row: int = 0) -> tuple[str, str]:
    """(the whole rendered text, the tokens that carry loss) of one row, as the trainer's collator labels it."""
    batch = trainer.data_collator([trainer.train_dataset[row]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    return tok.decode(ids), tok.decode(ids[labels != -100])


def step(trainer: Any) -> None:
    trainer.train()
    assert trainer.state.global_step == 1
    assert math.isfinite(trainer.state.log_history[-1]["train_loss"])


def first_row_with(trainer: Any, tok: Any, text: str) -> int:
    for row in range(len(trainer.train_dataset)):
        if text in tok.decode(trainer.train_dataset[row]["input_ids"]):
            return row
    raise AssertionError(f"no row holds {text!r}")


def test_prompt_completion_trains_on_the_answer_only(store: Store, dataset_id: str, tmp_path: Path,
                                                     default_model_dir: Path) -> None:  # fmt: skip
    tok = tokenizer(default_model_dir)
    trainer = sft(snapshot_train(store, dataset_id, tmp_path / "s", "prompt_completion"), tok, tmp_path / "o")
    text, trained = loss_text(trainer, tok, first_row_with(trainer, tok, ANSWER))
    assert "Add the two numbers.\n\n2 and 3" in text
    assert trained == f"{ANSWER}<|im_end|>\n"
    step(trainer)


def test_alpaca_is_not_read_as_is(store: Store, dataset_id: str, tmp_path: Path, default_model_dir: Path) -> None:
    tok = tokenizer(default_model_dir)
    train = snapshot_train(store, dataset_id, tmp_path / "s", "alpaca")
    with pytest.raises(KeyError, match="text"):
        sft(train, tok, tmp_path / "o")
    # The way round TRL offers, a formatting_func, makes text: the loss then falls on every token.
    as_text = lambda r: f"{r['instruction']}\n{r['input']}\n{r['output']}"  # noqa: E731
    trainer = sft(train, tok, tmp_path / "o", formatting_func=as_text)
    text, trained = loss_text(trainer, tok)
    assert trained == text
    step(trainer)


def test_sharegpt_runs_with_human_gpt_roles_and_loss_everywhere(store: Store, dataset_id: str, tmp_path: Path,
                                                                default_model_dir: Path) -> None:  # fmt: skip
    tok = tokenizer(default_model_dir)
    train = snapshot_train(store, dataset_id, tmp_path / "s", "sharegpt")
    trainer = sft(train, tok, tmp_path / "o")
    text, trained = loss_text(trainer, tok, first_row_with(trainer, tok, ANSWER))
    assert "<|im_start|>human\n" in text and "<|im_start|>gpt\n" in text and "<|im_start|>user" not in text
    assert trained == text and DEFAULT_SYSTEM in trained
    step(trainer)
    with pytest.raises(ValueError, match="not conversational"):
        sft(train, tok, tmp_path / "o2", assistant_only_loss=True)


def test_messages_train_on_every_token_unless_the_template_marks_answers(
    store: Store, dataset_id: str, tmp_path: Path, default_model_dir: Path
) -> None:
    tok = tokenizer(default_model_dir)
    train = snapshot_train(store, dataset_id, tmp_path / "s", "messages")
    trainer = sft(train, tok, tmp_path / "o")
    text, trained = loss_text(trainer, tok, first_row_with(trainer, tok, ANSWER))
    assert trained == text and DEFAULT_SYSTEM in trained and "<|im_start|>user\nAdd the two numbers." in trained
    step(trainer)
    with pytest.raises(ValueError, match="not training-compatible"):
        sft(train, tok, tmp_path / "o2", assistant_only_loss=True)
    marked = tokenizer(default_model_dir)
    marked.chat_template = MARKED_TEMPLATE
    trainer = sft(train, marked, tmp_path / "o3", assistant_only_loss=True)
    _, trained = loss_text(trainer, marked, first_row_with(trainer, marked, ANSWER))
    assert trained == f"{ANSWER}<|im_end|>"
    step(trainer)


def test_a_system_prompt_replaces_the_templates_default(store: Store, dataset_id: str, tmp_path: Path,
                                                        default_model_dir: Path) -> None:  # fmt: skip
    tok = tokenizer(default_model_dir)
    system = "You answer in one short sentence. $PROMPT stays text, as do 'quotes' and %s."
    trainer = sft(snapshot_train(store, dataset_id, tmp_path / "s", "prompt_completion", system_prompt=system),
                  tok, tmp_path / "o")  # fmt: skip
    text, trained = loss_text(trainer, tok, first_row_with(trainer, tok, ANSWER))
    assert text.startswith(f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n") and DEFAULT_SYSTEM not in text
    assert trained == f"{ANSWER}<|im_end|>\n"
    step(trainer)


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_datasets_loads_every_format(store: Store, dataset_id: str, tmp_path: Path, fmt: str) -> None:
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    request = SnapshotSpec(format=fmt, validation_fraction=0.5)  # type: ignore[arg-type]
    snap = create_snapshot(store, dataset_id, request, tmp_path)
    files = {split: str(Path(snap.path) / f"{split}.jsonl") for split in ("train", "validation")}
    loaded = datasets.load_dataset("json", data_files=files)
    counts = snap.manifest["counts"]
    assert {split: loaded[split].num_rows for split in files} == {s: counts[s]["records"] for s in files}
    assert counts["validation"]["records"] > 0 and counts["train"]["records"] > 0


def test_an_empty_validation_file_does_not_load(store: Store, dataset_id: str, tmp_path: Path) -> None:
    """Why the table and the data card say to leave an empty validation.jsonl out."""
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(validation_fraction=0), tmp_path)
    files = {split: str(Path(snap.path) / f"{split}.jsonl") for split in ("train", "validation")}
    with pytest.raises(ValueError, match="validation"):
        datasets.load_dataset("json", data_files=files)
    assert datasets.load_dataset("json", data_files=files["train"], split="train").num_rows == len(TASKS)
    assert "`validation.jsonl` is empty" in (Path(snap.path) / "README.md").read_text()


def test_the_readme_mirrors_the_table_and_the_card_shows_its_row(store: Store, dataset_id: str, tmp_path: Path) -> None:
    assert readers_table() in (REPO_ROOT / "README.md").read_text()
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    card = Path(create_snapshot(store, dataset_id, SnapshotSpec(format="sharegpt"), tmp_path).path) / "README.md"
    text = card.read_text()
    assert readers_table(("sharegpt",)) in text and "`messages` |" not in text
    assert all(name in text for name in READER_NAMES.values()) and "as is)" not in text


def llama_factory() -> tuple[Any, Any]:
    """LLaMA-Factory's dataset_info parser and format converter (installed with --no-deps, see the Makefile).

    Its `llamafactory.data` package imports the multimodal plugin, which needs torchaudio (not installed beside
    the CPU torch), so an empty package stands in for it and its two modules load on their own. It stays in
    sys.modules: the modules, once loaded, are found through it.
    """
    import importlib.util
    import sys
    import types

    if "llamafactory.data" not in sys.modules:
        spec = importlib.util.find_spec("llamafactory")
        assert spec is not None and spec.submodule_search_locations, "llamafactory is not installed (make install)"
        package = types.ModuleType("llamafactory.data")
        package.__path__ = [str(Path(spec.submodule_search_locations[0]) / "data")]
        sys.modules["llamafactory.data"] = package
    from llamafactory.data.converter import align_dataset
    from llamafactory.data.parser import get_dataset_list

    return get_dataset_list, align_dataset


@pytest.mark.parametrize(
    ("fmt", "system", "user"),
    [
        ("alpaca", None, "Add the two numbers.\n2 and 3"),  # LLaMA-Factory joins instruction and input with "\n"
        ("sharegpt", None, "Add the two numbers.\n\n2 and 3"),
        ("sharegpt", "Be brief.", "Add the two numbers.\n\n2 and 3"),
        ("messages", "Be brief.", "Add the two numbers.\n\n2 and 3"),
    ],
)
def test_llama_factory_reads_the_snapshot_with_its_dataset_info(
    store: Store, dataset_id: str, tmp_path: Path, fmt: str, system: str | None, user: str
) -> None:
    from types import SimpleNamespace

    get_dataset_list, align_dataset = llama_factory()
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    spec = SnapshotSpec(format=fmt, validation_fraction=0.5, system_prompt=system)  # type: ignore[arg-type]
    snap = create_snapshot(store, dataset_id, spec, tmp_path)
    folder = Path(snap.path)
    names = [f"test_snapshot1_{split}" for split in ("train", "validation")]
    rows = []
    for attr in get_dataset_list(names, str(folder)):  # our dataset_info.json, read by LLaMA-Factory's parser
        raw = datasets.load_dataset("json", data_files=str(folder / attr.dataset_name), split="train")
        data_args = SimpleNamespace(media_dir=str(folder), streaming=False, preprocessing_num_workers=None,
                                    overwrite_cache=True)  # fmt: skip
        rows += list(align_dataset(raw, attr, data_args, SimpleNamespace(local_process_index=0)))
    assert len(rows) == len(TASKS)  # it drops records it cannot read (with a warning): none were dropped
    row = next(r for r in rows if r["_response"] == [{"role": "assistant", "content": ANSWER}])
    assert row["_prompt"] == [{"role": "user", "content": user}] and row["_system"] == (system or "")


def test_llama_factory_has_no_entry_for_prompt_completion(store: Store, dataset_id: str, tmp_path: Path) -> None:
    add_tasks(store, dataset_id, TASKS, source="seed", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(format="prompt_completion"), tmp_path)
    assert (Path(snap.path) / "dataset_info.json").read_text() == "{}"


def chat_train(store: Store, dataset_id: str, root: Path, fmt: str) -> Path:
    """The train.jsonl of a snapshot of tests/store/conversations.py's chats (one of three exchanges)."""
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(format=fmt, validation_fraction=0), root)  # type: ignore[arg-type]
    return Path(snap.path) / "train.jsonl"


def test_a_multi_turn_prompt_completion_trains_on_its_last_answer(store: Store, dataset_id: str, tmp_path: Path,
                                                                  default_model_dir: Path) -> None:  # fmt: skip
    tok = tokenizer(default_model_dir)
    trainer = sft(chat_train(store, dataset_id, tmp_path / "s", "prompt_completion"), tok, tmp_path / "o")
    text, trained = loss_text(trainer, tok, first_row_with(trainer, tok, MULTI_TURNS[0][1]))
    assert text.startswith(f"<|im_start|>system\n{MULTI_SYSTEM}<|im_end|>\n<|im_start|>user\n{MULTI_TURNS[0][1]}")
    assert f"<|im_start|>assistant\n{MULTI_TURNS[3][1]}<|im_end|>" in text  # the earlier answers are prompt
    assert trained == f"{MULTI_TURNS[-1][1]}<|im_end|>\n"
    step(trainer)


def test_multi_turn_messages_train_on_every_answer_with_a_marked_template(
    store: Store, dataset_id: str, tmp_path: Path, default_model_dir: Path
) -> None:
    marked = tokenizer(default_model_dir)
    marked.chat_template = MARKED_TEMPLATE
    trainer = sft(chat_train(store, dataset_id, tmp_path / "s", "messages"), marked, tmp_path / "o",
                  assistant_only_loss=True)  # fmt: skip
    text, trained = loss_text(trainer, marked, first_row_with(trainer, marked, MULTI_TURNS[0][1]))
    assert text.startswith(f"<|im_start|>system\n{MULTI_SYSTEM}<|im_end|>") and DEFAULT_SYSTEM not in text
    assert trained == "".join(f"{content}<|im_end|>" for role, content in MULTI_TURNS if role == "assistant")
    step(trainer)


@pytest.mark.parametrize("fmt", ["sharegpt", "messages"])
def test_llama_factory_reads_multi_turn_records_whole(store: Store, dataset_id: str, tmp_path: Path, fmt: str) -> None:
    from types import SimpleNamespace

    get_dataset_list, align_dataset = llama_factory()
    folder = chat_train(store, dataset_id, tmp_path, fmt).parent
    (attr,) = get_dataset_list(["test_snapshot1_train"], str(folder))
    raw = datasets.load_dataset("json", data_files=str(folder / attr.dataset_name), split="train")
    data_args = SimpleNamespace(media_dir=str(folder), streaming=False, preprocessing_num_workers=None,
                                overwrite_cache=True)  # fmt: skip
    rows = list(align_dataset(raw, attr, data_args, SimpleNamespace(local_process_index=0)))
    assert len(rows) == 3  # none dropped (it drops a record whose turns do not pair up)
    chat = next(r for r in rows if r["_system"] == MULTI_SYSTEM)
    assert chat["_prompt"] == [{"role": role, "content": content} for role, content in MULTI_TURNS[:-1]]
    assert chat["_response"] == [{"role": "assistant", "content": MULTI_TURNS[-1][1]}]
