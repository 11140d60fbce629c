"""LeakGAN (Guo et al. 2018) on the SeqGAN trainer: D's features leak to a Manager that sets the
Worker's goals (textgan/models/leakgan.py).

What changes against SeqGAN (everything else, every `seqgan.*` key included, is the SeqGAN trainer):
- the generator is LeakGAN's own, and D is its `discriminator` submodule (saved with it);
- D is pretrained first (its features drive G), then G by MLE: the Worker's NLL plus the
  Manager's goal loss -cos(f_t+c - f_t, g_t) on real rows, in one pass;
- rewards are the rollout Q-values after the bootstrapped rescaled activation
  sigma(delta * (rank / B - 0.5)) per position; the Worker's REINFORCE reward adds
  `leakgan.intrinsic_weight` x the intrinsic reward, the Manager minimises -Q cos(f_t+c - f_t, g_t);
- interleaved training: `leakgan.mle_batches` MLE batches every `leakgan.mle_every` rounds.
"""

from __future__ import annotations

import logging
import torch
from torch import nn

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.training.discrete_gan_rewards import goal_cosines, intrinsic_rewards, rescaled_activation
from textgan.models import Generator
from textgan.models.leakgan import LeakGANGenerator
from textgan.models.token_nll import weighted_token_nll
from textgan.training.base import Phase
from textgan.training.mle import MLEStepper
from textgan.training.policy_gradient import MLESpan, SeqGANTrainer, policy_gradient_loss
from textgan.models.base import eval_mode
from textgan.training.runtime import Runtime

log = logging.getLogger(__name__)


