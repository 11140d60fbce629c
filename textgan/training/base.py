"""Machinery every trainer shares: seeded data order, checkpoint schedule, exact resume,
metrics, early stopping, Ctrl-C and non-finite-loss handling, several processes.

A trainer subclasses `Trainer`, describes itself in class attributes and `phases`, implements
`run_training` with its own loop (top to bottom, no hidden callbacks; each step recorded through
`after_step(phase, **metrics)`) and lists what it saves in `checkpoint_modules`, `optimizers` and
`extra_state`; everything else, including resume, comes from here (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shlex
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import torch
from torch import nn

from textgan.checkpoint import (
    STATE_FILE,
    RunDirectory,
    capture_rng,
    load_module_weights,
    read_state,
    restore_rng,
    save_checkpoint,
    seed_everything,
)
from textgan.config import Config
from textgan.data import EncodedSplit, PreparedData
from textgan.data.encoding import scored_mask
from textgan.errors import CheckpointError, ConfigError, TextGanError
from textgan.models import Generator, build_generator
from textgan.training.runtime import Runtime

log = logging.getLogger(__name__)

# What `Trainer.state` writes and `resume_from` needs.
RESUME_STATE_KEYS = ("trainer", "step", "epoch", "batch_in_epoch", "best_metric", "bad_evaluations",
                     "epoch_sums", "finished", "process_rng", "optimizers", "extra")


@dataclass(frozen=True)
class Phase:
    """One phase of a trainer's schedule, in the order it runs: its metrics.jsonl `phase`, how
    many `unit`s it runs, and the config key that sets that number (raise it to train further,
    lower it to fit a budget)."""

    name: str
    steps: int
    key: str
    unit: str


def config_value(cfg: Config, key: str) -> Any:
    """The value of a dotted config key such as `train.epochs`."""
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


class NonFiniteLossError(TextGanError):
    """Training produced NaN or infinity."""


class TimeLimitReached(Exception):
    """Raised by `after_step` once train.time_limit_minutes is spent; ends training as finished."""


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of examples for an epoch: a pure function of seed and epoch (for resume)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batches_per_epoch(rows: int, batch_size: int, world_size: int = 1) -> int:
    """How many global batches `global_batches` makes of `rows` rows."""
    count = math.ceil(rows / batch_size)
    return count - 1 if count > 1 and rows - (count - 1) * batch_size < world_size else count


def process_seed(seed: int, rank: int) -> int:
    """Seed of one process's own random stream under several processes (dropout masks)."""
    return seed * 1_000_003 + 7_919 * (rank + 1)


def global_batches(order: torch.Tensor, batch_size: int, world_size: int = 1, start: int = 0) -> Iterator[torch.Tensor]:
    """The global batches of an epoch's order, from batch `start` on, made one at a time (the
    last may be smaller; a last batch with fewer rows than processes joins the one before it,
    so that no process gets an empty share)."""
    count = batches_per_epoch(len(order), batch_size, world_size)
    for i in range(start, count):
        yield order[i * batch_size : len(order) if i == count - 1 else (i + 1) * batch_size]


def masked_nll_sum(generator: nn.Module, targets: torch.Tensor, mask: torch.Tensor,
                   bos_id: int) -> torch.Tensor:
    """Sum of token negative log-likelihoods over `mask` (teacher forcing, through `forward`)."""
    start = torch.full_like(targets[:, :1], bos_id)
    return generator(torch.cat([start, targets[:, :-1]], dim=1), targets, mask)


def loss_mask(split: EncodedSplit, rows: torch.Tensor, eos_id: int | None, include_prompt: bool = False) -> torch.Tensor:
    """Tokens that count for rows of a split (`scored_mask`: up to <eos>, the reply only unless
    `include_prompt`, i.e. train.nll_include_prompt)."""
    return scored_mask(split.tokens[rows], split.prompt_lengths[rows], eos_id, include_prompt)


