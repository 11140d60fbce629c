"""The SeqGAN oracle: its equations, sampling, NLL, the .npz reader and the oracle dataset."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from textgan.cli import main
from textgan.config import load_config
from textgan.data.oracle import prepare_oracle_data
from textgan.errors import DataError
from textgan.models.oracle import ORACLE_ARRAYS, OracleLSTM, load_oracle_npz, random_oracle


def reference_token_nll(arrays: dict[str, np.ndarray], sequence: list[int]) -> list[float]:
    """The README's equations, written out gate by gate in float64."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    h = np.zeros(a["U_i"].shape[0])
    c = np.zeros_like(h)
    previous, out = 0, []
    for token in sequence:
        x = a["embedding"][previous]
        i = sigmoid(x @ a["W_i"] + h @ a["U_i"] + a["b_i"])
        f = sigmoid(x @ a["W_f"] + h @ a["U_f"] + a["b_f"])
        o = sigmoid(x @ a["W_o"] + h @ a["U_o"] + a["b_o"])
        candidate = np.tanh(x @ a["W_c"] + h @ a["U_c"] + a["b_c"])
        c = f * c + i * candidate
        h = o * np.tanh(c)
        logits = h @ a["W_out"] + a["b_out"]
        log_z = logits.max() + np.log(np.exp(logits - logits.max()).sum())
        out.append(float(log_z - logits[token]))
        previous = token
    return out


def oracle_arrays(oracle: OracleLSTM) -> dict[str, np.ndarray]:
    """The 15 named arrays of an oracle, as the .npz stores them."""
    hidden = oracle.hidden_dim
    arrays = {"embedding": oracle.embedding.numpy(), "W_out": oracle.output_weights.numpy(),
              "b_out": oracle.output_bias.numpy()}
    for k, gate in enumerate("ifoc"):
        columns = slice(k * hidden, (k + 1) * hidden)
        arrays[f"W_{gate}"] = oracle.input_weights[:, columns].numpy()
        arrays[f"U_{gate}"] = oracle.hidden_weights[:, columns].numpy()
        arrays[f"b_{gate}"] = oracle.gate_bias[columns].numpy()
    return arrays


def test_token_nll_follows_the_equations():
    oracle = random_oracle(3, vocab_size=11, embedding_dim=4, hidden_dim=5)
    sequences = oracle.sample(3, 6, generator=torch.Generator().manual_seed(0))
    ours = oracle.double().token_nll(sequences)
    arrays = oracle_arrays(random_oracle(3, vocab_size=11, embedding_dim=4, hidden_dim=5))
    for row, sequence in zip(ours.tolist(), sequences.tolist()):
        assert row == pytest.approx(reference_token_nll(arrays, sequence), abs=1e-9)


def test_samples_follow_the_oracle_distribution():
    oracle = random_oracle(1, vocab_size=3, embedding_dim=4, hidden_dim=4)
    every = torch.tensor(list(itertools.product(range(3), repeat=2)))
    probabilities = torch.exp(-oracle.double().token_nll(every).sum(1))
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-12)
    samples = random_oracle(1, 3, 4, 4).sample(20000, 2, generator=torch.Generator().manual_seed(0))
    counts = torch.stack([(samples == row).all(1).sum() for row in every]).double() / len(samples)
    assert torch.allclose(counts, probabilities, atol=0.015)


def test_random_oracle_is_seeded_peaked_and_scores_its_samples_best():
    oracle = random_oracle(0, vocab_size=50, embedding_dim=8, hidden_dim=8)
    assert torch.equal(oracle.embedding, random_oracle(0, 50, 8, 8).embedding)
    assert not torch.equal(oracle.embedding, random_oracle(1, 50, 8, 8).embedding)
    rng = torch.Generator().manual_seed(0)
    own = oracle.sample(500, 10, generator=rng)
    assert own.shape == (500, 10) and int(own.min()) >= 0 and int(own.max()) < 50
    uniform = torch.randint(0, 50, (500, 10), generator=rng)
    assert oracle.nll(own) < math.log(50) - 0.5 < oracle.nll(uniform)


