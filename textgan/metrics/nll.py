"""Likelihood metrics: NLL of a model on held-out text (NLL-test) and NLL-oracle of its samples.

NLL-test is the mean per-token negative log-likelihood (nats) a generator assigns to rows it
never trained on, counted like the trainers' `val_nll` (every token up to and including <eos>;
for prompt -> reply rows the reply only, unless train.nll_include_prompt).
At temperature T the model's next-token distribution is softmax(logits / T), the distribution
its samples at T come from, so NLL-test and NLL-oracle can be swept together over T (Caccia et
al. 2020): NLL-test measures how much of the data the model still covers (diversity),
NLL-oracle how likely the oracle finds its samples (quality).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textgan.errors import ConfigError, DataError, TextGanError

if TYPE_CHECKING:  # torch loads on first use: `textgan evaluate` on text files never needs it
    import torch

    from textgan.models.base import Generator
    from textgan.models.oracle import OracleLSTM

__all__ = ["HELD_OUT_SPLITS", "has_exact_likelihood", "nll", "nll_oracle"]

HELD_OUT_SPLITS = ("validation", "test")
"""Splits NLL may be computed on: NLL on the training split measures memorisation, not modelling."""


def has_exact_likelihood(generator: Generator) -> bool:
    """True for autoregressive generators; the image-style GAN has no likelihood, the VAE only a bound."""
    from textgan.models.vae import SentenceVAE

    return getattr(generator, "has_likelihood", True) and not isinstance(generator, SentenceVAE)


def nll(
    generator: Generator,
    tokens: torch.Tensor,
    *,
    split: str,
    temperature: float = 1.0,
    prompt_lengths: torch.Tensor | None = None,
    include_prompt: bool = False,
    batch_size: int = 256,
) -> float:
    """Mean per-token NLL (nats) of held-out (N, T) target rows under the generator at a temperature.

    `split` names where the rows come from and must be a held-out split ("validation" or
    "test"); "train" is refused. Rows are targets as in `EncodedSplit` (<bos> is prepended here);
    the tokens that count are the trainers' (`scored_mask`): up to the first <eos>, and for
    prompt -> reply rows the reply only unless `include_prompt` (train.nll_include_prompt).
    """
    if split not in HELD_OUT_SPLITS:
        raise TextGanError(
            f"NLL on the {split!r} split was refused: NLL-test must use held-out text; pass the "
            f"{' or '.join(HELD_OUT_SPLITS)} split"
        )
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"temperature must be a positive number, got {temperature!r}")
    if not has_exact_likelihood(generator):
        raise TextGanError(
            f"{type(generator).__name__} defines no exact token likelihood, so NLL-test does not apply; "
            "compare it by BLEU/Self-BLEU (and NLL-oracle on oracle data)"
        )
    if tokens.dim() != 2 or tokens.shape[0] == 0:
        raise DataError(f"the {split} split holds no rows (shape {tuple(tokens.shape)}); NLL needs at least one")
    import torch
    import torch.nn.functional as F

    from textgan.data.encoding import scored_mask

    was_training = generator.training
    generator.eval()
    device = generator.device
    total = 0.0
    count = 0
    with torch.no_grad():
        for start in range(0, tokens.shape[0], batch_size):
            targets = tokens[start : start + batch_size]
            prompts = prompt_lengths[start : start + batch_size] if prompt_lengths is not None else None
            mask = scored_mask(targets, prompts, generator.eos_id, include_prompt)
            targets, mask = targets.to(device), mask.to(device)
            logits = generator(generator.inputs_for(targets)).float() / temperature
            token_nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
            total += float(token_nll.double()[mask.reshape(-1)].sum())
            count += int(mask.sum())
    generator.train(was_training)
    if count == 0:
        raise DataError(f"the {split} split holds no scored token (every row is a prompt only); NLL is undefined")
    return total / count


def nll_oracle(oracle: OracleLSTM, samples: torch.Tensor) -> float:
    """NLL-oracle (SeqGAN): the oracle's mean per-token NLL (nats) of generated (N, T) sequences."""
    if samples.dim() != 2 or samples.numel() == 0:
        raise DataError(f"NLL-oracle needs a non-empty (N, T) batch of sequences, got shape {tuple(samples.shape)}")
    return oracle.nll(samples)
