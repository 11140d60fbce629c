"""One rollout-free adversarial step against one MLE step on as many sequences, side by side in one run.

For each trainer, the preset's trainer is built on its data (no training) and timed on its own
generator: one `gad` step on B sequences (B / k prefixes x k samples: sampling, the D update,
the rewards and the policy update, KL to the start model included) and one `scratchgan` step on
B sequences (sampling, D update, dense rewards, G update), each divided by one MLE step
(teacher-forced NLL, backward, Adam) on B real rows of the same generator. Target: <= 3x.

    python benchmarks/rollout_free_speed.py --threads 1
    python benchmarks/rollout_free_speed.py --threads 1 --scratchgan-preset examples/oracle_scratchgan.yaml

Defaults: the oracle (vocabulary 5,000, length 20); gad on the oracle MLE preset's LSTM (32/32)
with SeqGAN's TextCNN, B = 64, k = 4; scratchgan at its CPU preset's size, B = 64.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textgan.data import build_data  # noqa: E402
from textgan.checkpoint import RunDirectory  # noqa: E402
from textgan.config import load_config  # noqa: E402
from textgan.training import TRAINERS  # noqa: E402
from textgan.training.runtime import make_runtime  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each kind, alternating (fastest reported)")
    parser.add_argument("--gad-preset", default=str(ROOT / "examples" / "oracle_gad.yaml"))
    parser.add_argument("--scratchgan-preset", default=str(ROOT / "examples" / "oracle_scratchgan_cpu.yaml"))
    parser.add_argument("--mle-preset", default=str(ROOT / "examples" / "oracle_mle.yaml"),
                        help="the generator gad fine-tunes (a fresh one of this size: no run is needed)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for both trainers")
    return parser.parse_args()


def fastest_pair(first: Callable[[], object], second: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest of `repeats` timed calls of each, alternating after one warm-up of each (the machine
    is shared: alternation exposes both to the same load, the minimum is the least noisy)."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, spent in zip((first, second), times):
            start = time.perf_counter()
            run()
            spent.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def build(preset: str, overrides: list[str], out: Path, generator_preset: str | None = None):
    """The preset's trainer on its data, untrained; gad gets a fresh generator of `generator_preset`'s model."""
    keys = [f"data.oracle_path={ROOT / 'benchmarks' / 'data' / 'seqgan_oracle' / 'oracle_lstm.npz'}",
            "train.device=cpu", "train.tensorboard=false", *overrides]
    if generator_preset is not None:
        keys.append("model.init_from=")
        keys.append("gad.pretrain_epochs=1")  # stands in for the MLE run: the generator is built here
    cfg = load_config(preset, keys)
    if generator_preset is not None:
        cfg.model = load_config(generator_preset, keys[:1]).model
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg)
    trainer_cls = TRAINERS[cfg.train.trainer]
    trainer = trainer_cls(cfg, RunDirectory(out), make_runtime("cpu", "fp32"), data, trainer_cls.new_generator(cfg, data))
    if cfg.train.trainer == "gad":
        trainer.phase = "adversarial"
    return trainer


def ratio(trainer, repeats: int) -> tuple[float, float]:
    """(seconds of one adversarial step, seconds of one MLE step on as many real rows)."""
    count = trainer.cfg.train.batch_size
    rows = torch.arange(count) % len(trainer.data.train)
    return fastest_pair(trainer.step_once, lambda: trainer.mle.step(trainer.data.train, rows), repeats)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        gad = build(args.gad_preset, args.set, Path(folder) / "gad", args.mle_preset)
        scratchgan = build(args.scratchgan_preset, args.set, Path(folder) / "scratchgan")
        print(f"threads {args.threads}, fastest of {args.repeats} alternating steps each")
        for name, trainer, what in [
            ("gad", gad, f"{gad.cfg.train.batch_size // gad.cfg.gad.group_size} prefixes x {gad.cfg.gad.group_size} "
                         f"samples, D {gad.cfg.gad.discriminator}"),
            ("scratchgan", scratchgan, f"G {type(scratchgan.generator).__name__} {scratchgan.cfg.model.num_layers} x "
                                       f"{scratchgan.cfg.model.hidden_dim}, D {scratchgan.cfg.scratchgan.d_hidden_dim}"),
        ]:
            adversarial, mle = ratio(trainer, args.repeats)
            print(f"{name:10s} B={trainer.cfg.train.batch_size} ({what}), vocabulary {trainer.tokenizer.vocab_size}, "
                  f"length {trainer.sequence_length}: step {adversarial * 1000:.1f} ms, MLE step {mle * 1000:.1f} ms, "
                  f"ratio {adversarial / mle:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
