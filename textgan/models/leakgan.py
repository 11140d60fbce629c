"""LeakGAN's generator (Guo et al. 2018): a Manager and a Worker fed by D's leaked features.

At each step the discriminator's TextCNN reads the prefix generated so far (padded to the row
length) and gives its feature f_t (the highway layer's output), computed incrementally
(`TextCNN.grow_prefix`: one window per filter bank and token, not a pass over the whole row).
The Manager, an LSTM over these features, emits a unit goal g_t in the same feature space at
every step. The Worker, an LSTM over the tokens, outputs a V x k matrix O_t; its logits are
O_t · w, with w = W_ψ · (sum of the Manager's goals) scaled to unit length (as in both reference
codes: its norm would otherwise act as a free sampling temperature). As in the authors' code, the Worker's
goal is renewed every c steps, to the sum of the c goals emitted since the last renewal (a
learned goal before the first); the Worker does not backpropagate into the goals (the Manager
learns from its own loss).

Prefixes are padded with a fill id of their own, `vocab_size` (D's embedding has one row more than
the vocabulary, as the authors' -1 fill): a padding token that is also a real token would make a
generated token of that id leave D's prefix feature unchanged.

The discriminator is a submodule (`discriminator`), so model.safetensors holds everything that
sampling needs; the trainer trains it as LeakGAN's D, and the policy's optimisers never see a
gradient on it (its features are computed without one).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textgan.models.base import Generator
from textgan.models.cnn_discriminator import PrefixPooling, TextCNN
from textgan.models.recurrent import run_recurrent

MODEL_TYPE = "textgan-leakgan"


class LeakState(NamedTuple):
    """Decoding state: both LSTMs' (h, c), D's pooling state of the prefix emitted so far, the
    goals emitted since the last renewal (summed), the Worker's current goal and the steps taken."""

    worker: tuple[torch.Tensor, torch.Tensor]
    manager: tuple[torch.Tensor, torch.Tensor]
    prefix: PrefixPooling
    goal_sum: torch.Tensor
    goal: torch.Tensor
    steps: int


