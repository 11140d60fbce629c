"""Classifier two-sample test (Lopez-Paz & Oquab 2017): can a fresh TextCNN tell real from generated?

Real and generated rows are each split in two halves (seeded): a fresh TextCNN is trained on
the first halves to label real 1 and generated 0, and its accuracy on the second halves (as many
real as generated rows) is the score: 0.5 when the two samples are indistinguishable to it, 1.0
when every held-out row is told apart. Unlike BLEU it reads whole sentences and the whole set
(a model that repeats a few good sentences is caught by their repetition). The classifier's
size and epochs are a budget: compare models only at the same budget and sample count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textgan.errors import ConfigError, DataError
from textgan.models.cnn_discriminator import TextCNN

__all__ = ["ClassifierBudget", "classifier_two_sample_accuracy"]


@dataclass(frozen=True)
class ClassifierBudget:
    """Size and training budget of the two-sample classifier (filters longer than the rows are dropped)."""

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    embedding_dim: int = 32
    filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5)
    num_filters: tuple[int, ...] = (32, 64, 64, 64, 64)
    dropout: float = 0.25

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"classifier budget: {name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"classifier budget: learning_rate must be > 0, got {self.learning_rate}")


def _halves(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    return order[: count // 2], order[count // 2 :]


def classifier_two_sample_accuracy(real: torch.Tensor, generated: torch.Tensor, vocab_size: int,
                                   budget: ClassifierBudget = ClassifierBudget(), seed: int = 0,
                                   device: str | torch.device = "cpu") -> float:
    """Held-out accuracy of a fresh TextCNN trained to tell (N, T) real rows from generated rows.

    Both sides are cut to the smaller count (balanced, so 0.5 is chance); the global RNG is left
    as it was.
    """
    for rows, what in ((real, "real"), (generated, "generated")):
        if rows.dim() != 2 or rows.is_floating_point():
            raise DataError(f"the {what} rows must be an (N, T) tensor of token ids, got shape {tuple(rows.shape)}")
    if real.shape[1] != generated.shape[1]:
        raise DataError(f"real rows have {real.shape[1]} tokens and generated rows {generated.shape[1]}; pad both alike")
    count = min(len(real), len(generated))
    if count < 4:
        raise DataError(f"the two-sample test needs at least 4 real and 4 generated rows, got {len(real)} and {len(generated)}")
    device = torch.device(device)
    rng = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(len(real), generator=rng)[:count]]
    generated = generated[torch.randperm(len(generated), generator=rng)[:count]]
    real_train, real_test = _halves(count, rng)
    fake_train, fake_test = _halves(count, rng)
    inputs = torch.cat([real[real_train], generated[fake_train]]).to(device)
    labels = torch.cat([torch.ones(len(real_train)), torch.zeros(len(fake_train))]).to(device)
    length = real.shape[1]
    sizes = [(k, n) for k, n in zip(budget.filter_sizes, budget.num_filters) if k <= length]
    # initialisation and dropout masks from the test's own seed; the caller's RNG is left alone
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        classifier = TextCNN(vocab_size, length, budget.embedding_dim, [k for k, _ in sizes],
                             [n for _, n in sizes], budget.dropout).to(device)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=budget.learning_rate)
        classifier.train()
        for _ in range(budget.epochs):
            for batch in torch.randperm(len(inputs), generator=rng).split(budget.batch_size):
                batch = batch.to(device)
                optimizer.zero_grad(set_to_none=True)
                F.binary_cross_entropy_with_logits(classifier(inputs[batch]), labels[batch]).backward()
                optimizer.step()
    classifier.eval()
    with torch.no_grad():
        real_right = (classifier(real[real_test].to(device)) > 0).sum()
        fake_right = (classifier(generated[fake_test].to(device)) <= 0).sum()
    return float(real_right + fake_right) / (len(real_test) + len(fake_test))
