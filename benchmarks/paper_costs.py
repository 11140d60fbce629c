"""What a paper schedule costs: CPU hours of each paper preset's full schedule, and a GPU bound from FLOPs.

For each preset examples/{oracle,coco}_{model}.yaml this builds the trainer `textgan train` would
build and times, on this CPU (one thread by default; CPU seconds of the process, so other jobs on
the machine do not inflate them), a few of each unit of work the schedule is
made of: an MLE batch (x batches per epoch = an MLE epoch), a discriminator batch (x batches per
pass over 2 x seqgan.d_samples rows = a D epoch), the generation of D's fakes, and one
adversarial step (SeqGAN family: one policy-gradient update with its rollouts; gumbel: one G
and gumbel.d_steps D updates; cot: one G and cot.mediator_steps mediator updates). The step
counts are read from the preset, so the table follows the presets. Hours = seconds x counts.

The GPU column is an estimate, not a measurement: the FLOPs of each unit (counted once by
torch's FlopCounterMode) x counts / an assumed sustained rate (--gpu-tflops). Small recurrent
models sampled token by token are bound by kernel latency, not FLOPs, so it is a lower bound.
Presets whose schedule is 1,000,000 steps or epochs are budget presets (no paper count): their
adversarial cost is left out and marked. Prints a markdown table, a row as each preset is
measured. Usage:
    python benchmarks/paper_costs.py [--threads 1] [--repeats 2] [--only oracle_seqgan,coco_cot]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from textgan import api
from textgan.checkpoint import RunDirectory, seed_everything
from textgan.config import Config, load_config
from textgan.training import TRAINERS
from textgan.training.base import global_batches
from textgan.training.runtime import make_runtime

log = logging.getLogger("paper_costs")
ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mle", "seqgan", "maligan", "rankgan", "leakgan", "gumbel_relgan", "gumbel_gsgan", "cot")
SETTINGS = ("oracle", "coco")
BUDGET_SENTINEL = 1_000_000  # presets use this count to mean "until train.time_limit_minutes"
SEQGAN_FAMILY = ("seqgan", "maligan", "rankgan", "leakgan")
D_PROBE_ROWS = 256  # real rows (and as many fakes) of the probe D update that times a D batch


@dataclass
class Unit:
    """One kind of work: measured seconds and FLOPs per unit, and how many the schedule has."""

    seconds: float
    flops: float
    count: float


@dataclass
class Cost:
    """The units of one preset's schedule, with the notes that qualify its counts."""

    preset: str
    units: dict[str, Unit] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def hours(self) -> float:
        return sum(u.seconds * u.count for u in self.units.values()) / 3600

    def gpu_hours(self, tflops: float) -> float:
        return sum(u.flops * u.count for u in self.units.values()) / (tflops * 1e12) / 3600


