"""LeakGAN (Guo et al. 2018) on the SeqGAN trainer: D's features leak to a Manager that sets the
Worker's goals (textgan/models/leakgan.py).

What changes against SeqGAN (everything else, every `seqgan.*` key included, is the SeqGAN trainer):
- the generator is LeakGAN's own, and D is its `discriminator` submodule (saved with it);
- pretraining alternates `leakgan.pretrain_rounds` times {D updates, MLE epochs} (the authors':
  10 x {5 x 3 D epochs, 8 MLE epochs}), each round a share of `seqgan.pretrain_d_steps` and
  train.epochs, so that the features G learns to read track the D it will face; MLE is the
  Worker's NLL plus the Manager's goal loss -cos(f_t+c - f_t, g_t) on real rows, in one pass;
- D's generated rows are sampled from softmax(logits x `leakgan.negative_logit_scale`);
- the Manager minimises -Q cos(f_t+c - f_t, g_t), Q the rollout Q-values after the bootstrapped
  rescaled activation sigma(delta * (rank / B - 0.5)) per position; the Worker's REINFORCE reward
  is the intrinsic (goal-cosine) reward alone: D's reward reaches it only through the Manager;
- interleaved training: `leakgan.mle_epochs` full MLE epochs every `leakgan.mle_every` rounds.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.models import Generator
from textgan.models.base import eval_mode
from textgan.models.leakgan import LeakGANGenerator
from textgan.models.token_nll import weighted_token_nll
from textgan.training.base import Phase, global_batches
from textgan.training.discrete_gan_rewards import goal_cosines, intrinsic_rewards, rescaled_activation
from textgan.training.mle import MLEStepper
from textgan.training.policy_gradient import MLESpan, SeqGANTrainer, policy_gradient_loss
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
    """LeakGAN: rounds of D pretraining and MLE of Manager and Worker, then rounds of Manager
    and Worker policy gradients (rescaled rollout rewards, intrinsic rewards) with interleaved MLE."""

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
        self.pretrain_round = 0  # pretraining rounds {D updates, MLE epochs} done
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

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "pretrain_round": self.pretrain_round}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.pretrain_round = state["pretrain_round"]

    def round_share(self, total: int) -> int:
        """How much of `total` (D updates or MLE epochs) is done by the end of the current
        pretraining round: rounds split it as evenly as whole numbers allow, earlier rounds
        taking the remainder (so that the first round starts with D whenever D has updates)."""
        return -(-(self.pretrain_round + 1) * total // self.cfg.leakgan.pretrain_rounds)

    def run_training(self) -> None:
        """Pretraining rounds (D, then MLE) until all are done, then the adversarial phase."""
        while self.phase != "adversarial":
            {"pretrain_d": self.pretrain_discriminator, "pretrain_g": self.pretrain_generator}[self.phase]()
        self.adversarial_training()

    def end_phase(self) -> None:
        """After a round's MLE epochs, the next pretraining round's D updates, or the adversarial phase."""
        if self.phase == "pretrain_g":
            self.pretrain_round += 1
            if self.pretrain_round < self.cfg.leakgan.pretrain_rounds:
                self.phase = "pretrain_d"
                self.save("latest")
                return
        super().end_phase()

    def d_pretrain_target(self) -> int:
        return self.round_share(self.cfg.seqgan.pretrain_d_steps)

    def pretrain_generator(self) -> None:
        """This round's share of train.epochs MLE epochs (the authors': 8 of 80 a round)."""
        self.pretrain_epochs = self.round_share(self.cfg.train.epochs)
        super().pretrain_generator()

    @property
    def negative_temperature(self) -> float:
        return 1.0 / self.cfg.leakgan.negative_logit_scale

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"rollout": self.rollout}  # D is part of model.safetensors

    def pretrain_discriminator(self) -> None:
        """First in each pretraining round (G's goals read D's features); the run starts by
        evaluating the untrained G."""
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
        """Worker: REINFORCE on the intrinsic reward alone; Manager: -Q cos(f_t+c - f_t, g_t) with
        Q the rescaled rollout rewards, both per chosen token; one teacher-forced pass. Goals are
        detached in the Worker's reward and logits, so D's reward moves the Manager only."""
        g, reduce = self.cfg.leakgan, self.runtime.all_reduce_sum
        with eval_mode(self.model), self.runtime.autocast():
            logits, goals, features = self.model.leak(samples)
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(-1, samples.unsqueeze(-1)).squeeze(-1)
        weights = mask.float()
        intrinsic = intrinsic_rewards(features, goals.detach().float(), g.step_size)
        worker = policy_gradient_loss(log_probs, intrinsic * weights, mask, self.baseline, reduce)
        cosines = goal_cosines(features, goals.float(), g.step_size)
        manager = -(rewards.detach() * cosines * weights).sum() / reduce(weights.sum()).clamp(min=1)
        return worker + manager

    def interleave(self) -> None:
        """Interleaved training: leakgan.mle_epochs full MLE epochs over the training rows (in an
        order drawn from the trainer's stream) after every leakgan.mle_every-th round."""
        g, runtime, t = self.cfg.leakgan, self.runtime, self.cfg.train
        if not g.mle_every or (self.round + 1) % g.mle_every:
            return
        self.model.train()
        for epoch in range(g.mle_epochs):
            order = torch.randperm(len(self.data.train), generator=self.rng, device=self.rng.device).cpu()
            nll_sum = token_sum = 0.0
            for batch in global_batches(order, t.batch_size, runtime.world_size):
                nll, tokens = self.mle.step(self.data.train, runtime.local(batch), t.nll_include_prompt)
                self.check_finite(nll, "interleaved MLE loss")
                nll_sum, token_sum = nll_sum + float(nll), token_sum + float(tokens)
            log.debug("interleaved MLE epoch %d after round %d: nll %.4f", epoch + 1, self.round + 1,
                      nll_sum / max(token_sum, 1.0))
