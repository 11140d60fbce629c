"""LSTM generator: embedding, one or more LSTM layers, output layer (SeqGAN's generator)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from textgan.models.base import Generator
from textgan.models.recurrent import run_recurrent

MODEL_TYPE = "textgan-lstm"


class LSTMGenerator(Generator):
    """Embedding -> LSTM -> linear over the vocabulary; state is (h, c)."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 32, hidden_dim: int = 32,
                 num_layers: int = 1, dropout: float = 0.0, init_std: float = 0.0) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        self.embedding_dim, self.hidden_dim = embedding_dim, hidden_dim
        self.num_layers, self.dropout_rate = num_layers, dropout
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, vocab_size)
        if init_std:  # SeqGAN's initialisation: every weight and bias N(0, init_std)
            with torch.no_grad():
                for parameter in self.parameters():
                    parameter.normal_(0.0, init_std)

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, state = run_recurrent(self.lstm, self.embedding(tokens), state)
        return self.output(self.dropout(hidden)), state

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, _ = run_recurrent(self.lstm, self.embedding(tokens))
        return self.dropout(hidden), self.output.weight, self.output.bias

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        h, c = state
        return h[:, index], c[:, index]

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (saved as config.json)."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers, "dropout": self.dropout_rate,
        }
