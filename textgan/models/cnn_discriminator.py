"""TextCNN discriminator (Kim 2014) with a highway layer and dropout, as in SeqGAN.

Input is token ids (B, T), a soft one-hot (B, T, V) or embeddings (B, T, E), so the same
network scores SeqGAN's sampled ids and the continuous GANs' relaxed outputs. The output is
one logit per sequence (real = 1); SeqGAN's two-class softmax is the same model, since
softmax over (l0, l1) gives sigmoid(l1 - l0).

RelGAN's discriminator (Nie et al. 2019) is this network with `representations` > 1: the
embedding is cut into that many small embeddings, each read by the same filters, highway and
output layer, giving one logit per representation (`representation_logits`; RelGAN averages
its loss over them, `forward` averages the logits).

Speed (benchmarks/rollout_speed.py: about 2x one nn.Conv1d per filter size under bf16
autocast on a Xeon with AMX; benchmarks/d_speed.py): every filter size is a linear map of a
flattened window of k embeddings. The windows are a strided view of the embeddings, copied once
into a window-major matrix, so each size is one large matmul and max-over-time is an
elementwise max over whole slabs; the max is taken before the bias and ReLU (both monotone, so
the result is the same on T-fold fewer values). Under autocast the embeddings are cast once, and rows go through in
blocks that stay in cache. In training the windows' backward (`_WindowMatmul`) adds each tap's
gradient into its shifted slab of the embeddings' gradient: k slab additions, where autograd
through the strided view copied and ran `index_add_` (12% of a D step, issue 27). Scoring in
fp32 (no gradient) runs each bank as one `F.conv1d` instead: on a 2-core AMD EPYC, one thread,
oneDNN's convolution took 15-40% less CPU time than the window matmul there (512-2,048 rows),
while in bf16 and in training (batch 64) the window matmul was faster.

Rollout completions share a prefix with the sample they complete, and a window that lies wholly
inside that prefix has the sample's activation. `shared_prefix_logits` therefore computes the
sample's windows once, keeps their running maximum over window positions, and for each
completion computes only the windows that touch generated tokens: the max-over-time is the
larger of the two. `conv_flops` counts what that saves (about a third of the filter FLOPs of a
SeqGAN reward batch with the canonical filters and T = 20).

LeakGAN reads D's features of every prefix, each padded with a fill token to max_length.
`grow_prefix` keeps what max-over-time needs as the prefix grows one token at a time
(`PrefixPooling`): the maximum response of the windows wholly inside the prefix, the partial
responses of the windows that start inside it (their other taps read the fill token, whose
responses are a per-tap constant), and the all-fill window. Each token costs one window's
multiply-adds per filter bank instead of a pass over all T - k + 1 windows.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import DiscriminatorConfig, check_filter_lists
from textgan.errors import ConfigError

MODEL_TYPE = "textgan-textcnn"
DISCRIMINATOR_STYLES = ("seqgan", "relgan")
RELGAN_HIDDEN = 100  # width of RelGAN's layer between the highway and the logit


def check_filter_sizes(filter_sizes: Sequence[int], num_filters: Sequence[int], max_length: int) -> None:
    """Raise ConfigError if the filter lists do not match or a filter is longer than the sequences."""
    check_filter_lists(list(filter_sizes), list(num_filters))
    too_long = max(filter_sizes)
    if too_long > max_length:
        raise ConfigError(
            f"discriminator.filter_sizes has {too_long} but sequences are {max_length} tokens; "
            f"drop sizes above {max_length}"
        )


def _truncated_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """TensorFlow's truncated_normal initialiser (SeqGAN's choice for filters and output)."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


