"""SeqGAN (Yu et al. 2017): the generator as a policy, rewarded by a discriminator via rollouts.

The loop, top to bottom, in three phases (each logged to metrics.jsonl under its name):

1. `pretrain_g`: maximum likelihood for train.epochs epochs (`MLEStepper`), evaluated every
   `seqgan.eval_every` epochs; stops early after train.patience epochs without a better
   validation NLL, and hands the best epoch's weights (kept in memory and in checkpoints) on.
2. `pretrain_d`: `seqgan.pretrain_d_steps` discriminator updates, each on `d_samples` fresh
   generated sequences and as many real ones, for `d_epochs` epochs.
3. `adversarial`: rounds of `g_steps` REINFORCE updates (loss -mean_t log pi(y_t | y_<t) * Q_t,
   Q from Monte-Carlo rollouts of a delayed copy of G scored by D, optionally minus the mean
   reward of the batch's other rows per position), a rollout-network update, then `d_steps`
   (k) discriminator updates on fresh samples with annealed instance noise and one-sided label
   smoothing. MaliGAN and RankGAN (training/discrete_gans.py) change the reward (`token_rewards`).

On oracle data every evaluation reports NLL-oracle, the oracle's mean per-token NLL of
`nll_oracle_samples` generated sequences. For prompt -> reply data the prompt is a fixed
prefix: G writes and is rewarded only for the reply, and D judges (prompt, reply) rows.

`after_step` counts MLE batches, D pretraining updates and adversarial rounds, so every
checkpoint falls between two of them; the phase, counters and the trainer's random stream are
saved, and a resumed run repeats the rest exactly.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import scored_mask
from textgan.models import Generator
from textgan.models.base import eval_mode
from textgan.models.cnn_discriminator import build_discriminator
from textgan.progress import progress as progress_bar
from textgan.training.base import Phase, backward_and_step, global_batches
from textgan.training.gan_objectives import instance_noise_std
from textgan.training.optim import make_optimizer
from textgan.training.plan import timed
from textgan.training.rollouts import RolloutNetwork, rollout_rewards, rollout_uniforms
from textgan.training.runtime import Runtime
from textgan.training.staged import MEASURED_ROWS, SamplingTrainer

log = logging.getLogger(__name__)

MLESpan = tuple[torch.Tensor, torch.Tensor]  # (start, end) per row of the real tokens G learns by MLE


@contextlib.contextmanager
def overridden(section: Any, **values: Any) -> Iterator[None]:
    """Config keys of `section` set to `values` while the body runs (a measurement), then restored."""
    saved = {key: getattr(section, key) for key in values}
    for key, value in values.items():
        setattr(section, key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(section, key, value)


def policy_gradient_loss(log_probs: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                         baseline: bool, reduce: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
                         ) -> torch.Tensor:
    """REINFORCE: -mean over chosen tokens of log pi(y_t | y_<t) * (Q_t - b_t).

    With `baseline`, b_t of a row is the mean reward at position t of the *other* rows that chose
    a token there (leave-one-out, 0 where the row is alone): it does not depend on the row's own
    sample, so it leaves the gradient's expectation unchanged and lowers its variance. Under
    several processes `reduce` sums over them (the baseline's and the mean's counts), so each
    process returns its share of the global batch's loss.
    """
    weights = mask.float()
    advantages = rewards
    if baseline:
        # float64: the sums (and S - r_i) then round alike however the rows are split over processes
        chosen, exact = weights.double(), rewards.double()
        sums = reduce(torch.stack([(exact * chosen).sum(0), chosen.sum(0)]))
        others = sums[1].unsqueeze(0) - chosen
        others_mean = (sums[0].unsqueeze(0) - exact * chosen) / others.clamp(min=1)
        advantages = torch.where(others > 0, exact - others_mean, exact).to(rewards.dtype)
    return -(log_probs * advantages.detach() * weights).sum() / reduce(weights.sum()).clamp(min=1)


class SeqGANTrainer(SamplingTrainer):
    """MLE pretraining, D pretraining, then policy-gradient rounds against a TextCNN."""

    name = "seqgan"
    title = "SeqGAN"
    config_section = "seqgan"
    resumable_keys = frozenset({"seqgan.adversarial_rounds", "seqgan.time_limit_minutes"})
    networks = ("discriminator", "rollout")

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        s = cfg.seqgan
        super().__init__(cfg, run, runtime, data, generator, eval_every=s.eval_every,
                         nll_oracle_samples=s.nll_oracle_samples)
        self.discriminator = self.build_discriminator().to(runtime.device)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), cfg.discriminator.learning_rate)
        self.d_scaler = runtime.grad_scaler()
        self.pg_optimizer = make_optimizer(self.policy_parameters(), s.pg_learning_rate)
        self.pg_scaler = runtime.grad_scaler()
        self.rollout = RolloutNetwork(self.generator)  # re-copied from the pretrained G before round 1
        self.d_pretrain_done = 0
        self.round = 0
        self.best_pretrained: dict[str, torch.Tensor] | None = None  # G at the best MLE epoch so far
        self.d_update_seconds: float | None = None  # measured for the plan

    @classmethod
    def phases(cls, cfg: Config) -> tuple[Phase, ...]:
        """MLE epochs, D pretraining updates, adversarial rounds (LeakGAN pretrains D first)."""
        return (Phase("pretrain_g", cfg.train.epochs, "train.epochs", "epochs"),
                Phase("pretrain_d", cfg.seqgan.pretrain_d_steps, "seqgan.pretrain_d_steps", "updates"),
                Phase("adversarial", cfg.seqgan.adversarial_rounds, "seqgan.adversarial_rounds", "rounds"))

    def build_discriminator(self) -> nn.Module:
        """SeqGAN's TextCNN, sized by the discriminator section."""
        return build_discriminator(self.cfg.discriminator, self.tokenizer.vocab_size, self.sequence_length)

    def policy_parameters(self) -> list[nn.Parameter]:
        """What the policy-gradient optimizer updates: the whole generator."""
        return list(self.generator.parameters())

    # -- what a checkpoint holds ------------------------------------------------------------
    def optimizers(self) -> dict[str, Any]:
        return {**super().optimizers(), "pg": self.pg_optimizer, "pg_scaler": self.pg_scaler,
                "discriminator": self.d_optimizer, "d_scaler": self.d_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator, "rollout": self.rollout}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "d_pretrain_done": self.d_pretrain_done, "round": self.round,
                "best_pretrained": self.best_pretrained}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.d_pretrain_done, self.round = state["d_pretrain_done"], state["round"]
        self.best_pretrained = state.get("best_pretrained")

    # -- the plan (training/plan.py) -------------------------------------------------------------
    def units_done(self, phase: str) -> int:
        done = {"pretrain_d": self.d_pretrain_done, "adversarial": self.round}
        return done[phase] if phase in done else super().units_done(phase)

    def measurer(self, phase: str) -> Callable[[], float]:
        return {"pretrain_d": self.measure_d_update, "adversarial": self.measure_round}.get(phase) or super().measurer(phase)

    def phase_title(self, phase: str) -> str:
        return f"{self.title} adversarial" if phase == "adversarial" else super().phase_title(phase)

    def phase_detail(self, phase: str) -> str:
        s = self.cfg.seqgan
        rows = min(s.d_samples, len(self.data.train))
        d_update = (f"{rows:,} real and {rows:,} generated rows for {s.d_epochs} epochs "
                    "(seqgan.d_samples, seqgan.d_epochs)")
        if phase == "pretrain_d":
            return f"each on {d_update}"
        if phase == "adversarial":
            return (f"{s.g_steps} policy-gradient update(s) of {self.cfg.train.batch_size} rows with {s.rollout_count} "
                    f"rollouts each and {s.d_steps} D update(s) on {d_update}; seqgan.g_steps, seqgan.rollout_count, "
                    "seqgan.d_steps")
        return super().phase_detail(phase)

    def measure_d_update(self) -> float:
        """Seconds of one D update: updates on a few hundred rows for one epoch and for two tell the
        generation's and an epoch's share, scaled to d_samples rows and d_epochs epochs."""
        s = self.cfg.seqgan
        count = min(s.d_samples, len(self.data.train))
        rows = min(count, MEASURED_ROWS)
        noise = instance_noise_std(0, s.instance_noise, s.instance_noise_rounds)
        with overridden(s, d_samples=rows, d_epochs=1):  # (MLE pretraining's measurement warmed up G)
            one = timed(lambda: self.train_discriminator(noise))
        with overridden(s, d_samples=rows, d_epochs=2):
            two = timed(lambda: self.train_discriminator(noise))
        epoch = max(two - one, 0.0)
        self.d_update_seconds = count / rows * (max(one - epoch, 0.0) + s.d_epochs * epoch)
        return self.d_update_seconds

    def measure_round(self) -> float:
        """Seconds of one adversarial round: g_steps policy-gradient updates (one timed), d_steps D
        updates and a share of an evaluation."""
        s = self.cfg.seqgan
        d_update = self.d_update_seconds if self.d_update_seconds is not None else self.measure_d_update()
        policy = timed(self.policy_gradient_step)
        return s.g_steps * policy + s.d_steps * d_update + self.measure_evaluation() / s.eval_every

    # -- the loop -------------------------------------------------------------------------------
    def run_training(self) -> None:
        run = {"pretrain_g": self.pretrain_generator, "pretrain_d": self.pretrain_discriminator,
               "adversarial": self.adversarial_training}
        for phase in self.phases(self.cfg):
            if self.phase == phase.name:
                run[phase.name]()

    def end_phase(self) -> None:
        """Move on to the next phase (the rollout network starts as G when the adversarial one
        begins) and checkpoint."""
        names = [p.name for p in self.phases(self.cfg)]
        self.phase = names[names.index(self.phase) + 1]
        if self.phase == "adversarial":
            self.rollout.update(self.generator, 0.0)
        self.save("latest")

    def out_of_time(self) -> bool:
        """True once this session (pretraining included) has run seqgan.time_limit_minutes (0 = never)."""
        limit = self.cfg.seqgan.time_limit_minutes
        return bool(limit) and self.runtime.any_true(self.session_seconds() >= limit * 60)

    def pretraining_improved(self) -> None:
        """Phase 1 (MLE, `pretrain_generator`): with early stopping (train.patience > 0), keep the
        best epoch's weights so far; a fixed schedule (patience 0, the papers') keeps none."""
        if self.cfg.train.patience:
            self.best_pretrained = {k: v.detach().clone() for k, v in self.generator.state_dict().items()}

    def end_pretraining(self) -> None:
        """The next phases start from the best MLE epoch when the last ones were worse (with early
        stopping), else from the last epoch (on the oracle, validation NLL turns up after a few
        epochs while NLL-oracle keeps falling: the papers start from the end of the schedule)."""
        if self.bad_evaluations and self.best_pretrained is not None:
            self.generator.load_state_dict(self.best_pretrained)
            self.log("pretrain_g", restored_epoch=self.epoch - self.bad_evaluations,
                     **self.evaluate(with_oracle=True))
        else:
            super().end_pretraining()
        self.best_pretrained = None

    def pretrain_discriminator(self) -> None:
        """Phase 2: D updates on fresh generated sequences against real ones."""
        s, target = self.cfg.seqgan, self.d_pretrain_target()
        progress = progress_bar(total=target, initial=self.d_pretrain_done, desc="D pretraining",
                                unit="updates", line_every=1, disable=not self.runtime.is_main,
                                seconds_each=self.estimate("pretrain_d"))
        while self.d_pretrain_done < target and self.budget_allows("pretrain_d", self.d_pretrain_done):
            d_loss, d_accuracy = self.train_discriminator(instance_noise_std(0, s.instance_noise, s.instance_noise_rounds))
            self.d_pretrain_done += 1
            progress.update()
            progress.set_postfix(d_loss=f"{d_loss:.3f}", d_acc=f"{d_accuracy:.3f}")
            self.after_step("pretrain_d", d_update=self.d_pretrain_done, d_loss=d_loss, d_accuracy=d_accuracy)
        progress.close()
        self.end_phase()

    def d_pretrain_target(self) -> int:
        """D pretraining updates done when this phase ends: all of them (LeakGAN: its round's share)."""
        return self.cfg.seqgan.pretrain_d_steps

    def adversarial_training(self) -> None:
        """Phase 3: policy-gradient rounds, rollout update, k discriminator updates."""
        s = self.cfg.seqgan
        progress = progress_bar(total=s.adversarial_rounds, initial=self.round, desc=f"{self.title} rounds",
                                unit="rounds", line_every=1, disable=not self.runtime.is_main,
                                seconds_each=self.estimate("adversarial"))
        evaluated = True
        while self.round < s.adversarial_rounds:
            if self.out_of_time():
                log.info("seqgan.time_limit_minutes reached after round %d; resume to continue", self.round)
                self.stopped_by = "seqgan.time_limit_minutes"
                break
            self.check_own_budget("adversarial", self.round)
            noise = instance_noise_std(self.round, s.instance_noise, s.instance_noise_rounds)
            pg_losses, reward_sums, reward_counts = zip(*(self.policy_gradient_step() for _ in range(s.g_steps)))
            self.rollout.update(self.generator, s.rollout_update_rate)
            d_results = [self.train_discriminator(noise) for _ in range(s.d_steps)]
            self.interleave()
            self.round += 1
            # mean_reward: the mean reward of every token G chose in the round's updates (the only definition)
            metrics: dict[str, Any] = {"round": self.round, "pg_loss": sum(pg_losses) / len(pg_losses),
                                       "mean_reward": sum(reward_sums) / max(sum(reward_counts), 1.0),
                                       "instance_noise": noise}
            if d_results:
                metrics.update(d_loss=sum(r[0] for r in d_results) / len(d_results),
                               d_accuracy=sum(r[1] for r in d_results) / len(d_results))
            evaluated = self.round % s.eval_every == 0 or self.round == s.adversarial_rounds
            if evaluated:
                metrics.update(self.evaluate(with_oracle=True))
            progress.update()
            progress.set_postfix({k: f"{v:.4g}" for k, v in metrics.items() if k in ("mean_reward", "nll_oracle")})
            self.after_step("adversarial", **metrics)
        progress.close()
        if not evaluated:  # stopped by the time limit between evaluations: record where it ended
            self.log("adversarial", round=self.round, **self.evaluate(with_oracle=True))
        self.write_phase_samples("adversarial")

    # -- one update of each kind ------------------------------------------------------------------
    def policy_gradient_step(self) -> tuple[float, float, float]:
        """One REINFORCE update of G on a fresh batch; returns (loss, sum and count of the
        reported rewards of the tokens G chose), over all processes.

        Each process samples, rolls out and scores its rows of the global batch (their draws
        made in full on every process), then gradients are averaged.
        """
        runtime = self.runtime
        count = self.cfg.train.batch_size
        rows, prompt_lengths, mle_span = self.policy_prompts(count)
        draws = self.rng_draw(count, self.sequence_length)
        rows, prompt_lengths = runtime.local(rows), runtime.local(prompt_lengths)
        if mle_span is not None:
            mle_span = (runtime.local(mle_span[0]), runtime.local(mle_span[1]))
        samples = self.generate(rows, prompt_lengths, draws)
        mask = scored_mask(samples, prompt_lengths, self.generator.eos_id)
        rewards, reported = self.token_rewards(samples, prompt_lengths, mask)
        self.pg_optimizer.zero_grad(set_to_none=True)
        loss = self.policy_loss(samples, rewards, mask, mle_span)
        total_loss = runtime.all_reduce_sum(loss.detach().clone())
        self.check_finite(total_loss, "policy-gradient loss")
        backward_and_step(loss * runtime.world_size, self.pg_optimizer, self.pg_scaler, list(self.generator.parameters()),
                          runtime, self.cfg.train.grad_clip)
        chosen = runtime.all_reduce_sum(torch.stack([(reported * mask).sum().double(), mask.sum().double()]))
        return float(total_loss), float(chosen[0]), float(chosen[1])

    def policy_prompts(self, count: int) -> tuple[torch.Tensor, torch.Tensor, MLESpan | None]:
        """The `count` rows G continues in a policy-gradient update (global), their prompt lengths,
        and the span of real tokens G also learns by MLE (None here; MaliGAN's mixing sets it)."""
        rows, prompt_lengths = self.prompts(count)
        return rows, prompt_lengths, None

    def policy_loss(self, samples: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                    mle_span: MLESpan | None = None) -> torch.Tensor:
        """This process's share of G's loss on its samples: REINFORCE on `rewards` (`mle_span`,
        from `policy_prompts`, is this process's rows' span; none here)."""
        with eval_mode(self.generator), self.runtime.autocast():  # the policy that drew the samples: no dropout
            log_probs = self.generator.log_prob(samples)
        return policy_gradient_loss(log_probs, rewards, mask, self.baseline, self.runtime.all_reduce_sum)

    def interleave(self) -> None:
        """Extra work at the end of each adversarial round (LeakGAN: interleaved MLE); none here."""

    @property
    def baseline(self) -> bool:
        """Whether the policy gradient subtracts the leave-one-out baseline from `token_rewards`."""
        return self.cfg.seqgan.baseline

    def token_rewards(self, samples: torch.Tensor, prompt_lengths: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) rewards of this process's samples for the loss, and (B, T) rewards to report
        as mean_reward; SeqGAN: both are the Monte-Carlo rollout Q-values of sigmoid(D)."""
        rewards = self.rollout_q(samples, prompt_lengths)
        return rewards, rewards

    def rollout_q(self, samples: torch.Tensor, prompt_lengths: torch.Tensor,
                  score: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """(B, T) rollout Q-values of this process's samples, each complete sequence scored by
        `score` (default sigmoid(D)); the draws are made for the global batch on every process."""
        s, runtime = self.cfg.seqgan, self.runtime
        draws = rollout_uniforms(self.cfg.train.batch_size, self.sequence_length, s.rollout_count, self.rng,
                                 self.rng.device)
        return rollout_rewards(self.rollout, self.discriminator, samples, s.rollout_count,
                               prompt_lengths=prompt_lengths, uniforms=runtime.local(draws).to(runtime.device),
                               autocast=runtime.autocast, score=score)

    def train_discriminator(self, noise_std: float) -> tuple[float, float]:
        """One D update: d_samples real and as many fresh generated rows, d_epochs epochs.

        Processes generate their share of the fakes (then gathered), and each D batch is split
        over them like an MLE batch. Returns the mean loss and accuracy over the update's batches.
        """
        s, runtime, device = self.cfg.seqgan, self.runtime, self.runtime.device
        real, fake = self.real_and_generated()
        count = len(real)
        inputs = torch.cat([real, fake])
        targets = torch.cat([torch.full((count,), 1.0 - s.label_smoothing, device=device),
                             torch.zeros(count, device=device)])
        labels = torch.cat([torch.ones(count, device=device), torch.zeros(count, device=device)])
        self.discriminator.train()
        # loss sum, correct, seen: kept on the device, read (and checked for NaN) once an epoch, so
        # the loop issues no host synchronisation per batch
        totals = torch.zeros(3, dtype=torch.float64, device=device)
        for _ in range(s.d_epochs):
            order = torch.randperm(len(inputs), generator=self.rng, device=self.rng.device).to(device)
            for batch in global_batches(order, s.d_batch_size, runtime.world_size):
                noise = None
                if noise_std:
                    noise = self.rng_draw(len(batch), self.sequence_length, self.discriminator.embedding_dim,
                                          normal=True)
                local = runtime.local(batch)
                self.d_optimizer.zero_grad(set_to_none=True)
                with runtime.autocast():
                    logits = self.discriminate(inputs[local], noise_std, noise)
                bce = F.binary_cross_entropy_with_logits(logits.float(), targets[local])
                l2 = self.cfg.discriminator.l2 * self.discriminator.l2_penalty()
                loss = bce * runtime.share(len(local), len(batch)) + l2
                backward_and_step(loss, self.d_optimizer, self.d_scaler, list(self.discriminator.parameters()), runtime)
                totals[0] += (bce.detach() + l2.detach()).double() * len(local)
                totals[1] += ((logits.detach() > 0).float() == labels[local]).sum()
                totals[2] += len(local)
            self.check_finite(totals[0], "discriminator loss")
        runtime.all_reduce_sum(totals)
        return float(totals[0] / totals[2]), float(totals[1] / totals[2])

    def real_and_generated(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D's data for one update: min(d_samples, training rows) distinct real rows and as many
        fresh generated ones (replies to the same prompts); processes generate their share."""
        runtime = self.runtime
        count = min(self.cfg.seqgan.d_samples, len(self.data.train))
        chosen = torch.randperm(len(self.data.train), generator=self.rng, device=self.rng.device)[:count].cpu()
        real = runtime.to_device(self.data.train.tokens[chosen])
        lengths = runtime.to_device(self.data.train.prompt_lengths[chosen])
        draws = self.rng_draw(count, self.sequence_length)
        fake = self.generate(runtime.local(real), runtime.local(lengths), draws, self.negative_temperature)
        return real, runtime.gather_rows(fake, count)

    @property
    def negative_temperature(self) -> float:
        """Sampling temperature of D's generated rows: 1 (LeakGAN's authors: logits x 1.5)."""
        return 1.0

    def discriminate(self, tokens: torch.Tensor, noise_std: float, noise: torch.Tensor | None = None) -> torch.Tensor:
        """D's logits, with instance noise noise_std * `noise` on its input embeddings."""
        if not noise_std or noise is None:
            return self.discriminator(tokens)
        embedded = self.discriminator.embed(tokens)
        return self.discriminator.head(self.discriminator.features(embedded + noise_std * noise.to(embedded.dtype)))
