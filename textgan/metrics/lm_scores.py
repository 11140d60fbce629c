"""Language-model scores of a whole sample distribution: reverse-LM and forward-LM NLL.

* reverse LM (Cífka et al. 2018; Semeniuta et al. 2018): a fresh LM trained on the *generated*
  rows, scored by its mean per-token NLL on the *real* test rows. It is low only when the samples
  cover the data; a model that drops modes (or repeats one sentence) leaves the reverse LM
  unable to explain real text, which BLEU does not see.
* forward LM: a fresh LM trained on *real* rows, scoring the generated rows. It is low when the
  samples are fluent by the data's standards (a learned stand-in for NLL-oracle).

Both LMs are the project's LSTM generator trained by its MLE step (`MLEStepper`) for a fixed
number of epochs from a fixed seed, so the same rows and seed give the same number. Their
absolute values depend on the budget (epochs, size, number of rows): compare models only at the
same budget and sample count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textgan.data.encoding import EncodedSplit
from textgan.errors import ConfigError, DataError
from textgan.metrics.nll import nll
from textgan.models.lstm import LSTMGenerator

__all__ = ["LMBudget", "Vocabulary", "fit_lm", "forward_lm_nll", "lm_scores", "reverse_lm_nll"]


@dataclass(frozen=True)
class Vocabulary:
    """What a fresh LM needs to know of the token ids: vocabulary size and the special ids."""

    size: int
    bos_id: int
    eos_id: int | None
    pad_id: int | None


@dataclass(frozen=True)
class LMBudget:
    """Size and training budget of the scoring LMs (the defaults cost seconds on 1,000 rows)."""

    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 0.01
    embedding_dim: int = 32
    hidden_dim: int = 64

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "embedding_dim", "hidden_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"LM budget: {name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"LM budget: learning_rate must be > 0, got {self.learning_rate}")


def _check_rows(rows: torch.Tensor, what: str) -> None:
    if rows.dim() != 2 or rows.shape[0] == 0 or rows.is_floating_point():
        raise DataError(f"{what} must be a non-empty (N, T) tensor of token ids, got shape {tuple(rows.shape)}")


def fit_lm(rows: torch.Tensor, vocabulary: Vocabulary, budget: LMBudget, seed: int,
           device: str | torch.device = "cpu") -> LSTMGenerator:
    """A fresh LSTM LM trained by MLE on (N, T) target rows for `budget.epochs` epochs, from `seed`.

    The global RNG is left as it was: initialisation and batch order draw from `seed` alone.
    """
    from textgan.training.base import epoch_order, global_batches
    from textgan.training.mle import MLEStepper
    from textgan.training.runtime import Runtime

    _check_rows(rows, "the LM's training rows")
    runtime = Runtime(torch.device(device))
    split = EncodedSplit(rows.cpu(), torch.zeros(len(rows), dtype=torch.long))
    with torch.random.fork_rng(devices=[]):  # the LM is built on the CPU: only that generator is seeded
        torch.random.default_generator.manual_seed(seed)
        lm = LSTMGenerator(vocabulary.size, rows.shape[1], vocabulary.bos_id, vocabulary.eos_id,
                           vocabulary.pad_id, embedding_dim=budget.embedding_dim,
                           hidden_dim=budget.hidden_dim).to(runtime.device)
    stepper = MLEStepper(lm, runtime, budget.learning_rate, weight_decay=0.0, grad_clip=5.0)
    lm.train()
    for epoch in range(budget.epochs):
        for batch in global_batches(epoch_order(len(split), seed, epoch), budget.batch_size):
            stepper.step(split, batch)
    return lm.eval()


def reverse_lm_nll(samples: torch.Tensor, test: torch.Tensor, vocabulary: Vocabulary,
                   budget: LMBudget = LMBudget(), seed: int = 0, device: str | torch.device = "cpu") -> float:
    """Mean per-token NLL (nats) of the real `test` rows under a fresh LM trained on `samples`."""
    _check_rows(test, "the real test rows")
    lm = fit_lm(samples, vocabulary, budget, seed, device)
    return nll(lm, test, split="test")


def forward_lm_nll(lm: LSTMGenerator, samples: torch.Tensor) -> float:
    """Mean per-token NLL (nats) of generated `samples` under an LM trained on real text (`fit_lm`)."""
    _check_rows(samples, "the generated rows")
    # the samples are held out from this LM: it never trained on them
    return nll(lm, samples, split="test")


def lm_scores(samples: torch.Tensor, real_train: torch.Tensor, real_test: torch.Tensor, vocabulary: Vocabulary,
              budget: LMBudget = LMBudget(), seed: int = 0, device: str | torch.device = "cpu") -> dict[str, float]:
    """Both scores: `reverse_lm_nll` (LM on samples, scored on real_test) and `forward_lm_nll`
    (LM on real_train, scoring the samples)."""
    forward = fit_lm(real_train, vocabulary, budget, seed, device)
    return {"reverse_lm_nll": reverse_lm_nll(samples, real_test, vocabulary, budget, seed, device),
            "forward_lm_nll": forward_lm_nll(forward, samples)}
