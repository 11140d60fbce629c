"""The SeqGAN synthetic-data oracle: a fixed random LSTM that defines the "true" distribution.

Generators are trained on its samples and judged by NLL-oracle, the oracle's mean per-token
negative log-likelihood of their samples (the SeqGAN paper's metric). The equations follow the
paper's TensorFlow `TargetLSTM` (row vectors, `x @ W`); the start token is fed as the first
input and is not emitted; h and c start at zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from textgan.chunking import chunk_rows
from textgan.errors import DataError
from textgan.models.sampling import sample_tokens

GATES = ("i", "f", "o", "c")
CHUNK_ROWS = 512  # rows the oracle samples or scores at once on the CPU
# The 15 arrays of the SeqGAN oracle file, in the order the paper's code creates them.
ORACLE_ARRAYS = ("embedding", *(f"{kind}_{g}" for g in GATES for kind in ("W", "U", "b")), "W_out", "b_out")


class OracleLSTM(nn.Module):
    """Fixed single-layer LSTM language model over ids 0..V-1 (weights are buffers, not trained)."""

    def __init__(self, arrays: dict[str, torch.Tensor], start_token: int = 0) -> None:
        super().__init__()
        self.start_token = start_token
        self.vocab_size, self.embedding_dim = arrays["embedding"].shape
        self.hidden_dim = arrays["U_i"].shape[0]
        self.register_buffer("embedding", arrays["embedding"].clone())
        # Gates stacked i, f, o, c so one matmul per input computes all four.
        self.register_buffer("input_weights", torch.cat([arrays[f"W_{g}"] for g in GATES], dim=1))
        self.register_buffer("hidden_weights", torch.cat([arrays[f"U_{g}"] for g in GATES], dim=1))
        self.register_buffer("gate_bias", torch.cat([arrays[f"b_{g}"] for g in GATES]))
        self.register_buffer("output_weights", arrays["W_out"].clone())
        self.register_buffer("output_bias", arrays["b_out"].clone())

    @property
    def device(self) -> torch.device:
        return self.embedding.device

    def initial_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(n, self.hidden_dim, dtype=self.embedding.dtype, device=self.device)
        return zeros, zeros.clone()

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One LSTM step: (N,) previous tokens and (h, c) -> ((N, V) next-token logits, (h', c'))."""
        h, c = state
        gates = self.embedding[tokens] @ self.input_weights + h @ self.hidden_weights + self.gate_bias
        i, f, o, candidate = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(candidate)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h @ self.output_weights + self.output_bias, (h, c)

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator | None = None,
               chunk_size: int = 0) -> torch.Tensor:
        """(n, length) sequences drawn from the oracle, `chunk_size` rows at a time (0: CHUNK_ROWS
        on the CPU, more on a GPU)."""
        chunk_size = chunk_size or chunk_rows(CHUNK_ROWS, self.device)
        rows = []
        for start in range(0, n, chunk_size):
            count = min(chunk_size, n - start)
            tokens = torch.full((count,), self.start_token, dtype=torch.long, device=self.device)
            state = self.initial_state(count)
            out = torch.empty(count, length, dtype=torch.long, device=self.device)
            for t in range(length):
                logits, state = self.step(tokens, state)
                tokens = sample_tokens(logits, generator=generator)
                out[:, t] = tokens
            rows.append(out)
        return torch.cat(rows) if rows else torch.empty(0, length, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def token_nll(self, sequences: torch.Tensor, chunk_size: int = 0) -> torch.Tensor:
        """(N, T) negative log-likelihood of each token under the oracle (in its dtype), `chunk_size`
        rows at a time (0: as `sample`)."""
        chunk_size = chunk_size or chunk_rows(CHUNK_ROWS, self.device)
        sequences = sequences.to(self.device)
        if sequences.numel() and (int(sequences.min()) < 0 or int(sequences.max()) >= self.vocab_size):
            raise DataError(
                f"sequences hold ids outside the oracle's vocabulary 0..{self.vocab_size - 1}; "
                "score only samples of a generator trained on this oracle's data"
            )
        parts = []
        for chunk in torch.split(sequences, chunk_size):
            tokens = torch.full((chunk.shape[0],), self.start_token, dtype=torch.long, device=self.device)
            state = self.initial_state(chunk.shape[0])
            columns = []
            for t in range(chunk.shape[1]):
                logits, state = self.step(tokens, state)
                tokens = chunk[:, t]
                log_probs = torch.log_softmax(logits, dim=-1)
                columns.append(-log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1))
            parts.append(torch.stack(columns, dim=1))
        return torch.cat(parts) if parts else torch.empty(sequences.shape, dtype=self.embedding.dtype)

    def nll(self, sequences: torch.Tensor) -> float:
        """NLL-oracle: mean per-token negative log-likelihood of (N, T) sequences (nats)."""
        return float(self.token_nll(sequences).double().mean())


def random_oracle(seed: int, vocab_size: int = 5000, embedding_dim: int = 32, hidden_dim: int = 32) -> OracleLSTM:
    """A random oracle drawn like SeqGAN's: every weight N(0, 1), which makes it peaked.

    Unit-variance weights give logits with a spread of several nats, so the oracle's entropy is
    well below log(V) (the canonical oracle: 5.75 nats against 8.52 for uniform).
    """
    shapes = expected_shapes(vocab_size, embedding_dim, hidden_dim)
    rng = torch.Generator().manual_seed(seed)
    return OracleLSTM({name: torch.randn(shapes[name], generator=rng) for name in ORACLE_ARRAYS})


def expected_shapes(vocab_size: int, embedding_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """Shape of each oracle array for the given sizes."""
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocab_size, embedding_dim)}
    for g in GATES:
        shapes.update({f"W_{g}": (embedding_dim, hidden_dim), f"U_{g}": (hidden_dim, hidden_dim),
                       f"b_{g}": (hidden_dim,)})
    shapes.update(W_out=(hidden_dim, vocab_size), b_out=(vocab_size,))
    return shapes


def load_oracle_npz(path: str | Path) -> OracleLSTM:
    """Read the SeqGAN oracle from an .npz of its 15 arrays (no pickle), checking every shape."""
    path = Path(path)
    fix = "pass the SeqGAN oracle_lstm.npz with data.oracle_path, or leave it empty for a random oracle"
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the current folder, {Path.cwd()})"
        raise DataError(f"oracle file {path} not found{where}; {fix}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"oracle file {path} is not a readable .npz ({str(exc).splitlines()[0]}); {fix}") from None
    missing = [name for name in ORACLE_ARRAYS if name not in arrays]
    if missing:
        raise DataError(f"oracle file {path} lacks array {missing[0]} (it needs {', '.join(ORACLE_ARRAYS)}); {fix}")
    if arrays["embedding"].ndim != 2 or arrays["U_i"].ndim != 2:
        raise DataError(f"oracle file {path}: embedding and U_i must be matrices; {fix}")
    (vocab_size, embedding_dim), hidden_dim = arrays["embedding"].shape, arrays["U_i"].shape[0]
    for name, shape in expected_shapes(vocab_size, embedding_dim, hidden_dim).items():
        array = arrays[name]
        if array.shape != shape:
            raise DataError(
                f"oracle file {path}: array {name} has shape {array.shape}, expected {shape} "
                f"(vocabulary {vocab_size}, embedding {embedding_dim}, hidden {hidden_dim}); {fix}"
            )
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise DataError(f"oracle file {path}: array {name} must hold finite floats; {fix}")
    return OracleLSTM({name: torch.from_numpy(arrays[name].astype(np.float32)) for name in ORACLE_ARRAYS})
