"""Relaxed-sampling GANs: RelGAN (Nie et al. 2019) and GSGAN (Kusner & Hernandez-Lobato 2016).

After MLE pretraining (`StagedTrainer`), each adversarial step is one generator update then
`gumbel.d_steps` discriminator updates (RelGAN's order; D's gradient clipped to
gumbel.d_grad_clip). The generator samples with the Gumbel-max trick: at step t it draws
Gumbel noise g_t, feeds back the hard token argmax(o_t + g_t) (a sample of softmax(o_t)), and D sees the relaxed row softmax(beta * (o_t + g_t)) instead of the one-hot
token, so D's gradient reaches G's logits o_t without REINFORCE. The inverse temperature beta
rises from 1 toward `gumbel.beta_max` by one of RelGAN's schedules with its own N =
`gumbel.beta_steps` (`inverse_temperature`); GSGAN is the constant schedule, beta = 1 / tau.

Positions G does not choose (a prompt, padding after <eos>) are one-hot rows, like the real
rows. Dropout is off in this phase, so the hard token and the relaxed row come from the same
logits. Every objective of `textgan.training.gan_objectives` applies (RSGAN is RelGAN's); with
`discriminator.representations` > 1 (RelGAN's D) each representation's logit is a sample of
the loss, which averages over them. The objective is applied as in the `gan` trainer
(`discriminator_loss`, `generator_loss`), with the `gan` section's clip, gp_weight, began_*,
label_smoothing and instance_noise settings (the noise falls over adversarial steps).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import scored_mask
from textgan.models import Generator
from textgan.models.base import eval_mode
from textgan.models.cnn_discriminator import TextCNN, build_discriminator
from textgan.models.continuous import AutoencoderDiscriminator
from textgan.training.base import backward_and_step
from textgan.training.gan_objectives import (
    began_update_k,
    check_label_smoothing,
    clip_weights,
    discriminator_loss,
    generator_loss,
    get_objective,
    instance_noise_std,
)
from textgan.training.runtime import Runtime
from textgan.training.staged import StagedTrainer
from textgan.training.optim import make_optimizer

BETA_SCHEDULES = ("exponential", "linear", "log", "sigmoid", "quad", "sqrt", "constant")


def inverse_temperature(step: int, beta_max: float, anneal_steps: int, schedule: str = "exponential") -> float:
    """beta at adversarial step i = `step` (0-based): RelGAN's `get_fixed_temperature` with N = `anneal_steps`.

    exponential beta_max ** (i / N); linear 1 + (beta_max - 1) i / (N - 1); log 1 + (beta_max - 1)
    log(i + 1) / log N; sigmoid 1 + (beta_max - 1) / (1 + exp(20 (N / 2 - i) / N)); quad
    1 + (beta_max - 1) i^2 / (N - 1)^2; sqrt 1 + (beta_max - 1) sqrt(i / (N - 1)); constant beta_max
    (GSGAN's fixed 1 / tau). The reference stops before step N; from there beta holds, at most beta_max.
    """
    if schedule == "constant":
        return beta_max
    i, n = min(step, anneal_steps), anneal_steps
    last = max(1, n - 1)  # the reference's N - 1: the last step it takes
    if schedule == "exponential":
        value = beta_max ** (i / n)
    elif schedule == "linear":
        value = 1.0 + (beta_max - 1.0) * i / last
    elif schedule == "log":
        value = 1.0 + (beta_max - 1.0) * math.log(i + 1) / math.log(max(2, n))
    elif schedule == "sigmoid":
        value = 1.0 + (beta_max - 1.0) / (1.0 + math.exp((n / 2 - i) * 20.0 / n))
    elif schedule == "quad":
        value = 1.0 + (beta_max - 1.0) * i**2 / last**2
    elif schedule == "sqrt":
        value = 1.0 + (beta_max - 1.0) * math.sqrt(i / last)
    else:
        raise ValueError(f"unknown beta schedule {schedule!r}; one of {', '.join(BETA_SCHEDULES)}")
    low, high = sorted((1.0, beta_max))
    return min(max(value, low), high)


def gumbel_noise(uniforms: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel draws -log(-log u) from uniforms in [0, 1)."""
    return -torch.log(-torch.log(uniforms.clamp_min(1e-20)))


def relaxed_one_hot(logits: torch.Tensor, noise: torch.Tensor, beta: float) -> torch.Tensor:
    """The Gumbel-softmax row softmax(beta * (logits + noise)); its argmax is the hard sample."""
    return torch.softmax(beta * (logits.float() + noise), dim=-1)


class GumbelTrainer(StagedTrainer):
    """MLE pretraining, then adversarial steps through Gumbel-softmax relaxed samples."""

    name = "gumbel"
    config_section = "gumbel"
    resumable_keys = frozenset({"gumbel.adversarial_steps"})
    networks = ("discriminator",)
    phase_name = "adversarial"
    steps_key = "gumbel.adversarial_steps"

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        g = cfg.gumbel
        super().__init__(cfg, run, runtime, data, generator, eval_every=g.eval_every,
                         nll_oracle_samples=g.nll_oracle_samples)
        self.objective = get_objective(g.objective)
        check_label_smoothing(self.objective, cfg.gan.label_smoothing, "gumbel.objective")
        self.discriminator = self.build_discriminator().to(runtime.device)
        self.g_optimizer = make_optimizer(self.generator.parameters(), g.g_learning_rate)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), cfg.discriminator.learning_rate)
        self.g_scaler, self.d_scaler = runtime.grad_scaler(), runtime.grad_scaler()
        self.k = 0.0  # BEGAN's equilibrium variable

    def optimizers(self) -> dict[str, Any]:
        return {**super().optimizers(), "generator": self.g_optimizer, "g_scaler": self.g_scaler,
                "discriminator": self.d_optimizer, "d_scaler": self.d_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "began_k": self.k}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.k = state["began_k"]

    def build_discriminator(self) -> nn.Module:
        """The objective's D: BEGAN's autoencoder on relaxed rows, else the configured TextCNN."""
        vocab = self.tokenizer.vocab_size
        if self.objective.autoencoder:
            return AutoencoderDiscriminator(vocab, self.sequence_length, self.cfg.gan.began_hidden_dim)
        return build_discriminator(self.cfg.discriminator, vocab, self.sequence_length)

    # -- the loop -------------------------------------------------------------------------------
    def description(self) -> str:
        return f"{self.name} ({self.cfg.gumbel.objective})"

    def beta(self) -> float:
        """beta of the step about to be taken; N is gumbel.beta_steps (0: gumbel.adversarial_steps).

        As in RelGAN's loop, which sets the temperature after each step: step 0 trains at 1, step
        i at `inverse_temperature(i - 1)` (the constant schedule at beta_max throughout)."""
        g = self.cfg.gumbel
        if self.phase_steps == 0 and g.beta_schedule != "constant":
            return 1.0
        anneal_steps = g.beta_steps or max(1, g.adversarial_steps)
        return inverse_temperature(max(0, self.phase_steps - 1), g.beta_max, anneal_steps, g.beta_schedule)

    def step_once(self) -> dict[str, Any]:
        """One generator update, then d_steps discriminator updates, at the current beta (RelGAN's order)."""
        beta = self.beta()
        record: dict[str, Any] = {"beta": beta, **self.generator_step(beta)}
        d_stats = [self.discriminator_step(beta) for _ in range(self.cfg.gumbel.d_steps)]
        record.update({key: sum(s[key] for s in d_stats) / len(d_stats) for key in d_stats[0]})
        return record

    # -- pieces ---------------------------------------------------------------------------------
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """D's outputs: (B, representations) logits of a TextCNN, (B,) energies of BEGAN's autoencoder."""
        if isinstance(self.discriminator, TextCNN):
            return self.discriminator.representation_logits(x)
        return self.discriminator(x)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """This process's share of a fresh global batch: real rows, their prompt lengths, Gumbel
        noise (rows, T, V) for the fakes that continue those prompts; and the global size."""
        count = self.cfg.train.batch_size
        real, lengths = self.real_rows(count)
        noise = gumbel_noise(self.rng_draw(count, self.sequence_length, self.tokenizer.vocab_size))
        return self.runtime.local(real), self.runtime.local(lengths), noise, count

    def relaxed_samples(self, rows: torch.Tensor, prompt_lengths: torch.Tensor, noise: torch.Tensor,
                        beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(hard tokens (B, T), relaxed rows (B, T, V)): G continues each row's prompt taking
        argmax(o_t + g_t) and feeding it back; the relaxed rows carry the gradient to o_t."""
        with eval_mode(self.generator), self.runtime.autocast():
            tokens = self.generator.continue_rows(
                len(rows), self.sequence_length, lambda logits, t: (logits.float() + noise[:, t]).argmax(-1),
                rows, prompt_lengths)
            logits = self.generator(self.generator.inputs_for(tokens))
        relaxed = relaxed_one_hot(logits, noise, beta)
        chosen = scored_mask(tokens, prompt_lengths, self.generator.eos_id).unsqueeze(-1)
        return tokens, torch.where(chosen, relaxed, F.one_hot(tokens, relaxed.shape[-1]).to(relaxed.dtype))

    def instance_noise(self) -> float:
        """Std of the instance noise on D's input rows at this step (gan.instance_noise, falling
        to 0 over gan.instance_noise_steps adversarial steps)."""
        gan = self.cfg.gan
        return instance_noise_std(self.phase_steps, gan.instance_noise, gan.instance_noise_steps)

    def perturb(self, rows: torch.Tensor, std: float, count: int) -> torch.Tensor:
        """Instance noise: rows + N(0, std^2), drawn for the global batch of `count` (none at std 0)."""
        if std <= 0:
            return rows
        return rows + std * self.rng_draw(count, *rows.shape[1:], normal=True).to(rows.dtype)

    def discriminator_step(self, beta: float) -> dict[str, float]:
        """One D update on real rows against as many fresh relaxed fakes (gan.label_smoothing on
        the real label, gan.instance_noise on both)."""
        gan, runtime = self.cfg.gan, self.runtime
        real_rows, lengths, noise, count = self.batch()
        with torch.no_grad():
            fake = self.relaxed_samples(real_rows, lengths, noise, beta)[1]
        real = F.one_hot(real_rows, fake.shape[-1]).float()
        std = self.instance_noise()
        real, fake = self.perturb(real, std, count), self.perturb(fake, std, count)
        loss, means, _, _ = discriminator_loss(self.objective, self.scores, real, fake, runtime.autocast,
                                               real_target=1.0 - gan.label_smoothing, k=self.k,
                                               gp_weight=gan.gp_weight, mix=lambda: self.rng_draw(count))
        loss = loss * runtime.share(len(real_rows), count)
        if isinstance(self.discriminator, TextCNN) and self.cfg.discriminator.l2:
            loss = loss + self.cfg.discriminator.l2 * self.discriminator.l2_penalty()
        self.check_finite(loss, "discriminator loss")
        self.d_optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss, self.d_optimizer, self.d_scaler, list(self.discriminator.parameters()), runtime,
                          self.cfg.gumbel.d_grad_clip)
        if self.objective.clipped:
            clip_weights(self.discriminator, gan.clip)
        stats = runtime.mean_over_rows(means, len(real_rows))
        if self.objective.autoencoder:
            self.k = began_update_k(self.k, torch.tensor(stats["d_real"]), torch.tensor(stats["d_fake"]),
                                    gan.began_gamma, gan.began_lambda_k)
        return stats

    def generator_step(self, beta: float) -> dict[str, Any]:
        """One G update through the relaxed samples (D frozen); the loss and G's gradient norm."""
        runtime = self.runtime
        real_rows, lengths, noise, count = self.batch()
        self.discriminator.requires_grad_(False)
        _, fake = self.relaxed_samples(real_rows, lengths, noise, beta)
        std = self.instance_noise()
        with runtime.autocast():
            loss = generator_loss(self.objective, self.scores, self.perturb(fake, std, count),
                                  lambda: self.perturb(F.one_hot(real_rows, fake.shape[-1]).float(), std, count))
        self.check_finite(loss, "generator loss")
        self.g_optimizer.zero_grad(set_to_none=True)
        norm = backward_and_step(loss * runtime.share(len(real_rows), count), self.g_optimizer, self.g_scaler,
                                 list(self.generator.parameters()), runtime, self.cfg.train.grad_clip,
                                 report_norm=True)
        self.discriminator.requires_grad_(True)
        return {**runtime.mean_over_rows({"g_loss": float(loss.detach())}, len(real_rows)), "g_grad_norm": norm}