class PrefixPooling(NamedTuple):
    """Max-over-time state of a prefix of `length` tokens read as padded with a fill token to
    max_length: per filter bank (k taps, n filters), the largest pre-bias response of the windows
    wholly inside the prefix ((B, n), -inf before the first), and the partial responses of the
    windows that start inside it ((B, k - 1, n): [m - 1] sums the first m taps of the window
    that starts at length - m); and the prefix's (B, F) sentence features."""

    length: int
    complete: tuple[torch.Tensor, ...]
    pending: tuple[torch.Tensor, ...]
    features: torch.Tensor

    def select(self, index: torch.Tensor) -> "PrefixPooling":
        """The rows `index` of the state."""
        return PrefixPooling(self.length, tuple(c[index] for c in self.complete), tuple(p[index] for p in self.pending),
                             self.features[index])


def _windows(embedded: torch.Tensor, size: int, first_window: int) -> torch.Tensor:
    """The windows of `size` tokens starting at first_window.. of (B, T, E) embeddings, copied
    window-major into a (windows * B, size * E) matrix."""
    batch, length, width = embedded.shape
    windows = length - size + 1 - first_window
    # window t of row b is the contiguous slice embedded[b, t:t+size] flattened, so the windows
    # are a strided view; laid out window-major, the max over windows runs over whole slabs
    view = embedded.as_strided((windows, batch, size * width), (width, length * width, 1),
                               embedded.storage_offset() + first_window * width)
    return view.reshape(windows * batch, size * width)


