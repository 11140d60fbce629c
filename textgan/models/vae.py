"""Sentence VAE (Bowman et al. 2016): an LSTM encoder to a Gaussian posterior, a decoder from z.

The encoder reads a sentence up to its <eos> and gives the mean and log-variance of q(z|x); the
decoder (an LSTM, or a GPT-2 Transformer for model.kind=transformer) is an ordinary
autoregressive language model conditioned on z, so it serves the `Generator` interface:
`sample` draws z from the prior N(0, I). The LSTM decoder starts from a state computed from z
(Bowman et al.); the Transformer decoder adds a projection of z to every input embedding (the
"embedding" injection of Optimus, Li et al. 2020), as a Transformer has no state to start from.
Encoder and decoder share the token embedding.

Likelihood: `logits`/`log_prob` without a state decode from one z drawn from the prior (global
torch RNG). log p(x|z) with z ~ p(z) estimates log p(x) from below in expectation (Jensen), so
the NLL it gives is a loose upper bound on the model's NLL; the VAE trainer reports the tighter
ELBO bound (reconstruction NLL + KL) instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from textgan.data.encoding import fill_id, target_mask
from textgan.errors import TextGanError
from textgan.models.base import Generator
from textgan.models.recurrent import run_recurrent
from textgan.models.sampling import sample_tokens

MODEL_TYPE = "textgan-vae"
DECODERS = ("lstm", "transformer")  # the decoder follows model.kind


def gaussian_kl(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """(B,) KL(N(mean, exp(log_variance)) || N(0, I)), summed over latent units."""
    return 0.5 * (log_variance.exp() + mean**2 - 1.0 - log_variance).sum(dim=-1)


def active_units(posterior_means: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent units whose posterior mean varies across sentences: Cov_x(E_q[z_u]) > threshold (Burda et al.)."""
    if posterior_means.shape[0] < 2:
        return 0
    return int((posterior_means.float().var(dim=0) > threshold).sum())


