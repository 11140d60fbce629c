"""Group-relative adversarial training (`gad`): GRPO against a discriminator that learns on-policy
(GAD, Ye et al. 2025; TextGAIL, Wu et al. 2021, with PPO), no value network and no rollouts.

It fine-tunes a trained generator (model.init_from: an MLE run folder or a Hugging Face causal
LM; or gad.pretrain_epochs of MLE first). Each step takes train.batch_size / k real rows and
draws k = gad.group_size samples from each: replies to its prompt (prompt -> reply data) or
continuations of its first gad.prefix_tokens tokens (plain text; 0 = from <bos>). Then

- the reward of a sample is the logit of D as it stands (the D the samples were drawn against,
  GAD's order); its advantage is relative to its group: `grpo` (r - mean) / std, or `rloo`
  r - mean of the other k - 1;
- D (the discriminator section's TextCNN, or a recurrent sequence D) takes gad.d_steps updates
  on the step's samples, each paired with the real row of its group: Bradley-Terry
  -log sigmoid(D(real) - D(generated)), or binary cross-entropy;
- G takes gad.inner_epochs updates of the clipped surrogate -min(rho A, clip(rho, 1 +- eps) A)
  per generated token (rho = pi / pi_old; the first update has rho = 1, plain REINFORCE) plus
  gad.kl_coef x the k3 estimate of KL(pi || pi_start), exp(q) - q - 1 with q = log pi_start - log pi;
  tokens are averaged within a sample, samples over the batch.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import scored_mask, target_mask
from textgan.models import Generator
from textgan.models.base import eval_mode, untie_parameters
from textgan.models.cnn_discriminator import build_discriminator
from textgan.models.sampling import sample_tokens
from textgan.models.scratchgan import RecurrentDiscriminator
from textgan.training.base import backward_and_step, masked_nll_sum
from textgan.training.runtime import Runtime
from textgan.training.staged import GENERATION_CHUNK, StagedTrainer
from textgan.training.optim import make_optimizer

ADVANTAGE_EPSILON = 1e-4  # added to a group's standard deviation (a group of equal rewards gets 0)


@torch.no_grad()
def token_log_probs(generator: Generator, tokens: torch.Tensor, block_rows: int = 128) -> torch.Tensor:
    """(B, T) log-probabilities of `tokens` under `generator`, without a gradient: the output layer
    in row blocks whose (block, V) logits stay in cache (`Generator.log_prob` where it has none)."""
    features = generator.output_features(generator.inputs_for(tokens))
    if features is None:
        return generator.log_prob(tokens).float()
    hidden, weight, bias = features
    hidden, targets = hidden.reshape(-1, hidden.shape[-1]), tokens.reshape(-1, 1)
    blocks = []
    for rows, picked in zip(hidden.split(block_rows), targets.split(block_rows)):
        logits = (rows @ weight.T).float() + (bias.float() if bias is not None else 0.0)
        blocks.append(logits.gather(1, picked).squeeze(1) - logits.logsumexp(dim=1))
    return torch.cat(blocks).view(tokens.shape)


def group_advantages(rewards: torch.Tensor, kind: str) -> torch.Tensor:
    """(groups, k) rewards -> advantages: `grpo` (r - group mean) / (group std + eps), or `rloo`
    r_i - mean of the group's other rewards."""
    mean = rewards.mean(dim=1, keepdim=True)
    if kind == "grpo":
        return (rewards - mean) / (rewards.std(dim=1, keepdim=True) + ADVANTAGE_EPSILON)
    k = rewards.shape[1]
    return rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)


def k3_kl(log_probs: torch.Tensor, reference_log_probs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref) at tokens drawn from pi: exp(q) - q - 1 >= 0,
    q = log pi_ref - log pi (Schulman 2020; unbiased, 0 where the policies agree)."""
    q = reference_log_probs - log_probs
    return torch.exp(q) - q - 1.0


def clipped_surrogate(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                      epsilon: float) -> torch.Tensor:
    """Per-token PPO loss -min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = exp(log pi - log pi_old)
    (epsilon 0: -rho A, unclipped)."""
    ratio = torch.exp(log_probs - old_log_probs)
    if not epsilon:
        return -ratio * advantages
    return -torch.minimum(ratio * advantages, ratio.clamp(1.0 - epsilon, 1.0 + epsilon) * advantages)


def bradley_terry_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Per pair -log sigmoid(s_real - s_generated): the Bradley-Terry likelihood of real > generated."""
    return F.softplus(fake_scores - real_scores)