class _WindowMatmul(torch.autograd.Function):
    """(windows, B, n) = windows of (B, T, E) embeddings @ (n, k * E) weight.T. The backward adds
    each tap's gradient into its shifted slab of the embeddings' gradient (k slab additions),
    where autograd through the strided view would copy and `index_add_` element by element."""

    @staticmethod
    def forward(ctx: Any, embedded: torch.Tensor, weight: torch.Tensor, first_window: int) -> torch.Tensor:
        width = embedded.shape[2]
        size = weight.shape[1] // width
        windows = _windows(embedded, size, first_window)
        ctx.save_for_backward(windows, weight)
        ctx.geometry = (embedded.shape, size, first_window)
        return (windows @ weight.t()).view(-1, embedded.shape[0], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        windows, weight = ctx.saved_tensors
        (batch, length, width), size, first_window = ctx.geometry
        grad = grad.reshape(-1, weight.shape[0])
        grad_weight = grad.t() @ windows if ctx.needs_input_grad[1] else None
        grad_embedded = None
        if ctx.needs_input_grad[0]:
            taps = (grad @ weight).view(-1, batch, size, width).transpose(0, 1)  # (B, windows, k, E)
            count = taps.shape[1]
            grad_embedded = taps.new_zeros(batch, length, width)
            for tap in range(size):  # tap j of window t reads token first_window + t + j
                grad_embedded[:, first_window + tap: first_window + tap + count] += taps[:, :, tap]
        return grad_embedded, grad_weight, None


class TextCNN(nn.Module):
    """Embedding, one filter bank per window size with max-over-time, highway, dropout, logit."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        embedding_dim: int = 64,
        filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
        num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
        dropout: float = 0.25,
        representations: int = 1,
        style: str = "seqgan",
    ) -> None:
        super().__init__()
        check_filter_sizes(filter_sizes, num_filters, max_length)
        if embedding_dim % representations:
            raise ConfigError(f"discriminator.embedding_dim ({embedding_dim}) must be divisible by "
                              f"discriminator.representations ({representations})")
        self.vocab_size, self.max_length, self.embedding_dim = vocab_size, max_length, embedding_dim
        if style not in DISCRIMINATOR_STYLES:
            raise ConfigError(f"discriminator.style must be one of {', '.join(DISCRIMINATOR_STYLES)}, got {style!r}")
        self.representations, self.style = representations, style
        width = embedding_dim // representations  # of one representation
        self.filter_sizes, self.num_filters = list(filter_sizes), list(num_filters)
        self.dropout_rate = dropout
        # rows per pass in forward: a block's windows, responses and features stay in cache
        self.row_block = 2048
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        # filter bank i maps a flattened window of filter_sizes[i] embeddings to num_filters[i] features
        self.filters = nn.ModuleList(nn.Linear(k * width, n) for k, n in zip(filter_sizes, num_filters))
        features = sum(num_filters)
        relgan = style == "relgan"
        # transform gate and candidate in one matmul (RelGAN's highway has no biases)
        self.highway = nn.Linear(features, 2 * features, bias=not relgan)
        self.dropout = nn.Dropout(dropout)
        # RelGAN ends with two linear layers (to 100, then 1); SeqGAN with one
        self.projection: nn.Module = nn.Linear(features, RELGAN_HIDDEN) if relgan else nn.Identity()
        self.output = nn.Linear(RELGAN_HIDDEN if relgan else features, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The style's initialisation. SeqGAN: uniform(-1, 1) embeddings, N(0, 0.1) filters, bias
        0.1, gate bias -2. RelGAN: embeddings truncated N(0, 1 / vocabulary), filters truncated
        N(0, 2 / fan_in) with zero biases, linear layers truncated N(0, 1 / fan_in), no gate bias."""
        if self.style == "relgan":
            self._reset_relgan()
            return
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
        for bank in self.filters:
            _truncated_normal_(bank.weight, 0.1)
            nn.init.constant_(bank.bias, 0.1)
        features = self.output.in_features
        bound = math.sqrt(6.0 / (2 * features))  # Glorot uniform, TF's default for the highway
        nn.init.uniform_(self.highway.weight, -bound, bound)
        nn.init.zeros_(self.highway.bias)
        nn.init.constant_(self.highway.bias[:features], -2.0)  # gates start closed: carry the input
        _truncated_normal_(self.output.weight, 0.1)
        nn.init.constant_(self.output.bias, 0.1)

    def _reset_relgan(self) -> None:
        """RelGAN's `d_emb`, `conv2d` (He-normal, zero bias), `highway` and `linear` initialisers."""
        _truncated_normal_(self.embedding.weight, self.vocab_size**-0.5)
        for bank in self.filters:
            _truncated_normal_(bank.weight, math.sqrt(2.0 / bank.in_features))
            nn.init.zeros_(bank.bias)
        for layer in (self.highway, self.projection, self.output):
            _truncated_normal_(layer.weight, layer.in_features**-0.5)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) ids, (B, T, V) soft one-hot or (B, T, E) embeddings -> (B, T, E) embeddings."""
        if not torch.is_floating_point(x):
            return self.embedding(x)
        if x.dim() != 3:
            raise ValueError(f"TextCNN expects (B, T) ids or a (B, T, V|E) float tensor, got shape {tuple(x.shape)}")
        if x.shape[-1] == self.vocab_size:  # checked first: a soft one-hot when V == E
            return x @ self.embedding.weight.to(x.dtype)
        if x.shape[-1] == self.embedding_dim:
            return x
        raise ValueError(
            f"TextCNN float input has last dimension {x.shape[-1]}; expected the vocabulary size "
            f"{self.vocab_size} or the embedding size {self.embedding_dim}"
        )

    def _prepared(self, embedded: torch.Tensor) -> torch.Tensor:
        """Embeddings checked against the largest filter, each representation a row of its own for
        the shared filters ((B * representations, T, E / representations)), cast once under
        autocast, contiguous."""
        if self.representations > 1:
            embedded = embedded.unflatten(2, (self.representations, -1)).transpose(1, 2).flatten(0, 1)
        length = embedded.shape[1]
        if length < max(self.filter_sizes):
            raise ValueError(
                f"sequences of {length} tokens are shorter than the largest filter "
                f"({max(self.filter_sizes)}); pad them to {self.max_length}"
            )
        device_type = embedded.device.type
        if torch.is_autocast_enabled(device_type):
            # cast once here, not once per filter bank inside each autocast matmul
            embedded = embedded.to(torch.get_autocast_dtype(device_type))
        return embedded.contiguous()

    def _responses(self, embedded: torch.Tensor, bank_index: int, first_window: int = 0) -> torch.Tensor:
        """(windows, B, n) pre-bias responses of filter bank `bank_index` at window positions
        first_window.. of prepared (B, T, E) embeddings."""
        weight = self.filters[bank_index].weight.to(embedded.dtype)
        if embedded.dtype == torch.float32 and not (torch.is_grad_enabled() and
                                                     (embedded.requires_grad or weight.requires_grad)):
            # scoring in fp32: oneDNN's conv1d beat the window matmul by 15-40% (issue 27); bf16
            # and training (batch 64, with the windows' own backward) go the other way
            taps = weight.view(weight.shape[0], self.filter_sizes[bank_index], -1).transpose(1, 2)
            return F.conv1d(embedded[:, first_window:].transpose(1, 2), taps).permute(2, 0, 1)
        return _WindowMatmul.apply(embedded, weight, first_window)

    def _activate(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """Bias and ReLU after max-over-time (both monotone, so the order does not matter)."""
        bias = torch.cat([bank.bias for bank in self.filters])
        return torch.relu(torch.cat(pooled, dim=1).float() + bias)

    def features(self, embedded: torch.Tensor) -> torch.Tensor:
        """(B, T, E) embeddings -> (B, representations * sum(num_filters)) max-over-time filter features."""
        rows = embedded.shape[0]
        embedded = self._prepared(embedded)
        pooled = [self._responses(embedded, i).amax(dim=0) for i in range(len(self.filters))]
        return self._activate(pooled).view(rows, -1)

    def shared_prefix_logits(self, samples: torch.Tensor, completions: torch.Tensor, sources: torch.Tensor,
                             prefix_lengths: torch.Tensor) -> torch.Tensor:
        """(R,) logits of `completions` (R, T) ids whose first prefix_lengths[r] (< T) tokens are
        those of samples[sources[r]]: `self(completions)` up to float rounding, without recomputing
        the windows that lie wholly inside the shared prefix. RelGAN's D (representations > 1)
        takes the plain pass."""
        if self.representations > 1:
            return self(completions)
        sample_embedded = self._prepared(self.embed(samples))
        # running[i][p]: the sample's maximum response of bank i over window positions 0..p
        running = [self._responses(sample_embedded, i).cummax(dim=0).values for i in range(len(self.filters))]
        logits = torch.empty(completions.shape[0], dtype=torch.float32, device=completions.device)
        for rows, prefix in self._prefix_blocks(prefix_lengths):
            embedded = self._prepared(self.embed(completions[rows]))
            pooled = []
            for i, size in enumerate(self.filter_sizes):
                inside = prefix - size + 1  # windows 0..inside-1 lie wholly in every row's prefix
                pooled_new = self._responses(embedded, i, max(inside, 0)).amax(dim=0)
                if inside > 0:
                    pooled_new = torch.maximum(pooled_new, running[i][inside - 1][sources[rows]])
                pooled.append(pooled_new)
            logits[rows] = self.head(self._activate(pooled))
        return logits

    def _prefix_blocks(self, prefix_lengths: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
        """Rows by increasing prefix length in blocks of `row_block` (as few ops as the plain
        forward pass), each with the shortest prefix in it, which all its rows share."""
        order = prefix_lengths.argsort(stable=True)
        return [(rows, int(prefix_lengths[rows[0]])) for rows in order.split(self.row_block)]

    def shared_prefix_conv_flops(self, length: int, prefix_lengths: torch.Tensor) -> int:
        """Filter-bank FLOPs of `shared_prefix_logits` for completions of `length` tokens."""
        return sum(len(rows) * self.conv_flops(length, prefix) for rows, prefix in self._prefix_blocks(prefix_lengths))

    def conv_flops(self, length: int, prefix_length: int = 0) -> int:
        """Multiply-adds x 2 of the filter banks for one sequence of `length` tokens, skipping the
        windows inside a shared prefix of `prefix_length` tokens (as `shared_prefix_logits` does)."""
        return sum(2 * n * k * self.embedding_dim * (length - k + 1 - max(prefix_length - k + 1, 0))
                   for k, n in zip(self.filter_sizes, self.num_filters))

    @torch.no_grad()
    def start_prefix(self, batch: int, fill_id: int) -> PrefixPooling:
        """The empty prefix's pooling state for `batch` rows (its features read fill_id throughout)."""
        device = self.embedding.weight.device
        complete = [torch.full((1, n), -math.inf, device=device) for n in self.num_filters]
        pending = [torch.zeros(1, k - 1, n, device=device) for k, n in zip(self.filter_sizes, self.num_filters)]
        features = self.sentence_features(self._activate([self._prefix_pooled(0, complete, pending,
                                                                               self._fill_suffixes(fill_id, self._tap_weight()))]))
        return PrefixPooling(0, tuple(c.expand(batch, -1) for c in complete),
                             tuple(p.expand(batch, -1, -1) for p in pending), features.flatten(1).expand(batch, -1))

    def _tap_weight(self) -> torch.Tensor:
        """Every tap of every bank in one (E, sum k*n) matrix: columns by bank, then tap, then filter."""
        taps = [bank.weight.view(n, k, -1) for bank, k, n in zip(self.filters, self.filter_sizes, self.num_filters)]
        return torch.cat([w.permute(2, 1, 0).flatten(1) for w in taps], dim=1)

    def _tap_responses(self, ids: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
        """Per filter bank (k taps, n filters), the (B, c, k, n) response of each tap to each of (B, c)
        ids, from `_tap_weight()`."""
        embedded = self.embed(ids)
        responses = (embedded @ weight.to(embedded.dtype)).float()
        sizes = [k * n for k, n in zip(self.filter_sizes, self.num_filters)]
        return [r.unflatten(-1, (k, n)) for r, k, n in zip(responses.split(sizes, dim=-1), self.filter_sizes,
                                                            self.num_filters)]

    def _fill_suffixes(self, fill_id: int, weight: torch.Tensor) -> list[torch.Tensor]:
        """Per bank, (k, n): [m] is the fill token's response summed over taps m.. (a window's unfilled taps)."""
        ids = torch.full((1, 1), fill_id, dtype=torch.long, device=self.embedding.weight.device)
        return [r[0, 0].flip(0).cumsum(0).flip(0) for r in self._tap_responses(ids, weight)]

    @torch.no_grad()
    def grow_prefix(self, state: PrefixPooling, tokens: torch.Tensor, fill_id: int, include_start: bool = False
                    ) -> tuple[PrefixPooling, torch.Tensor]:
        """Push (B, c) tokens onto the prefix: the new state and the (B, c, F) sentence features
        (highway output) of the prefix after each token (c + 1, the first before any, with
        `include_start`), each as `sentence_features(features(embed(prefix padded with fill_id to
        max_length)))` up to float rounding, at one window per filter bank and token. A fill
        token leaves the padded prefix as it was: its features are the previous ones, bit for bit
        (LeakGAN's Manager reads differences of features)."""
        if self.representations > 1:
            raise ValueError("grow_prefix reads one representation; RelGAN's D (representations > 1) has several")
        batch, count = tokens.shape
        if state.length + count > self.max_length:
            raise ValueError(f"a prefix of {state.length + count} tokens is longer than max_length {self.max_length}")
        weight = self._tap_weight()
        per_bank, suffixes = self._tap_responses(tokens, weight), self._fill_suffixes(fill_id, weight)
        complete, pending, length = list(state.complete), list(state.pending), state.length
        pooled = []
        for t in range(count):
            for i, k in enumerate(self.filter_sizes):
                # window (length - m + 1) now has m + 1 taps: the older pending ones gain tap m, a new one starts
                shifted = torch.cat([pending[i].new_zeros(batch, 1, pending[i].shape[2]), pending[i]], dim=1)
                shifted = shifted + per_bank[i][:, t]
                if length + 1 >= k:
                    complete[i] = torch.maximum(complete[i], shifted[:, k - 1])
                pending[i] = shifted[:, : k - 1]
            length += 1
            pooled.append(self._prefix_pooled(length, complete, pending, suffixes))
        grown = list(self.sentence_features(self._activate([torch.cat(pooled)])).view(count, batch, -1)) if count else []
        features = [state.features]
        for t, row in enumerate(grown):
            features.append(torch.where((tokens[:, t] == fill_id).unsqueeze(1), features[-1], row))
        state = PrefixPooling(length, tuple(complete), tuple(pending), features[-1])
        chosen = features if include_start else features[1:]
        return state, torch.stack(chosen, dim=1) if chosen else state.features.new_zeros(batch, 0, state.features.shape[1])

    def _prefix_pooled(self, length: int, complete: list[torch.Tensor], pending: list[torch.Tensor],
                       suffixes: list[torch.Tensor]) -> torch.Tensor:
        """(B, sum n) pre-bias max-over-time of a prefix of `length` tokens padded with fill: the
        windows inside it, those that start in it (their other taps read fill) and an all-fill one."""
        banks = []
        for i, k in enumerate(self.filter_sizes):
            parts = [complete[i]]
            # windows starting at length - m, m in [low, high], exist (start >= 0, end < max_length)
            low, high = max(1, length - self.max_length + k), min(k - 1, length)
            if low <= high:
                parts.append((pending[i][:, low - 1: high] + suffixes[i][low: high + 1]).amax(dim=1))
            if length <= self.max_length - k:
                parts.append(suffixes[i][0].expand_as(complete[i]))
            banks.append(functools.reduce(torch.maximum, parts))
        return torch.cat(banks, dim=1)

    def sentence_features(self, features: torch.Tensor) -> torch.Tensor:
        """The highway layer: (B, representations * F) filter features -> (B, representations, F)
        sentence features (RankGAN's ranker compares them, flattened)."""
        # elementwise work in float32: mixing an autocast bf16 output with float32 is slow on CPU
        features = features.float().unflatten(1, (self.representations, -1))
        gate_input, candidate = self.highway(features).float().chunk(2, dim=-1)
        return torch.lerp(features, torch.relu(candidate), torch.sigmoid(gate_input))  # gate*g + (1-gate)*x

    def head(self, features: torch.Tensor, per_representation: bool = False) -> torch.Tensor:
        """Highway, dropout and the output layer: features -> (B,) logits (the mean over
        representations), or (B, representations) with `per_representation`."""
        logits = self.output(self.projection(self.dropout(self.sentence_features(features)))).squeeze(-1).float()
        return logits if per_representation else logits.mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) logits, real = 1, for ids (B, T), a soft one-hot (B, T, V) or embeddings (B, T, E)."""
        return self.representation_logits(x).mean(dim=1)

    def representation_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, representations) logits, one per embedded representation (one column for TextCNN)."""
        # blocks of rows: every intermediate of a block stays in cache, whatever the batch size
        block = max(1, self.row_block // self.representations)
        return torch.cat([self.head(self.features(self.embed(part)), per_representation=True)
                          for part in x.split(block)])

    def l2_penalty(self) -> torch.Tensor:
        """SeqGAN's l2_loss of the output layer: (|W|^2 + |b|^2) / 2; multiply by discriminator.l2."""
        return 0.5 * (self.output.weight.square().sum() + self.output.bias.square().sum())

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "embedding_dim": self.embedding_dim, "filter_sizes": list(self.filter_sizes),
            "num_filters": list(self.num_filters), "dropout": self.dropout_rate,
            "representations": self.representations, "style": self.style,
        }

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "TextCNN":
        """Rebuild from `config_dict()` output."""
        return cls(**{k: v for k, v in config.items() if k != "model_type"})


def build_discriminator(disc_cfg: DiscriminatorConfig, vocab_size: int, max_length: int) -> TextCNN:
    """A fresh TextCNN from the `discriminator` config section (initialised from the global RNG)."""
    return TextCNN(
        vocab_size, max_length, embedding_dim=disc_cfg.embedding_dim, filter_sizes=disc_cfg.filter_sizes,
        num_filters=disc_cfg.num_filters, dropout=disc_cfg.dropout, representations=disc_cfg.representations,
        style=disc_cfg.style,
    )
