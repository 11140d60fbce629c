"""Compare MLE, SeqGAN, every continuous-GAN objective and the sentence VAE on equal terms.

Trains each model briefly on the bundled poems and on a random oracle (same data, same number
of generator updates), then scores samples the same way for all: Texygen BLEU-2..4 against the
test split, Self-BLEU-2..4, distinct-n and unique samples, NLL-oracle on the oracle, and the
model's own test NLL where it has one. MLE is also sampled at several temperatures, so a GAN that
only trades diversity for quality can be told from a cooler MLE. With --plots it also draws the
figures of docs/theory.md from these runs and from small toy problems.

    python benchmarks/compare_models.py --out runs/compare --table docs/compare_table.md --plots docs/img

The run directories are ordinary `textgan train` runs (`textgan sample runs/compare/poems/gan_wgan_gp`
works); --reuse scores existing runs without training them again.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from textgan import api
from textgan.config import Config, apply_overrides, load_config, validate
from textgan.data import PreparedData
from textgan.data.tokenizer import UNK
from textgan.metrics import bleu_multi, distinct_n, self_bleu_multi, unique_ratio
from textgan.models.continuous import ContinuousGenerator
from textgan.models.vae import SentenceVAE
from textgan.training.gan_objectives import OBJECTIVES
from textgan.training import TRAINERS
from textgan.training.base import evaluate_nll
from textgan.training.runtime import make_runtime
from textgan.training.vae import evaluate_vae

log = logging.getLogger("compare_models")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MLE_TEMPERATURES = (0.8, 1.2)
NO_MATCH = "<unk in a sample>"


@dataclass
class Spec:
    """One model of the comparison: a preset plus the overrides of this benchmark."""

    name: str
    label: str
    trainer: str
    overrides: dict[str, Any] = field(default_factory=dict)
    preset: Path | None = None


def corpus_settings(corpus: str, args: argparse.Namespace) -> dict[str, Any]:
    """Data and size settings shared by every model on one corpus (the small setting)."""
    common = {"train.batch_size": args.batch_size, "train.seed": args.seed, "train.device": "cpu",
              "data.validation_fraction": 0.1, "data.test_fraction": 0.25, "train.patience": 0}
    if corpus == "poems":
        return {**common, "data.corpus": "poems", "tokenizer.kind": "word", "tokenizer.max_length": 25,
                "tokenizer.min_frequency": args.poems_min_frequency, "data.max_examples": args.poems_examples}
    return {**common, "data.corpus": "oracle", "data.oracle_vocab_size": args.oracle_vocab,
            "data.oracle_samples": args.oracle_samples, "data.oracle_seq_len": 20, "tokenizer.max_length": 20}


def model_specs(corpus: str, args: argparse.Namespace) -> list[Spec]:
    """Every model in the comparison, in table order."""
    mle = {"model.kind": "lstm", "model.embedding_dim": 32, "model.hidden_dim": 64, "train.learning_rate": 0.005}
    specs = [Spec("mle", "MLE (LSTM)", "mle", mle)]
    if "seqgan" in TRAINERS:
        specs.append(Spec("seqgan", "SeqGAN", "seqgan", {
            **mle, "seqgan.adversarial_rounds": args.seqgan_rounds, "seqgan.pretrain_d_steps": 5,
            "seqgan.d_epochs": 1, "seqgan.d_steps": 1, "seqgan.d_samples": 1024, "seqgan.rollout_count": 4,
            "seqgan.nll_oracle_samples": 512, "seqgan.eval_every": max(1, args.seqgan_rounds // 2),
            "discriminator.filter_sizes": [2, 3, 4, 5], "discriminator.num_filters": [64, 64, 64, 64]}))
    for objective in OBJECTIVES:
        specs.append(Spec(f"gan_{objective}", f"GAN {objective}", "gan",
                          preset=EXAMPLES / f"{corpus}_gan_{objective}.yaml"))
    specs.append(Spec("gan_non_saturating_noise", "GAN non_saturating + instance noise", "gan",
                      {"gan.instance_noise": 0.3, "gan.instance_noise_steps": args.steps},
                      preset=EXAMPLES / f"{corpus}_gan_non_saturating.yaml"))
    specs.append(Spec("vae", "VAE", "vae", {"vae.kl_anneal_steps": max(1, args.steps // 2)},
                      preset=EXAMPLES / f"{corpus}_vae.yaml"))
    return specs


def build_config(spec: Spec, corpus: str, args: argparse.Namespace, batches_per_epoch: int) -> Config:
    """Preset, then this corpus's small setting, then the budget: every model gets --steps G updates."""
    cfg = load_config(spec.preset) if spec.preset else load_config(None, [f"train.trainer={spec.trainer}"])
    settings = {**corpus_settings(corpus, args), **spec.overrides}
    if spec.trainer == "gan":
        rounds = max(1, batches_per_epoch // int(settings.get("gan.d_steps", cfg.gan.d_steps)))
        settings["train.epochs"] = math.ceil(args.steps / rounds)
        settings["gan.eval_every"] = max(1, args.steps // 10)
    else:
        settings["train.epochs"] = max(1, math.ceil(args.steps / batches_per_epoch))
    apply_overrides(cfg, [f"{key}={json.dumps(value)}" for key, value in settings.items()])
    validate(cfg)
    return cfg


def tokens_of(rows: torch.Tensor, data: PreparedData) -> list[list[str]]:
    return [data.tokenizer.tokens(row) for row in rows.tolist()]


def sample_scores(rows: torch.Tensor, data: PreparedData, references: list[list[str]]) -> dict[str, float]:
    """BLEU-2..4 against the references (<unk> never matches), Self-BLEU-2..4, distinct-1..3, unique
    share, NLL-oracle."""
    samples = tokens_of(rows, data)
    # an unknown character in a sample is not the unknown character of a reference: no BLEU for <unk>
    hypotheses = [[NO_MATCH if token == UNK else token for token in sample] for sample in samples]
    scores: dict[str, float] = {}
    scores.update({f"bleu_{n}": v for n, v in bleu_multi(hypotheses, references, max_n=4, min_n=2).items()})
    scores.update({f"self_bleu_{n}": v for n, v in self_bleu_multi(samples, max_n=4, min_n=2).items()})
    for n in (1, 2, 3):
        scores[f"distinct_{n}"] = distinct_n(samples, n) if any(len(s) >= n for s in samples) else 0.0
    scores["unique"] = unique_ratio(samples)
    if data.oracle is not None:
        scores["nll_oracle"] = data.oracle.nll(rows)
    return scores


def train_or_reuse(spec: Spec, cfg: Config, run: Path, reuse: bool) -> float:
    """Train into `run` (or reuse it) and return the training time in seconds."""
    timing = run / "benchmark_time.json"
    if reuse and timing.is_file():
        return float(json.loads(timing.read_text())["seconds"])
    if run.exists():
        raise SystemExit(f"{run} exists; pass --reuse to score it or choose another --out")
    start = time.perf_counter()
    api.train(cfg, run)
    seconds = time.perf_counter() - start
    timing.write_text(json.dumps({"seconds": seconds}))
    return seconds


def evaluate_corpus(corpus: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train and score every model on one corpus; one result row per model (and MLE temperature)."""
    base = load_config(None, [f"{k}={json.dumps(v)}" for k, v in corpus_settings(corpus, args).items()])
    data = api.build_data(base)
    references = tokens_of(data.test.tokens, data)
    batches_per_epoch = math.ceil(len(data.train) / args.batch_size)
    runtime = make_runtime("cpu", "fp32")
    if data.oracle is not None:  # fresh sequences from the oracle itself
        held_out = data.oracle.sample(args.samples, data.train.tokens.shape[1],
                                      generator=torch.Generator().manual_seed(args.seed))
        label = f"oracle samples ({args.samples})"
    else:
        held_out = data.validation.tokens[: args.samples]
        label = f"held-out poems ({len(held_out)}, validation split)"
    results = [{"model": "data", "label": label, "seconds": 0.0, **sample_scores(held_out, data, references)}]
    wanted = set(args.models.split(",")) if args.models else None
    for spec in model_specs(corpus, args):
        if wanted and spec.name not in wanted:
            continue
        cfg = build_config(spec, corpus, args, batches_per_epoch)
        run = args.out / corpus / spec.name
        log.warning("%s / %s: training (%d epochs)", corpus, spec.name, cfg.train.epochs)
        seconds = train_or_reuse(spec, cfg, run, args.reuse)
        checkpoint = api.load(run, "latest")
        generator = checkpoint.generator.eval()
        row: dict[str, Any] = {"model": spec.name, "label": spec.label, "seconds": seconds,
                               "updates": checkpoint.state.get("step")}
        if isinstance(generator, SentenceVAE):
            bound = evaluate_vae(generator, data.test, runtime, 256, seed=args.seed)
            row["nll_test"], row["nll_test_is_bound"] = bound["nll_bound"], True
            row["active_units"] = bound["active_units"]
        elif not isinstance(generator, ContinuousGenerator):
            row["nll_test"] = evaluate_nll(generator, data.test, runtime, 256)
        temperatures = (1.0, *MLE_TEMPERATURES) if spec.trainer == "mle" else (1.0,)
        for temperature in temperatures:
            rows = generator.sample(args.samples, temperature=temperature,
                                    generator=torch.Generator().manual_seed(args.seed))
            scored = {**row, **sample_scores(rows, data, references)}
            if temperature != 1.0:
                scored.update(model=f"{spec.name}_t{temperature}", label=f"{spec.label}, temperature {temperature}")
            results.append(scored)
        log.warning("%s / %s: %.0f s, BLEU-2 %.3f", corpus, spec.name, seconds, results[-1]["bleu_2"])
    return results


COLUMNS = [("nll_test", "NLL-test"), ("nll_oracle", "NLL-oracle"), ("bleu_2", "BLEU-2"), ("bleu_3", "BLEU-3"),
           ("bleu_4", "BLEU-4"), ("self_bleu_2", "SBLEU-2"), ("self_bleu_3", "SBLEU-3"),
           ("self_bleu_4", "SBLEU-4"), ("distinct_2", "dist-2"), ("distinct_3", "dist-3"),
           ("unique", "unique"), ("updates", "updates"), ("seconds", "train s")]


def markdown_table(results: list[dict[str, Any]], oracle: bool) -> str:
    """The results as a markdown table (NLL-oracle only on the oracle)."""
    columns = [(k, title) for k, title in COLUMNS if oracle or k != "nll_oracle"]
    lines = ["| model | " + " | ".join(title for _, title in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for row in results:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if value is None:
                cells.append("—")
            elif key in ("seconds", "updates"):
                cells.append(f"{value:.0f}" if value else "—")
            elif key == "nll_test" and row.get("nll_test_is_bound"):
                cells.append(f"≤ {value:.3f}")
            else:
                cells.append(f"{value:.3f}")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLE_BEGIN, TABLE_END = "<!-- compare_models:begin -->", "<!-- compare_models:end -->"


def write_table(path: Path, tables: str, args: argparse.Namespace) -> None:
    """Write the tables to `path`, or between the begin/end markers when the file has them (a doc page)."""
    settings = (f"Settings: a budget of {args.steps} generator updates per model, rounded up to whole epochs "
                f"(column updates), batch {args.batch_size}, {args.samples} samples scored per model; poems: "
                f"{args.poems_examples} examples, 10% validation, 25% test (the BLEU references), characters "
                f"seen fewer than {args.poems_min_frequency} times are `<unk>`; oracle: a random oracle LSTM, "
                f"vocabulary {args.oracle_vocab}, {args.oracle_samples} training sequences of 20 tokens; seed {args.seed}.")
    notes = ("NLL-test: the model's own per-token NLL of the test split (≤: the VAE's ELBO bound; —: no "
             "likelihood). BLEU: an `<unk>` in a sample matches nothing. updates: generator steps (GAN), batches (MLE, VAE); SeqGAN counts its MLE batches, "
             "D pretraining updates and adversarial rounds. train s: wall-clock seconds of training on a shared, "
             "busy 2-core machine (one torch thread), so only roughly comparable.")
    block = f"{TABLE_BEGIN}\n{settings}\n\n{tables}\n{notes}\n{TABLE_END}"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if TABLE_BEGIN in old and TABLE_END in old:
        head, rest = old.split(TABLE_BEGIN, 1)
        block = head + block + rest.split(TABLE_END, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/compare"), help="where the runs go")
    parser.add_argument("--corpora", default="poems,oracle", help="comma-separated: poems, oracle")
    parser.add_argument("--models", default="", help="comma-separated model names to run (default: all)")
    parser.add_argument("--steps", type=int, default=100, help="generator updates per model (the budget)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=400, help="samples scored per model")
    parser.add_argument("--poems-examples", type=int, default=4000,
                        help="poems used (10%% validation, 25%% test: the BLEU references)")
    parser.add_argument("--poems-min-frequency", type=int, default=5, help="rarer characters become <unk>")
    parser.add_argument("--oracle-vocab", type=int, default=1000)
    parser.add_argument("--oracle-samples", type=int, default=3000, help="oracle training sequences")
    parser.add_argument("--seqgan-rounds", type=int, default=10, help="SeqGAN adversarial rounds after MLE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (more than the free cores slows it down)")
    parser.add_argument("--reuse", action="store_true", help="score existing runs instead of failing")
    parser.add_argument("--table", type=Path,
                        help="also write the tables here (between the compare_models markers of a page that has them)")
    parser.add_argument("--plots", type=Path, help="also draw the theory figures into this folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)
    sections = []
    all_results: dict[str, list[dict[str, Any]]] = {}
    for corpus in args.corpora.split(","):
        results = evaluate_corpus(corpus, args)
        all_results[corpus] = results
        sections.append(f"### {corpus}\n\n{markdown_table(results, corpus == 'oracle')}\n")
    text = "\n".join(sections)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(all_results, indent=1))
    if args.table:
        write_table(args.table, text, args)
    if args.plots:
        draw_theory_figures(args.out, args.plots, args.seed)


# -- the figures of docs/theory.md ---------------------------------------------------------------
def run_records(run: Path, phase: str) -> list[dict[str, Any]]:
    """metrics.jsonl records of one phase ([] when the run is missing)."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        log.warning("no run in %s: its figure panel is left empty", run)
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["phase"] == phase]


def smooth(values: list[float], window: int = 5) -> list[float]:
    """Trailing moving average (GAN losses are noisy step to step)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def figure_optimal_discriminator(path: Path, seed: int) -> None:
    """A small D trained with the minimax loss on samples reaches D* = p_data / (p_data + p_g)."""
    import matplotlib.pyplot as plt

    from textgan.training.gan_objectives import minimax_d_loss, optimal_discriminator

    g = torch.Generator().manual_seed(seed)
    data = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.tensor([0.5, 0.5])),
                                                 torch.distributions.Normal(torch.tensor([-2.0, 1.0]), torch.tensor([0.5, 0.5])))
    model = torch.distributions.Normal(0.0, 1.5)
    torch.manual_seed(seed)
    real = data.sample((4000,)).unsqueeze(1)
    fake = (torch.randn(4000, generator=g) * 1.5).unsqueeze(1)
    discriminator = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                                        torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.02)
    for _ in range(600):
        optimizer.zero_grad()
        minimax_d_loss(discriminator(real).squeeze(1), discriminator(fake).squeeze(1)).backward()
        optimizer.step()
    grid = torch.linspace(-4, 4, 400)
    p_data, p_g = data.log_prob(grid).exp(), model.log_prob(grid).exp()
    with torch.no_grad():
        learned = torch.sigmoid(discriminator(grid.unsqueeze(1)).squeeze(1))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.fill_between(grid, p_data, alpha=0.25, label="p_data (mixture)")
    ax.fill_between(grid, p_g, alpha=0.25, label="p_g = N(0, 1.5²)")
    ax.plot(grid, optimal_discriminator(p_data, p_g), "k", lw=2, label="D* = p_data / (p_data + p_g)")
    ax.plot(grid, learned, "r--", lw=2, label="D trained with the minimax loss")
    ax.set_xlabel("x")
    ax.set_title("The optimal discriminator, and one trained on 4,000 samples of each")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_saturation(path: Path, runs: Path) -> None:
    """Generator gradient: analytic per logit, and measured in our minimax / non-saturating runs."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    d = torch.linspace(0.001, 0.999, 300)
    left.plot(d, d, label="minimax: |d log(1 - D) / d logit| = D")
    left.plot(d, 1 - d, label="non-saturating: |d (-log D) / d logit| = 1 - D")
    left.set_xlabel("D(G(z)): D's belief that a fake is real")
    left.set_ylabel("generator gradient through D's logit")
    left.set_title("Where D wins (D(G(z)) → 0), minimax loses its gradient")
    left.legend(fontsize=8)
    for name, style in (("gan_minimax", "-"), ("gan_non_saturating", "-")):
        steps = run_records(runs / "poems" / name, "gan")
        if steps:
            right.semilogy([r["step"] for r in steps], smooth([r["g_grad_norm"] for r in steps]), style,
                           label=name.removeprefix("gan_"))
    right.set_xlabel("generator step (poems)")
    right.set_ylabel("‖∇G loss‖ (5-step mean)")
    right.set_title("Measured: generator gradient norm in our runs")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def js_divergence_gaussians(shift: float, std: float) -> float:
    """JS(N(0, std²) || N(shift, std²)) in nats, by numerical integration."""
    if std == 0:
        return 0.0 if shift == 0 else math.log(2)
    x = torch.linspace(-10 * std - abs(shift), 10 * std + abs(shift), 20001, dtype=torch.float64)
    p = torch.distributions.Normal(0.0, std).log_prob(x).exp()
    q = torch.distributions.Normal(shift, std).log_prob(x).exp()
    m = (p + q) / 2
    integrand = 0.5 * p * torch.log(p / m).nan_to_num() + 0.5 * q * torch.log(q / m).nan_to_num()
    return float(torch.trapezoid(integrand, x))


def figure_disjoint_supports(path: Path, runs: Path) -> None:
    """JS is flat for disjoint supports, instance noise and W are not; our runs with and without noise."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    shifts = [i / 20 for i in range(-60, 61)]
    left.plot(shifts, [js_divergence_gaussians(t, 0.0) for t in shifts], "k", lw=2,
              label="JS(δ₀, δ_θ): log 2 everywhere but θ = 0")
    for std in (0.3, 1.0):
        left.plot(shifts, [js_divergence_gaussians(t, std) for t in shifts], label=f"JS with instance noise σ={std}")
    left.plot(shifts, [abs(t) / 3 for t in shifts], "--", label="W(δ₀, δ_θ) = |θ| (scaled by 1/3)")
    left.set_xlabel("θ: where the generator's point mass sits (data at 0)")
    left.set_ylabel("divergence (nats)")
    left.set_title("Disjoint supports: JS gives no slope, W and noise do")
    left.legend(fontsize=7)
    for name, label in (("gan_non_saturating", "no noise"), ("gan_non_saturating_noise", "instance noise σ: 0.3 → 0")):
        steps = run_records(runs / "poems" / name, "gan")
        if steps:
            right.plot([r["step"] for r in steps], smooth([r["d_acc_fake"] for r in steps]), label=f"D accuracy on fakes, {label}")
    right.set_ylim(0, 1.05)
    right.set_xlabel("generator step (poems, non-saturating)")
    right.set_ylabel("share of fakes D rejects (5-step mean)")
    right.set_title("Measured: soft rows vs one-hot rows are separable at once")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_wasserstein(path: Path, runs: Path) -> None:
    """The WGAN-GP critic's estimate against sample quality over training (poems and oracle)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, corpus, quality, label in ((axes[0], "poems", "bleu_2", "BLEU-2 of a fixed-noise sample"),
                                       (axes[1], "oracle", "nll_oracle", "NLL-oracle of a fixed-noise sample")):
        run = runs / corpus / "gan_wgan_gp"
        steps, health = run_records(run, "gan"), run_records(run, "gan_eval")
        if steps:
            ax.plot([r["step"] for r in steps], smooth([r["wasserstein"] for r in steps]), color="tab:blue")
        ax.set_xlabel(f"generator step ({corpus})")
        ax.set_ylabel("critic's Wasserstein estimate (5-step mean)", color="tab:blue")
        twin = ax.twinx()
        if health and quality in health[0]:
            twin.plot([r["step"] for r in health], [r[quality] for r in health], "o-", color="tab:red")
        twin.set_ylabel(label, color="tab:red")
        ax.set_title(f"WGAN-GP on {corpus}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_mode_collapse(path: Path, runs: Path) -> None:
    """Unique samples and distinct-2 of the fixed-noise sample over training, per objective (poems)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for objective in OBJECTIVES:
        health = run_records(runs / "poems" / f"gan_{objective}", "gan_eval")
        if health:
            steps = [r["step"] for r in health]
            left.plot(steps, [r["unique"] for r in health], "o-", ms=3, label=objective)
            right.plot(steps, [r["distinct_2"] for r in health], "o-", ms=3, label=objective)
    left.set_ylabel("share of distinct samples")
    right.set_ylabel("distinct-2")
    for ax in (left, right):
        ax.set_xlabel("generator step (poems)")
        ax.set_ylim(-0.02, 1.02)
    left.set_title("Mode collapse: do different z give different poems?")
    right.set_title("... and different character pairs?")
    right.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_theory_figures(runs: Path, folder: Path, seed: int) -> None:
    """Every figure of docs/theory.md, from the runs in `runs` and small toy problems."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    figure_optimal_discriminator(folder / "theory_optimal_discriminator.png", seed)
    figure_saturation(folder / "theory_saturation.png", runs)
    figure_disjoint_supports(folder / "theory_disjoint_supports.png", runs)
    figure_wasserstein(folder / "theory_wasserstein.png", runs)
    figure_mode_collapse(folder / "theory_mode_collapse.png", runs)


if __name__ == "__main__":
    main()
