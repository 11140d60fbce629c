"""Image-style GAN for text: a generator that maps noise to a whole sentence at once.

As in the language experiment of Gulrajani et al. (2017), z ~ N(0, I) goes through residual
1-D convolutions (or an MLP) to a (T, V) matrix of per-position softmax distributions, which a
discriminator reads like a soft one-hot sentence; optionally the generator emits (T, E) vectors
in a fixed random token table instead. Text comes out by an argmax (or a draw) per position.

The generator is not autoregressive and has no token likelihood: `logits`/`log_prob` raise
`NoLikelihoodError`, and NLL-based metrics do not apply to it (BLEU, Self-BLEU, distinct-n and
NLL-oracle, which score samples, do). Also here: the WGAN-GP language model's residual
1-D conv critic and BEGAN's autoencoder discriminator.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import GanConfig
from textgan.data.encoding import fill_id, pad_after_eos
from textgan.errors import TextGanError
from textgan.models.base import Generator
from textgan.models.sampling import sample_tokens

MODEL_TYPE = "textgan-continuous"


class NoLikelihoodError(TextGanError):
    """A likelihood was asked of a model that defines none."""


class ResidualBlock(nn.Module):
    """ReLU, conv, ReLU, conv, added back scaled by 0.3 (the WGAN-GP language model's block)."""

    def __init__(self, channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv1d(channels, channels, kernel_size, padding=padding),
            nn.ReLU(), nn.Conv1d(channels, channels, kernel_size, padding=padding),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.3 * self.body(x)


class ContinuousGenerator(Generator):
    """Noise -> (B, T, V) per-position distributions (or (B, T, E) embeddings), all positions at once."""

    has_likelihood = False

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, noise_dim: int = 128, hidden_dim: int = 128,
                 num_blocks: int = 2, architecture: str = "conv", output: str = "softmax",
                 embedding_dim: int = 64, decode: str = "argmax") -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        if architecture not in ("conv", "mlp"):
            raise ValueError(f"architecture must be conv or mlp, got {architecture!r}")
        if output not in ("softmax", "embedding"):
            raise ValueError(f"output must be softmax or embedding, got {output!r}")
        if decode not in ("argmax", "sample"):
            raise ValueError(f"decode must be argmax or sample, got {decode!r}")
        self.noise_dim, self.hidden_dim, self.num_blocks = noise_dim, hidden_dim, num_blocks
        self.architecture, self.output, self.embedding_dim, self.decode = architecture, output, embedding_dim, decode
        if architecture == "conv":
            self.stem = nn.Linear(noise_dim, hidden_dim * max_length)
            self.body = nn.Sequential(*(ResidualBlock(hidden_dim) for _ in range(num_blocks)))
        else:
            layers: list[nn.Module] = [nn.Linear(noise_dim, hidden_dim), nn.ReLU()]
            for _ in range(num_blocks - 1):
                layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            layers.append(nn.Linear(hidden_dim, hidden_dim * max_length))
            self.stem = nn.Sequential(*layers)
            self.body = nn.ReLU()
        width = vocab_size if output == "softmax" else embedding_dim
        self.head = nn.Linear(hidden_dim, width)  # position-wise projection (a matmul: fast on CPU)
        if output == "embedding":
            # A fixed token table (unit rows) shared by real and fake sentences; a trainable
            # table would let D separate them by moving real tokens away from G's reach.
            table = torch.randn(vocab_size, embedding_dim, generator=torch.Generator().manual_seed(0))
            self.register_buffer("token_table", F.normalize(table, dim=1))

    # -- the GAN side ---------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """Width of each position of `generate`'s output (V, or E for embedding output)."""
        return self.vocab_size if self.output == "softmax" else self.embedding_dim

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, noise_dim) draws of z ~ N(0, I) on the model's device."""
        return torch.randn(n, self.noise_dim, generator=generator, device=self.device)

    def scores(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, width) pre-activation outputs for noise z."""
        hidden = self.stem(z).view(z.shape[0], self.hidden_dim, self.max_length)
        return self.head(self.body(hidden).transpose(1, 2))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """What D sees: (B, T, V) softmax distributions, or (B, T, E) embedding vectors."""
        out = self.scores(z)
        return torch.softmax(out.float(), dim=-1) if self.output == "softmax" else out

    def encode_real(self, tokens: torch.Tensor) -> torch.Tensor:
        """Real (B, T) ids in the space `generate` writes to: one-hot rows or table embeddings."""
        if self.output == "softmax":
            one_hot = torch.zeros(*tokens.shape, self.vocab_size, device=tokens.device)
            return one_hot.scatter_(-1, tokens.unsqueeze(-1), 1.0)
        return self.token_table[tokens]

    def token_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, V) scores over tokens: the logits, or cosine similarity to each table row."""
        out = self.scores(z).float()
        if self.output == "softmax":
            return out
        return F.normalize(out, dim=-1) @ self.token_table.T

    def decode_scores(self, token_scores: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, T) ids from token scores (argmax or a draw per position), padded after the first <eos>."""
        if self.decode == "argmax":
            ids = token_scores.argmax(dim=-1)
        else:
            batch, length, vocab = token_scores.shape
            ids = sample_tokens(token_scores.reshape(-1, vocab), temperature, top_k, top_p, generator)
            ids = ids.view(batch, length)
        return pad_after_eos(ids, self.eos_id, fill_id(self.pad_id, self.eos_id))

    # -- the Generator interface -----------------------------------------------------------------
    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NoLikelihoodError(
            "the image-style GAN generator emits every position at once from noise and defines no "
            "token likelihood; NLL does not apply to it, score its samples (BLEU, NLL-oracle) instead"
        )

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        raise NoLikelihoodError("the image-style GAN generator has no decoding state")

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, prefix: list[int] | torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, max_len) rows from fresh noise; temperature/top-k/top-p act when decode is 'sample'."""
        if prefix is not None and len(prefix) > 0:
            raise TextGanError(
                "the image-style GAN generator writes whole sentences from noise and cannot continue "
                "a prompt; sample without --prompt"
            )
        max_len = max_len or self.max_length
        ids = self.decode_scores(self.token_logits(self.noise(n, generator)), temperature, top_k, top_p, generator)
        if max_len <= self.max_length:
            return ids[:, :max_len]
        return F.pad(ids, (0, max_len - self.max_length), value=fill_id(self.pad_id, self.eos_id))

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (saved as config.json)."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "noise_dim": self.noise_dim, "hidden_dim": self.hidden_dim, "num_blocks": self.num_blocks,
            "architecture": self.architecture, "output": self.output,
            "embedding_dim": self.embedding_dim, "decode": self.decode,
        }


