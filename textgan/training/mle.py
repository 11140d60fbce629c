"""Maximum-likelihood training of a generator, with validation NLL and early stopping."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from textgan.config import Config
from textgan.data import EncodedSplit, PreparedData
from textgan.models import Generator
from textgan.progress import progress as progress_bar
from textgan.training.base import Trainer, evaluate_nll, loss_mask, masked_nll_sum
from textgan.training.runtime import Runtime
from textgan.checkpoint import RunDirectory
from textgan.training.optim import make_optimizer


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Constant or cosine learning-rate schedule over `total_steps`."""
    if kind == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


class MLEStepper:
    """One maximum-likelihood update on a batch, exact under several processes.

    The loss is the token-summed NLL divided by the *global* token count, times the world size
    (DDP averages gradients), so N processes give the same update as one with the same batch.
    """

    def __init__(self, generator: Generator, runtime: Runtime, learning_rate: float,
                 weight_decay: float, grad_clip: float, wrap: bool = True,
                 parameters: Iterable[torch.nn.Parameter] | None = None) -> None:
        self.generator = generator
        self.runtime = runtime
        # without `wrap` (a loss that bypasses `forward`), `step` averages the gradients itself
        self.model = runtime.wrap(generator) if wrap else generator
        # `parameters`: what the optimizer updates (default: the whole generator)
        self.optimizer = make_optimizer(generator.parameters() if parameters is None else parameters,
                                        learning_rate, weight_decay=weight_decay)
        self.scaler = runtime.grad_scaler()
        self.grad_clip = grad_clip

    def loss_sums(self, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """(NLL summed over `mask`, any extra loss summed likewise) of a batch; only the NLL is reported."""
        return masked_nll_sum(self.model, targets, mask, self.generator.bos_id), 0.0

    def step(self, split: EncodedSplit, rows: torch.Tensor, include_prompt: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Update on `rows` of `split` (their `loss_mask` tokens); returns (NLL sum, token count)
        over all processes."""
        mask = self.runtime.to_device(loss_mask(split, rows, self.generator.eos_id, include_prompt))
        tokens = self.runtime.all_reduce_sum(mask.sum().double().reshape(1)).clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            nll_sum, extra_sum = self.loss_sums(self.runtime.to_device(split.tokens[rows]), mask)
        loss = (nll_sum + extra_sum) / tokens.float() * self.runtime.world_size
        self.scaler.scale(loss).backward()
        if self.model is self.generator:  # not wrapped in DDP: average here (a no-op in one process)
            self.runtime.average_gradients(self.generator.parameters())
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        total = self.runtime.all_reduce_sum(torch.stack([nll_sum.detach().double(), mask.sum().double()]))
        return total[0], total[1]


def mle_epoch(trainer: Trainer, stepper: MLEStepper, scheduler: torch.optim.lr_scheduler.LRScheduler) -> float:
    """Run the rest of the trainer's current MLE epoch (resumable mid-epoch) and close it.

    Returns the epoch's training NLL per token; the running sums live on the trainer
    (`epoch_nll`, `epoch_tokens`) so a checkpoint taken mid-epoch restores them.
    """
    t = trainer.cfg.train
    epoch_seconds = trainer.estimate("pretrain_g")
    progress = progress_bar(trainer.batches(trainer.data.train, t.batch_size), total=trainer.steps_per_epoch,
                            initial=trainer.batch_in_epoch, desc=f"MLE epoch {trainer.epoch + 1}/{t.epochs}",
                            unit="batches", disable=not trainer.runtime.is_main,
                            seconds_each=epoch_seconds / trainer.steps_per_epoch if epoch_seconds else None)
    for batch in progress:
        nll, tokens = stepper.step(trainer.data.train, trainer.runtime.local(batch), t.nll_include_prompt)
        trainer.check_finite(nll, "training loss")
        scheduler.step()
        trainer.epoch_nll += float(nll)
        trainer.epoch_tokens += float(tokens)
        trainer.batch_in_epoch += 1
        progress.set_postfix(nll=f"{trainer.epoch_nll / max(trainer.epoch_tokens, 1):.3f}")
        trainer.after_step()
    train_nll = trainer.epoch_nll / trainer.epoch_tokens if trainer.epoch_tokens else float("nan")
    trainer.batch_in_epoch = 0
    trainer.epoch_nll = trainer.epoch_tokens = 0.0
    trainer.epoch += 1
    return train_nll


class MLETrainer(Trainer):
    """Teacher-forced maximum likelihood, evaluated on the validation split each epoch."""

    name = "mle"

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        super().__init__(cfg, run, runtime, data, generator)
        t = cfg.train
        self.stepper = MLEStepper(self.generator, runtime, t.learning_rate, t.weight_decay, t.grad_clip)
        self.scheduler = make_scheduler(self.stepper.optimizer, t.lr_schedule, self.steps_per_epoch * t.epochs)

    def optimizers(self) -> dict[str, Any]:
        return {"optimizer": self.stepper.optimizer, "scheduler": self.scheduler, "scaler": self.stepper.scaler}

    def run_training(self) -> None:
        self.generator.train()
        while self.epoch < self.cfg.train.epochs and not self.should_stop_early():
            self.end_of_epoch(mle_epoch(self, self.stepper, self.scheduler))

    def end_of_epoch(self, train_nll: float) -> None:
        """Validate, log, keep the best checkpoint."""
        t = self.cfg.train
        metrics: dict[str, Any] = {"train_nll": train_nll}
        if len(self.data.validation):
            val_nll = evaluate_nll(self.generator, self.data.validation, self.runtime, t.batch_size, t.eval_batches,
                                   t.nll_include_prompt)
            metrics.update(val_nll=val_nll, val_ppl=math.exp(min(val_nll, 50.0)))
            best = self.improved(val_nll)
        else:
            best = self.improved(train_nll)
        self.log("mle", **metrics)
        self.log_samples("mle")
        self.save("latest", also_best=best)