def measure(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median seconds, FLOPs) of `work`: one call under the FLOP counter (it also warms up), then `repeats`
    timed in CPU seconds of this process (with one thread, the time an unshared core would take)."""
    counter = FlopCounterMode(display=False)
    with counter:
        work()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return sorted(times)[len(times) // 2], float(counter.get_total_flops())


def build(cfg: Config, out: Path):
    """The trainer `textgan train` builds for `cfg` (fresh weights, seeded)."""
    seed_everything(cfg.train.seed)
    data = api.build_data(cfg)
    cls = TRAINERS[cfg.train.trainer]
    return cls(cfg, RunDirectory(out), make_runtime("cpu", "fp32"), data, cls.new_generator(cfg, data))


def mle_unit(trainer, epochs: float, repeats: int) -> Unit:
    """Seconds and FLOPs of one MLE epoch (timed on single batches)."""
    stepper = getattr(trainer, "mle", None) or trainer.stepper
    rows = torch.arange(trainer.cfg.train.batch_size)
    seconds, flops = measure(lambda: stepper.step(trainer.data.train, rows), repeats)
    return Unit(seconds * trainer.steps_per_epoch, flops * trainer.steps_per_epoch, epochs)


def seqgan_units(trainer, cost: Cost, repeats: int) -> None:
    """D pretraining and adversarial rounds of the SeqGAN family, from the seqgan section."""
    s = trainer.cfg.seqgan
    d_samples, d_epochs = min(s.d_samples, len(trainer.data.train)), s.d_epochs
    # a probe D update on few rows times one D batch and the generation of one fake row
    s.d_samples, s.d_epochs = D_PROBE_ROWS, 1
    generate_seconds, generate_flops = measure(trainer.real_and_generated, repeats)
    update_seconds, update_flops = measure(lambda: trainer.train_discriminator(0.0), repeats)
    s.d_samples, s.d_epochs = d_samples, d_epochs
    probe_batches = len(list(global_batches(torch.arange(2 * D_PROBE_ROWS), s.d_batch_size)))
    epoch_batches = len(list(global_batches(torch.arange(2 * d_samples), s.d_batch_size)))
    per_batch = max(update_seconds - generate_seconds, 0.0) / probe_batches
    per_batch_flops = max(update_flops - generate_flops, 0.0) / probe_batches
    d_updates = s.pretrain_d_steps + s.adversarial_rounds * s.d_steps
    cost.units["D epoch"] = Unit(per_batch * epoch_batches, per_batch_flops * epoch_batches, d_updates * d_epochs)
    cost.units["D fakes"] = Unit(generate_seconds / D_PROBE_ROWS * d_samples,
                                 generate_flops / D_PROBE_ROWS * d_samples, d_updates)
    seconds, flops = measure(trainer.policy_gradient_step, repeats)
    cost.units["adversarial step"] = Unit(seconds, flops, s.adversarial_rounds * s.g_steps)
    if trainer.cfg.train.trainer == "leakgan" and trainer.cfg.leakgan.mle_every:
        epochs = s.adversarial_rounds // trainer.cfg.leakgan.mle_every * trainer.cfg.leakgan.mle_epochs
        cost.units["MLE epoch"].count += epochs
        cost.notes.append(f"interleaved MLE: {epochs:,} epochs")


def preset_cost(setting: str, model: str, repeats: int) -> Cost:
    """The measured cost of examples/{setting}_{model}.yaml's full schedule."""
    name = f"{setting}_{model}"
    cfg = load_config(ROOT / "examples" / f"{name}.yaml")
    cost = Cost(name)
    with tempfile.TemporaryDirectory() as folder:
        trainer = build(cfg, Path(folder) / "run")
        kind = cfg.train.trainer
        epochs = cfg.cot.pretrain_epochs if kind == "cot" else cfg.train.epochs
        if epochs:
            cost.units["MLE epoch"] = mle_unit(trainer, epochs, repeats)
        if kind == "mle" and cfg.train.patience:  # early stopping: the epoch count is not known in advance
            cost.units["MLE epoch"].count = 0
            cost.notes.append(f"stops on validation NLL (patience {cfg.train.patience}, at most {epochs:,} epochs): "
                              "per epoch only")
        if kind in SEQGAN_FAMILY:
            seqgan_units(trainer, cost, repeats)
        elif kind in ("gumbel", "cot"):
            steps = cfg.gumbel.adversarial_steps if kind == "gumbel" else cfg.cot.steps
            seconds, flops = measure(trainer.step_once, repeats)
            budget = steps >= BUDGET_SENTINEL
            cost.units["adversarial step"] = Unit(seconds, flops, 0 if budget else steps)
            if budget:
                cost.notes.append(f"{steps:,} steps: a budget preset, adversarial phase not counted")
    return cost


HEADER = ("| preset | s / MLE epoch | s / D epoch | s / adversarial step | MLE epochs | D epochs | adversarial steps "
          "| CPU hours (1 thread) | GPU hours, FLOPs bound (estimate) | notes |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def row(c: Cost, tflops: float) -> str:
    """One markdown row: seconds per unit, counts, CPU hours and the GPU estimate."""
    def cell(unit: str, what: str) -> str:
        u = c.units.get(unit)
        if u is None:
            return "–"
        return f"{u.seconds:,.2f}" if what == "s" else f"{u.count:,.0f}"
    return (f"| {c.preset} | {cell('MLE epoch', 's')} | {cell('D epoch', 's')} | {cell('adversarial step', 's')} | "
            f"{cell('MLE epoch', 'n')} | {cell('D epoch', 'n')} | {cell('adversarial step', 'n')} | {c.hours():,.1f} | "
            f"{c.gpu_hours(tflops):,.3f} | {'; '.join(c.notes)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timed calls of each unit (after one counted call)")
    parser.add_argument("--gpu-tflops", type=float, default=400.0,
                        help="assumed sustained TFLOP/s of the GPU (400: about 40%% of an H100's bf16 dense peak)")
    parser.add_argument("--only", default="", help="comma-separated presets, e.g. oracle_seqgan,coco_cot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    chosen = [p for p in args.only.split(",") if p]
    print(f"`python benchmarks/paper_costs.py --threads {args.threads} --repeats {args.repeats}` on "
          f"{datetime.now(timezone.utc):%Y-%m-%d}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"GPU: {args.gpu_tflops:g} TFLOP/s assumed\n")
    print(HEADER, flush=True)
    for setting in SETTINGS:
        for model in MODELS:
            if chosen and f"{setting}_{model}" not in chosen:
                continue
            start = time.perf_counter()
            print(row(preset_cost(setting, model, args.repeats), args.gpu_tflops), flush=True)
            log.info("%s_%s measured in %.0f s", setting, model, time.perf_counter() - start)

if __name__ == "__main__":
    main()
