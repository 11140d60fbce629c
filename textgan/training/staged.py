"""What the generator-sampling trainers share, SeqGAN and its kin (training/policy_gradient.py)
as well as the relaxed-sampling (`gumbel`) and cooperative (`cot`) trainers: MLE pretraining of
the generator, one saved random stream, prompts for prompt -> reply corpora, sampling, the
evaluations (validation NLL; on oracle data NLL-oracle of fresh samples) and samples/<phase>.txt.

`SamplingTrainer` is that common part; its constructor takes the subclass's `eval_every` and
`nll_oracle_samples`, and the MLE epochs are those of the "pretrain_g" phase of `phases(cfg)`.
Factory hooks build what a subclass may replace (`build_mle_stepper`). `StagedTrainer` adds the
gumbel and cot loop: after pretraining, one second phase of steps on the generator's samples; a
subclass sets `phase_name`, `pretrain_key` and `steps_key` and implements `step_once`; each step is
recorded through `after_step`, which counts MLE batches and second-phase steps (and stops the
run once train.time_limit_minutes is spent).

Before training, `plan_run` measures a few steps of each phase (`phase_specs`, built on
`phases(cfg)`) and prints the run's plan (training/plan.py), whose `Budget` then keeps
pretraining within its share of the budget and refuses a step that would end past it; a run
that ends before its own phase (the last of `phases`) says so (`ending_note`).
"""

from __future__ import annotations

import itertools
import logging
import statistics
import sys
from typing import Any, Callable, ClassVar

import torch

from textgan.checkpoint import RunDirectory, generator_state, restore_generator
from textgan.chunking import chunk_rows
from textgan.config import Config
from textgan.data import PreparedData
from textgan.data.encoding import show_sample
from textgan.models import Generator
from textgan.models.base import eval_mode
from textgan.progress import format_duration, progress as progress_bar
from textgan.training.base import (Phase, TimeLimitReached, Trainer, batches_per_epoch, config_value, epoch_order,
                                   evaluate_nll, global_batches)
from textgan.training.mle import MLEStepper, make_scheduler, mle_epoch
from textgan.training.plan import Budget, Plan, PhaseSpec, make_plan, timed
from textgan.training.runtime import Runtime

log = logging.getLogger(__name__)

GENERATION_CHUNK = 1024  # rows sampled at once on the CPU: keeps the (rows, V) softmax temporaries in cache
MEASURED_STEPS = 3  # steps timed per phase for the plan (after one untimed warm-up step)
MEASURED_ROWS = 256  # rows generated to time an evaluation or a D update
PHASE_TITLES = {"pretrain_g": "MLE pretraining", "pretrain_d": "D pretraining"}


