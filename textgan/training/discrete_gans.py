"""SeqGAN's kin on the SeqGAN trainer: each is a reward (and, for RankGAN, a ranker's loss).

MaliGAN (Che et al. 2017) and RankGAN (Lin et al. 2017) keep everything `SeqGANTrainer` does
(MLE and D pretraining, rounds, the delayed rollout network, checkpoints, resume, several
processes) and every `seqgan.*` key; they change what G is rewarded with, and RankGAN how D
learns. The formulas are pure functions in `textgan.training.discrete_gan_rewards`.
"""

from __future__ import annotations

import torch

from textgan.data.encoding import eos_positions
from textgan.models.base import eval_mode
from textgan.training.base import backward_and_step, global_batches
from textgan.training.discrete_gan_rewards import (cosine_relevance, log_rank, maligan_sentence_rewards,
                                                   maligan_token_rewards, mixed_mle_mali_loss, mixing_prefix_length,
                                                   ranker_loss)
from textgan.training.policy_gradient import MLESpan, SeqGANTrainer


class MaliGANTrainer(SeqGANTrainer):
    """MaliGAN: every chosen token of sentence i is rewarded with r_i / sum_j r_j - 1/B,
    r = D / (1 - D) (with maligan.rollouts, per position from rollout Q-values)."""

    name = "maligan"
    title = "MaliGAN"
    config_section = "maligan"

    @property
    def baseline(self) -> bool:
        return False  # the reward carries the paper's baseline 1/B

    def mixing_tokens(self) -> int:
        """N, the real prefix's length in this round (0: Algorithm 1)."""
        m = self.cfg.maligan
        return mixing_prefix_length(m.mixing_tokens, m.mixing_decrease, m.mixing_every, self.round)

    def policy_prompts(self, count: int) -> tuple[torch.Tensor, torch.Tensor, MLESpan | None]:
        """With maligan.mixing_tokens: real rows whose first N tokens after the prompt (never past
        their <eos>) stay, for G to continue and to learn by MLE, each maligan.mixing_samples times
        in a row; N shrinks over the rounds (Algorithm 2)."""
        m, n = self.cfg.maligan, self.mixing_tokens()
        if not n:
            return super().policy_prompts(count)
        real, start = (x.repeat_interleave(m.mixing_samples, dim=0)
                       for x in self.real_rows(count // m.mixing_samples))
        end = torch.maximum(torch.minimum(start + n, eos_positions(real, self.generator.eos_id)), start)
        return real, end, (start, end)

    def policy_loss(self, samples: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                    mle_span: MLESpan | None = None) -> torch.Tensor:
        """REINFORCE on the Mali weights, plus MLE on the real prefixes when mixing."""
        if mle_span is None:
            return super().policy_loss(samples, rewards, mask)
        start, end = mle_span
        positions = torch.arange(samples.shape[1], device=samples.device).unsqueeze(0)
        prefix = (positions >= start.unsqueeze(1)) & (positions < end.unsqueeze(1))
        with eval_mode(self.generator), self.runtime.autocast():
            log_probs = self.generator.log_prob(samples)
        return mixed_mle_mali_loss(log_probs, rewards, mask, prefix, self.runtime.all_reduce_sum)

    def token_rewards(self, samples: torch.Tensor, prompt_lengths: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised importance weights minus baseline, D's probability reported as reward)."""
        runtime = self.runtime
        if self.cfg.maligan.rollouts:
            q_values = self.rollout_q(samples, prompt_lengths)
            return maligan_token_rewards(q_values, mask, runtime.all_reduce_sum), q_values
        with torch.no_grad(), eval_mode(self.discriminator), runtime.autocast():
            logits = self.discriminator(samples).float()
        # normalised over the global batch, or over each real prefix's rows (Algorithm 2): every
        # process holds every row's logit
        group = self.cfg.maligan.mixing_samples if self.mixing_tokens() else 0
        rewards = runtime.local(maligan_sentence_rewards(runtime.gather_rows(logits, self.cfg.train.batch_size), group))
        return rewards.unsqueeze(1) * mask, torch.sigmoid(logits).unsqueeze(1) * mask


class RankGANTrainer(SeqGANTrainer):
    """RankGAN: D is a ranker (the TextCNN's sentence feature; for each real reference sentence u,
    a softmax with gamma over the cosine similarities of a comparison set and the sentence; the
    mean share over the references is the rank score R); G's reward is the rollout mean of
    log R(completion | references, real comparison set)."""

    name = "rankgan"
    title = "RankGAN"
    config_section = "rankgan"

    def ranking_rows(self, count: int) -> torch.Tensor:
        """`count` training rows drawn with replacement from the trainer's stream (reference and
        comparison sets; the same on every process)."""
        return self.real_rows(count)[0]

    def sentence_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, F) ranker features of token rows."""
        cnn = self.discriminator
        return cnn.sentence_features(cnn.features(cnn.embed(tokens))).flatten(1)

    def relevance(self, tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(B, U) gamma * cos(feature, feature of each reference row)."""
        return cosine_relevance(self.sentence_features(tokens), self.sentence_features(reference), self.cfg.rankgan.gamma)

    def token_rewards(self, samples: torch.Tensor, prompt_lengths: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rollout Q-values of the log-rank score against a fresh reference and comparison set."""
        r, runtime = self.cfg.rankgan, self.runtime
        reference, comparison = self.ranking_rows(r.reference_size), self.ranking_rows(r.comparison_size)
        with torch.no_grad(), runtime.autocast():
            reference_features = self.sentence_features(reference)
            comparison_relevance = cosine_relevance(self.sentence_features(comparison), reference_features, r.gamma)

        def score(sequences: torch.Tensor) -> torch.Tensor:
            with runtime.autocast():
                relevance = cosine_relevance(self.sentence_features(sequences), reference_features, r.gamma)
            return log_rank(relevance, comparison_relevance)

        q_values = self.rollout_q(samples, prompt_lengths, score)
        return q_values, q_values

    def train_discriminator(self, noise_std: float) -> tuple[float, float]:
        """One ranker update on d_samples real and as many fresh generated rows, d_epochs epochs,
        batches of d_batch_size; returns the mean loss and the share of (real, generated) pairs
        of a batch ranked right. Every process computes each batch whole (the comparison sets
        span it), so their gradients agree; instance noise and label smoothing do not apply."""
        s, runtime, device = self.cfg.seqgan, self.runtime, self.runtime.device
        real, fake = self.real_and_generated()
        inputs = torch.cat([real, fake])
        is_real = torch.cat([torch.ones(len(real), dtype=torch.bool, device=device),
                             torch.zeros(len(fake), dtype=torch.bool, device=device)])
        loss_sum = right_sum = batches = 0.0
        self.discriminator.train()
        for _ in range(s.d_epochs):
            order = torch.randperm(len(inputs), generator=self.rng, device=self.rng.device).to(device)
            reference = self.ranking_rows(self.cfg.rankgan.reference_size)
            for batch in global_batches(order, s.d_batch_size):
                self.d_optimizer.zero_grad(set_to_none=True)
                with runtime.autocast():
                    relevance = self.relevance(inputs[batch], reference)
                loss = ranker_loss(relevance, is_real[batch])
                self.check_finite(loss, "ranker loss")
                backward_and_step(loss, self.d_optimizer, self.d_scaler, list(self.discriminator.parameters()), runtime)
                scores = relevance.detach().mean(dim=1)  # mean relevance to the references: the ranking shown
                real_scores, fake_scores = scores[is_real[batch]], scores[~is_real[batch]]
                pairs = real_scores.unsqueeze(1) > fake_scores.unsqueeze(0)
                loss_sum += float(loss.detach())
                right_sum += float(pairs.double().mean()) if pairs.numel() else 0.5
                batches += 1
        return loss_sum / batches, right_sum / batches
