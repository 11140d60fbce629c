"""Relational memory core generator (Santoro et al. 2018), RelGAN's generator (Nie et al. 2019).

The state is a memory of `memory_slots` rows of width `hidden_dim` (= heads x head size;
RelGAN: 1 slot, 2 heads of 256). At each step the embedded input token is projected to a row
and appended to the memory; `num_layers` blocks of multi-head dot-product attention over the
rows (layer norm on q, k and v; q scaled by (3 x head size)^-1/2, as the reference code) and a
two-layer MLP (each residual, then layer norm) update them; the input row is dropped, and
LSTM-style input and forget gates (per unit, computed without bias from the input and from tanh
of the previous memory; forget bias +1) mix the update with the previous memory. The new memory,
flattened, goes through a linear layer over the vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from textgan.errors import ConfigError
from textgan.models.base import Generator

MODEL_TYPE = "textgan-relational-memory"


def _truncated_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """TensorFlow's truncated_normal initialiser (cut at two standard deviations)."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def _reference_linear_init(layer: nn.Linear) -> None:
    """RelGAN's `linear`: weights truncated N(0, 1 / fan_in), biases zero."""
    _truncated_normal_(layer.weight, layer.in_features**-0.5)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class AttentionBlock(nn.Module):
    """Multi-head dot-product attention across memory rows, then an MLP; both residual + layer norm.

    As Santoro et al.'s and RelGAN's code: one projection gives each head its [q k v] (no bias),
    a layer norm runs over all heads' q, k and v together, and q is scaled by (3 x head size)^-1/2
    (the size of one head's q, k and v), not by head size^-1/2."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.head_size = num_heads, width // num_heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        # the layer norm's shift on k is left out: it adds q . b_k to every score of a query, which
        # the softmax ignores (no effect, and a gradient of float noise that Adam would amplify)
        self.qkv_norm = nn.LayerNorm(3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(num_heads, self.head_size))
        self.v_bias = nn.Parameter(torch.zeros(num_heads, self.head_size))
        self.attention_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.mlp_norm = nn.LayerNorm(width)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, N, W) rows -> (B, N, W) rows after attending to each other."""
        batch, count, width = rows.shape
        qkv = self.qkv_norm(self.qkv(rows)).view(batch, count, self.num_heads, 3, self.head_size).transpose(1, 2)
        q, k, v = qkv[..., 0, :] + self.q_bias.unsqueeze(1), qkv[..., 1, :], qkv[..., 2, :] + self.v_bias.unsqueeze(1)
        scores = (q * (3 * self.head_size) ** -0.5) @ k.transpose(-1, -2)
        attended = torch.softmax(scores, dim=-1) @ v
        rows = self.attention_norm(rows + attended.transpose(1, 2).reshape(batch, count, width))
        return self.mlp_norm(rows + self.mlp(rows))


class RelationalMemoryGenerator(Generator):
    """Embedding -> relational memory core -> linear over the vocabulary; the state is the memory (B, S, W)."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 32, hidden_dim: int = 512,
                 num_heads: int = 2, memory_slots: int = 1, num_layers: int = 1, dropout: float = 0.0,
                 init_std: float = 0.0) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        if hidden_dim % num_heads:
            raise ConfigError(f"model.hidden_dim ({hidden_dim}) must be divisible by model.num_heads ({num_heads})")
        self.embedding_dim, self.hidden_dim, self.num_heads = embedding_dim, hidden_dim, num_heads
        self.memory_slots, self.num_layers, self.dropout_rate = memory_slots, num_layers, dropout
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.input_projection = nn.Linear(embedding_dim, hidden_dim)
        self.blocks = nn.ModuleList(AttentionBlock(hidden_dim, num_heads) for _ in range(num_layers))
        # input and forget gates per unit: one part from the input row, one from tanh(memory), no biases
        self.input_gates = nn.Linear(hidden_dim, 2 * hidden_dim, bias=False)
        self.memory_gates = nn.Linear(hidden_dim, 2 * hidden_dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(memory_slots * hidden_dim, vocab_size)
        with torch.no_grad():
            if init_std:
                for parameter in self.parameters():
                    parameter.normal_(0.0, init_std)
            else:
                self.reset_parameters()

    def reset_parameters(self) -> None:
        """RelGAN's initialisation: every linear layer truncated N(0, 1 / fan_in) with zero biases,
        the embedding truncated N(0, 1 / vocabulary size), layer norms at gain 1 and bias 0."""
        _truncated_normal_(self.embedding.weight, self.vocab_size**-0.5)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _reference_linear_init(module)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def initial_memory(self, batch: int) -> torch.Tensor:
        """Santoro et al.'s start: row i is the i-th unit vector (zero-padded or cut to the width)."""
        eye = torch.eye(self.memory_slots, max(self.memory_slots, self.hidden_dim), device=self.device)
        return eye[:, : self.hidden_dim].unsqueeze(0).expand(batch, -1, -1)

    def hidden(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids -> ((B, T, S * W) memories after each token, final memory (B, S, W))."""
        memory = self.initial_memory(tokens.shape[0]) if state is None else state
        rows = self.input_projection(self.embedding(tokens))  # every step's input row at once
        input_gates = self.input_gates(rows)
        outputs = []
        for t in range(tokens.shape[1]):
            updated = torch.cat([memory, rows[:, t : t + 1]], dim=1)
            for block in self.blocks:
                updated = block(updated)
            updated = updated[:, :-1]
            gate_input, gate_forget = (input_gates[:, t : t + 1] + self.memory_gates(torch.tanh(memory))).chunk(2, -1)
            # forget-gate bias +1, as in the paper: the memory is kept by default
            memory = torch.sigmoid(gate_input) * torch.tanh(updated) + torch.sigmoid(gate_forget + 1.0) * memory
            outputs.append(memory.flatten(1))
        return torch.stack(outputs, dim=1), memory

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, memory = self.hidden(tokens, state)
        return self.output(self.dropout(hidden)), memory

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.dropout(self.hidden(tokens)[0]), self.output.weight, self.output.bias

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        return state[index]

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (saved as config.json)."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
            "memory_slots": self.memory_slots, "num_layers": self.num_layers, "dropout": self.dropout_rate,
        }
