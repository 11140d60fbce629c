"""SeqGAN's synthetic-data experiment in a time budget: NLL-oracle after MLE and after SeqGAN.

Checks the oracle first (10,000 of its own samples score about 5.75), then trains the preset
(MLE pretraining, D pretraining, adversarial rounds until the budget is spent) and prints
NLL-oracle beside the paper's figures, the wall time and the peak resident memory. Usage:

    python benchmarks/oracle_seqgan.py --minutes 60

The schedule is the preset's (examples/oracle_seqgan.yaml); change it with --set, e.g.
`--set train.epochs=30 --set seqgan.rollout_count=8`. The budget covers data preparation and
training; the oracle self-check before it is timed separately.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
ORACLE = REPO / "benchmarks" / "data" / "seqgan_oracle" / "oracle_lstm.npz"
PAPER = {"random": 10.310, "mle": 9.038, "seqgan": 8.736, "ground_truth": 5.750}
TARGET = 8.70
SELF_CHECK_EXPECTED, SELF_CHECK_TOLERANCE = 5.75, 0.05


def oracle_self_check(path: str) -> float:
    """NLL-oracle of 10,000 sequences the oracle samples itself (seed 0): about 5.75."""
    from textgan.models.oracle import load_oracle_npz

    oracle = load_oracle_npz(path)
    samples = oracle.sample(10_000, 20, generator=torch.Generator().manual_seed(0))
    return oracle.nll(samples)


def summarise(records: list[dict]) -> dict[str, dict]:
    """The first and last NLL-oracle evaluation of pretraining, and the best and the last of the
    adversarial phase."""
    evaluated = [r for r in records if "nll_oracle" in r]
    pretrain = [r for r in evaluated if r["phase"] == "pretrain_g"]
    adversarial = [r for r in evaluated if r["phase"] == "adversarial"]
    summary = {}
    if pretrain:
        summary["random"], summary["mle"] = pretrain[0], pretrain[-1]
    if adversarial:
        summary["seqgan_best"] = min(adversarial, key=lambda r: r["nll_oracle"])
        summary["seqgan"] = adversarial[-1]
    return summary


def plot_curve(records: list[dict], ground_truth: float, path: Path) -> None:
    """NLL-oracle against minutes, one colour per phase, with the paper's MLE and SeqGAN levels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for phase, colour, label in (("pretrain_g", "tab:blue", "MLE pretraining"),
                                 ("adversarial", "tab:red", "SeqGAN rounds")):
        points = [(r["elapsed_s"] / 60, r["nll_oracle"]) for r in records
                  if r["phase"] == phase and "nll_oracle" in r]
        if points:
            ax.plot(*zip(*points), marker=".", color=colour, label=label)
    ends = [r["elapsed_s"] / 60 for r in records if r["phase"] == "pretrain_d"]
    if ends:
        ax.axvspan(min(ends), max(ends), color="tab:gray", alpha=0.2, label="D pretraining")
    for key, name, style in (("mle", "MLE", ":"), ("seqgan", "SeqGAN", "--")):
        ax.axhline(PAPER[key], color="black", linestyle=style, linewidth=1, label=f"paper: {name} {PAPER[key]}")
    ax.set_xlabel("minutes")
    ax.set_ylabel("NLL-oracle (nats per token)")
    ax.set_title(f"SeqGAN oracle experiment (the oracle itself scores {ground_truth:.2f})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.savefig(path, format="png", dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", default=str(ORACLE), help="the SeqGAN oracle_lstm.npz (default: the one in benchmarks/data)")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-time budget for data and training")
    parser.add_argument("--config", default=str(REPO / "examples" / "oracle_seqgan.yaml"))
    parser.add_argument("--out", default="runs/oracle_seqgan_benchmark", help="run directory (must not hold a run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reserve-minutes", type=float, default=1.5,
                        help="kept back from the budget for the last evaluation and checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the preset")
    parser.add_argument("--plot", help="also draw NLL-oracle against minutes into this PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from textgan.api import train
    from textgan.config import load_config
    from textgan.errors import TextGanError

    try:
        start = time.monotonic()
        ground_truth = oracle_self_check(args.oracle)
        check_seconds = time.monotonic() - start
        print(f"oracle self-check: NLL-oracle of 10,000 of its own samples = {ground_truth:.4f} "
              f"(expected about {SELF_CHECK_EXPECTED}; {check_seconds:.0f} s)", flush=True)
        if abs(ground_truth - SELF_CHECK_EXPECTED) > SELF_CHECK_TOLERANCE:
            print("oracle self-check failed: the oracle file or its equations are wrong", file=sys.stderr)
            return 1
        limit = max(args.minutes - args.reserve_minutes, 0.01)
        cfg = load_config(args.config, [f"data.oracle_path={args.oracle}", *args.set,
                                        f"seqgan.time_limit_minutes={limit}"])
        start = time.monotonic()
        result = train(cfg, args.out)
        wall_minutes = (time.monotonic() - start) / 60
    except TextGanError as exc:
        print(f"oracle_seqgan: error: {exc}", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
    summary = summarise(records)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    cpu_minutes = (usage.ru_utime + usage.ru_stime) / 60  # self-check included; tells contention apart
    s, t = cfg.seqgan, cfg.train
    epochs = summary["mle"]["epoch"] if "mle" in summary else 0
    rounds = summary["seqgan"].get("round", 0) if "seqgan" in summary else 0

    print(f"\nSeqGAN oracle experiment ({cfg.data.oracle_samples:,} training sequences of "
          f"{cfg.data.oracle_seq_len} tokens, vocabulary 5,000; NLL-oracle of "
          f"{s.nll_oracle_samples:,} samples)\n")
    print(f"| {'stage':<28} | {'NLL-oracle':>10} | {'minutes':>7} | {'paper':>6} |")
    print(f"|{'-' * 30}|{'-' * 11}:|{'-' * 8}:|{'-' * 7}:|")
    best_round = summary["seqgan_best"].get("round", 0) if "seqgan_best" in summary else 0
    rows = [("random", "untrained generator", "random"), ("mle", f"after MLE ({epochs} epochs)", "mle"),
            ("seqgan_best", f"SeqGAN best (round {best_round})", "seqgan"),
            ("seqgan", f"after SeqGAN ({rounds} rounds)", "seqgan")]
    for key, label, paper in rows:
        if key in summary:
            r = summary[key]
            print(f"| {label:<28} | {r['nll_oracle']:>10.3f} | {r['elapsed_s'] / 60:>7.1f} | {PAPER[paper]:>6.3f} |")
    print(f"| {'oracle itself (ground truth)':<28} | {ground_truth:>10.3f} | {'':>7} | {PAPER['ground_truth']:>6.3f} |")
    print(f"\nwall time {wall_minutes:.1f} min (budget {args.minutes:g}), CPU time {cpu_minutes:.1f} min, "
          f"peak RSS {peak_mb:,.0f} MB, {args.threads} threads")
    print(f"schedule: MLE {t.epochs} epochs (batch {t.batch_size}, lr {t.learning_rate}); D pretraining "
          f"{s.pretrain_d_steps} x {s.d_epochs} epochs on {s.d_samples:,} + {s.d_samples:,}; rounds of "
          f"{s.g_steps} PG step(s) (lr {s.pg_learning_rate}, {s.rollout_count} rollouts, baseline "
          f"{'on' if s.baseline else 'off'}) and {s.d_steps} D update(s)")
    if "mle" in summary and "seqgan" in summary:
        mle = summary["mle"]["nll_oracle"]
        for key, what in (("seqgan_best", "best evaluation"), ("seqgan", "last evaluation")):
            value = summary[key]["nll_oracle"]
            met = value < mle and value <= TARGET
            print(f"target (below MLE and <= {TARGET}), {what}: {'met' if met else 'not met'} "
                  f"({value:.3f} vs MLE {mle:.3f})")
    if args.plot:
        plot_curve(records, ground_truth, Path(args.plot))
        print(f"curve: {args.plot}")
    print(f"run directory: {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