class SamplingTrainer(Trainer):
    """MLE pretraining (the "pretrain_g" phase's epochs at train.learning_rate), then phases of
    the subclass's on the generator's own samples, all drawn from one saved random stream."""

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator, *, eval_every: int, nll_oracle_samples: int) -> None:
        super().__init__(cfg, run, runtime, data, generator)
        t = cfg.train
        self.eval_every = eval_every  # MLE epochs (and second-phase steps) between NLL-oracle evaluations
        self.nll_oracle_samples = nll_oracle_samples  # samples the oracle scores per evaluation
        self.pretrain_epochs = next(p.steps for p in self.phases(cfg) if p.name == "pretrain_g")
        self.sequence_length = data.train.tokens.shape[1]
        self.oracle = data.oracle.to(runtime.device) if data.oracle is not None else None
        self.mle = self.build_mle_stepper()
        self.mle_scheduler = make_scheduler(self.mle.optimizer, t.lr_schedule, self.steps_per_epoch * self.pretrain_epochs)
        # Real rows, samples, rollouts and noise after pretraining draw from this stream; it is saved.
        self.rng = torch.Generator(device=runtime.device).manual_seed(t.seed + 1)
        self.prompted = bool(int(data.train.prompt_lengths.max())) if len(data.train) else False
        self.phase = self.phases(cfg)[0].name
        self.plan: Plan | None = None  # made when training starts (`plan_run`)
        self.budget: Budget | None = None
        # called with the trainer once MLE pretraining has ended (`textgan demo` scores the MLE model there)
        self.after_pretraining: Callable[[SamplingTrainer], None] | None = None

    def build_mle_stepper(self) -> MLEStepper:
        """The MLE update of pretraining (and LeakGAN's interleaved MLE): the generator's NLL."""
        t = self.cfg.train
        return MLEStepper(self.generator, self.runtime, t.learning_rate, t.weight_decay, t.grad_clip)

    # -- what a checkpoint holds ------------------------------------------------------------
    def optimizers(self) -> dict[str, Any]:
        return {"mle": self.mle.optimizer, "mle_scheduler": self.mle_scheduler, "mle_scaler": self.mle.scaler}

    def extra_state(self) -> dict[str, Any]:
        return {"phase": self.phase, "rng": generator_state(self.rng)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.phase = state["phase"]
        restore_generator(self.rng, state["rng"])

    # -- MLE pretraining --------------------------------------------------------------------------
    def log(self, phase: str, **metrics: Any) -> dict[str, Any]:
        """A metrics record with the seconds this session has run (for curves against time)."""
        return super().log(phase, **metrics, elapsed_s=round(self.session_seconds(), 1))

    def pretrain_generator(self) -> None:
        """MLE epochs, each followed by validation NLL (and NLL-oracle on schedule); then the
        pretrained generator's samples, and on to the next phase."""
        if self.step == 0:  # the untrained generator: where every curve starts
            self.log("pretrain_g", **self.evaluate(with_oracle=True))
        self.generator.train()
        while (self.epoch < self.pretrain_epochs and not self.should_stop_early()
               and self.budget_allows("pretrain_g", self.epoch)):
            train_nll = mle_epoch(self, self.mle, self.mle_scheduler)
            last = self.epoch == self.pretrain_epochs
            metrics = self.evaluate(with_oracle=last or self.epoch % self.eval_every == 0)
            if self.improved(metrics.get("val_nll", train_nll)):
                self.pretraining_improved()
            self.log("pretrain_g", train_nll=train_nll, **metrics)
            self.save("latest")
        self.end_pretraining()
        self.write_phase_samples("pretrain_g")
        if self.after_pretraining is not None:
            self.after_pretraining(self)
        self.end_phase()

    def budget_allows(self, phase: str, done: int) -> bool:
        """Whether phase `phase`, `done` units in, may take another within train.time_limit_minutes
        and, in pretraining, its share train.pretrain_time_fraction (every process agrees)."""
        if self.budget is None:
            return True
        return not self.runtime.any_true(not self.budget.allows(phase, done))

    def check_own_budget(self, phase: str, done: int) -> None:
        """Before a unit of the own phase: end the run (as the time limit does) when it would overrun."""
        if not self.budget_allows(phase, done):
            raise TimeLimitReached

    def end_phase(self) -> None:
        """Move on to the next of `phases` and checkpoint."""
        names = [p.name for p in self.phases(self.cfg)]
        self.phase = names[names.index(self.phase) + 1]
        self.save("latest")

    def pretraining_improved(self) -> None:
        """Called when an MLE epoch reaches the best validation NLL so far (SeqGAN keeps its weights)."""

    def end_pretraining(self) -> None:
        """Called after the last MLE epoch, before the pretrained generator's samples are written:
        where pretraining stopped between evaluations (early stopping, train.pretrain_time_fraction),
        record NLL-oracle there."""
        if self.oracle is not None and self.epoch < self.pretrain_epochs and self.epoch % self.eval_every:
            self.log("pretrain_g", **self.evaluate(with_oracle=True))

    def budget_spent(self) -> None:
        """The time budget ended training: one more evaluation, where the model stands."""
        self.log(self.phase, **self.evaluate(with_oracle=True))

    # -- the plan (training/plan.py) and the honest end --------------------------------------------
    def units_done(self, phase: str) -> int:
        """Units of `phase` done so far (while it runs: after it, the plan counts all as done)."""
        if phase == "pretrain_g":
            return self.epoch
        raise NotImplementedError(phase)

    def measurer(self, phase: str) -> Callable[[], float]:
        """What measures one unit of `phase` for the plan (seconds; the state is restored after)."""
        if phase == "pretrain_g":
            return self.measure_mle_epoch
        raise NotImplementedError(phase)

    def phase_title(self, phase: str) -> str:
        """`phase` for people, in the plan and the ending line."""
        return PHASE_TITLES.get(phase, phase)

    def phase_detail(self, phase: str) -> str:
        """What one unit of `phase` is, with the keys that size it (said when the budget cannot reach it)."""
        return ""

    def phase_specs(self) -> list[PhaseSpec]:
        """`phases(cfg)` for the plan, in run order, the last one the trainer's own."""
        phases = self.phases(self.cfg)
        current = [p.name for p in phases].index(self.phase)
        return [PhaseSpec(p.name, self.phase_title(p.name), p.unit, p.steps,
                          p.steps if i < current else min(self.units_done(p.name), p.steps) if i == current else 0,
                          p.key, self.measurer(p.name), own=i == len(phases) - 1,
                          at_least=1 if p.name == "pretrain_g" else 0, detail=self.phase_detail(p.name))
                for i, p in enumerate(phases)]

    def plan_run(self) -> None:
        """Measure the phases, print the plan (main process) and budget pretraining by it."""
        self.make_plan()
        if self.runtime.is_main:
            print("\n".join(self.plan.lines), file=sys.stderr, flush=True)

    def make_plan(self) -> Plan:
        """The plan of the rest of this run (`textgan train --dry-run` prints it and stops)."""
        self.plan = make_plan(self, self.phase_specs())
        self.budget = Budget(self.plan, self.train_seconds)
        return self.plan

    def estimate(self, phase: str) -> float | None:
        """The plan's seconds for one unit of `phase` (progress lines' ETA); None before a plan."""
        return self.plan.seconds_each(phase) if self.plan is not None else None

    def measure_mle_epoch(self) -> float:
        """Seconds of an MLE epoch and its evaluation, from a few timed batches."""
        t = self.cfg.train
        order = epoch_order(len(self.data.train), t.seed, self.epoch)
        batches = list(itertools.islice(global_batches(order, t.batch_size, self.runtime.world_size),
                                        MEASURED_STEPS + 1))
        self.generator.train()
        seconds = [timed(lambda b=b: self.mle.step(self.data.train, self.runtime.local(b), t.nll_include_prompt))
                   for b in batches]
        return statistics.median(seconds[1:] or seconds) * self.steps_per_epoch + self.measure_evaluation()

    def measure_steps(self, step: Callable[[], Any]) -> float:
        """Median seconds of `step()` over a few calls, after an untimed one."""
        seconds = [timed(step) for _ in range(MEASURED_STEPS + 1)]
        return statistics.median(seconds[1:])

    def measure_evaluation(self) -> float:
        """Seconds of one `evaluate`: validation NLL timed on two batches, and on oracle data the
        nll_oracle_samples samples, timed on a few hundred."""
        t, runtime = self.cfg.train, self.runtime
        seconds = 0.0
        if len(self.data.validation):
            count = batches_per_epoch(len(self.data.validation), t.batch_size, runtime.world_size)
            count = min(count, t.eval_batches) if t.eval_batches else count
            timed_batches = min(2, count)
            seconds += count / timed_batches * timed(lambda: evaluate_nll(
                self.generator, self.data.validation, runtime, t.batch_size, timed_batches, t.nll_include_prompt))
        if self.oracle is not None:
            rows = min(self.nll_oracle_samples, MEASURED_ROWS)
            seconds += self.nll_oracle_samples / rows * timed(lambda: self.evaluation_samples(rows))
        return seconds

    @property
    def own_phase_name(self) -> str:
        """The trainer's own phase: the last of `phases`."""
        return self.phases(self.cfg)[-1].name

    def own_phase_record(self) -> dict[str, Any]:
        own = self.phases(self.cfg)[-1]
        return {"name": own.name, "unit": own.unit, "steps": self.own_steps()}

    def own_steps(self) -> int:
        """Units of the own phase taken so far."""
        return self.units_done(self.own_phase_name)

    def ending_note(self, stopped_by: str | None = None) -> str | None:
        """E.g. `the time limit ended the run in D pretraining: no adversarial round was taken;
        the checkpoint is the MLE model; ...` when the run took no step of its own phase."""
        if self.own_steps():
            return None
        stopped_by = stopped_by or self.stopped_by
        own = self.phases(self.cfg)[-1]
        unit = own.unit[:-1]
        where = f"in {self.phase_title(self.phase)}" if self.phase != own.name else f"before its first {own.name} {unit}"
        specs = {spec.name: spec for spec in self.phase_specs()}
        cuts = [f"{specs[name].title} at {done} of {total} {specs[name].unit}"
                for name, (done, total) in (self.budget.cut if self.budget is not None else {}).items() if name != own.name]
        if cuts:
            where += f" (the budget cut {' and '.join(cuts)})"
        what = "the MLE model" if self.epoch else "the untrained generator"
        t = self.cfg.train
        if stopped_by == "interrupt":
            return f"{where}: no {own.name} {unit} was taken yet; the checkpoint is {what}"
        if stopped_by == "train.time_limit_minutes":
            cause = "the time limit"
            planned = self.plan.own if self.plan is not None else None
            if planned is not None and planned.seconds_each and not self.plan.reaches_own_phase:  # the plan said so
                change = (f"raise train.time_limit_minutes (now {t.time_limit_minutes:g}) to at least "
                          f"{self.plan.minutes_needed:g}, or make a {unit} cheaper (one takes ~"
                          f"{format_duration(planned.seconds_each)})")
            else:
                change = (f"raise train.time_limit_minutes (now {t.time_limit_minutes:g}) or lower "
                          f"train.pretrain_time_fraction (now {t.pretrain_time_fraction:g}; 0 = pretraining uncapped)")
        elif stopped_by is not None:
            cause, change = stopped_by, f"raise {stopped_by}"
        else:
            cause, change = "the schedule", f"raise {own.key} (now 0)"
        change += "; textgan train --dry-run prints what a setting reaches"
        return f"{cause} ended the run {where}: no {own.name} {unit} was taken; the checkpoint is {what}; {change}"

    # -- rows, samples and evaluation -------------------------------------------------------------
    def real_rows(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` random training rows and their prompt lengths (0 for plain text), global."""
        chosen = torch.randint(len(self.data.train), (count,), generator=self.rng, device=self.rng.device).cpu()
        return self.runtime.to_device(self.data.train.tokens[chosen]), self.runtime.to_device(self.data.train.prompt_lengths[chosen])

    def prompts(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows to start from: random training rows (their prompts) or empty rows for plain text."""
        if self.prompted:
            return self.real_rows(count)
        device = self.runtime.device
        return (torch.zeros(count, self.sequence_length, dtype=torch.long, device=device),
                torch.zeros(count, dtype=torch.long, device=device))

    def rng_draw(self, *shape: int, normal: bool = False) -> torch.Tensor:
        """This process's rows of a draw from the trainer's stream (made in full on every process)."""
        return self.runtime.local_rand(*shape, generator=self.rng, normal=normal).to(self.runtime.device)

    @torch.no_grad()
    def generate(self, rows: torch.Tensor, prompt_lengths: torch.Tensor, uniforms: torch.Tensor,
                 temperature: float = 1.0) -> torch.Tensor:
        """G's samples (no dropout): rows keep their first prompt_lengths[i] tokens (the prompt,
        or none for plain text) and are continued with the (rows, T) draws `uniforms`, at `temperature`."""
        if not len(rows):  # fewer evaluation samples than processes
            return rows.clone()
        chunks = []
        with eval_mode(self.generator):
            for part, lengths, draws in zip(*(torch.split(x, chunk_rows(GENERATION_CHUNK, self.runtime.device)) for x in (rows, prompt_lengths, uniforms))):
                chunks.append(self.generator.sample(len(part), self.sequence_length, prefix=part,
                                                    prefix_lengths=lengths, uniforms=draws,
                                                    temperature=temperature))
        return torch.cat(chunks)

    def evaluation_source(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed rows and prompt lengths that evaluation samples start from: validation rows
        (training rows without a validation split) for prompts, training rows (none kept) for plain text."""
        source = self.data.validation if self.prompted and len(self.data.validation) else self.data.train
        index = torch.arange(count) % len(source)
        return source.tokens[index], source.prompt_lengths[index]

    def evaluation_samples(self, count: int) -> torch.Tensor:
        """`count` samples from a fixed seed, so evaluations differ only by the model (every
        process generates its share; all get every sample)."""
        runtime, device = self.runtime, self.runtime.device
        rng = torch.Generator(device=device).manual_seed(self.cfg.train.seed + 2)
        rows, lengths = (x.to(device) for x in self.evaluation_source(count))
        draws = runtime.local_rand(count, self.sequence_length, generator=rng)
        return runtime.gather_rows(self.generate(runtime.local(rows), runtime.local(lengths), draws), count)

    def evaluate(self, with_oracle: bool) -> dict[str, float]:
        """Validation NLL and, on oracle data when asked, NLL-oracle of fresh samples."""
        t = self.cfg.train
        metrics: dict[str, float] = {}
        if len(self.data.validation):
            metrics["val_nll"] = evaluate_nll(self.generator, self.data.validation, self.runtime,
                                              t.batch_size, t.eval_batches, include_prompt=t.nll_include_prompt)
        if self.oracle is not None and with_oracle:
            metrics["nll_oracle"] = self.oracle.nll(self.evaluation_samples(self.nll_oracle_samples))
        self.log_samples(self.phase)
        return metrics

    def write_phase_samples(self, phase: str) -> None:
        """samples/<phase>.txt: sample.num_samples texts at the end of a phase, to compare them;
        replies to prompts are written `prompt → reply`."""
        rows = self.evaluation_samples(self.cfg.sample.num_samples).tolist()
        starts = self.evaluation_source(len(rows))[1].tolist()
        self.run.write_samples(f"{phase}.txt", [show_sample(self.tokenizer, row, start, self.prompted)
                                                for row, start in zip(rows, starts)])


class StagedTrainer(SamplingTrainer):
    """MLE pretraining (`pretrain_key` epochs at train.learning_rate), then `steps_key` steps of
    the subclass's `step` in the phase `phase_name`."""

    phase_name: ClassVar[str] = "second"
    pretrain_key: ClassVar[str] = "train.epochs"  # the key of the MLE pretraining epochs
    steps_key: ClassVar[str] = ""  # the key of the second phase's steps

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator, *, eval_every: int, nll_oracle_samples: int) -> None:
        super().__init__(cfg, run, runtime, data, generator, eval_every=eval_every,
                         nll_oracle_samples=nll_oracle_samples)
        self.phase_steps = 0  # steps of the second phase done

    @classmethod
    def phases(cls, cfg: Config) -> tuple[Phase, ...]:
        return (Phase("pretrain_g", config_value(cfg, cls.pretrain_key), cls.pretrain_key, "epochs"),
                Phase(cls.phase_name, config_value(cfg, cls.steps_key), cls.steps_key, "steps"))

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "phase_steps": self.phase_steps}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.phase_steps = state["phase_steps"]

    # -- the loop -------------------------------------------------------------------------------
    def run_training(self) -> None:
        if self.phase == "pretrain_g":
            self.pretrain_generator()
        self.run_phase()

    def step_once(self) -> dict[str, Any]:
        """One step of the second phase; returns its metrics."""
        raise NotImplementedError

    def description(self) -> str:
        """The second phase's progress-bar label."""
        return self.phase_name

    def units_done(self, phase: str) -> int:
        return self.phase_steps if phase == self.phase_name else super().units_done(phase)

    def measurer(self, phase: str) -> Callable[[], float]:
        if phase == self.phase_name:
            return lambda: self.measure_steps(self.step_once) + self.measure_evaluation() / self.eval_every
        return super().measurer(phase)

    def phase_title(self, phase: str) -> str:
        return f"{self.description()} {phase}" if phase == self.phase_name else super().phase_title(phase)

    def run_phase(self) -> None:
        """The second phase's steps, each `step_once()` -> metrics recorded through `after_step`;
        evaluated every `eval_every` steps and at the end (none that would overrun the budget)."""
        total = config_value(self.cfg, self.steps_key)
        progress = progress_bar(total=total, initial=self.phase_steps, desc=self.description(), unit="steps",
                                line_every=self.eval_every, disable=not self.runtime.is_main,
                                seconds_each=self.estimate(self.phase_name))
        while self.phase_steps < total:
            self.check_own_budget(self.phase_name, self.phase_steps)
            metrics = self.step_once()
            self.phase_steps += 1
            if self.phase_steps % self.eval_every == 0 or self.phase_steps == total:
                metrics.update(self.evaluate(with_oracle=True))
            progress.update()
            self.after_step(self.phase_name, **{f"{self.phase_name}_step": self.phase_steps, **metrics})
        progress.close()
        self.write_phase_samples(self.phase_name)

    def evaluate(self, with_oracle: bool) -> dict[str, float]:
        """Validation NLL and, on oracle data when asked, NLL-oracle of fresh samples and NLL-test,
        the generator's NLL of the held-out oracle samples."""
        metrics = super().evaluate(with_oracle)
        if self.oracle is not None and with_oracle and len(self.data.test):
            t = self.cfg.train
            metrics["nll_test"] = evaluate_nll(self.generator, self.data.test, self.runtime, t.batch_size,
                                               include_prompt=t.nll_include_prompt)
        return metrics
