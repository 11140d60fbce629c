"""Greedy decoding and the repetition penalty, in our decoding loop and through transformers' generate."""

from __future__ import annotations

import pytest
import torch
from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

from conftest import cli_error
from textgan.cli import main
from textgan.config import ModelConfig
from textgan.models import build_generator
from textgan.models.sampling import penalize_repetitions


def make(kind: str):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, embedding_dim=16, hidden_dim=16, num_layers=2, num_heads=2)
    return build_generator(cfg, vocab_size=20, max_length=12, bos_id=1, eos_id=2, pad_id=0).eval()


def test_penalty_matches_transformers():
    logits = torch.randn(3, 20)
    previous = torch.tensor([[1, 4, 4], [5, 6, 7], [1, 1, 1]])
    seen = torch.zeros(3, 20, dtype=torch.bool).scatter_(1, previous, True)
    expected = RepetitionPenaltyLogitsProcessor(1.7)(previous, logits.clone())
    assert torch.allclose(penalize_repetitions(logits, seen, 1.7), expected)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_greedy_takes_the_most_likely_token_at_every_step(kind):
    g = make(kind)
    rows = g.sample(4, greedy=True, prefix=[5, 6], generator=torch.Generator().manual_seed(1))
    again = g.sample(4, greedy=True, prefix=[5, 6], generator=torch.Generator().manual_seed(2))
    assert torch.equal(rows, again) and (rows == rows[0]).all()
    row = rows[0]
    logits = g(g.inputs_for(row.unsqueeze(0)))[0]
    for t in range(2, len(row)):
        assert int(row[t]) == int(logits[t].argmax())
        if int(row[t]) == g.eos_id:
            break


@pytest.mark.parametrize("penalty", [1.0, 1.5, 3.0])
def test_our_loop_equals_transformers_generate_for_greedy_and_penalty(penalty):
    g = make("transformer")
    ours = g.sample(3, greedy=True, repetition_penalty=penalty, prefix=[5, 6, 5])
    theirs = g.generate_rows(3, g.max_length, [5, 6, 5], greedy=True, repetition_penalty=penalty)
    assert torch.equal(ours, theirs)


def test_cli_sample_greedy_and_penalty(trained_run, capsys):
    assert main(["sample", str(trained_run), "-n", "3", "--greedy", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["sample", str(trained_run), "-n", "3", "--greedy", "--seed", "2", "--repetition-penalty", "1.0"]) == 0
    assert capsys.readouterr().out == first and len(set(first.splitlines())) == 1
    assert main(["sample", str(trained_run), "-n", "2", "--repetition-penalty", "1.3"]) == 0
    capsys.readouterr()
    assert "repetition penalty" in cli_error(["sample", str(trained_run), "--repetition-penalty", "0"], capsys)
