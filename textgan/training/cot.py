"""Cooperative training, CoT (Lu et al. 2019): a mediator in place of a discriminator.

After optional MLE pretraining (`cot.pretrain_epochs`; the paper uses none), each step is one
generator update then `cot.mediator_steps` mediator updates (the authors' order):

- the mediator M, a language model of the `model` section's architecture at `cot.mediator_width`
  times its width with dropout `cot.mediator_dropout` (reference: twice G's width, 0.5), learns
  by maximum likelihood on an equal mix of real rows and the generator's samples, so it
  approximates (p_data + p_G) / 2;
- the generator samples rows and, at every position t of them, minimises the exact
  KL(G(. | s_<t) || M(. | s_<t)) = sum_v G(v | s_<t) (log G(v | s_<t) - log M(v | s_<t)),
  summed over the whole vocabulary: only the prefixes are sampled, the per-step term has no
  sampling variance.

For prompt -> reply corpora, both losses count only reply positions (up to <eos>).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import nn

from textgan.checkpoint import RunDirectory
from textgan.config import Config, ModelConfig
from textgan.data import PreparedData
from textgan.data.encoding import scored_mask
from textgan.models import Generator, build_generator
from textgan.models.base import eval_mode, untie_parameters
from textgan.training.base import backward_and_step, masked_nll_sum
from textgan.training.runtime import Runtime
from textgan.training.staged import StagedTrainer
from textgan.training.optim import make_optimizer


def cot_generator_loss(generator_logits: torch.Tensor, mediator_logits: torch.Tensor, mask: torch.Tensor,
                       reduce: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> torch.Tensor:
    """Mean over masked positions of KL(G_t || M_t), each summed over the vocabulary.

    (B, T, V) logits of G (with gradient) and of the mediator; under several processes
    `reduce` sums the position count over them, so each returns its share of the global mean.
    """
    log_g = torch.log_softmax(generator_logits.float(), dim=-1)
    log_m = torch.log_softmax(mediator_logits.float(), dim=-1)
    kl = (log_g.exp() * (log_g - log_m)).sum(dim=-1)
    weights = mask.float()
    return (kl * weights).sum() / reduce(weights.sum()).clamp(min=1)


def mediator_model(model: ModelConfig, width: float, dropout: float) -> ModelConfig:
    """The mediator's model section: the generator's architecture with embedding and hidden sizes
    times `width` (CoT's reference: twice G's 32 and 32) and dropout on its outputs."""
    return dataclasses.replace(model, embedding_dim=max(1, round(model.embedding_dim * width)),
                               hidden_dim=max(1, round(model.hidden_dim * width)), dropout=dropout)


class CoTTrainer(StagedTrainer):
    """Optional MLE pretraining, then mediator and generator updates on the generator's samples."""

    name = "cot"
    config_section = "cot"
    resumable_keys = frozenset({"cot.steps"})
    networks = ("mediator",)
    phase_name = "cooperative"
    pretrain_key = "cot.pretrain_epochs"
    steps_key = "cot.steps"

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        c = cfg.cot
        super().__init__(cfg, run, runtime, data, generator, eval_every=c.eval_every,
                         nll_oracle_samples=c.nll_oracle_samples)
        tok = self.tokenizer
        self.mediator = build_generator(mediator_model(cfg.model, c.mediator_width, c.mediator_dropout),
                                        tok.vocab_size, self.sequence_length, tok.bos_id, tok.eos_id, tok.pad_id)
        untie_parameters(self.mediator)  # a checkpoint module
        self.mediator.to(runtime.device)
        betas = (0.9, c.adam_beta2)
        self.g_optimizer = make_optimizer(self.generator.parameters(), c.g_learning_rate, betas=betas)
        self.m_optimizer = make_optimizer(self.mediator.parameters(), c.mediator_learning_rate, betas=betas)
        self.g_scaler, self.m_scaler = runtime.grad_scaler(), runtime.grad_scaler()

    def optimizers(self) -> dict[str, Any]:
        return {**super().optimizers(), "generator": self.g_optimizer, "g_scaler": self.g_scaler,
                "mediator": self.m_optimizer, "m_scaler": self.m_scaler}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"mediator": self.mediator}

    def description(self) -> str:
        return "CoT"

    def step_once(self) -> dict[str, Any]:
        """One generator update, then mediator_steps mediator updates (the reference's order)."""
        g_kl = self.generator_step()
        nlls = [self.mediator_step() for _ in range(self.cfg.cot.mediator_steps)]
        return {"mediator_nll": sum(nlls) / len(nlls), "g_kl": g_kl}

    def samples(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """This process's share of a fresh global batch: real rows, prompt lengths, and G's
        samples continuing those prompts; then the samples' reply mask."""
        count = self.cfg.train.batch_size
        real, lengths = self.real_rows(count)
        draws = self.rng_draw(count, self.sequence_length)
        real, lengths = self.runtime.local(real), self.runtime.local(lengths)
        fake = self.generate(real, lengths, draws)
        return real, lengths, fake, scored_mask(fake, lengths, self.generator.eos_id)

    def mediator_step(self) -> float:
        """One MLE update of the mediator on the real rows and as many samples; the mixture's NLL per token."""
        runtime, eos = self.runtime, self.generator.eos_id
        real, lengths, fake, fake_mask = self.samples()
        tokens = torch.cat([real, fake])
        mask = torch.cat([scored_mask(real, lengths, eos), fake_mask])
        count = runtime.all_reduce_sum(mask.sum().double().reshape(1)).clamp(min=1)
        self.mediator.train()
        with runtime.autocast():
            nll_sum = masked_nll_sum(self.mediator, tokens, mask, self.mediator.bos_id)
        loss = nll_sum / count.float()
        self.check_finite(runtime.all_reduce_sum(loss.detach().clone()), "mediator loss")
        self.m_optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss * runtime.world_size, self.m_optimizer, self.m_scaler, list(self.mediator.parameters()),
                          runtime, self.cfg.train.grad_clip)
        return float(runtime.all_reduce_sum(nll_sum.detach().double().reshape(1)) / count)

    def generator_step(self) -> float:
        """One update of G on the exact per-step KL to the mediator along G's own samples."""
        runtime = self.runtime
        _, _, fake, mask = self.samples()
        inputs = self.generator.inputs_for(fake)
        with torch.no_grad(), eval_mode(self.mediator), runtime.autocast():
            mediator_logits = self.mediator(inputs)
        self.generator.train()
        with runtime.autocast():
            loss = cot_generator_loss(self.generator(inputs), mediator_logits, mask, runtime.all_reduce_sum)
        total = runtime.all_reduce_sum(loss.detach().clone())
        self.check_finite(total, "generator loss")
        self.g_optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss * runtime.world_size, self.g_optimizer, self.g_scaler, list(self.generator.parameters()),
                          runtime, self.cfg.train.grad_clip)
        return float(total)
