"""ScratchGAN (de Masson d'Autume et al. 2019): a language GAN trained from scratch, no MLE, no rollouts.

Each step draws train.batch_size real rows and as many samples of G, then

- D, a recurrent network with one logit per token (`RecurrentDiscriminator`), takes one Adam step
  on the per-token cross-entropy (real tokens 1, generated 0, halves averaged) plus L2;
- G takes one REINFORCE step on the same samples: every token gets the dense reward
  r_t = 2 sigmoid(D_t) - 1 of the updated D, returns R_t = sum_s gamma^(s-t) r_s are discounted
  within the row, and a moving average of the mean return is the baseline
  (b <- decay * b + (1 - decay) * mean R, updated before it is subtracted, as in the authors' code).

For prompt -> reply corpora G continues real prompts and only reply tokens are scored.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import scored_mask
from textgan.errors import ConfigError
from textgan.models import Generator
from textgan.models.scratchgan import RecurrentDiscriminator, TiedLSTMGenerator, read_word_vectors
from textgan.training.base import backward_and_step, masked_nll_sum
from textgan.training.runtime import Runtime
from textgan.models.base import eval_mode
from textgan.training.staged import StagedTrainer
from textgan.training.optim import make_optimizer


def dense_rewards(token_logits: torch.Tensor) -> torch.Tensor:
    """ScratchGAN's per-token reward 2 sigmoid(D_t) - 1, in (-1, 1) (more stable than log D)."""
    return 2.0 * torch.sigmoid(token_logits.float()) - 1.0


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """(B, T) returns R_t = r_t + gamma R_{t+1} (rewards past a row's end must be 0)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def moving_baseline(baseline: float, mean_return: float, decay: float) -> float:
    """The moving-average baseline after one batch: decay * b + (1 - decay) * mean return."""
    return decay * baseline + (1.0 - decay) * mean_return


def masked_mean_bce(logits: torch.Tensor, target: float, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Sum of per-token binary cross-entropies over `mask`, divided by the global `count`."""
    losses = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none")
    return (losses * mask).sum() / count