class SentenceVAE(Generator):
    """Embedding shared by an LSTM encoder (to mean, log-variance) and a decoder conditioned on z."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 64, hidden_dim: int = 128,
                 num_layers: int = 1, latent_dim: int = 32, decoder: str = "lstm", num_heads: int = 4) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        self.embedding_dim, self.hidden_dim = embedding_dim, hidden_dim
        self.num_layers, self.latent_dim = num_layers, latent_dim
        self.decoder_kind, self.num_heads = decoder, num_heads
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.encoder = nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True)
        self.to_mean = nn.Linear(hidden_dim, latent_dim)
        self.to_log_variance = nn.Linear(hidden_dim, latent_dim)
        if decoder == "lstm":
            self.latent_to_state = nn.Linear(latent_dim, 2 * num_layers * hidden_dim)
            self.decoder = nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True)
            self.output = nn.Linear(hidden_dim, vocab_size)
        else:
            from transformers import GPT2Config, GPT2Model

            self.latent_to_input = nn.Linear(latent_dim, embedding_dim)
            # The decoder reads the shared embedding (inputs_embeds): its own token table is unused, one row.
            self.decoder = GPT2Model(GPT2Config(vocab_size=1, n_positions=max_length, n_embd=embedding_dim,
                                                n_layer=num_layers, n_head=num_heads, resid_pdrop=0.0,
                                                embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None,
                                                eos_token_id=None, pad_token_id=None))
            self.output = nn.Linear(embedding_dim, vocab_size)

    # -- the VAE side ----------------------------------------------------------------------------
    def encode(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) target rows -> mean and log-variance of q(z|x), each (B, latent_dim)."""
        lengths = target_mask(targets, self.eos_id).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(targets), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = run_recurrent(self.encoder, packed)
        return self.to_mean(h[-1]), self.to_log_variance(h[-1])

    def reparameterize(self, mean: torch.Tensor, log_variance: torch.Tensor,
                       generator: torch.Generator | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
        """z = mean + std * eps with eps ~ N(0, I) (given, or drawn from `generator`)."""
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        return mean + (0.5 * log_variance).exp() * eps.to(mean.dtype)

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) draws from the prior N(0, I)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    def initial_state(self, z: torch.Tensor) -> Any:
        """The decoder's state before <bos> given z: the LSTM's (h, c) computed from z; for the
        Transformer, z's input offset and an empty cache."""
        if self.decoder_kind == "transformer":
            return self.latent_to_input(z), None
        state = torch.tanh(self.latent_to_state(z)).view(z.shape[0], 2, self.num_layers, self.hidden_dim)
        return state[:, 0].transpose(0, 1).contiguous(), state[:, 1].transpose(0, 1).contiguous()

    def decode_embedded(self, embedded: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """(B, T, V) logits of (B, T, E) input embeddings from a decoder state, and the state after them."""
        if self.decoder_kind == "lstm":
            hidden, state = run_recurrent(self.decoder, embedded, state)
            return self.output(hidden), state
        from transformers import DynamicCache

        offset, cache = state
        cache = DynamicCache() if cache is None else cache
        mask = embedded.new_ones(embedded.shape[0], cache.get_seq_length() + embedded.shape[1], dtype=torch.long)
        out = self.decoder(inputs_embeds=embedded + offset.unsqueeze(1).to(embedded.dtype), attention_mask=mask,
                           cache=cache, use_cache=True)
        return self.output(out.last_hidden_state), (offset, out.cache)

    def decode_logits(self, inputs: torch.Tensor, z: torch.Tensor, word_dropout: float = 0.0,
                      generator: torch.Generator | None = None, uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced (B, T, V) logits given z; word dropout blanks decoder inputs after <bos>
        where the (B, T) `uniforms` (drawn from `generator` when absent) fall below its rate."""
        embedded = self.embedding(inputs)
        if word_dropout > 0:
            if uniforms is None:
                uniforms = torch.rand(inputs.shape, generator=generator, device=inputs.device)
            keep = uniforms >= word_dropout
            keep[:, 0] = True
            embedded = embedded * keep.unsqueeze(-1).to(embedded.dtype)
        return self.decode_embedded(embedded, self.initial_state(z))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, max_len: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, prefix: list[int] | torch.Tensor | None = None,
               generator: torch.Generator | None = None, greedy: bool = False,
               uniforms: torch.Tensor | None = None, prefix_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(n, max_len) rows decoded from latent codes z (greedy or sampled), padded after <eos>."""
        n, max_len = z.shape[0], max_len or self.max_length
        if not greedy and uniforms is None:
            uniforms = torch.rand(n, max_len, generator=generator, device=self.device)

        def choose(logits: torch.Tensor, position: int) -> torch.Tensor:
            if greedy:
                return logits.argmax(dim=-1)
            return sample_tokens(logits, temperature, top_k, top_p, uniforms=uniforms[:, position])

        return self.continue_rows(n, max_len, choose, prefix, prefix_lengths, self.initial_state(z))

    # -- the Generator interface -----------------------------------------------------------------
    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Decoder logits; without a state, z is drawn from the prior (see the module docstring)."""
        if state is None:
            state = self.initial_state(self.prior(tokens.shape[0]))
        return self.decode_embedded(self.embedding(tokens), state)

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        if self.decoder_kind == "lstm":
            h, c = state
            return h[:, index], c[:, index]
        from transformers import DynamicCache

        offset, cache = state
        if cache is not None:
            cache = DynamicCache(ddp_cache_data=[(layer.keys[index], layer.values[index]) for layer in cache.layers])
        return offset[index], cache

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, prefix: list[int] | torch.Tensor | None = None,
               generator: torch.Generator | None = None, prefix_lengths: torch.Tensor | None = None,
               uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """(n, max_len) rows decoded from z ~ N(0, I) drawn with `generator`."""
        return self.decode(self.prior(n, generator), max_len, temperature, top_k, top_p, prefix, generator,
                           uniforms=uniforms, prefix_lengths=prefix_lengths)

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (saved as config.json)."""
        return {
            "model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "max_length": self.max_length,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers, "latent_dim": self.latent_dim, "decoder": self.decoder_kind,
            "num_heads": self.num_heads,
        }


def encode_texts(texts: list[str], tokenizer: Any, max_length: int) -> torch.Tensor:
    """(N, max_length) target rows [text, <eos>, <pad>...] for sentences to encode."""
    pad = fill_id(tokenizer.pad_id, tokenizer.eos_id)
    rows = []
    for text in texts:
        ids = tokenizer.encode(text) + ([tokenizer.eos_id] if tokenizer.eos_id is not None else [])
        if not ids or len(ids) > max_length:
            raise TextGanError(
                f"{text!r} is {len(ids)} tokens with its end token; the model reads 1 to {max_length}, "
                "pass a shorter non-empty sentence"
            )
        rows.append(ids + [pad] * (max_length - len(ids)))
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def interpolate(model: SentenceVAE, first: torch.Tensor, second: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """(steps, T) greedy decodings along the line between the posterior means of two (T,) rows."""
    if steps < 2:
        raise TextGanError(f"interpolation needs at least 2 steps (both ends), got {steps}")
    was_training = model.training
    model.eval()
    means, _ = model.encode(torch.stack([first, second]).to(model.device))
    weights = torch.linspace(0.0, 1.0, steps, device=model.device).unsqueeze(1)
    codes = (1.0 - weights) * means[0] + weights * means[1]
    rows = model.decode(codes, greedy=True)
    model.train(was_training)
    return rows


def interpolate_texts(model: SentenceVAE, tokenizer: Any, first: str, second: str, steps: int = 5) -> list[str]:
    """Sentences decoded between two sentences in latent space (the first and last reconstruct them)."""
    rows = encode_texts([first, second], tokenizer, model.max_length)
    return [tokenizer.decode(r) for r in interpolate(model, rows[0], rows[1], steps).tolist()]
