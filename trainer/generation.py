"""What evaluation asks of a loaded model: the loss on answer tokens, and answers to prompts.

The loss is tokenised as TRL tokenises a conversational prompt/completion pair for training (the chat template
over the prompt with the generation prompt, then over prompt + completion), so validation and training count
the same tokens. torch is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trainer.formats import Message

IGNORE_INDEX = -100


def completion_labels(tokenizer: Any, pair: dict[str, list[Message]], max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one pair: labels are the ids on completion tokens and IGNORE_INDEX elsewhere."""
    prompt_ids = tokenizer.apply_chat_template(pair["prompt"], tokenize=True, add_generation_prompt=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=True)["input_ids"]
    labels = [IGNORE_INDEX] * len(prompt_ids) + list(full_ids[len(prompt_ids) :])
    return list(full_ids[:max_length]), labels[:max_length]


def validation_loss(
    model: Any, tokenizer: Any, pairs: Sequence[dict[str, list[Message]]], *, max_length: int, batch_size: int
) -> tuple[float, int]:
    """(mean loss per completion token, completion tokens counted) over all pairs."""
    import torch

    encoded = [completion_labels(tokenizer, pair, max_length) for pair in pairs]
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            batch_loss, batch_tokens = _batch_loss(model, encoded[start : start + batch_size], tokenizer.pad_token_id)
            total, tokens = total + batch_loss, tokens + batch_tokens
    return (total / tokens if tokens else math.nan), tokens


def _batch_loss(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[float, int]:
    import torch
    import torch.nn.functional as F

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in batch], device=model.device)
    labels = torch.tensor([lab + [IGNORE_INDEX] * (width - len(lab)) for _, lab in batch], device=model.device)
    attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=model.device)
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    targets = labels[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return float(loss), int((targets != IGNORE_INDEX).sum())


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[Message]],
    *,
    samples: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    batch_size: int,
) -> list[list[str]]:
    """`samples` answers per prompt; greedy when temperature is 0. Generation stops at the end-of-turn token."""
    import torch
    from transformers import GenerationConfig

    sampling = temperature > 0
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_p=top_p if sampling else None,
        num_return_sequences=samples,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    answers: list[list[str]] = []
    tokenizer.padding_side = "left"  # decoder-only batches continue from the right edge
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in chunk]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            output = model.generate(**inputs, generation_config=config)
            decoded = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            answers.extend(decoded[i : i + samples] for i in range(0, len(decoded), samples))
    return answers
