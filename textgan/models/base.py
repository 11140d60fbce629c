"""The generator interface every trainer uses; LSTM and Transformer implement it identically."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors.torch import save_file
from torch import nn

from textgan.data.encoding import fill_id
from textgan.models.token_nll import fused_linear_nll, weighted_token_nll
from textgan.models.sampling import penalize_repetitions, sample_tokens


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Run with dropout off, restoring each module's training flag afterwards."""
    flags = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.train(flag)


def untie_parameters(module: nn.Module) -> None:
    """Give every parameter its own storage (a second name of a tied weight gets a clone), so a
    copy of a generator can be saved by safetensors, which stores no shared tensors."""
    seen: set[int] = set()
    for name, param in list(module.named_parameters(remove_duplicate=False)):
        if id(param) in seen:
            owner_name, _, attribute = name.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            setattr(owner, attribute, nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad))
        seen.add(id(param))


def prefix_rows(n: int, prefix: list[int] | torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """(n, P) prefix ids from one prefix for every row or from rows (empty: (n, 0))."""
    ids = torch.as_tensor(prefix if prefix is not None else [], dtype=torch.long, device=device)
    return ids.unsqueeze(0).expand(n, -1) if ids.dim() == 1 else ids


class Generator(nn.Module):
    """Autoregressive token generator.

    `logits(tokens, state)` serves teacher forcing and incremental decoding; `sample` and
    `log_prob` are built on it, so a new architecture only implements `logits`,
    `select_state` and (de)serialisation.
    """

    def __init__(self, vocab_size: int, max_length: int, bos_id: int, eos_id: int | None,
                 pad_id: int | None) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.pad_id = pad_id

    # -- to implement -------------------------------------------------------------------
    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """(B, T) input ids and an optional state -> ((B, T, V) logits, state after them)."""
        raise NotImplementedError

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        """The state of rows `index` (repeats allowed), for expanding and pruning batches."""
        raise NotImplementedError

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module, with its `model_type` (saved as config.json)."""
        raise NotImplementedError

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "Generator":
        """Rebuild from `config_dict()` output."""
        return cls(**{k: v for k, v in config.items() if k != "model_type"})

    def save_pretrained(self, directory: Path) -> None:
        """Write config.json and model.safetensors into `directory`."""
        directory = Path(directory)
        (directory / "config.json").write_text(json.dumps(self.config_dict(), indent=2))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})

    # -- shared ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
        """(hidden (B, T, H), output weight (V, H), output bias or None) for the fused loss;
        None where the model has no final linear layer over the vocabulary."""
        return None

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits of (B, T) inputs; with targets, the weighted sum of token NLLs.

        The loss goes through `forward` so that DistributedDataParallel sees it.
        """
        if targets is None:
            return self.logits(tokens)[0]
        features = self.output_features(tokens)
        if weights is None:
            weights = torch.ones_like(targets, dtype=torch.float32)
        if features is None:
            logits = self.logits(tokens)[0]
            return weighted_token_nll(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), weights.reshape(-1))
        hidden, weight, bias = features
        return fused_linear_nll(hidden.reshape(-1, hidden.shape[-1]), weight, bias, targets.reshape(-1),
                                weights.reshape(-1))

    def inputs_for(self, targets: torch.Tensor) -> torch.Tensor:
        """<bos> then the targets shifted right."""
        start = torch.full_like(targets[:, :1], self.bos_id)
        return torch.cat([start, targets[:, :-1]], dim=1)

    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, T) log-probability of each target token given the tokens before it."""
        logits = self(self.inputs_for(targets)).float()
        return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        max_len: int | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        prefix: list[int] | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        prefix_lengths: torch.Tensor | None = None,
        uniforms: torch.Tensor | None = None,
        greedy: bool = False,
        repetition_penalty: float = 1.0,
    ) -> torch.Tensor:
        """(n, max_len) sampled rows, padded after <eos> so they look like training targets.

        `prefix` (a list or (P,) tensor for every row, or (n, P) rows, of which row i keeps its
        first `prefix_lengths[i]`) fills the first positions. `uniforms` (n, max_len) are the
        draws behind each position's token, drawn from `generator` when absent: fixing them per
        row makes a row's sample independent of the other rows (several processes). `greedy`
        takes the most likely token; `repetition_penalty` > 1 discourages tokens already in the
        row (<bos> and the prefix included, as `transformers` counts them).
        """
        max_len = max_len or self.max_length
        if uniforms is None:
            uniforms = torch.rand(n, max_len, generator=generator, device=self.device)
        seen, lengths = None, None
        if repetition_penalty != 1.0:
            rows = prefix_rows(n, prefix, self.device)
            lengths = (torch.as_tensor(prefix_lengths, dtype=torch.long, device=self.device)
                       if prefix_lengths is not None else torch.full((n,), rows.shape[1], device=self.device))
            seen = torch.zeros(n, self.vocab_size, dtype=torch.bool, device=self.device)
            seen[:, self.bos_id] = True
            kept = torch.arange(rows.shape[1], device=self.device).unsqueeze(0) < lengths.unsqueeze(1)
            seen[torch.arange(n, device=self.device).unsqueeze(1).expand_as(rows)[kept], rows[kept]] = True

        def choose(logits: torch.Tensor, position: int) -> torch.Tensor:
            if seen is not None:
                logits = penalize_repetitions(logits.float(), seen, repetition_penalty)
            if greedy:
                token = logits.argmax(dim=-1)
            else:
                token = sample_tokens(logits, temperature, top_k, top_p, uniforms=uniforms[:, position])
            if seen is not None:  # rows past their prefix emit this token
                emitted = lengths <= position
                seen[emitted.nonzero().squeeze(1), token[emitted]] = True
            return token

        return self.continue_rows(n, max_len, choose, prefix, prefix_lengths)

    @torch.no_grad()
    def continue_rows(
        self,
        n: int,
        max_len: int,
        choose: Callable[[torch.Tensor, int], torch.Tensor],
        prefix: list[int] | torch.Tensor | None = None,
        prefix_lengths: torch.Tensor | None = None,
        state: Any = None,
    ) -> torch.Tensor:
        """The decoding loop behind `sample` (and the VAE's decoders): (n, max_len) rows that keep
        their prefix and take `choose(next-token logits (n, V), position)` after it, from
        `state` (None: the model's start); rows are padded after <eos>."""
        device = self.device
        prefix_ids = prefix_rows(n, prefix, device)
        if prefix_lengths is None:
            lengths = torch.full((n,), prefix_ids.shape[1], dtype=torch.long, device=device)
        else:
            lengths = torch.as_tensor(prefix_lengths, dtype=torch.long, device=device)
        shared = int(lengths.min()) if n else 0  # prefix positions every row keeps: one pass
        last_forced = int(lengths.max()) if n else 0
        fill = fill_id(self.pad_id, self.eos_id)
        out = torch.full((n, max_len), fill, dtype=torch.long, device=device)
        out[:, :shared] = prefix_ids[:, :shared]
        start = torch.full((n, 1), self.bos_id, dtype=torch.long, device=device)
        step_logits, state = self.logits(torch.cat([start, prefix_ids[:, :shared]], dim=1), state)
        finished = torch.zeros(n, dtype=torch.bool, device=device)
        for t in range(shared, max_len):
            token = choose(step_logits[:, -1], t)
            chosen = lengths <= t  # rows past their prefix
            if t < last_forced:
                token = torch.where(chosen, token, prefix_ids[:, t])
            token = token.masked_fill(finished, fill)
            out[:, t] = token
            if self.eos_id is not None:
                finished |= chosen & (token == self.eos_id)
                if bool(finished.all()):
                    break
            if t + 1 < max_len:
                step_logits, state = self.logits(token.unsqueeze(1), state)
        return out