def renewed_goals(subgoals: torch.Tensor, goal_sum: torch.Tensor, goal: torch.Tensor, first_step: int,
                  step_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Worker's goal at each of n steps from (B, n, F) Manager goals: step s uses the current
    goal, then adds g_s to the running sum, which becomes the goal after every step_size-th step.
    Returns ((B, n, F) goals used, running sum, goal after the last step)."""
    used = []
    for j in range(subgoals.shape[1]):
        used.append(goal)
        goal_sum = goal_sum + subgoals[:, j]
        if (first_step + j + 1) % step_size == 0:
            goal, goal_sum = goal_sum, torch.zeros_like(goal_sum)
    return torch.stack(used, dim=1), goal_sum, goal


class LeakGANGenerator(Generator):
    """Manager (LSTM over D's prefix features) and Worker (LSTM over tokens, V x k output)."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 32, hidden_dim: int = 32, num_layers: int = 1,
                 dropout: float = 0.0, init_std: float = 0.0, manager_hidden_dim: int = 32, goal_size: int = 16,
                 step_size: int = 4, discriminator_embedding_dim: int = 64,
                 filter_sizes: Sequence[int] = (2, 3), num_filters: Sequence[int] = (8, 8),
                 discriminator_dropout: float = 0.25) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        self.embedding_dim, self.hidden_dim, self.num_layers, self.dropout_rate = embedding_dim, hidden_dim, num_layers, dropout
        self.manager_hidden_dim, self.goal_size, self.step_size = manager_hidden_dim, goal_size, step_size
        # one embedding row more than the vocabulary: the prefix fill id (`fill_id`), never a real token
        self.discriminator = TextCNN(vocab_size + 1, max_length, discriminator_embedding_dim, filter_sizes, num_filters,
                                     discriminator_dropout)
        feature_dim = sum(num_filters)
        self.manager = nn.LSTM(feature_dim, manager_hidden_dim, batch_first=True)
        self.manager_output = nn.Linear(manager_hidden_dim, feature_dim)
        self.initial_goal = nn.Parameter(torch.zeros(feature_dim))
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.worker = nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True,
                              dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.worker_output = nn.Linear(hidden_dim, vocab_size * goal_size)  # O_t: V x k per step
        self.goal_projection = nn.Linear(feature_dim, goal_size, bias=False)  # W_ψ
        with torch.no_grad():
            if init_std:
                for parameter in self.policy_parameters():
                    parameter.normal_(0.0, init_std)
            nn.init.trunc_normal_(self.initial_goal, std=0.1, a=-0.2, b=0.2)

    @property
    def fill_id(self) -> int:
        """The id that pads D's view of a prefix: `vocab_size`, one past every real token."""
        return self.vocab_size

    def policy_parameters(self) -> list[nn.Parameter]:
        """The Manager's and Worker's parameters (everything but the discriminator)."""
        return [p for name, p in self.named_parameters() if not name.startswith("discriminator.")]

    def start_state(self, batch: int) -> LeakState:
        """The state before <bos>: empty prefix, zero LSTM states, the learned first goal."""
        device, feature_dim = self.device, self.initial_goal.shape[0]
        zeros = lambda layers, width: torch.zeros(layers, batch, width, device=device)
        return LeakState((zeros(self.num_layers, self.hidden_dim), zeros(self.num_layers, self.hidden_dim)),
                         (zeros(1, self.manager_hidden_dim), zeros(1, self.manager_hidden_dim)),
                         self.discriminator.start_prefix(batch, self.fill_id),
                         torch.zeros(batch, feature_dim, device=device),
                         self.initial_goal.unsqueeze(0).expand(batch, -1), 0)

    def run(self, tokens: torch.Tensor, state: LeakState | None = None
            ) -> tuple[torch.Tensor, LeakState, torch.Tensor, torch.Tensor]:
        """(B, n) inputs (the first is <bos> when `state` is None) -> ((B, n, V) logits, state,
        (B, n, F) Manager goals g_t with gradient, (B, n, F) features f_t of the prefix before
        each step)."""
        batch, count = tokens.shape
        fresh = state is None
        if state is None:
            state = self.start_state(batch)
        # the prefix before each step: <bos> adds nothing, every other input is the last token emitted
        emitted = tokens[:, 1:] if fresh else tokens
        steps = state.steps + emitted.shape[1]
        room = self.max_length - state.prefix.length  # a prefix stops growing at max_length
        with_start = fresh or room == 0  # the features before the first input (fresh), or of the full prefix
        prefix, seen = self.discriminator.grow_prefix(state.prefix, emitted[:, :room], self.fill_id,
                                                      include_start=with_start)
        features = seen[:, 1:] if with_start and not fresh else seen
        if features.shape[1] < count:
            features = torch.cat([features, seen[:, -1:].expand(-1, count - features.shape[1], -1)], dim=1)
        manager_hidden, manager_state = run_recurrent(self.manager, features, state.manager)
        subgoals = F.normalize(self.manager_output(manager_hidden).float(), dim=-1)
        goals, goal_sum, goal = renewed_goals(subgoals.detach(), state.goal_sum, state.goal, steps - count + 1,
                                              self.step_size)
        worker_hidden, worker_state = run_recurrent(self.worker, self.embedding(tokens), state.worker)
        w = F.normalize(self.goal_projection(goals), dim=-1)  # unit norm, as both reference codes
        logits = self.goal_logits(self.dropout(worker_hidden), w)
        new_state = LeakState(worker_state, manager_state, prefix, goal_sum, goal, steps)
        return logits, new_state, subgoals, features

    def goal_logits(self, hidden: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(..., V) logits O_t · w of the Worker's (..., H) outputs and (..., k) goal embeddings, where
        O_t = worker_output(h) viewed V x k, computed as (w ⊗ h) against the weight viewed V x kH
        so that no (..., V, k) tensor is made."""
        weight = self.worker_output.weight.view(self.vocab_size, self.goal_size * self.hidden_dim)
        bias = self.worker_output.bias.view(self.vocab_size, self.goal_size)
        w = w.to(hidden.dtype)
        outer = (w.unsqueeze(-1) * hidden.unsqueeze(-2)).flatten(-2)
        return outer @ weight.t().to(hidden.dtype) + w @ bias.t().to(hidden.dtype)

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        logits, state, _, _ = self.run(tokens, state)
        return logits, state

    def leak(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced pass over (B, T) targets: ((B, T, V) logits, (B, T, F) goals g_0..g_T-1
        with gradient, (B, T + 1, F) features f_0..f_T of the prefixes of 0..T tokens)."""
        logits, state, subgoals, features = self.run(self.inputs_for(targets))
        _, whole = self.discriminator.grow_prefix(state.prefix, targets[:, -1:], self.fill_id)
        return logits, subgoals, torch.cat([features, whole], dim=1)

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        pick = lambda pair: (pair[0][:, index], pair[1][:, index])
        return LeakState(pick(state.worker), pick(state.manager), state.prefix.select(index), state.goal_sum[index],
                         state.goal[index], state.steps)

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module, its discriminator included (saved as config.json)."""
        cnn = self.discriminator
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
            "dropout": self.dropout_rate, "manager_hidden_dim": self.manager_hidden_dim,
            "goal_size": self.goal_size, "step_size": self.step_size,
            "discriminator_embedding_dim": cnn.embedding_dim, "filter_sizes": list(cnn.filter_sizes),
            "num_filters": list(cnn.num_filters), "discriminator_dropout": cnn.dropout_rate,
        }