@torch.no_grad()
def evaluate_nll(generator: Generator, split: EncodedSplit, runtime: Runtime, batch_size: int,
                 max_batches: int = 0, include_prompt: bool = False) -> float:
    """Mean per-token NLL (nats) of a split's scored tokens (`loss_mask`); shards rows across
    processes and sums."""
    was_training = generator.training
    generator.eval()
    total = torch.zeros(2, dtype=torch.float64, device=runtime.device)
    rows = torch.arange(len(split))
    for i, batch in enumerate(global_batches(rows, batch_size, runtime.world_size)):
        if max_batches and i >= max_batches:
            break
        batch = runtime.local(batch)
        if len(batch) == 0:
            continue
        mask = loss_mask(split, batch, generator.eos_id, include_prompt).to(runtime.device)
        with runtime.autocast():
            nll = masked_nll_sum(generator, split.tokens[batch].to(runtime.device), mask, generator.bos_id)
        total += torch.stack([nll.double(), mask.sum().double()])
    runtime.all_reduce_sum(total)
    generator.train(was_training)
    return float(total[0] / total[1].clamp(min=1))


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                      parameters: list[nn.Parameter], runtime: Runtime, grad_clip: float = 0.0,
                      report_norm: bool = False) -> float | None:
    """One update outside DDP: backward of the (fp16-scaled) loss, gradients averaged over
    processes, unscaled and clipped to `grad_clip` (0: not clipped), one optimizer step.
    Returns the gradient norm before clipping when clipped or `report_norm`."""
    scaler.scale(loss).backward()
    runtime.average_gradients(parameters)
    norm = None
    if grad_clip or report_norm:
        scaler.unscale_(optimizer)
        norm = float(nn.utils.clip_grad_norm_(parameters, grad_clip or math.inf))
    scaler.step(optimizer)
    scaler.update()
    return norm


