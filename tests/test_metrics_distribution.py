"""Reverse/forward LM scores and the classifier two-sample test on cases whose answer is known."""

from __future__ import annotations

import pytest
import torch

from textgan.errors import ConfigError, DataError
from textgan.metrics.lm_scores import LMBudget, Vocabulary, lm_scores
from textgan.metrics.two_sample import ClassifierBudget, classifier_two_sample_accuracy

VOCAB = Vocabulary(size=12, bos_id=0, eos_id=1, pad_id=2)


def draw_rows(n: int, seed: int, length: int = 8) -> torch.Tensor:
    """Rows from a fixed Markov chain over tokens 3..11, <eos> after 2..6 tokens, padded."""
    g = torch.Generator().manual_seed(seed)
    transition = torch.softmax(torch.randn(12, 12, generator=torch.Generator().manual_seed(99)) * 3, dim=1)
    transition[:, :3] = 0
    rows = torch.full((n, length), VOCAB.pad_id)
    token = torch.full((n,), 3)
    ends = torch.randint(2, length - 1, (n,), generator=g)
    for t in range(length):
        token = torch.multinomial(transition[token], 1, generator=g).squeeze(1)
        rows[:, t] = torch.where(t < ends, token, torch.where(t == ends, VOCAB.eos_id, VOCAB.pad_id))
    return rows


def test_same_distribution_is_indistinguishable():
    accuracy = classifier_two_sample_accuracy(draw_rows(2000, 1), draw_rows(2000, 2), VOCAB.size, seed=0)
    assert abs(accuracy - 0.5) < 0.05


def test_constant_sentence_is_told_apart_and_reverse_lm_sees_the_dropped_modes():
    real_train, real_test = draw_rows(600, 1), draw_rows(300, 3)
    constant = draw_rows(1, 2).expand(600, -1).clone()
    assert classifier_two_sample_accuracy(real_test, constant, VOCAB.size, seed=0) > 0.97
    budget = LMBudget(epochs=4)
    collapsed = lm_scores(constant, real_train, real_test, VOCAB, budget, seed=0)
    assert collapsed["reverse_lm_nll"] > 3 * collapsed["forward_lm_nll"]
    # samples from the data's own distribution: the reverse LM explains real text far better
    honest = lm_scores(draw_rows(600, 4), real_train, real_test, VOCAB, budget, seed=0)
    assert honest["reverse_lm_nll"] < collapsed["reverse_lm_nll"] / 3


def test_seeded_same_number_and_rng_untouched():
    real, fake = draw_rows(200, 1), draw_rows(200, 2)
    budget, classifier = LMBudget(epochs=1), ClassifierBudget(epochs=1)
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    first = (lm_scores(fake, real, real, VOCAB, budget, seed=3),
             classifier_two_sample_accuracy(real, fake, VOCAB.size, classifier, seed=3))
    assert torch.equal(torch.rand(3), before)  # the caller's random stream is left as it was
    second = (lm_scores(fake, real, real, VOCAB, budget, seed=3),
              classifier_two_sample_accuracy(real, fake, VOCAB.size, classifier, seed=3))
    assert first == second
    other = lm_scores(fake, real, real, VOCAB, budget, seed=4)
    assert other != first[0]


@pytest.mark.parametrize("call, error", [
    (lambda: classifier_two_sample_accuracy(draw_rows(3, 1), draw_rows(9, 2), 12), DataError),
    (lambda: classifier_two_sample_accuracy(draw_rows(9, 1), draw_rows(9, 2, length=9), 12), DataError),
    (lambda: lm_scores(torch.empty(0, 8, dtype=torch.long), draw_rows(9, 1), draw_rows(9, 2), VOCAB), DataError),
    (lambda: LMBudget(epochs=0), ConfigError),
    (lambda: ClassifierBudget(learning_rate=0.0), ConfigError),
])
def test_input_errors(call, error):
    with pytest.raises(error):
        call()
