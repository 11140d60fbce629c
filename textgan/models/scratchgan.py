"""ScratchGAN's networks (de Masson d'Autume et al. 2019): an LSTM generator whose output layer is
tied to its input embedding, and a recurrent discriminator that gives one logit per token.

Both embed tokens with a table that may join frozen pretrained word vectors (`read_word_vectors`,
word2vec/GloVe text format) to a trainable part, as the authors' code does with GloVe; dropout
acts on the whole table (every entry of it), not on the looked-up rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from textgan.data.encoding import target_mask
from textgan.data.tokenizer import TextTokenizer
from textgan.errors import ConfigError
from textgan.models.base import Generator

MODEL_TYPE = "textgan-tied-lstm"


def read_word_vectors(path: str | Path, tokenizer: TextTokenizer) -> torch.Tensor:
    """(vocab, dim) vectors for the tokenizer's tokens from a word2vec/GloVe text file (`word v1 v2
    ...` a line; word2vec's `count dim` header is skipped); tokens the file lacks get zeros."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"word vectors {path} not found; pass a word2vec/GloVe text file")
    vectors: dict[int, list[float]] = {}
    dim = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise ConfigError(f"word vectors {path}, line {number}: not `word v1 v2 ...` numbers") from None
            if dim and len(values) != dim:
                raise ConfigError(f"word vectors {path}, line {number}: {len(values)} numbers, earlier lines {dim}")
            dim = len(values)
            token = tokenizer.token_id(parts[0])
            if token is not None:
                vectors.setdefault(token, values)
    if not dim:
        raise ConfigError(f"word vectors {path} holds no vectors; pass a word2vec/GloVe text file")
    table = torch.zeros(tokenizer.vocab_size, dim)
    for token, values in vectors.items():
        table[token] = torch.tensor(values)
    return table


class TokenTable(nn.Module):
    """Frozen pretrained vectors (optional) beside a trainable part, dropped out as a whole table."""

    def __init__(self, vocab_size: int, trainable_dim: int, frozen_dim: int = 0) -> None:
        super().__init__()
        self.trainable = nn.Parameter(torch.empty(vocab_size, trainable_dim))
        nn.init.xavier_uniform_(self.trainable)  # TensorFlow's default for a variable
        self.frozen_dim = frozen_dim
        if frozen_dim:
            self.register_buffer("frozen", torch.zeros(vocab_size, frozen_dim))

    @property
    def dim(self) -> int:
        return self.trainable.shape[1] + self.frozen_dim

    def set_frozen(self, vectors: torch.Tensor) -> None:
        """Fill the frozen part with pretrained vectors (vocab, frozen_dim)."""
        self.frozen.copy_(vectors)

    def forward(self, dropout: float) -> torch.Tensor:
        """The (vocab, dim) table, with dropout in training mode."""
        table = torch.cat([self.frozen, self.trainable], dim=1) if self.frozen_dim else self.trainable
        return F.dropout(table, dropout, self.training)


class SkipLSTM(nn.Module):
    """LSTM layers where each layer past the first also reads the input, and the output is every
    layer's output side by side (Sonnet's DeepRNN with skip connections, as the authors use)."""

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int, layer_norm: bool = False) -> None:
        super().__init__()
        self.layer_norm = layer_norm
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for layer in range(num_layers):
            inputs = input_dim + (hidden_dim if layer else 0)
            if layer_norm:
                self.layers.append(nn.Linear(inputs + hidden_dim, 4 * hidden_dim))
                self.norms.append(nn.LayerNorm(4 * hidden_dim))
            else:
                self.layers.append(nn.LSTM(inputs, hidden_dim, batch_first=True))

    def _norm_layer(self, index: int, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One layer-normalised LSTM layer (gates normalised before their activations; forget bias 1)."""
        linear, norm = self.layers[index], self.norms[index]
        hidden = linear.out_features // 4
        w_x, w_h = linear.weight[:, : x.shape[-1]], linear.weight[:, x.shape[-1]:]
        projected = F.linear(x, w_x, linear.bias)
        h, c = state if state is not None else (x.new_zeros(x.shape[0], hidden),) * 2
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = norm(projected[:, t] + h @ w_h.T).chunk(4, dim=-1)
            c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)

    def forward(self, x: torch.Tensor, state: list[Any] | None = None) -> tuple[torch.Tensor, list[Any]]:
        """(B, T, input) -> (B, T, layers * hidden) and the state of each layer."""
        outputs, states = [], []
        for index, layer in enumerate(self.layers):
            inputs = x if index == 0 else torch.cat([x, outputs[-1]], dim=-1)
            own = state[index] if state is not None else None
            out, new = self._norm_layer(index, inputs, own) if self.layer_norm else layer(inputs, own)
            outputs.append(out)
            states.append(new)
        return torch.cat(outputs, dim=-1), states


class TiedLSTMGenerator(Generator):
    """ScratchGAN's generator: token table -> linear -> skip-connected LSTM layers -> linear back to
    the table's width -> logits against the same table (tied input and output embeddings)."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 64, hidden_dim: int = 512, num_layers: int = 2,
                 dropout: float = 0.0, frozen_dim: int = 0) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        self.embedding_dim, self.hidden_dim, self.num_layers = embedding_dim, hidden_dim, num_layers
        self.dropout_rate, self.frozen_dim = dropout, frozen_dim
        self.table = TokenTable(vocab_size, embedding_dim, frozen_dim)
        self.input_projection = nn.Linear(self.table.dim, hidden_dim, bias=False)
        self.lstm = SkipLSTM(hidden_dim, hidden_dim, num_layers)
        self.output_projection = nn.Linear(num_layers * hidden_dim, self.table.dim, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))

    def _hidden(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, torch.Tensor, Any]:
        embedded = F.embedding(tokens, self.table(self.dropout_rate))
        hidden, state = self.lstm(self.input_projection(embedded), state)
        return self.output_projection(hidden), self.table(self.dropout_rate), state

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, table, state = self._hidden(tokens, state)
        return hidden @ table.T + self.output_bias, state

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, table, _ = self._hidden(tokens)
        return hidden, table, self.output_bias

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        return [(h[:, index], c[:, index]) for h, c in state]

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (saved as config.json)."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
            "dropout": self.dropout_rate, "frozen_dim": self.frozen_dim,
        }


def position_signal(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) sinusoids of the position (the Transformer's timing signal)."""
    half = dim // 2
    scales = torch.exp(-math.log(1.0e4) * torch.arange(half, device=device) / max(half - 1, 1))
    angles = torch.arange(length, device=device).unsqueeze(1) * scales.unsqueeze(0)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class RecurrentDiscriminator(nn.Module):
    """ScratchGAN's discriminator: token table (+ 8 position sinusoids) -> linear -> LSTM (layer
    norm) -> one logit per token; logits after a row's first <eos> are 0."""

    def __init__(self, vocab_size: int, eos_id: int | None, embedding_dim: int = 64, hidden_dim: int = 512,
                 num_layers: int = 1, embedding_dropout: float = 0.1, layer_norm: bool = True, frozen_dim: int = 0,
                 position_dim: int = 8) -> None:
        super().__init__()
        self.eos_id, self.embedding_dropout, self.position_dim = eos_id, embedding_dropout, position_dim
        self.table = TokenTable(vocab_size, embedding_dim, frozen_dim)
        self.input_projection = nn.Linear(self.table.dim + position_dim, hidden_dim)
        self.lstm = SkipLSTM(hidden_dim, hidden_dim, num_layers, layer_norm=layer_norm)
        self.output = nn.Linear(num_layers * hidden_dim, 1)

    def token_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T) logits (real = 1), 0 after each row's first <eos>."""
        embedded = F.embedding(tokens, self.table(self.embedding_dropout))
        if self.position_dim:
            signal = position_signal(tokens.shape[1], self.position_dim, tokens.device)
            embedded = torch.cat([embedded, signal.unsqueeze(0).expand(len(tokens), -1, -1)], dim=-1)
        hidden, _ = self.lstm(self.input_projection(embedded))
        return self.output(hidden).squeeze(-1).float() * target_mask(tokens, self.eos_id).float()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B,) sequence logits: each row's logit at its last scored token (its <eos>, or the end)."""
        last = (target_mask(tokens, self.eos_id).sum(dim=1) - 1).clamp(min=0)
        return self.token_logits(tokens).gather(1, last.unsqueeze(1)).squeeze(1)

    def l2_penalty(self, output_only: bool = False) -> torch.Tensor:
        """TensorFlow's l2_loss, sum(w^2) / 2, of every trainable weight (the authors' L2) or of the
        output layer alone (what discriminator.l2 weighs for the TextCNN)."""
        weights = self.output.parameters() if output_only else self.parameters()
        return 0.5 * sum(p.square().sum() for p in weights if p.requires_grad)