def load_optimizer_state(target: Any, saved: dict[str, Any]) -> None:
    """Load an optimizer's, scheduler's or loss scaler's checkpointed state. A run resumed with
    another precision keeps its scaler as it is: an fp32 or bf16 run's disabled scaler saved
    nothing, so an fp16 resume starts a fresh one; a disabled scaler ignores an fp16 run's."""
    if isinstance(target, torch.amp.GradScaler) and not saved:
        if target.is_enabled():
            log.info("resumed in fp16 from a run without loss scaling: the loss scaler starts afresh")
        return
    target.load_state_dict(saved)


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the body runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    """Base of every trainer: owns the run directory, counters, checkpoints and resume.

    A trainer is one module: a subclass that sets `name` registers itself (`registry`), and the
    class attributes below are everything the rest of the package needs to know about it.
    """

    registry: ClassVar[dict[str, type[Trainer]]] = {}  # name -> trainer class, filled by subclassing
    name: ClassVar[str] = "base"  # train.trainer's value; a subclass that sets it is registered
    config_section: ClassVar[str | None] = None  # the config section of the trainer's own keys
    resumable_keys: ClassVar[frozenset[str]] = frozenset()  # its own keys a resumed run may change
    # what it trains beside the generator, for the memory check: "discriminator" (a TextCNN),
    # "rollout" (a weights-only copy of G), "mediator" (a second network of G's size)
    networks: ClassVar[tuple[str, ...]] = ()
    whole_rows: ClassVar[bool] = False  # its generator writes whole rows from noise (no prompt continuation)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in Trainer.registry:
                raise TypeError(f"two trainers are named {cls.name!r}: {Trainer.registry[cls.name].__qualname__} "
                                f"and {cls.__qualname__}")
            Trainer.registry[cls.name] = cls

    def __init__(self, cfg: Config, run: RunDirectory, runtime: Runtime, data: PreparedData,
                 generator: Generator) -> None:
        self.cfg = cfg
        self.run = run
        self.runtime = runtime
        self.data = data
        self.tokenizer = data.tokenizer
        if cfg.train.batch_size < runtime.world_size:
            raise ConfigError(f"train.batch_size={cfg.train.batch_size} is the global batch, split over "
                              f"{runtime.world_size} processes; raise it to at least {runtime.world_size}")
        self.generator = generator.to(runtime.device)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_metric = math.inf
        self.bad_evaluations = 0
        self.epoch_nll = 0.0  # running sums of the current MLE epoch, checkpointed for exact resume
        self.epoch_tokens = 0.0
        self.finished = False
        self.spent_limit: float | None = None  # train.time_limit_minutes that ended the run, if one did
        self.resumed = False
        self._last_checkpoint_time = time.monotonic()
        self.earlier_seconds = 0.0  # training time of earlier sessions of this run (resume)
        self._session_start = time.monotonic()  # the one training clock: reset when training starts
        self._tensorboard: Any = None  # SummaryWriter, opened at the first record
        self._tensorboard_purge: int | None = None  # after a resume: the first step not yet checkpointed
        self.stopped_by: str | None = None  # the key whose limit ended training, when one did

    # -- for subclasses -----------------------------------------------------------------
    @classmethod
    def phases(cls, cfg: Config) -> tuple[Phase, ...]:
        """The schedule `cfg` asks of this trainer, phase by phase (default: MLE-style epochs under
        the trainer's name)."""
        return (Phase(cls.name, cfg.train.epochs, "train.epochs", "epochs"),)

    @classmethod
    def extend_key(cls) -> str:
        """The key that makes a finished run train further when resumed: its last phase's."""
        return cls.phases(Config())[-1].key

    @classmethod
    def new_generator(cls, cfg: Config, data: PreparedData) -> Generator:
        """A fresh generator for this trainer: model.kind's, sized by the model section and the
        data's row length (tokenizer.max_length, or data.oracle_seq_len for the oracle)."""
        tok = data.tokenizer
        return build_generator(cfg.model, tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id,
                               tok.pad_id)

    def run_training(self) -> None:
        """The trainer's loop; calls `after_step` after each optimisation step."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, Any]:
        """Optimizers, schedulers and scalers to checkpoint, by name."""
        return {}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """Modules besides the generator to checkpoint (discriminator, rollout network...)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """Trainer-specific counters to checkpoint (plain values and tensors)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of `extra_state`."""

    # -- shared -------------------------------------------------------------------------
    def train(self) -> None:
        """Run training to the end, saving a checkpoint on Ctrl-C or SIGTERM (what torchrun sends
        its workers when stopped, and what batch schedulers send before preempting a job)."""
        with interrupt_on_sigterm():
            self._train()

    def _train(self) -> None:
        self.run.save_config(self.cfg)
        if self.runtime.distributed:
            for module in [self.generator, *self.checkpoint_modules().values()]:
                self.runtime.broadcast_parameters(module)
            if not self.resumed:  # dropout masks: each process its own stream
                seed_everything(process_seed(self.cfg.train.seed, self.runtime.rank))
        if not self.finished:
            self.plan_run()
        self._session_start = time.monotonic()  # the budget counts training, not the plan's measurement
        try:
            self.check_time_limit()  # a resumed run whose budget is already spent trains no further
            self.run_training()
        except TimeLimitReached:
            log.info("train.time_limit_minutes=%g spent at step %d", self.cfg.train.time_limit_minutes, self.step)
            self.stopped_by = "train.time_limit_minutes"
            self.spent_limit = self.cfg.train.time_limit_minutes
            self.budget_spent()
        except KeyboardInterrupt:  # processes may stop at different points: no collectives
            path = self.save("latest", collective=False)
            where = self.ending_note("interrupt")
            raise TextGanError(
                f"interrupted at step {self.step}{f' ({where})' if where else ''}; checkpoint saved to {path}; "
                f"continue with textgan train --out {shlex.quote(str(self.run.path))} --resume"
            ) from None
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
        self.finished = True
        self.save("latest")

    def plan_run(self) -> None:
        """Called before training starts (not counted in train.time_limit_minutes): staged trainers
        measure their phases and say their plan (training/plan.py)."""

    def own_phase_record(self) -> dict[str, Any] | None:
        """{name, unit, steps} of the trainer's own phase after an MLE start, for reports
        (textgan/provenance.py); None for trainers without one."""
        return None

    def estimate(self, phase: str) -> float | None:
        """The plan's seconds for one unit (epoch, update, round, step) of `phase`, for progress
        lines' ETA; None without a plan."""
        return None

    def ending_note(self, stopped_by: str | None = None) -> str | None:
        """A line for the end of a run that stopped before its own phase (what stopped it, what
        the checkpoint is, the key that changes it); None otherwise."""
        return None

    def budget_spent(self) -> None:
        """Called on every process once train.time_limit_minutes has ended training, before the
        last checkpoint: a trainer may record where it stands (its time is not counted)."""

    def log(self, phase: str, **metrics: Any) -> dict[str, Any]:
        """Write one metrics.jsonl record and its numbers as TensorBoard scalars `phase/name`
        (main process only), and return it."""
        record = {"step": self.step, "epoch": self.epoch, "phase": phase, **metrics}
        self.run.log_metrics(record)
        writer = self.tensorboard()
        if writer is not None:
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    writer.add_scalar(f"{phase}/{name}", value, self.step)
            writer.flush()
        log.info("%s", record)
        return record

    def tensorboard(self) -> Any:
        """The run's TensorBoard writer (RUN/tensorboard/), None when off or not the main process.

        A resumed run purges events after its checkpoint's step, as metrics.jsonl is truncated,
        so a run stopped and resumed shows the same curves as one that was not."""
        if not (self.cfg.train.tensorboard and self.run.write):
            return None
        if self._tensorboard is None:
            from torch.utils.tensorboard import SummaryWriter

            from textgan.io import guarded_write

            with guarded_write(self.run.path / "tensorboard"):
                self._tensorboard = SummaryWriter(str(self.run.path / "tensorboard"), purge_step=self._tensorboard_purge)
        return self._tensorboard

    def log_samples(self, phase: str, lines: list[str] | None = None, count: int = 4) -> None:
        """A few generated texts under `phase/samples` in TensorBoard at this step; without
        `lines`, `count` drawn from the generator with a seed of its own (no training RNG is used)."""
        writer = self.tensorboard()
        if writer is None:
            return
        if lines is None:
            was_training = self.generator.training
            self.generator.eval()
            rng = torch.Generator(device=self.runtime.device).manual_seed(self.cfg.train.seed + self.step)
            rows = self.generator.sample(count, generator=rng)
            self.generator.train(was_training)
            lines = [self.tokenizer.decode(row) for row in rows.tolist()]
        # four leading spaces: a markdown code block, so the texts show verbatim
        writer.add_text(f"{phase}/samples", "\n".join(f"    {line}" for line in lines), self.step)
        writer.flush()

    def check_finite(self, loss: torch.Tensor, what: str = "loss") -> None:
        """Stop with a clear message on NaN/inf, pointing at the last good checkpoint."""
        if not torch.isfinite(loss).all():
            good = self.run.pointed("latest")
            where = f"the last good checkpoint is {good}" if good else "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"{what} became non-finite at step {self.step + 1}; {where}; lower train.learning_rate "
                "or train.grad_clip and resume"
            )

    def after_step(self, phase: str | None = None, **metrics: Any) -> dict[str, Any] | None:
        """Count a step, write its metrics record under `phase` (if given) and checkpoint when the
        step or minute schedule says so; returns the record. Every loop records its steps here:
        the record carries the new step and is written before the checkpoint and the time-limit
        check, so a resumed run keeps exactly the records of the work its checkpoint holds."""
        self.step += 1
        record = self.log(phase, **metrics) if phase is not None else None
        every_steps = self.cfg.train.checkpoint_every_steps
        every_minutes = self.cfg.train.checkpoint_every_minutes
        due = bool(every_steps) and self.step % every_steps == 0
        if every_minutes and not due:  # every process must agree, or the collective save hangs
            due = self.runtime.any_true(time.monotonic() - self._last_checkpoint_time >= every_minutes * 60)
        if due:
            self.save("latest")
        self.check_time_limit()
        return record

    def check_time_limit(self) -> None:
        """Raise TimeLimitReached once train.time_limit_minutes is spent (every process agrees)."""
        limit = self.cfg.train.time_limit_minutes
        # a budget that ended the run is spent even where the plan stopped it a step short of it,
        # so a resume with the same limit trains nothing whatever the clock says
        spent = self.spent_limit is not None and limit <= self.spent_limit
        if limit and self.runtime.any_true(spent or self.train_seconds() >= limit * 60):
            raise TimeLimitReached

    def session_seconds(self) -> float:
        """Seconds this session has trained (since `train` started, or since construction before it)."""
        return time.monotonic() - self._session_start

    def train_seconds(self) -> float:
        """Seconds this run has trained, earlier sessions included (train.time_limit_minutes counts these)."""
        return self.earlier_seconds + self.session_seconds()

    def improved(self, metric: float) -> bool:
        """Track the best validation metric; True when `metric` is a new best."""
        if metric < self.best_metric:
            self.best_metric = metric
            self.bad_evaluations = 0
            return True
        self.bad_evaluations += 1
        return False

    def should_stop_early(self) -> bool:
        patience = self.cfg.train.patience
        return bool(patience) and self.bad_evaluations >= patience

    def state(self, process_rng: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything `resume_from` restores; `process_rng` holds every process's RNG states."""
        state = {
            "trainer": self.name,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric,
            "bad_evaluations": self.bad_evaluations,
            "epoch_sums": [self.epoch_nll, self.epoch_tokens],
            "finished": self.finished,
            "train_seconds": self.train_seconds(),
            "spent_limit_minutes": self.spent_limit,
            "own_phase": self.own_phase_record(),  # read by reports (textgan/provenance.py), not by resume
            "process_rng": process_rng,  # python, numpy, torch RNG states of each process
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers().items()},
            "extra": self.extra_state(),
        }
        return state

    def save(self, pointer: str = "latest", also_best: bool = False, collective: bool = True) -> Any:
        """Write a checkpoint for the current step and point `latest` (and `best`) at it.

        Every process calls it (rank 0 writes, holding every process's RNG states); with
        `collective=False` rank 0 writes alone, with its own RNG states only.
        """
        path = self.run.checkpoint_path(self.step)
        process_rng = self.runtime.gather_objects(capture_rng()) if collective else [capture_rng()]
        if self.runtime.is_main:
            save_checkpoint(path, self.cfg, self.generator, self.tokenizer, self.state(process_rng),
                            self.checkpoint_modules())
            self.run.mark(pointer, path)
            if also_best:
                self.run.mark("best", path)
            self.run.prune(self.cfg.train.keep_checkpoints)
        if collective:
            self.runtime.barrier()
        self._last_checkpoint_time = time.monotonic()
        return path

    def resume_from(self, path: Any) -> None:
        """Restore everything a checkpoint holds; the run continues bit-identically."""
        state = read_state(path)
        missing = [key for key in RESUME_STATE_KEYS if key not in state]
        if missing:
            what = (f"{STATE_FILE} is missing (the folder holds the weights only)" if not state else
                    f"{STATE_FILE} lacks {', '.join(missing[:4])} (damaged, or not written by textgan)")
            raise CheckpointError(
                f"{path} cannot be resumed: {what}; resume from a complete checkpoint of the run, or "
                "sample and evaluate this one and start a new run"
            )
        if state["trainer"] != self.name:
            raise TextGanError(
                f"{path} was written by the {state['trainer']!r} trainer, not {self.name!r}; "
                "resume it with its own config"
            )
        for name, module in self.checkpoint_modules().items():
            load_module_weights(path, name, module)
        for name, opt in self.optimizers().items():
            load_optimizer_state(opt, state["optimizers"][name])
        self.step = state["step"]
        self.epoch = state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self.best_metric = state["best_metric"]
        self.bad_evaluations = state["bad_evaluations"]
        self.epoch_nll, self.epoch_tokens = state["epoch_sums"]
        self.finished = state["finished"]
        self.spent_limit = state.get("spent_limit_minutes")  # absent in checkpoints of older versions
        self.earlier_seconds = state.get("train_seconds", 0.0)  # absent from older checkpoints
        self.load_extra_state(state["extra"])
        self.restore_process_rng(state)
        self.resumed = True
        self.run.truncate_metrics(self.step)
        self._tensorboard_purge = self.step + 1

    def restore_process_rng(self, state: dict[str, Any]) -> None:
        """This process's saved RNG states; a run resumed on another number of processes gets
        fresh per-process streams (only dropout masks draw from them)."""
        per_process = state["process_rng"]
        if len(per_process) == self.runtime.world_size:
            restore_rng(per_process[self.runtime.rank])
            return
        log.info("resumed on %d processes from a run on %d: dropout streams are re-seeded",
                 self.runtime.world_size, len(per_process))
        restore_rng(per_process[0])
        if self.runtime.distributed:
            seed_everything(process_seed(self.cfg.train.seed + self.step, self.runtime.rank))

    @property
    def steps_per_epoch(self) -> int:
        """Global batches in an epoch of the training split (`global_batches`)."""
        return batches_per_epoch(len(self.data.train), self.cfg.train.batch_size, self.runtime.world_size)

    def batches(self, split: EncodedSplit, batch_size: int) -> Iterator[torch.Tensor]:
        """Each remaining global batch (row indices) of the current epoch; every process gets
        the same ones and keeps its rows with `runtime.local`."""
        order = epoch_order(len(split), self.cfg.train.seed, self.epoch)
        yield from global_batches(order, batch_size, self.runtime.world_size, self.batch_in_epoch)