class LeakMLEStepper(MLEStepper):
    """MLE on real rows for LeakGAN: the Worker's NLL and the Manager's goal loss, one pass."""

    def __init__(self, generator: LeakGANGenerator, runtime: Runtime, learning_rate: float,
                 weight_decay: float, grad_clip: float) -> None:
        super().__init__(generator, runtime, learning_rate, weight_decay, grad_clip, wrap=False,
                         parameters=generator.policy_parameters())

    def loss_sums(self, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Worker NLL, Manager loss -sum_t cos(f_t+c - f_t, g_t)) over the tokens of `mask`."""
        generator: LeakGANGenerator = self.generator  # type: ignore[assignment]
        logits, goals, features = generator.leak(targets)
        weights = mask.float()
        nll = weighted_token_nll(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), weights.reshape(-1))
        return nll, -(goal_cosines(features, goals, generator.step_size) * weights).sum()


class LeakGANTrainer(SeqGANTrainer):
    """LeakGAN: D pretraining, MLE of Manager and Worker, then rounds of Manager and Worker
    policy gradients on rescaled rollout rewards with interleaved MLE."""

    name = "leakgan"
    title = "LeakGAN"
    config_section = "leakgan"

    @classmethod
    def phases(cls, cfg: Config) -> tuple[Phase, ...]:
        """SeqGAN's phases with D pretrained first: G's goals read D's features."""
        pretrain_g, pretrain_d, adversarial = super().phases(cfg)
        return pretrain_d, pretrain_g, adversarial

    @classmethod
    def new_generator(cls, cfg: Config, data: PreparedData) -> LeakGANGenerator:
        """LeakGAN's generator: the Worker sized by the model section, the Manager by the leakgan
        section, and D (its leaked features' source) by the discriminator section."""
        tok, m, d, g = data.tokenizer, cfg.model, cfg.discriminator, cfg.leakgan
        return LeakGANGenerator(tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id,
                                embedding_dim=m.embedding_dim, hidden_dim=m.hidden_dim, num_layers=m.num_layers,
                                dropout=m.dropout, init_std=m.init_std, manager_hidden_dim=g.manager_hidden_dim,
                                goal_size=g.goal_size, step_size=g.step_size, discriminator_embedding_dim=d.embedding_dim,
                                filter_sizes=d.filter_sizes, num_filters=d.num_filters, discriminator_dropout=d.dropout)

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        if not isinstance(generator, LeakGANGenerator):
            raise TypeError(f"the leakgan trainer trains a LeakGANGenerator, not a {type(generator).__name__}; "
                            "build it with LeakGANTrainer.new_generator")
        self.model: LeakGANGenerator = generator
        super().__init__(cfg, run, runtime, data, generator)

    def build_discriminator(self) -> nn.Module:
        """D is G's feature source: its `discriminator` submodule, one module saved with G."""
        return self.model.discriminator

    def build_mle_stepper(self) -> LeakMLEStepper:
        """The Worker's NLL and the Manager's goal loss on real rows, in one pass."""
        t = self.cfg.train
        return LeakMLEStepper(self.model, self.runtime, t.learning_rate, t.weight_decay, t.grad_clip)

    def policy_parameters(self) -> list[nn.Parameter]:
        """Manager and Worker (D's weights are updated by its own optimizer only)."""
        return list(self.model.policy_parameters())

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"rollout": self.rollout}  # D is part of model.safetensors

    def pretrain_discriminator(self) -> None:
        """Phase 1 here (G's goals read D's features); starts by evaluating the untrained G."""
        if self.step == 0:
            self.log("pretrain_d", **self.evaluate(with_oracle=True))
        super().pretrain_discriminator()

    def train_discriminator(self, noise_std: float) -> tuple[float, float]:
        """SeqGAN's D update; D's gradients are then dropped, so that no G update clips by them."""
        result = super().train_discriminator(noise_std)
        self.d_optimizer.zero_grad(set_to_none=True)
        return result

    def token_rewards(self, samples: torch.Tensor, prompt_lengths: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rescaled activation of the rollout Q-values, ranked per position over the global
        batch; the Q-values themselves, reported as mean_reward)."""
        runtime, count = self.runtime, self.cfg.train.batch_size
        q_values = self.rollout_q(samples, prompt_lengths)
        rescaled = rescaled_activation(runtime.gather_rows(q_values, count), runtime.gather_rows(mask, count),
                                       self.cfg.leakgan.delta)
        return runtime.local(rescaled), q_values

    def policy_loss(self, samples: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                    mle_span: MLESpan | None = None) -> torch.Tensor:
        """Worker: REINFORCE on rescaled Q + intrinsic_weight x intrinsic reward; Manager:
        -Q cos(f_t+c - f_t, g_t), both per chosen token; one teacher-forced pass."""
        g, reduce = self.cfg.leakgan, self.runtime.all_reduce_sum
        with eval_mode(self.model), self.runtime.autocast():
            logits, goals, features = self.model.leak(samples)
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(-1, samples.unsqueeze(-1)).squeeze(-1)
        weights = mask.float()
        intrinsic = intrinsic_rewards(features, goals.detach().float(), g.step_size)
        worker = policy_gradient_loss(log_probs, rewards + g.intrinsic_weight * intrinsic * weights, mask,
                                      self.baseline, reduce)
        cosines = goal_cosines(features, goals.float(), g.step_size)
        manager = -(rewards.detach() * cosines * weights).sum() / reduce(weights.sum()).clamp(min=1)
        return worker + manager

    def interleave(self) -> None:
        """Interleaved training: leakgan.mle_batches MLE batches of random training rows after
        every leakgan.mle_every-th round."""
        g, runtime = self.cfg.leakgan, self.runtime
        if not g.mle_every or (self.round + 1) % g.mle_every:
            return
        self.model.train()
        for _ in range(g.mle_batches):
            rows = torch.randint(len(self.data.train), (self.cfg.train.batch_size,), generator=self.rng,
                                 device=self.rng.device).cpu()
            nll, tokens = self.mle.step(self.data.train, runtime.local(rows), self.cfg.train.nll_include_prompt)
            self.check_finite(nll, "interleaved MLE loss")
            log.debug("interleaved MLE after round %d: nll %.4f", self.round + 1, float(nll / tokens))
