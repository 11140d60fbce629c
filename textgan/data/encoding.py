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
import math
from dataclasses import dataclass

import torch

from textgan.data.corpus import Example
from textgan.data.tokenizer import TextTokenizer
from textgan.errors import DataError

log = logging.getLogger(__name__)

AUTO = "auto"  # tokenizer.max_length sized from the corpus
AUTO_MAX_LENGTH = 1024  # auto never exceeds this: GPT-2's context, and a bound on every row's width
AUTO_PERCENTILE = 0.99


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
    return row + [fill_id(tokenizer.pad_id, tokenizer.eos_id)] * (max_length - len(row)), len(prefix), truncated


def encode_rows(texts: list[list[int]], prompts: list[list[int]] | list[None], tokenizer: TextTokenizer,
                max_length: int, overflow: str) -> tuple[list[list[int]], list[int], int, int]:
    """`encode_row` over examples: the kept rows, their prompt lengths, and how many were
    dropped and truncated."""
    rows: list[list[int]] = []
    prompt_lengths: list[int] = []
    dropped = truncated = 0
    for text_ids, prompt_ids in zip(texts, prompts):
        row, prompt_length, was_truncated = encode_row(text_ids, prompt_ids, tokenizer, max_length, overflow)
        if row is None:
            dropped += 1
            continue
        truncated += was_truncated
        rows.append(row)
        prompt_lengths.append(prompt_length)
    return rows, prompt_lengths, dropped, truncated


def row_length(text_ids: list[int], prompt_ids: list[int] | None, tokenizer: TextTokenizer) -> int:
    """Tokens of an example's row: [prompt, <sep>,] text[, <eos>]."""
    prefix = len(prompt_ids) + 1 if prompt_ids is not None else 0
    return prefix + len(text_ids) + (tokenizer.eos_id is not None)


def choose_max_length(lengths: list[int], cap: int = AUTO_MAX_LENGTH) -> int:
    """tokenizer.max_length: auto for these row lengths: the longest, unless it is more than
    twice the 99th percentile (a few outliers would set every row's width), then that
    percentile; never above `cap`."""
    ordered = sorted(lengths)
    percentile = ordered[math.ceil(AUTO_PERCENTILE * len(ordered)) - 1]
    longest = ordered[-1]
    return max(2, min(cap, longest if longest <= 2 * percentile else percentile))


def token_ids(examples: list[Example], tokenizer: TextTokenizer,
              limit: int) -> tuple[list[list[int]], list[list[int] | None]]:
    """Text ids and prompt ids (None for plain texts) of examples, each at most `limit` + 1."""
    texts = tokenizer.encode_capped([e.text for e in examples], limit)
    asked = [e.prompt for e in examples if e.prompt is not None]
    found = iter(tokenizer.encode_capped(asked, limit))
    return texts, [next(found) if e.prompt is not None else None for e in examples]


def report_overflow(name: str, dropped: int, truncated: int, total: int, max_length: int) -> None:
    """Say in one warning how many examples the max-length policy dropped or truncated; refuse
    when it would drop most of a split."""
    if not (dropped or truncated):
        return

    def share(count: int) -> str:
        return f"{count:,} of {total:,} {name} examples ({count / total:.1%})"

    if 2 * dropped > total:
        raise DataError(
            f"{share(dropped)} are longer than tokenizer.max_length={max_length} and would be dropped; "
            "size it from the corpus (tokenizer.max_length=auto), raise it (--max-length N) or set "
            "tokenizer.overflow=truncate"
        )
    if truncated:
        more = f"; {dropped:,} more were dropped (their prompt alone fills the length)" if dropped else ""
        log.warning("%s were longer than tokenizer.max_length=%d and were truncated (without <eos>)%s; "
                    "raise --max-length to keep them whole", share(truncated), max_length, more)
    else:
        log.warning("%s were longer than tokenizer.max_length=%d and were dropped; raise --max-length or set "
                    "tokenizer.overflow=truncate to keep them", share(dropped), max_length)


def encode_examples(
    examples: list[Example], tokenizer: TextTokenizer, max_length: int | str, overflow: str, name: str = "train"
) -> EncodedSplit:
    """Encode examples to padded rows; longer ones are dropped or truncated per `overflow`.

    `max_length` "auto" sizes the rows from these examples (choose_max_length). No example is
    tokenised past the length, so a huge line costs no more memory than a long one.
    """
    auto = max_length == AUTO
    limit = AUTO_MAX_LENGTH if auto else int(max_length)
    texts, prompts = token_ids(examples, tokenizer, limit)
    if auto:
        limit = choose_max_length([row_length(t, p, tokenizer) for t, p in zip(texts, prompts)]) if examples else 2
        log.info("tokenizer.max_length auto: %d tokens from the %s split's %d examples", limit, name, len(examples))
    rows, prompt_lengths, dropped, truncated = encode_rows(texts, prompts, tokenizer, limit, overflow)
    report_overflow(name, dropped, truncated, len(examples), limit)
    tokens = torch.tensor(rows, dtype=torch.long) if rows else torch.empty(0, limit, dtype=torch.long)
    return EncodedSplit(tokens, torch.tensor(prompt_lengths, dtype=torch.long), dropped, truncated)


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
