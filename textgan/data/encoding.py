"""Examples -> fixed-length token tensors, with the max-length policy counted and logged.

A row is the target sequence: [prompt tokens, <sep>,] text tokens, <eos>, then <pad> up to
`max_length`. The generator's input is <bos> followed by the row shifted right.
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


PROMPT_ARROW = " → "  # between a prompt and its reply wherever samples are shown


def show_sample(tokenizer: TextTokenizer, ids: list[int], prompt_length: int = 0, prompted: bool = False) -> str:
    """A generated row as text; a reply is shown after its prompt, `prompt → reply`.

    The prompt is the row's first `prompt_length` ids (prompt and <sep>), or, for a row a
    prompt -> reply model (`prompted`) generated whole, everything up to its first <sep>. Other
    rows are decoded whole (a prompt they continue included).
    """
    ids = [int(i) for i in ids]
    sep = tokenizer.sep_id
    if prompted and not prompt_length and sep is not None:
        end = ids.index(tokenizer.eos_id) if tokenizer.eos_id in ids else len(ids)
        if sep in ids[:end]:
            prompt_length = ids.index(sep) + 1
    if not prompt_length or sep is None or sep not in ids[:prompt_length]:
        return tokenizer.decode(ids)
    return tokenizer.decode(ids[:prompt_length]) + PROMPT_ARROW + tokenizer.decode(ids[prompt_length:])


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
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    return row + [pad] * (max_length - len(row)), len(prefix), truncated


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


def target_mask(tokens: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """Positions that count in the loss: every token up to and including the first <eos>."""
    if eos_id is None:
        return torch.ones_like(tokens, dtype=torch.bool)
    is_eos = (tokens == eos_id).long()
    return (is_eos.cumsum(dim=1) - is_eos) == 0
