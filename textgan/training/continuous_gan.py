"""Image-style GAN training for text: every objective in `textgan.training.gan_objectives` behind one switch.

The loop, top to bottom: for each generator step, `gan.d_steps` discriminator updates (each on
the next real batch of the epoch, one-hot or embedded, and a fresh fake batch of softmax rows or embeddings),
then one generator update through D. D is SeqGAN's TextCNN on float input (its raw output is the
critic for the Wasserstein objectives), the WGAN-GP language model's residual conv critic
(`gan.critic: resnet`), or BEGAN's autoencoder. `after_step` counts generator
steps, so checkpoints fall between rounds and a resumed run repeats the rest exactly.

Logged every step (phase "gan"): D and G losses, D's mean output and accuracy on real and fake,
the generator's gradient norm, the instance-noise level, the Wasserstein estimate (wgan,
wgan_gp), the gradient penalty, BEGAN's k_t and convergence measure. Every `gan.eval_every`
steps (phase "gan_eval"): unique samples, distinct-2 and BLEU-2 of a fixed-noise sample — a
mode-collapse signal that does not move with the noise — and, on oracle data, its NLL-oracle.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import torch
from torch import nn

from textgan.checkpoint import RunDirectory, generator_state, restore_generator
from textgan.config import Config
from textgan.data import PreparedData
from textgan.errors import DataError
from textgan.metrics import sample_metrics, unique_ratio
from textgan.models import Generator
from textgan.models.cnn_discriminator import build_discriminator
from textgan.models.continuous import (
    AutoencoderDiscriminator,
    ContinuousGenerator,
    ResidualCritic,
    build_continuous_generator,
)
from textgan.progress import progress as progress_bar
from textgan.training.base import Trainer, backward_and_step
from textgan.training.gan_objectives import (
    began_convergence,
    began_update_k,
    check_label_smoothing,
    clip_weights,
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
    get_objective,
    instance_noise_std,
    wasserstein_estimate,
)
from textgan.training.runtime import Runtime
from textgan.training.optim import make_optimizer

log = logging.getLogger(__name__)

BLEU_REFERENCES = 1000  # validation sentences the health check's BLEU-2 compares against


def make_gan_optimizer(parameters: Any, kind: str, objective: str, learning_rate: float, betas: tuple[float, float]
                       ) -> torch.optim.Optimizer:
    """RMSProp for weight-clipped WGAN (momentum destabilises it, Arjovsky et al.), Adam otherwise."""
    if kind == "rmsprop" or (kind == "auto" and objective == "wgan"):
        return make_optimizer(parameters, learning_rate, "rmsprop")
    return make_optimizer(parameters, learning_rate, betas=betas)


class ContinuousGANTrainer(Trainer):
    """Generator on soft one-hot rows (or embeddings) against a TextCNN critic or BEGAN autoencoder."""

    name = "gan"
    config_section = "gan"
    networks = ("discriminator",)
    whole_rows = True

    @classmethod
    def new_generator(cls, cfg: Config, data: PreparedData) -> ContinuousGenerator:
        """A fresh image-style generator from the gan section (model.kind does not apply: see config.validate)."""
        tok = data.tokenizer
        length = data.train.tokens.shape[1]  # oracle rows are data.oracle_seq_len long
        return build_continuous_generator(cfg.gan, cfg.discriminator.embedding_dim, tok.vocab_size, length,
                                          tok.bos_id, tok.eos_id, tok.pad_id)

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        if not isinstance(generator, ContinuousGenerator):
            raise TypeError(f"the gan trainer trains a ContinuousGenerator, not a {type(generator).__name__}; "
                               "build it with ContinuousGANTrainer.new_generator")
        super().__init__(cfg, run, runtime, data, generator)
        self.model: ContinuousGenerator = self.generator  # type: ignore[assignment]
        g = cfg.gan
        self.objective = get_objective(g.objective)
        check_label_smoothing(self.objective, g.label_smoothing, "gan.objective")
        self.discriminator = self.build_discriminator().to(runtime.device)
        betas = (g.beta1, g.beta2)
        self.g_optimizer = make_gan_optimizer(self.model.parameters(), g.optimizer, g.objective,
                                              cfg.train.learning_rate, betas)
        self.d_optimizer = make_gan_optimizer(self.discriminator.parameters(), g.optimizer, g.objective,
                                              cfg.discriminator.learning_rate, betas)
        self.g_scaler, self.d_scaler = runtime.grad_scaler(), runtime.grad_scaler()  # fp16 only
        # Noise for z, instance noise and penalty interpolation: saved, so resume is exact.
        self.noise = torch.Generator(device=runtime.device).manual_seed(cfg.train.seed + 1)
        self.k = 0.0  # BEGAN's equilibrium variable k_t
        fixed = torch.Generator().manual_seed(cfg.train.seed + 2)
        self.health_noise = torch.randn(g.eval_samples, self.model.noise_dim, generator=fixed).to(runtime.device)
        references = data.validation if len(data.validation) else data.train
        self.references = [self.tokenizer.tokens(r) for r in references.tokens[:BLEU_REFERENCES].tolist()]

    def build_discriminator(self) -> nn.Module:
        """BEGAN's autoencoder, the residual conv critic (gan.critic: resnet) or the TextCNN on float input."""
        g = self.cfg.gan
        if self.objective.autoencoder:
            return AutoencoderDiscriminator(self.model.feature_dim, self.model.max_length, g.began_hidden_dim,
                                            softmax_output=self.model.output == "softmax")
        if g.critic == "resnet":
            return ResidualCritic(self.model.feature_dim, self.model.max_length, g.hidden_dim, g.num_blocks)
        return build_discriminator(self.cfg.discriminator, self.model.vocab_size, self.model.max_length)

    def optimizers(self) -> dict[str, Any]:
        return {"generator": self.g_optimizer, "discriminator": self.d_optimizer,
                "g_scaler": self.g_scaler, "d_scaler": self.d_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator}

    def extra_state(self) -> dict[str, Any]:
        return {"noise_rng": generator_state(self.noise), "began_k": self.k}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        restore_generator(self.noise, state["noise_rng"])
        self.k = state["began_k"]

    # -- the loop -------------------------------------------------------------------------------
    def rounds(self) -> Iterator[list[torch.Tensor]]:
        """Groups of `gan.d_steps` real batches in seeded epoch order until train.epochs passes are done.

        A round never spans two epochs (an epoch's last batches that do not fill a round are
        skipped), so the end of an epoch is a clean point to stop and resume with more epochs.
        """
        d_steps = self.cfg.gan.d_steps
        while self.epoch < self.cfg.train.epochs:
            remaining = list(self.batches(self.data.train, self.cfg.train.batch_size))
            for start in range(0, len(remaining) - d_steps + 1, d_steps):
                yield remaining[start : start + d_steps]
            self.batch_in_epoch = 0
            self.epoch += 1

    def run_training(self) -> None:
        g, t = self.cfg.gan, self.cfg.train
        rounds_per_epoch = self.steps_per_epoch // g.d_steps
        if rounds_per_epoch == 0:
            raise DataError(
                f"the training split gives {self.steps_per_epoch} batches per "
                f"epoch, fewer than gan.d_steps={g.d_steps}; lower gan.d_steps or train.batch_size"
            )
        self.model.train()
        self.discriminator.train()
        progress = progress_bar(total=t.epochs * rounds_per_epoch, initial=self.step, desc=f"GAN ({g.objective})",
                                unit="rounds", line_every=rounds_per_epoch, disable=not self.runtime.is_main)
        for batches in self.rounds():
            d_stats = [self.discriminator_step(rows) for rows in batches]
            self.batch_in_epoch += len(batches)
            record = {key: sum(s[key] for s in d_stats) / len(d_stats) for key in d_stats[0]}
            record.update(self.generator_step(batches[-1]))
            progress.update(1)
            progress.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}")
            self.after_step("gan", **record)
            if self.step % g.eval_every == 0:
                self.evaluate_health()
        progress.close()
        if self.step % g.eval_every:
            self.evaluate_health()

    # Under several processes each takes its rows of every global batch; every random draw is
    # made for the global batch on every process (`runtime.local_rand`) and losses are scaled
    # by `runtime.share`, so the averaged gradients and logged means are those of one process.
    def draw(self, rows: int, *shape: int) -> torch.Tensor:
        """This process's rows of a standard normal (rows, *shape) draw from the noise stream."""
        return self.runtime.local_rand(rows, *shape, generator=self.noise, normal=True).to(self.runtime.device)

    def perturb(self, x: torch.Tensor, std: float, rows: int) -> torch.Tensor:
        """Instance noise: x + N(0, std^2) (x: this process's rows of a global batch of `rows`)."""
        if std <= 0:
            return x
        return x + std * self.draw(rows, *x.shape[1:]).to(x.dtype)

    def discriminator_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One D update on the real rows of `batch` and as many fresh fakes; weights clipped after
        it for wgan."""
        g, runtime = self.cfg.gan, self.runtime
        rows = runtime.local(batch)
        real = self.model.encode_real(runtime.to_device(self.data.train.tokens[rows]))
        with torch.no_grad():
            fake = self.model.generate(self.draw(len(batch), self.model.noise_dim))
        std = instance_noise_std(self.step, g.instance_noise, g.instance_noise_steps)
        real, fake = self.perturb(real, std, len(batch)), self.perturb(fake, std, len(batch))
        loss, row_means, real_out, fake_out = discriminator_loss(
            self.objective, self.discriminator, real, fake, runtime.autocast, real_target=1.0 - g.label_smoothing,
            k=self.k, gp_weight=g.gp_weight,
            mix=lambda: runtime.local_rand(len(batch), generator=self.noise).to(runtime.device))
        l2 = torch.zeros((), device=runtime.device)
        if not self.objective.autoencoder and self.cfg.discriminator.l2:
            l2 = self.cfg.discriminator.l2 * self.discriminator.l2_penalty()
        loss = loss * runtime.share(len(rows), len(batch)) + l2
        self.check_finite(loss, "discriminator loss")
        self.d_optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss, self.d_optimizer, self.d_scaler, list(self.discriminator.parameters()), runtime)
        if self.objective.clipped:
            clip_weights(self.discriminator, g.clip)
        stats = runtime.mean_over_rows(row_means, len(rows))
        stats["d_loss"] += float(l2.detach())
        real_mean, fake_mean = torch.tensor(stats["d_real"]), torch.tensor(stats["d_fake"])
        acc_real, acc_fake = discriminator_accuracy(real_out, fake_out, self.objective,
                                                    midpoint=(stats["d_real"] + stats["d_fake"]) / 2)
        stats.update(runtime.mean_over_rows({"d_acc_real": acc_real, "d_acc_fake": acc_fake}, len(rows)))
        stats["instance_noise"] = std
        if self.objective.critic:
            stats["wasserstein"] = wasserstein_estimate(real_mean, fake_mean)
        if self.objective.autoencoder:
            stats["began_convergence"] = began_convergence(real_mean, fake_mean, g.began_gamma)
            self.k = began_update_k(self.k, real_mean, fake_mean, g.began_gamma, g.began_lambda_k)
            stats["began_k"] = self.k
        return stats

    def generator_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One G update through D (frozen for it); returns the loss and G's gradient norm."""
        g, runtime = self.cfg.gan, self.runtime
        rows = runtime.local(batch)
        std = instance_noise_std(self.step, g.instance_noise, g.instance_noise_steps)
        self.discriminator.requires_grad_(False)
        with runtime.autocast():
            fake = self.model.generate(self.draw(len(batch), self.model.noise_dim))
            loss = generator_loss(self.objective, self.discriminator, self.perturb(fake, std, len(batch)),
                                  lambda: self.perturb(self.model.encode_real(runtime.to_device(self.data.train.tokens[rows])),
                                                       std, len(batch)))
        self.check_finite(loss, "generator loss")
        self.g_optimizer.zero_grad(set_to_none=True)
        grad_norm = backward_and_step(loss * runtime.share(len(rows), len(batch)), self.g_optimizer, self.g_scaler,
                                      list(self.model.parameters()), runtime, self.cfg.train.grad_clip, report_norm=True)
        self.discriminator.requires_grad_(True)
        return {**runtime.mean_over_rows({"g_loss": float(loss.detach())}, len(rows)), "g_grad_norm": grad_norm}

    def evaluate_health(self) -> dict[str, Any]:
        """Mode-collapse signal on the fixed-noise sample: unique share, distinct-2, BLEU-2 (and
        NLL-oracle on oracle data), computed and logged by the main process; then checkpoint."""
        record: dict[str, Any] = {}
        if self.runtime.is_main:
            record = self.log("gan_eval", **self.health_metrics())
        self.save("latest")
        return record

    @torch.no_grad()
    def health_metrics(self) -> dict[str, Any]:
        """The health check's figures; writes the first 20 samples under samples/."""
        self.model.eval()
        rows = self.model.decode_scores(self.model.token_logits(self.health_noise),
                                        generator=torch.Generator(device=self.runtime.device).manual_seed(0))
        self.model.train()
        samples = [self.tokenizer.tokens(r) for r in rows.tolist()]
        scores = sample_metrics(samples, self.references, max_n=2)  # as `textgan evaluate` scores them
        metrics: dict[str, Any] = {"unique": unique_ratio(samples), "distinct_2": scores["distinct2"],
                                   "bleu_2": scores["bleu2"], "mean_length": sum(map(len, samples)) / len(samples)}
        if self.data.oracle is not None:  # synthetic data: the oracle scores the samples
            metrics["nll_oracle"] = self.data.oracle.nll(rows)
        lines = [self.tokenizer.decode(r) for r in rows[:20].tolist()]
        self.run.write_samples(f"step-{self.step:08d}.txt", lines)
        self.log_samples("gan_eval", lines)
        return metrics