class ResidualCritic(nn.Module):
    """The critic of Gulrajani et al. (2017)'s language model: a width-1 convolution of the (B, T, F)
    rows to `hidden_dim` channels, residual blocks, and a linear map of the whole sequence to a score."""

    def __init__(self, feature_dim: int, max_length: int, hidden_dim: int = 128, num_blocks: int = 2) -> None:
        super().__init__()
        self.feature_dim, self.max_length = feature_dim, max_length
        self.project = nn.Linear(feature_dim, hidden_dim)  # the width-1 convolution as a matmul: fast on CPU
        self.body = nn.Sequential(*(ResidualBlock(hidden_dim) for _ in range(num_blocks)))
        self.output = nn.Linear(hidden_dim * max_length, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) scores (real = high) of (B, T, F) soft one-hot rows or embeddings."""
        if not torch.is_floating_point(x) or x.dim() != 3 or x.shape[-1] != self.feature_dim:
            raise ValueError(f"the residual critic reads (B, T, {self.feature_dim}) float rows, "
                             f"got {x.dtype} {tuple(x.shape)}")
        hidden = self.body(self.project(x).transpose(1, 2))
        return self.output(hidden.flatten(1)).squeeze(-1).float()

    def l2_penalty(self) -> torch.Tensor:
        """(|W|^2 + |b|^2) / 2 of the output layer, as TextCNN's (discriminator.l2 scales it)."""
        return 0.5 * (self.output.weight.square().sum() + self.output.bias.square().sum())


class AutoencoderDiscriminator(nn.Module):
    """BEGAN's discriminator: an autoencoder whose per-sentence L1 reconstruction error is the energy.

    Inputs are (B, T, F) soft one-hot rows (reconstructed through a softmax, so the error of one
    position is at most 2) or embedding vectors (reconstructed linearly).
    """

    def __init__(self, feature_dim: int, max_length: int, hidden_dim: int = 64, softmax_output: bool = True) -> None:
        super().__init__()
        self.feature_dim, self.max_length, self.softmax_output = feature_dim, max_length, softmax_output
        self.project = nn.Linear(feature_dim, hidden_dim, bias=False)
        self.encoder = nn.Sequential(nn.Conv1d(hidden_dim, hidden_dim, 3, padding=1), nn.ELU(),
                                     nn.Flatten(), nn.Linear(hidden_dim * max_length, hidden_dim))
        self.decoder = nn.Sequential(nn.Linear(hidden_dim, hidden_dim * max_length), nn.ELU(),
                                     nn.Unflatten(1, (hidden_dim, max_length)),
                                     nn.Conv1d(hidden_dim, hidden_dim, 3, padding=1), nn.ELU())
        self.output = nn.Linear(hidden_dim, feature_dim)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) reconstruction of (B, T, F) inputs."""
        hidden = self.decoder(self.encoder(self.project(x).transpose(1, 2))).transpose(1, 2)
        out = self.output(hidden)
        return torch.softmax(out, dim=-1) if self.softmax_output else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) energies: L1 reconstruction error summed over features, averaged over positions."""
        return (self.reconstruct(x) - x).abs().sum(dim=-1).mean(dim=-1)


def build_continuous_generator(gan: GanConfig, embedding_dim: int, vocab_size: int, max_length: int, bos_id: int,
                               eos_id: int | None, pad_id: int | None) -> ContinuousGenerator:
    """A fresh image-style generator from the `gan` config section (table width `embedding_dim`)."""
    return ContinuousGenerator(vocab_size, max_length, bos_id, eos_id, pad_id, noise_dim=gan.noise_dim,
                               hidden_dim=gan.hidden_dim, num_blocks=gan.num_blocks,
                               architecture=gan.architecture, output=gan.output,
                               embedding_dim=embedding_dim, decode=gan.decode)