def binary_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Per pair the mean of the binary cross-entropies of real (label 1) and generated (label 0)."""
    return 0.5 * (F.softplus(-real_scores) + F.softplus(fake_scores))


class GADTrainer(StagedTrainer):
    """Group-relative policy updates of a trained G against a D trained on the same samples."""

    name = "gad"
    config_section = "gad"
    resumable_keys = frozenset({"gad.steps"})
    networks = ("rollout",)  # the frozen start model of the KL: a weights-only copy of G
    phase_name = "adversarial"
    pretrain_key = "gad.pretrain_epochs"
    steps_key = "gad.steps"

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        g, d = cfg.gad, cfg.discriminator
        super().__init__(cfg, run, runtime, data, generator, eval_every=g.eval_every,
                         nll_oracle_samples=g.nll_oracle_samples)
        vocab = self.tokenizer.vocab_size
        if g.discriminator == "textcnn":
            self.discriminator: nn.Module = build_discriminator(d, vocab, self.sequence_length)
        else:
            self.discriminator = RecurrentDiscriminator(vocab, self.tokenizer.eos_id, d.embedding_dim, g.d_hidden_dim,
                                                        embedding_dropout=d.dropout)
        self.discriminator.to(runtime.device)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), d.learning_rate)
        self.g_optimizer = make_optimizer(self.generator.parameters(), g.g_learning_rate)
        self.g_scaler, self.d_scaler = runtime.grad_scaler(), runtime.grad_scaler()
        self.reference: Generator | None = None  # the starting policy of the KL term
        if g.kl_coef:
            self.reference = copy.deepcopy(self.generator)
            untie_parameters(self.reference)  # a checkpoint module: safetensors stores no shared tensors
            self.reference.requires_grad_(False).eval()

    def optimizers(self) -> dict[str, Any]:
        return {**super().optimizers(), "generator": self.g_optimizer, "g_scaler": self.g_scaler,
                "discriminator": self.d_optimizer, "d_scaler": self.d_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"discriminator": self.discriminator}
        if self.reference is not None:
            modules["reference"] = self.reference
        return modules

    def description(self) -> str:
        return "GAD"

    def run_phase(self) -> None:
        if self.phase_steps == 0 and self.reference is not None:  # the start: G as pretraining left it
            with torch.no_grad():
                self.reference.load_state_dict(self.generator.state_dict())
        super().run_phase()

    # -- one step -------------------------------------------------------------------------------
    def group_starts(self, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`groups` real rows and how many of their tokens the samples keep: the prompt, or
        gad.prefix_tokens of plain text (at most all but the row's last scored token)."""
        real, lengths = self.real_rows(groups)
        if not self.prompted:
            available = target_mask(real, self.generator.eos_id).sum(dim=1) - 1
            lengths = available.clamp(min=0, max=self.cfg.gad.prefix_tokens)
        return real, lengths

    def step_once(self) -> dict[str, Any]:
        """k samples per group; D updates on them; one group-relative policy step."""
        runtime, g = self.runtime, self.cfg.gad
        count = self.cfg.train.batch_size
        groups = count // g.group_size
        real, starts = self.group_starts(groups)
        rows = runtime.local(torch.arange(count, device=runtime.device))
        group = rows // g.group_size  # the group (real row) of each of this process's samples
        draws = self.rng_draw(count, self.sequence_length)
        fake, sampled_log_probs = self.sample_with_log_probs(real[group], starts[group], draws)
        mask = scored_mask(fake, starts[group], self.generator.eos_id).float()
        with torch.no_grad(), eval_mode(self.discriminator), runtime.autocast():
            rewards = self.discriminator(fake).float()  # the D the samples were drawn against, as in GAD
        metrics: dict[str, Any] = {}
        for _ in range(g.d_steps):
            metrics.update(self.discriminator_step(real, group, fake))
        every_reward = runtime.gather_rows(rewards, count).view(groups, g.group_size)
        advantages = runtime.local(group_advantages(every_reward, g.advantage).reshape(-1))
        metrics.update(self.policy_step(fake, mask, advantages, sampled_log_probs))
        metrics.update(reward=float(every_reward.mean()), reward_std=float(every_reward.std(dim=1).mean()))
        return metrics

    @torch.no_grad()
    def sample_with_log_probs(self, rows: torch.Tensor, prompt_lengths: torch.Tensor,
                              uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`generate`'s samples (the same draws, the same tokens) and the log-probability each
        generated token had when it was drawn: pi_old, with no second pass over the samples."""
        if not len(rows):
            return rows.clone(), uniforms.clone()
        with eval_mode(self.generator):
            parts = [self._drawn_with_log_probs(*chunk) for chunk in
                     zip(*(torch.split(x, GENERATION_CHUNK) for x in (rows, prompt_lengths, uniforms)))]
        return torch.cat([tokens for tokens, _ in parts]), torch.cat([chosen for _, chosen in parts])

    def _drawn_with_log_probs(self, rows: torch.Tensor, prompt_lengths: torch.Tensor,
                              uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = torch.zeros_like(uniforms)

        def choose(logits: torch.Tensor, position: int) -> torch.Tensor:
            token = sample_tokens(logits, uniforms=uniforms[:, position])
            log_probs[:, position] = torch.log_softmax(logits.float(), dim=-1).gather(1, token.unsqueeze(1)).squeeze(1)
            return token

        tokens = self.generator.continue_rows(len(rows), self.sequence_length, choose, rows, prompt_lengths)
        return tokens, log_probs

    def discriminator_step(self, real: torch.Tensor, group: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """One update on (real row of the sample's group, sample) pairs; the loss and D's pair accuracy.
        Each real row is scored once however many of its samples this process holds."""
        runtime, d = self.runtime, self.cfg.discriminator
        count = self.cfg.train.batch_size
        present, pair = torch.unique(group, return_inverse=True)
        self.discriminator.train()
        with runtime.autocast():
            scores = self.discriminator(torch.cat([real[present], fake])).float()
        real_scores, fake_scores = scores[: len(present)][pair], scores[len(present):]
        pair_loss = bradley_terry_loss if self.cfg.gad.d_loss == "bradley_terry" else binary_loss
        data_loss = pair_loss(real_scores, fake_scores).sum() / count
        if isinstance(self.discriminator, RecurrentDiscriminator):
            l2 = d.l2 * self.discriminator.l2_penalty(output_only=True)
        else:
            l2 = d.l2 * self.discriminator.l2_penalty()
        total = runtime.all_reduce_sum(data_loss.detach().clone()) + l2.detach()
        self.check_finite(total, "discriminator loss")
        self.d_optimizer.zero_grad(set_to_none=True)
        backward_and_step(data_loss * runtime.world_size + l2, self.d_optimizer, self.d_scaler,
                          list(self.discriminator.parameters()), runtime)
        correct = runtime.all_reduce_sum((real_scores.detach() > fake_scores.detach()).sum().double().reshape(1))
        return {"d_loss": float(total), "d_pair_accuracy": float(correct) / count}

    def policy_step(self, fake: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor,
                    sampled_log_probs: torch.Tensor) -> dict[str, float]:
        """gad.inner_epochs updates of the clipped surrogate plus the KL penalty, per-sample token means.

        Each update differentiates the loss with respect to the token log-probabilities (autograd
        on `clipped_surrogate` and `k3_kl`), then back-propagates those coefficients through G as
        a weighted NLL, MLE's fused output-layer pass: the (B, T, V) log-softmax is never stored.
        The first update takes the log-probabilities the samples were drawn with (pi_old = pi)."""
        runtime, g = self.runtime, self.cfg.gad
        count = self.cfg.train.batch_size
        tokens = mask.sum(dim=1, keepdim=True).clamp(min=1)
        weights = mask / tokens / count  # token mean within a sample, sample mean over the global batch
        with runtime.autocast():
            reference = token_log_probs(self.reference, fake) * mask if self.reference is not None else None
        old = sampled_log_probs * mask
        self.generator.train()
        for epoch in range(g.inner_epochs):
            if epoch:
                with runtime.autocast():
                    log_probs = token_log_probs(self.generator, fake) * mask
            else:
                log_probs = old.clone()
            log_probs.requires_grad_(True)
            kl = k3_kl(log_probs, reference) if reference is not None else torch.zeros_like(log_probs)
            per_token = clipped_surrogate(log_probs, old, advantages.unsqueeze(1), g.clip_epsilon) + g.kl_coef * kl
            loss = (per_token * weights).sum()
            (coefficients,) = torch.autograd.grad(loss, log_probs)
            ratio = (log_probs.detach() - old).exp()
            sums = runtime.all_reduce_sum(torch.stack([loss.detach(), (kl.detach() * weights).sum(),
                                                       ((ratio - 1).abs() > g.clip_epsilon).float().mul(mask).sum(),
                                                       mask.sum()]).double())
            self.check_finite(sums[0], "generator loss")
            self.g_optimizer.zero_grad(set_to_none=True)
            with runtime.autocast():  # d loss / d theta = sum_t coefficient_t d log p_t / d theta
                surrogate = masked_nll_sum(self.generator, fake, -coefficients, self.generator.bos_id)
            backward_and_step(surrogate * runtime.world_size, self.g_optimizer, self.g_scaler,
                              list(self.generator.parameters()), runtime, self.cfg.train.grad_clip)
        return {"g_loss": float(sums[0]), "kl": float(sums[1]), "clipped": float(sums[2] / sums[3].clamp(min=1))}
