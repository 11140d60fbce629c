"""Sentence-VAE training: ELBO with KL annealing (linear or cyclical) and word dropout.

Each step maximises E_q[log p(x|z)] - beta_t KL(q(z|x) || p(z)) per sentence; beta_t follows
the configured schedule so the decoder cannot ignore z from the start (Bowman et al. 2016; Fu et
al. 2019 for the cyclical schedule). Each epoch the validation split gives the ELBO with beta = 1
(its negative, per token, bounds the model's NLL from above), the KL term and the active units.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from textgan.checkpoint import RunDirectory, generator_state, restore_generator
from textgan.config import Config
from textgan.data import EncodedSplit, PreparedData
from textgan.errors import TextGanError
from textgan.models import Generator
from textgan.models.vae import SentenceVAE, active_units, gaussian_kl
from textgan.progress import progress as progress_bar
from textgan.training.base import Trainer, backward_and_step, global_batches, loss_mask
from textgan.training.mle import make_scheduler
from textgan.training.runtime import Runtime
from textgan.training.optim import make_optimizer


def kl_weight(step: int, schedule: str, anneal_steps: int, cycle_ratio: float = 0.5) -> float:
    """KL weight beta at `step`: linear 0 -> 1 over anneal_steps, cyclical (rise, then hold 1), or 1."""
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return min(1.0, step / anneal_steps)
    if schedule == "cyclical":
        position = (step % anneal_steps) / anneal_steps
        return min(1.0, position / cycle_ratio)
    raise TextGanError(f"vae.kl_schedule must be linear, cyclical or constant, got {schedule!r}")


def build_vae(cfg: Config, vocab_size: int, max_length: int, bos_id: int, eos_id: int | None,
              pad_id: int | None) -> SentenceVAE:
    """A fresh sentence VAE: decoder kind and sizes from the model section, latent size from the vae section."""
    m = cfg.model
    return SentenceVAE(vocab_size, max_length, bos_id, eos_id, pad_id,
                       embedding_dim=m.embedding_dim, hidden_dim=m.hidden_dim, num_layers=m.num_layers,
                       latent_dim=cfg.vae.latent_dim, decoder=m.kind, num_heads=m.num_heads)


def elbo_terms(model: SentenceVAE, targets: torch.Tensor, mask: torch.Tensor, word_dropout: float,
               eps: torch.Tensor, uniforms: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sentence: reconstruction NLL (z = mean + std * eps), KL to the prior, and the posterior
    means; `uniforms` (B, T) pick the word-dropout positions."""
    mean, log_variance = model.encode(targets)
    z = model.reparameterize(mean, log_variance, eps=eps)
    logits = model.decode_logits(model.inputs_for(targets), z, word_dropout, uniforms=uniforms).float()
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (nll * mask).sum(dim=1), gaussian_kl(mean.float(), log_variance.float()), mean