class ScratchGANTrainer(StagedTrainer):
    """One recurrent-D and one REINFORCE G update a step, from an untrained G."""

    name = "scratchgan"
    config_section = "scratchgan"
    resumable_keys = frozenset({"scratchgan.steps"})
    phase_name = "adversarial"
    pretrain_key = "scratchgan.pretrain_epochs"
    steps_key = "scratchgan.steps"

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        c = cfg.scratchgan
        super().__init__(cfg, run, runtime, data, generator, eval_every=c.eval_every,
                         nll_oracle_samples=c.nll_oracle_samples)
        vectors = read_word_vectors(c.word_vectors, self.tokenizer) if c.word_vectors else None
        self.discriminator = RecurrentDiscriminator(
            self.tokenizer.vocab_size, self.tokenizer.eos_id, c.d_embedding_dim, c.d_hidden_dim, c.d_num_layers,
            c.d_embedding_dropout, c.d_layer_norm, frozen_dim=0 if vectors is None else vectors.shape[1])
        if vectors is not None:
            self.discriminator.table.set_frozen(vectors)
        self.discriminator.to(runtime.device)
        betas = (c.beta1, 0.999)
        self.g_optimizer = make_optimizer(self.generator.parameters(), c.g_learning_rate, betas=betas)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), c.d_learning_rate, betas=betas)
        self.g_scaler, self.d_scaler = runtime.grad_scaler(), runtime.grad_scaler()
        self.baseline = 0.0

    @classmethod
    def new_generator(cls, cfg: Config, data: PreparedData) -> Generator:
        """The authors' tied-embedding LSTM for model.kind=lstm (model.embedding_dim trainable, beside
        scratchgan.word_vectors' frozen ones); transformer and relational memory as configured."""
        if cfg.model.kind != "lstm":
            if cfg.scratchgan.word_vectors:
                raise ConfigError(f"scratchgan.word_vectors applies to the LSTM generator, not model.kind="
                                  f"{cfg.model.kind}; unset it or use model.kind=lstm")
            return super().new_generator(cfg, data)
        tok, m = data.tokenizer, cfg.model
        vectors = read_word_vectors(cfg.scratchgan.word_vectors, tok) if cfg.scratchgan.word_vectors else None
        generator = TiedLSTMGenerator(tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id,
                                      m.embedding_dim, m.hidden_dim, m.num_layers, m.dropout,
                                      frozen_dim=0 if vectors is None else vectors.shape[1])
        if vectors is not None:
            generator.table.set_frozen(vectors)
        return generator

    def optimizers(self) -> dict[str, Any]:
        return {**super().optimizers(), "generator": self.g_optimizer, "g_scaler": self.g_scaler,
                "discriminator": self.d_optimizer, "d_scaler": self.d_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "baseline": self.baseline}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.baseline = state["baseline"]

    def description(self) -> str:
        return "ScratchGAN"

    def step_once(self) -> dict[str, Any]:
        """A fresh batch of real rows and samples; one D update, then one G update on the samples."""
        runtime, eos = self.runtime, self.generator.eos_id
        count = self.cfg.train.batch_size
        real, lengths = self.real_rows(count)
        draws = self.rng_draw(count, self.sequence_length)
        real, lengths = runtime.local(real), runtime.local(lengths)
        fake = self.generate(real, lengths, draws)  # plain text: prompt lengths are 0
        real_mask, fake_mask = scored_mask(real, lengths, eos).float(), scored_mask(fake, lengths, eos).float()
        metrics = self.discriminator_step(real, real_mask, fake, fake_mask)
        metrics.update(self.generator_step(fake, fake_mask))
        return metrics

    def discriminator_step(self, real: torch.Tensor, real_mask: torch.Tensor, fake: torch.Tensor,
                           fake_mask: torch.Tensor) -> dict[str, float]:
        """Per-token cross-entropy, real and generated halves averaged, plus scratchgan.d_l2 x L2."""
        runtime = self.runtime
        counts = runtime.all_reduce_sum(torch.stack([real_mask.sum(), fake_mask.sum()]).double()).clamp(min=1).float()
        self.discriminator.train()
        with runtime.autocast():
            real_logits = self.discriminator.token_logits(real)
            fake_logits = self.discriminator.token_logits(fake)
        data_loss = 0.5 * (masked_mean_bce(real_logits, 1.0, real_mask, counts[0])
                           + masked_mean_bce(fake_logits, 0.0, fake_mask, counts[1]))
        l2 = self.cfg.scratchgan.d_l2 * self.discriminator.l2_penalty()
        total = runtime.all_reduce_sum(data_loss.detach().clone()) + l2.detach()
        self.check_finite(total, "discriminator loss")
        self.d_optimizer.zero_grad(set_to_none=True)
        backward_and_step(data_loss * runtime.world_size + l2, self.d_optimizer, self.d_scaler,
                          list(self.discriminator.parameters()), runtime)
        probabilities = torch.stack([(torch.sigmoid(real_logits.detach()) * real_mask).sum(),
                                     (torch.sigmoid(fake_logits.detach()) * fake_mask).sum()])
        d_real, d_fake = (runtime.all_reduce_sum(probabilities.double()) / counts.double()).tolist()
        return {"d_loss": float(total), "d_real": d_real, "d_fake": d_fake}

    def generator_step(self, fake: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """REINFORCE with dense discounted rewards of the updated D and the moving-average baseline."""
        runtime, c = self.runtime, self.cfg.scratchgan
        with torch.no_grad(), eval_mode(self.discriminator), runtime.autocast():
            rewards = dense_rewards(self.discriminator.token_logits(fake)) * mask
        returns = discounted_returns(rewards, c.gamma)
        sums = runtime.all_reduce_sum(torch.stack([(returns * mask).sum(), mask.sum(), rewards.sum()]).double())
        count = sums[1].clamp(min=1)
        self.baseline = moving_baseline(self.baseline, float(sums[0] / count), c.baseline_decay)
        advantages = (returns - self.baseline) * mask
        self.generator.train()
        with runtime.autocast():  # -sum A_t log p_t as a weighted NLL: the fused softmax of MLE
            loss = masked_nll_sum(self.generator, fake, advantages / count.float(), self.generator.bos_id)
        total = runtime.all_reduce_sum(loss.detach().clone())
        self.check_finite(total, "generator loss")
        self.g_optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss * runtime.world_size, self.g_optimizer, self.g_scaler, list(self.generator.parameters()),
                          runtime, self.cfg.train.grad_clip)
        return {"g_loss": float(total), "reward": float(sums[2] / count), "mean_return": float(sums[0] / count),
                "baseline": self.baseline}