def test_npz_round_trip(tmp_path: Path):
    oracle = random_oracle(2, vocab_size=7, embedding_dim=3, hidden_dim=4)
    path = tmp_path / "oracle.npz"
    np.savez(path, **oracle_arrays(oracle))
    loaded = load_oracle_npz(path)
    sequences = oracle.sample(4, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded.token_nll(sequences), oracle.token_nll(sequences))


def test_npz_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        load_oracle_npz(tmp_path / "missing.npz")
    arrays = oracle_arrays(random_oracle(2, vocab_size=7, embedding_dim=3, hidden_dim=4))
    arrays["U_f"] = np.zeros((4, 5), dtype=np.float32)
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(DataError, match=r"array U_f has shape \(4, 5\), expected \(4, 4\)"):
        load_oracle_npz(tmp_path / "shape.npz")
    del arrays["b_out"]
    np.savez(tmp_path / "lacking.npz", **arrays)
    with pytest.raises(DataError, match="lacks array b_out"):
        load_oracle_npz(tmp_path / "lacking.npz")
    assert len(ORACLE_ARRAYS) == 15


def test_prepare_oracle_data_is_seeded_and_carries_the_oracle():
    sets = ["data.corpus=oracle", "data.oracle_vocab_size=30", "data.oracle_seq_len=6",
            "data.oracle_samples=200", "data.oracle_embedding_dim=4", "data.oracle_hidden_dim=4"]
    data = prepare_oracle_data(load_config(None, sets))
    again = prepare_oracle_data(load_config(None, sets))
    assert data.train.tokens.shape == (200, 6) and len(data.validation) == 10 and len(data.test) == 10
    assert torch.equal(data.train.tokens, again.train.tokens)
    assert not torch.equal(data.train.tokens[:10], data.validation.tokens)
    assert data.tokenizer.vocab_size == 30 and data.tokenizer.bos_id == 0 and data.tokenizer.eos_id is None
    assert data.oracle is not None and data.oracle.nll(data.train.tokens) < math.log(30)


def test_cli_rejects_a_missing_or_misshapen_oracle(tmp_path: Path, capsys):
    command = ["train", "--corpus", "oracle", "--out", str(tmp_path / "run"), "--set"]
    assert main(command + [f"data.oracle_path={tmp_path / 'nope.npz'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textgan: error: oracle file") and "not found" in err and "\n" not in err
    arrays = oracle_arrays(random_oracle(0, vocab_size=7, embedding_dim=3, hidden_dim=4))
    arrays["W_out"] = np.zeros((4, 8), dtype=np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    assert main(command + [f"data.oracle_path={tmp_path / 'bad.npz'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "array W_out has shape (4, 8), expected (4, 7)" in err and "\n" not in err


def test_oracle_path_is_stored_absolute_and_read_back_from_anywhere(tmp_path: Path, monkeypatch):
    """A run trained on a relative data.oracle_path evaluates from another folder."""
    from textgan import api
    from textgan.evaluate import load_run

    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "oracle.npz", **oracle_arrays(random_oracle(0, vocab_size=7, embedding_dim=3,
                                                                            hidden_dim=4)))
    monkeypatch.chdir(tmp_path / "data")
    cfg = load_config(None, ["data.corpus=oracle", "data.oracle_path=oracle.npz", "data.oracle_seq_len=5",
                             "data.oracle_samples=100", "train.epochs=1", "train.device=cpu", "train.batch_size=16",
                             "model.embedding_dim=4", "model.hidden_dim=4"])
    api.train(cfg, tmp_path / "run")
    assert f"oracle_path: {tmp_path / 'data' / 'oracle.npz'}" in (tmp_path / "run" / "config.yaml").read_text()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_run(tmp_path / "run", device="cpu")
    assert loaded.data.oracle is not None and len(loaded.references) == 5
