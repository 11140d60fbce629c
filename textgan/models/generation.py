"""Rows sampled from a generator for evaluation and final samples: plain text, or replies to a
split's prompts in turn (the sampling primitive every command and the API share)."""

from __future__ import annotations

import torch

from textgan.data.encoding import EncodedSplit
from textgan.models.base import Generator

GENERATION_CHUNK = 500  # rows sampled per call (bounds the transformer's KV cache)


def generate(generator: Generator, count: int, temperature: float, rng: torch.Generator,
             split: EncodedSplit, top_k: int = 0, top_p: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` rows as long as the split's; with prompts, replies to the split's prompts in turn.

    Returns the rows and each row's prompt length (where its generated text starts).
    """
    with torch.no_grad():
        length = split.tokens.shape[1]
        if not bool((split.prompt_lengths > 0).any()):
            chunks = [generator.sample(min(GENERATION_CHUNK, count - start), max_len=length,
                                       temperature=temperature, top_k=top_k, top_p=top_p, generator=rng).cpu()
                      for start in range(0, count, GENERATION_CHUNK)]
            return torch.cat(chunks), torch.zeros(count, dtype=torch.long)
        source = torch.arange(count) % len(split)
        prompt_lengths = split.prompt_lengths[source]
        rows = torch.empty(count, length, dtype=torch.long)
        for prompt_length in prompt_lengths.unique().tolist():
            where = (prompt_lengths == prompt_length).nonzero().squeeze(1)
            for part in torch.split(where, GENERATION_CHUNK):
                prefix = split.tokens[source[part], :prompt_length]
                rows[part] = generator.sample(len(part), max_len=length, temperature=temperature, top_k=top_k,
                                              top_p=top_p, prefix=prefix, generator=rng).cpu()
        return rows, prompt_lengths