def draw_noise(runtime: Runtime, generator: torch.Generator, rows: int, latent_dim: int, length: int,
               word_dropout: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This process's rows of a global batch's posterior noise (rows, latent) and word-dropout
    draws (rows, T), made in full on every process so a sentence's noise ignores the split."""
    eps = runtime.local_rand(rows, latent_dim, generator=generator, normal=True).to(runtime.device)
    uniforms = None
    if word_dropout > 0:
        uniforms = runtime.local_rand(rows, length, generator=generator).to(runtime.device)
    return eps, uniforms


class VAETrainer(Trainer):
    """Sentence VAE on the training split, validated each epoch (ELBO, KL, active units)."""

    name = "vae"
    config_section = "vae"

    @classmethod
    def new_generator(cls, cfg: Config, data: PreparedData) -> SentenceVAE:
        """A fresh VAE whose decoder is model.kind's (LSTM or Transformer)."""
        tok = data.tokenizer
        return build_vae(cfg, tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id)

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        if not isinstance(generator, SentenceVAE):
            raise TypeError(f"the vae trainer trains a SentenceVAE, not a {type(generator).__name__}; "
                               "build it with VAETrainer.new_generator")
        super().__init__(cfg, run, runtime, data, generator)
        self.model: SentenceVAE = self.generator  # type: ignore[assignment]
        t = cfg.train
        self.optimizer = make_optimizer(self.model.parameters(), t.learning_rate, weight_decay=t.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, t.lr_schedule, self.steps_per_epoch * t.epochs)
        self.scaler = runtime.grad_scaler()  # fp16 only
        # Posterior noise and word dropout draw from here, so a resumed run repeats them exactly.
        self.noise = torch.Generator(device=runtime.device).manual_seed(t.seed + 1)
        self.epoch_totals = torch.zeros(4, dtype=torch.float64)  # reconstruction, KL, tokens, sentences

    def optimizers(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler}

    def extra_state(self) -> dict[str, Any]:
        return {"noise_rng": generator_state(self.noise), "epoch_totals": self.epoch_totals}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        restore_generator(self.noise, state["noise_rng"])
        self.epoch_totals = state["epoch_totals"]

    def run_training(self) -> None:
        t, v = self.cfg.train, self.cfg.vae
        runtime, device = self.runtime, self.runtime.device
        self.model.train()
        while self.epoch < t.epochs and not self.should_stop_early():
            progress = progress_bar(self.batches(self.data.train, t.batch_size), total=self.steps_per_epoch,
                                    initial=self.batch_in_epoch, desc=f"VAE epoch {self.epoch + 1}/{t.epochs}",
                                    unit="batches", disable=not runtime.is_main)
            beta = 0.0
            for batch in progress:
                beta = kl_weight(self.step, v.kl_schedule, v.kl_anneal_steps, v.kl_cycle_ratio)
                rows = runtime.local(batch)
                targets = runtime.to_device(self.data.train.tokens[rows])
                mask = runtime.to_device(loss_mask(self.data.train, rows, self.model.eos_id, t.nll_include_prompt))
                eps, uniforms = draw_noise(runtime, self.noise, len(batch), self.model.latent_dim,
                                           targets.shape[1], v.word_dropout)
                with runtime.autocast():
                    reconstruction, kl, _ = elbo_terms(self.model, targets, mask, v.word_dropout, eps, uniforms)
                loss = (reconstruction.sum() + beta * kl.sum()) / max(len(rows), 1)
                self.check_finite(loss, "VAE loss")
                self.optimizer.zero_grad(set_to_none=True)
                backward_and_step(loss * runtime.share(len(rows), len(batch)), self.optimizer, self.scaler,
                                  list(self.model.parameters()), runtime, t.grad_clip)
                self.scheduler.step()
                sums = torch.tensor([float(reconstruction.detach().sum()), float(kl.detach().sum()),
                                     float(mask.sum()), len(rows)], dtype=torch.float64, device=device)
                self.epoch_totals += runtime.all_reduce_sum(sums).cpu()
                self.batch_in_epoch += 1
                totals = self.epoch_totals
                progress.set_postfix(rec=f"{totals[0] / totals[3]:.2f}", kl=f"{totals[1] / totals[3]:.2f}", beta=f"{beta:.2f}")
                self.after_step()
            totals, self.epoch_totals = self.epoch_totals, torch.zeros(4, dtype=torch.float64)
            self.batch_in_epoch = 0
            self.epoch += 1
            self.end_of_epoch(totals, beta)

    def end_of_epoch(self, totals: torch.Tensor, beta: float) -> None:
        """Validate (ELBO with beta = 1, KL, active units), log, keep the best checkpoint."""
        sentences = max(float(totals[3]), 1.0)
        metrics: dict[str, Any] = {
            "train_reconstruction": float(totals[0]) / sentences, "train_kl": float(totals[1]) / sentences,
            "train_nll_bound": float(totals[0] + totals[1]) / max(float(totals[2]), 1.0), "kl_weight": beta,
        }
        split = self.data.validation if len(self.data.validation) else self.data.train
        t = self.cfg.train
        validation = evaluate_vae(self.model, split, self.runtime, t.batch_size, self.cfg.vae.active_unit_threshold,
                                  t.seed, t.eval_batches, t.nll_include_prompt)
        metrics.update({f"val_{k}": value for k, value in validation.items()})
        best = self.improved(validation["nll_bound"])
        self.log("vae", **metrics)
        self.log_samples("vae")
        self.save("latest", also_best=best)


@torch.no_grad()
def evaluate_vae(model: SentenceVAE, split: EncodedSplit, runtime: Runtime, batch_size: int,
                 threshold: float = 0.01, seed: int = 0, max_batches: int = 0,
                 include_prompt: bool = False) -> dict[str, float]:
    """ELBO terms on a split with one seeded z ~ q per sentence: per-sentence ELBO, reconstruction,
    KL, the per-token NLL bound -ELBO / tokens (and its perplexity), and the active units; the
    tokens reconstructed are `loss_mask`'s (the reply only unless `include_prompt`).
    Processes split every batch; sums and posterior means are gathered."""
    was_training = model.training
    model.eval()
    noise = torch.Generator(device=runtime.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64, device=runtime.device)  # reconstruction, KL, tokens
    means = []
    for i, batch in enumerate(global_batches(torch.arange(len(split)), batch_size, runtime.world_size)):
        if max_batches and i >= max_batches:
            break
        rows = runtime.local(batch)
        targets = split.tokens[rows].to(runtime.device)
        mask = loss_mask(split, rows, model.eos_id, include_prompt).to(runtime.device)
        eps, _ = draw_noise(runtime, noise, len(batch), model.latent_dim, targets.shape[1], 0.0)
        with runtime.autocast():
            rec, kl_batch, mean = elbo_terms(model, targets, mask, 0.0, eps)
        sums += torch.stack([rec.sum().double(), kl_batch.sum().double(), mask.sum().double()])
        means.append(runtime.gather_rows(mean.float(), len(batch)).cpu())
    runtime.all_reduce_sum(sums)
    model.train(was_training)
    reconstruction, kl, tokens = (float(x) for x in sums)
    posterior_means = torch.cat(means)
    sentences = max(posterior_means.shape[0], 1)
    bound = (reconstruction + kl) / max(tokens, 1.0)
    return {
        "elbo": -(reconstruction + kl) / sentences, "reconstruction": reconstruction / sentences,
        "kl": kl / sentences, "nll_bound": bound, "ppl_bound": math.exp(min(bound, 50.0)),
        "active_units": active_units(posterior_means, threshold),
    }
