"""`textgan demo`: MLE, then SeqGAN, on the bundled Chinese poems, in a few minutes on a CPU.

Prints a table (validation NLL, BLEU-2 against held-out poems, Self-BLEU-2 among the samples)
after MLE pretraining, for the same MLE model sampled cooler, and after the adversarial phase,
with five samples of each. The budget is `textgan train`'s: the trainer's plan (training/plan.py)
says what each phase will take, and pretraining gets at most half of it. The run directory keeps
metrics.jsonl, samples and checkpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textgan.config import Config, load_config
from textgan.errors import TextGanError
from textgan.io import FolderLockedError
from textgan.metrics import bleu, self_bleu

if TYPE_CHECKING:  # torch and the trainers load when the demo runs, not when the CLI starts
    from textgan.checkpoint import RunDirectory
    from textgan.training.policy_gradient import SeqGANTrainer

SHOWN_SAMPLES = 5
COOL_TEMPERATURE = 0.8
REPORT_MINUTES = 10 / 60  # kept back from --minutes for the final samples and scores
PRETRAIN_FRACTION = 0.5  # of the budget, at most, for MLE and D pretraining (train.pretrain_time_fraction)


@dataclass
class Snapshot:
    """What the table shows for one model state."""

    label: str
    val_nll: float | None  # None for a tempered model (the table compares untempered fits)
    bleu2: float
    self_bleu2: float
    samples: list[str]


def demo_config(args: argparse.Namespace, time_limit_minutes: float) -> Config:
    """Small poems setting: a subset, a 128-unit LSTM, a slim TextCNN, 8 rollouts, a baseline."""
    sets = {
        "data.corpus": "poems", "data.max_examples": args.examples, "data.test_fraction": 0.1,
        "tokenizer.kind": "word", "tokenizer.max_length": 25,
        "model.kind": "lstm", "model.embedding_dim": 64, "model.hidden_dim": 128,
        "train.trainer": "seqgan", "train.epochs": args.epochs, "train.batch_size": 64,
        "train.learning_rate": 0.01, "train.patience": 0, "train.seed": args.seed, "train.device": args.device,
        "discriminator.embedding_dim": 32, "discriminator.filter_sizes": [2, 3, 4, 5, 10, 15, 20],
        "discriminator.num_filters": [32, 32, 32, 32, 32, 32, 32], "discriminator.learning_rate": 0.001,
        "seqgan.pretrain_d_steps": 5, "seqgan.d_epochs": 1, "seqgan.d_samples": 1000,
        "seqgan.adversarial_rounds": args.rounds, "seqgan.d_steps": 1, "seqgan.rollout_count": 8,
        "seqgan.pg_learning_rate": 0.001, "seqgan.baseline": True, "seqgan.eval_every": 10,
        "train.time_limit_minutes": time_limit_minutes, "train.pretrain_time_fraction": PRETRAIN_FRACTION,
        "sample.num_samples": SHOWN_SAMPLES,
    }
    return load_config(None, [f"{key}={json.dumps(value)}" for key, value in sets.items()])


def snapshot(trainer: SeqGANTrainer, label: str, references: list[list[str]], count: int,
             temperature: float = 1.0) -> Snapshot:
    """Validation NLL, BLEU-2 and Self-BLEU-2 of `count` samples drawn with a fixed seed."""
    import torch

    from textgan.training.base import evaluate_nll

    generator = trainer.generator
    rng = torch.Generator(device=trainer.runtime.device).manual_seed(trainer.cfg.train.seed)
    was_training = generator.training
    generator.eval()
    rows = generator.sample(count, temperature=temperature, generator=rng).tolist()
    generator.train(was_training)
    tokens = [trainer.tokenizer.tokens(row) for row in rows]
    val_nll = None
    if temperature == 1.0:
        val_nll = evaluate_nll(generator, trainer.data.validation, trainer.runtime, trainer.cfg.train.batch_size,
                               include_prompt=trainer.cfg.train.nll_include_prompt)
    return Snapshot(label, val_nll, bleu(tokens, references, 2), self_bleu(tokens, 2),
                    ["".join(t) for t in tokens[:SHOWN_SAMPLES]])


def format_minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def print_report(rows: list[Snapshot], sample_count: int, reference_count: int) -> None:
    """The table, the metric definitions, then the samples of each row."""
    width = max(len(r.label) for r in rows)
    print(f"\n  {'model':<{width}}  {'val NLL':>7}  {'BLEU-2':>6}  {'Self-BLEU-2':>11}")
    for r in rows:
        nll = f"{r.val_nll:>7.3f}" if r.val_nll is not None else f"{'-':>7}"
        print(f"  {r.label:<{width}}  {nll}  {r.bleu2:>6.3f}  {r.self_bleu2:>11.3f}")
    print(f"\n  val NLL: nats per character of held-out poems (lower = better fit).\n"
          f"  BLEU-2: each of {sample_count} samples against all {reference_count} held-out poems "
          f"(higher = closer to real poems).\n"
          f"  Self-BLEU-2: each sample against the other samples (higher = less diverse).\n"
          f"  A GAN should beat the cooler MLE on both BLEU-2 and Self-BLEU-2, not only on one.")
    for r in rows:
        print(f"\n  {r.label}:")
        for line in r.samples:
            print(f"    {line}")


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="run directory to create (default: a new runs/demo-YYYYmmdd-HHMMSS)")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="wall-time budget; adversarial rounds stop when it is spent (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", type=int, default=10000, help="poems to use, of 16,746 (default 10000)")
    p.add_argument("--epochs", type=int, default=6, help="MLE pretraining epochs (default 6)")
    p.add_argument("--rounds", type=int, default=1000, help="most adversarial rounds (default: as many as fit)")
    p.add_argument("--samples", type=int, default=200, help="samples scored by BLEU (default 200)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")


def run_demo(args: argparse.Namespace) -> int:
    for name in ("minutes", "examples", "epochs", "rounds", "samples"):
        if getattr(args, name) <= 0:
            raise TextGanError(f"--{name} must be > 0, got {getattr(args, name)}")
    if args.samples < 2:
        raise TextGanError("--samples must be at least 2 (Self-BLEU compares samples with each other)")
    from textgan.checkpoint import RunDirectory, fresh_run_path

    with contextlib.ExitStack() as stack:
        run = RunDirectory(Path(args.out) if args.out else fresh_run_path(Path("runs"), "demo"))
        while True:
            try:
                stack.enter_context(run.claim())
                break
            except FolderLockedError:
                if args.out:
                    raise
                run = RunDirectory(fresh_run_path(Path("runs"), "demo"))  # a demo started the same second
        if run.holds_run():
            raise TextGanError(f"{run.path} already holds a run; pass another --out, or none for a new folder")
        return demo(args, run)


def demo(args: argparse.Namespace, run: RunDirectory) -> int:
    """Train and report into the locked run directory `run`."""
    from textgan.data import build_data

    out = run.path
    started = time.monotonic()
    # the trainer's budget: all but ~10 s, kept for the final report
    cfg = demo_config(args, max(args.minutes - REPORT_MINUTES, 0.01))
    from textgan.checkpoint import seed_everything
    from textgan.models import build_generator
    from textgan.training.policy_gradient import SeqGANTrainer
    from textgan.training.runtime import make_runtime

    seed_everything(cfg.train.seed)
    runtime = make_runtime(cfg.train.device, cfg.train.precision, cfg.train.deterministic)
    data = build_data(cfg)
    tok = data.tokenizer
    generator = build_generator(cfg.model, tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id)
    trainer = SeqGANTrainer(cfg, run, runtime, data, generator)
    references = [tok.tokens(row) for row in data.test.tokens.tolist()]
    print(f"textgan demo: MLE, then SeqGAN, on {len(data.train):,} Chinese quatrains "
          f"(vocabulary {tok.vocab_size:,}, device {runtime.device}, budget {args.minutes:g} min)")
    rows: list[Snapshot] = []

    def pretrained(trainer: SeqGANTrainer) -> None:
        """The MLE model's rows of the table, then on to SeqGAN."""
        rows.extend([snapshot(trainer, f"MLE ({trainer.epoch} epochs)", references, args.samples),
                     snapshot(trainer, f"MLE, temperature {COOL_TEMPERATURE}", references, args.samples,
                              COOL_TEMPERATURE)])
        print(f"[2/2] SeqGAN: D pretraining, then adversarial rounds until {format_minutes(cfg.train.time_limit_minutes * 60)} "
              f"(MLE took {format_minutes(time.monotonic() - started)})", flush=True)

    trainer.after_pretraining = pretrained
    print(f"[1/2] MLE pretraining: {cfg.train.epochs} epochs", flush=True)  # the trainer's plan follows on stderr
    trainer.train()
    rows.append(snapshot(trainer, f"SeqGAN (+{trainer.round} rounds)", references, args.samples))
    print_report(rows, args.samples, len(references))
    ending = trainer.ending_note()
    if ending:
        print(f"\n  {ending}")
    print(f"\n  wall time {format_minutes(time.monotonic() - started)}; run directory {out} "
          f"(metrics.jsonl, samples/, checkpoints/); sample more with: textgan sample {out} -n 5")
    return 0


# The subcommands this module adds to `textgan` (cli.py registers them): name -> (add_arguments, run, help).
COMMANDS = {
    "demo": (add_demo_arguments, run_demo,
             "MLE then SeqGAN on the bundled poems in a few minutes, with BLEU and samples"),
}
