"""What the relaxed-sampling (`gumbel`) and cooperative (`cot`) trainers share: MLE pretraining of
the generator, then a second phase of updates on its own samples, with one saved random
stream, prompts for prompt -> reply corpora, and evaluations (validation NLL; on oracle data
NLL-oracle of fresh samples and NLL-test, the generator's NLL of held-out oracle samples).

A subclass sets `phase_name`, `pretrain_epochs`, `eval_every`, `nll_oracle_samples` and
`time_limit_minutes`, and implements `second_phase`; `after_step` counts MLE batches and
second-phase steps.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from textgan.checkpoint import RunDirectory
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import show_sample
from textgan.models import Generator
from textgan.progress import progress as progress_bar
from textgan.training.base import Trainer, evaluate_nll
from textgan.training.mle import MLEStepper, make_scheduler, mle_epoch
from textgan.training.policy_gradient import GENERATION_CHUNK, eval_mode
from textgan.training.runtime import Runtime

log = logging.getLogger(__name__)


class StagedTrainer(Trainer):
    """MLE pretraining (`pretrain_epochs` at train.learning_rate), then `second_phase`."""

    phase_name = "second"
    pretrain_epochs = 1
    eval_every = 1
    nll_oracle_samples = 1
    time_limit_minutes = 0.0

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        super().__init__(cfg, run, runtime, data, generator)
        t = cfg.train
        self.sequence_length = data.train.tokens.shape[1]
        self.oracle = data.oracle.to(runtime.device) if data.oracle is not None else None
        self.mle = MLEStepper(self.generator, runtime, t.learning_rate, t.weight_decay, t.grad_clip)
        self.mle_scheduler = make_scheduler(self.mle.optimizer, t.lr_schedule, self.steps_per_epoch * t.epochs)
        # Real rows, samples and noise of the second phase draw from this stream; it is saved.
        self.rng = torch.Generator(device=runtime.device).manual_seed(t.seed + 1)
        self.prompted = bool(int(data.train.prompt_lengths.max())) if len(data.train) else False
        self.phase = "pretrain_g"
        self.phase_steps = 0  # steps of the second phase done
        self.started = time.monotonic()

    # -- what a checkpoint holds ------------------------------------------------------------
    def optimizers(self) -> dict[str, Any]:
        return {"mle": self.mle.optimizer, "mle_scheduler": self.mle_scheduler, "mle_scaler": self.mle.scaler}

    def extra_state(self) -> dict[str, Any]:
        return {"phase": self.phase, "phase_steps": self.phase_steps, "rng": self.rng.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.phase, self.phase_steps = state["phase"], state["phase_steps"]
        self.rng.set_state(state["rng"])

    # -- the loop -------------------------------------------------------------------------------
    def run_training(self) -> None:
        if self.phase == "pretrain_g":
            self.pretrain_generator()
        self.second_phase()

    def second_phase(self) -> None:
        """The trainer's own updates after pretraining."""
        raise NotImplementedError

    def log(self, phase: str, **metrics: Any) -> dict[str, Any]:
        """A metrics record with the seconds this session has run (for curves against time)."""
        return super().log(phase, **metrics, elapsed_s=round(time.monotonic() - self.started, 1))

    def out_of_time(self) -> bool:
        """True once this session (pretraining included) has run `time_limit_minutes` (0 = never)."""
        limit = self.time_limit_minutes
        return bool(limit) and self.runtime.any_true(time.monotonic() - self.started >= limit * 60)

    def pretrain_generator(self) -> None:
        """MLE epochs, each followed by validation NLL (and the oracle's figures on schedule)."""
        if self.step == 0:  # the untrained generator: where every curve starts
            self.log("pretrain_g", **self.evaluate(with_oracle=True))
        self.generator.train()
        while self.epoch < self.pretrain_epochs and not self.should_stop_early():
            train_nll = mle_epoch(self, self.mle, self.mle_scheduler)
            last = self.epoch == self.pretrain_epochs
            metrics = self.evaluate(with_oracle=last or self.epoch % self.eval_every == 0)
            self.improved(metrics.get("val_nll", train_nll))
            self.log("pretrain_g", train_nll=train_nll, **metrics)
            self.save("latest")
        self.write_phase_samples("pretrain_g")
        self.phase = self.phase_name
        self.save("latest")

    def run_phase(self, total: int, step: Any, description: str) -> None:
        """`total` steps of the second phase, each `step()` -> metrics; evaluated every
        `eval_every` steps and at the end, stopped by the time limit between steps."""
        progress = progress_bar(total=total, initial=self.phase_steps, desc=description, unit="steps",
                                line_every=self.eval_every, disable=not self.runtime.is_main)
        evaluated = True
        while self.phase_steps < total:
            if self.out_of_time():
                log.info("time limit reached after %d steps; resume to continue", self.phase_steps)
                break
            metrics = step()
            self.phase_steps += 1
            evaluated = self.phase_steps % self.eval_every == 0 or self.phase_steps == total
            if evaluated:
                metrics.update(self.evaluate(with_oracle=True))
            self.log(self.phase_name, **{f"{self.phase_name}_step": self.phase_steps, **metrics})
            progress.update()
            self.after_step()
        progress.close()
        if not evaluated:
            self.log(self.phase_name, **{f"{self.phase_name}_step": self.phase_steps}, **self.evaluate(with_oracle=True))
        self.write_phase_samples(self.phase_name)

    # -- rows, samples and evaluation -------------------------------------------------------------
    def real_rows(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` random training rows and their prompt lengths (0 for plain text), global."""
        chosen = torch.randint(len(self.data.train), (count,), generator=self.rng, device=self.rng.device).cpu()
        device = self.runtime.device
        return self.data.train.tokens[chosen].to(device), self.data.train.prompt_lengths[chosen].to(device)

    def draw(self, *shape: int, normal: bool = False) -> torch.Tensor:
        """This process's rows of a draw from the trainer's stream (made in full on every process)."""
        return self.runtime.local_rand(*shape, generator=self.rng, normal=normal).to(self.runtime.device)

    @torch.no_grad()
    def generate(self, rows: torch.Tensor, prompt_lengths: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """G's samples (no dropout) continuing each row's first prompt_lengths[i] tokens with the
        (rows, T) draws `uniforms`."""
        if not len(rows):
            return rows.clone()
        chunks = []
        with eval_mode(self.generator):
            for part, lengths, draws in zip(*(torch.split(x, GENERATION_CHUNK) for x in (rows, prompt_lengths, uniforms))):
                chunks.append(self.generator.sample(len(part), self.sequence_length, prefix=part,
                                                    prefix_lengths=lengths, uniforms=draws))
        return torch.cat(chunks)

    def evaluation_samples(self, count: int) -> torch.Tensor:
        """`count` samples from a fixed seed, so evaluations differ only by the model."""
        runtime, device = self.runtime, self.runtime.device
        rng = torch.Generator(device=device).manual_seed(self.cfg.train.seed + 2)
        source = self.data.validation if self.prompted and len(self.data.validation) else self.data.train
        index = torch.arange(count) % len(source)
        rows = source.tokens[index].to(device)
        lengths = source.prompt_lengths[index].to(device)
        draws = runtime.local_rand(count, self.sequence_length, generator=rng)
        return runtime.gather_rows(self.generate(runtime.local(rows), runtime.local(lengths), draws), count)

    def evaluate(self, with_oracle: bool) -> dict[str, float]:
        """Validation NLL and, on oracle data when asked, NLL-oracle of fresh samples and NLL-test."""
        t = self.cfg.train
        metrics: dict[str, float] = {}
        if len(self.data.validation):
            metrics["val_nll"] = evaluate_nll(self.generator, self.data.validation, self.runtime,
                                              t.batch_size, t.eval_batches)
        if self.oracle is not None and with_oracle:
            metrics["nll_oracle"] = self.oracle.nll(self.evaluation_samples(self.nll_oracle_samples))
            if len(self.data.test):
                metrics["nll_test"] = evaluate_nll(self.generator, self.data.test, self.runtime, t.batch_size)
        return metrics

    def write_phase_samples(self, phase: str) -> None:
        """samples/<phase>.txt: sample.num_samples texts at the end of a phase."""
        rows = self.evaluation_samples(self.cfg.sample.num_samples)
        source = self.data.validation if self.prompted and len(self.data.validation) else self.data.train
        start = source.prompt_lengths[torch.arange(len(rows)) % len(source)]
        self.run.write_samples(f"{phase}.txt", [show_sample(self.tokenizer, row, int(p), self.prompted)
                                                for row, p in zip(rows.tolist(), start)])
