"""Examples -> fixed-length token tensors, with the max-length policy counted and logged.

A row is the target sequence: [prompt tokens, <sep>,] text tokens, <eos>, then the fill token
up to `max_length`. The generator's input is <bos> followed by the row shifted right.

The end-of-sequence rule lives here, for data rows and generated rows alike: everything after
the first <eos> is the fill token (`fill_id`: <pad>, else <eos>, else id 0), and the positions
that count in a likelihood are those up to and including the first <eos> (`target_mask`),
without the prompt unless it is asked for (`scored_mask`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from textgan.data.corpus import Example
from textgan.data.tokenizer import TextTokenizer
from textgan.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class EncodedSplit:
    """Token rows of one split, and how many leading positions of each row are prompt."""

    tokens: torch.Tensor  # (N, T) long
    prompt_lengths: torch.Tensor  # (N,) long; 0 for plain texts
    dropped: int = 0
    truncated: int = 0

    def __len__(self) -> int:
        return self.tokens.shape[0]


def prompt_prefix(tokenizer: TextTokenizer, prompt: str) -> list[int]:
    """Ids that start a reply to `prompt`: the prompt's tokens and the separator."""
    ids = tokenizer.encode(prompt)
    return ids + [tokenizer.sep_id] if tokenizer.sep_id is not None else ids


def encode_row(text_ids: list[int], prompt_ids: list[int] | None, tokenizer: TextTokenizer,
               max_length: int, overflow: str) -> tuple[list[int] | None, int, bool]:
    """One padded row, its prompt length, and whether it was truncated (row None: dropped)."""
    prefix = prompt_ids + [tokenizer.sep_id] if prompt_ids is not None else []
    row = prefix + text_ids + ([tokenizer.eos_id] if tokenizer.eos_id is not None else [])
    truncated = False
    if len(row) > max_length:
        if overflow == "drop" or len(prefix) >= max_length:
            return None, len(prefix), False
        row, truncated = row[:max_length], True
    return row + [fill_id(tokenizer.pad_id, tokenizer.eos_id)] * (max_length - len(row)), len(prefix), truncated


def log_overflow(name: str, dropped: int, truncated: int, total: int, max_length: int) -> None:
    """Say how many examples the max-length policy dropped or truncated."""
    if dropped or truncated:
        log.info("%s split: %d of %d examples longer than max_length=%d were %s", name,
                 dropped or truncated, total, max_length, "dropped" if dropped else "truncated")


def encode_examples(
    examples: list[Example], tokenizer: TextTokenizer, max_length: int, overflow: str, name: str = "train"
) -> EncodedSplit:
    """Encode examples to padded rows; longer ones are dropped or truncated per `overflow`."""
    texts = tokenizer.encode_batch([e.text for e in examples])
    prompts = tokenizer.encode_batch([e.prompt or "" for e in examples])
    rows: list[list[int]] = []
    prompt_lengths: list[int] = []
    dropped = truncated = 0
    for example, text_ids, prompt_ids in zip(examples, texts, prompts):
        row, prompt_length, was_truncated = encode_row(
            text_ids, prompt_ids if example.prompt is not None else None, tokenizer, max_length, overflow)
        if row is None:
            dropped += 1
            continue
        truncated += was_truncated
        rows.append(row)
        prompt_lengths.append(prompt_length)
    log_overflow(name, dropped, truncated, len(examples), max_length)
    if not rows and examples:
        raise too_long_error(name, max_length)
    tokens = torch.tensor(rows, dtype=torch.long) if rows else torch.empty(0, max_length, dtype=torch.long)
    return EncodedSplit(tokens, torch.tensor(prompt_lengths, dtype=torch.long), dropped, truncated)


def too_long_error(name: str, max_length: int) -> DataError:
    return DataError(
        f"every {name} example is longer than tokenizer.max_length={max_length}; raise it "
        "(--set tokenizer.max_length=N) or use tokenizer.overflow=truncate"
    )


def shift_right(tokens: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Generator inputs for target rows: <bos> then each row without its last token."""
    start = torch.full_like(tokens[:, :1], bos_id)
    return torch.cat([start, tokens[:, :-1]], dim=1)


def fill_id(pad_id: int | None, eos_id: int | None) -> int:
    """The token written after <eos> in every row, real or generated: <pad>, else <eos>, else 0.

    Real and generated rows must agree on it, or a discriminator tells them apart by their padding.
    """
    if pad_id is not None:
        return pad_id
    return eos_id if eos_id is not None else 0


def eos_positions(tokens: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """(B,) index of the first <eos> of each (B, T) row, or T where a row has none."""
    length = tokens.shape[1]
    if eos_id is None:
        return torch.full((tokens.shape[0],), length, dtype=torch.long, device=tokens.device)
    is_eos = tokens == eos_id
    first = is_eos.long().argmax(dim=1)
    return torch.where(is_eos.any(dim=1), first, torch.full_like(first, length))


def target_mask(tokens: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """Positions that count in a likelihood: every token up to and including the first <eos>."""
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    return positions <= eos_positions(tokens, eos_id).unsqueeze(1)


def scored_mask(tokens: torch.Tensor, prompt_lengths: torch.Tensor | None, eos_id: int | None,
                include_prompt: bool = False) -> torch.Tensor:
    """`target_mask` without each row's first `prompt_lengths` positions (unless `include_prompt`):
    the tokens of prompt -> reply rows that the MLE loss and every NLL count (the reply only, by default)."""
    mask = target_mask(tokens, eos_id)
    if prompt_lengths is None or include_prompt:
        return mask
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    return mask & (positions >= prompt_lengths.to(tokens.device).unsqueeze(1))


def pad_after_eos(tokens: torch.Tensor, eos_id: int | None, fill: int) -> torch.Tensor:
    """Rows with every token after the first <eos> replaced by `fill` (see `fill_id`)."""
    if eos_id is None:
        return tokens
    return tokens.masked_fill(~target_mask(tokens, eos_id), fill)
