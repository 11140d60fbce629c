"""Comparison reports: markdown tables and PNG plots from metrics.jsonl and evaluation results.

Pure functions of already-read data: `textgan compare` (textgan/evaluate.py) gathers each run's
training history and its evaluations over temperature into a `RunReport` and calls
`write_report`. Plots use matplotlib's Agg canvas directly (no pyplot, no global backend state).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgan.errors import DataError
from textgan.io import atomic_write_text, write_with
from textgan.provenance import OwnPhase, own_steps_cell

__all__ = ["PROTOCOL", "RunReport", "markdown_table", "metric_series", "plot_learning_curves",
           "plot_nll_oracle_curves", "plot_nll_tradeoff", "plot_quality_diversity", "read_jsonl",
           "write_report"]

# Counters of a metrics.jsonl record, not metrics.
COUNTER_KEYS = ("step", "epoch", "round", "d_update", "adversarial_step", "cooperative_step")

PROTOCOL = """\
BLEU-n follows Texygen: every generated sentence is scored by nltk `sentence_bleu` (uniform
weights 1..n, smoothing method1) against the *whole* reference set (the run's test split) and
the scores are averaged; Self-BLEU-n scores every sample against all the *other* samples
(higher = less diverse). BLEU is computed on the model's own tokens. Every model is sampled at
each temperature from the same seed. NLL-test is the mean per-token NLL of the test split under
the model at that temperature (softmax(logits / T)); NLL-oracle (oracle runs) is the oracle's
mean per-token NLL of the model's samples. Following Caccia et al. (2020, "Language GANs
Falling Short"), a GAN counts as better than MLE only if its point lies beyond MLE's
temperature curve, not merely somewhere else on it."""


@dataclass
class RunReport:
    """What the report shows of one run: its training history and its evaluations over temperature."""

    label: str  # unique name in plots and tables (the model name, plus the folder when repeated)
    model: str  # trainer + model kind, e.g. mle-lstm
    run_dir: Path
    corpus: str
    checkpoint: str
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl records
    results: list[dict[str, Any]] = field(default_factory=list)  # evaluation records, one per temperature
    own_phase: OwnPhase | None = None  # steps of the trainer's own phase in the checkpoint (None: no MLE start)
    digest: str = ""  # of the checkpoint's generator weights (textgan.provenance.weights_digest)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (none if it does not exist); a malformed line is a DataError."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{number} is not valid JSON; repair or delete that line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number} is not a JSON object; repair or delete that line")
        records.append(record)
    return records


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_series(history: Iterable[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Every numeric metric of metrics.jsonl records as (step, value) points, in record order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for record in history:
        step = record.get("step")
        if not _is_number(step):
            continue
        for name, value in record.items():
            if name in COUNTER_KEYS or not _is_number(value):
                continue
            series.setdefault(name, []).append((int(step), float(value)))
    return series


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; floats with four decimals, None as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _new_figure(panels: int, columns: int = 3, panel_size: tuple[float, float] = (4.6, 3.4)):
    """A Figure on an Agg canvas with a grid of `panels` axes (unused grid cells removed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = max(1, min(columns, panels))
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(panels)]
    return figure, axes


def _save(figure: Any, path: Path) -> None:
    write_with(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=100))


LEGEND_IN_PANEL = 6  # more runs than this: one legend beside the figure, T labels on the first run only
MARKERS = "osD^v"
LINESTYLES = ("-", "--", ":", "-.")  # one per group of ten runs: tells runs 11-20 (whose colours repeat 1-10's hues) apart


def _color(index: int) -> str:
    """The run's colour in every plot: matplotlib's default cycle, then tab20's for runs 11-30."""
    if index < 10:
        return f"C{index}"
    from matplotlib import colormaps

    red, green, blue, _ = colormaps["tab20"]((index - 10) % 20)
    return f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"


def _line(index: int) -> dict[str, str]:
    """The run's colour and line style, the same in every plot."""
    return {"color": _color(index), "linestyle": LINESTYLES[index // 10 % len(LINESTYLES)]}


def _figure_legend(figure: Any, ax: Any, runs: Sequence[Any]) -> None:
    """With many runs, one legend outside the panels instead of one over each panel."""
    if len(runs) > LEGEND_IN_PANEL:
        figure.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")


def plot_learning_curves(runs: Sequence[RunReport], path: Path) -> bool:
    """One panel per metric of metrics.jsonl (value over step), one line per run; False if none."""
    per_run = [(run.label, metric_series(run.history)) for run in runs]
    names = sorted({name for _, series in per_run for name in series})
    if not names:
        return False
    figure, axes = _new_figure(len(names))
    for ax, name in zip(axes, names):
        for index, (label, series) in enumerate(per_run):
            points = series.get(name)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=label, **_line(index))
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save(figure, path)
    return True


def _sorted_results(run: RunReport, *keys: str) -> list[dict[str, Any]]:
    """The run's evaluation records holding every key as a number, by temperature."""
    kept = [r for r in run.results if all(_is_number(r.get(k)) for k in keys)]
    return sorted(kept, key=lambda r: r.get("temperature", 0.0))


def _tradeoff_panel(ax: Any, runs: Sequence[RunReport], x_key: str, y_key: str) -> bool:
    """Draw each run's (x, y) points over temperature as a line, each point labelled with its T."""
    drawn = False
    for index, run in enumerate(runs):
        results = _sorted_results(run, x_key, y_key)
        if not results:
            continue
        xs, ys = [r[x_key] for r in results], [r[y_key] for r in results]
        ax.plot(xs, ys, marker=MARKERS[index // 10 % len(MARKERS)], label=run.label, **_line(index))
        for r, x, y in zip(results, xs, ys):
            if len(runs) > LEGEND_IN_PANEL and index:
                break
            ax.annotate(f"T={r.get('temperature', 1.0):g}", (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small", color=_color(index))
        drawn = True
    ax.margins(0.15)  # room for the temperature labels at the ends of a curve
    ax.grid(alpha=0.3)
    if drawn and len(runs) <= LEGEND_IN_PANEL:
        ax.legend(fontsize="small")
    return drawn


def plot_quality_diversity(runs: Sequence[RunReport], orders: Sequence[int], path: Path) -> bool:
    """BLEU-n (quality, up is better) against Self-BLEU-n (diversity, left is better) per n; False if none."""
    orders = [n for n in orders if any(_sorted_results(run, f"bleu{n}", f"self_bleu{n}") for run in runs)]
    if not orders:
        return False
    figure, axes = _new_figure(len(orders), columns=2)
    for ax, n in zip(axes, orders):
        _tradeoff_panel(ax, runs, f"self_bleu{n}", f"bleu{n}")
        ax.set_xlabel(f"Self-BLEU-{n} (lower = more diverse)")
        ax.set_ylabel(f"BLEU-{n} (higher = better quality)")
        ax.set_title(f"BLEU-{n} vs Self-BLEU-{n} over temperature")
    _figure_legend(figure, axes[0], runs)
    _save(figure, path)
    return True


def plot_nll_tradeoff(runs: Sequence[RunReport], path: Path) -> bool:
    """NLL-oracle (quality) against NLL-test (coverage) over temperature, oracle runs only; False if none."""
    if not any(_sorted_results(run, "nll_test", "nll_oracle") for run in runs):
        return False
    figure, (ax,) = _new_figure(1, panel_size=(6.4, 4.8))
    _tradeoff_panel(ax, runs, "nll_test", "nll_oracle")
    ax.set_xlabel("NLL-test (lower = covers the data better)")
    ax.set_ylabel("NLL-oracle (lower = better quality)")
    ax.set_title("NLL-oracle vs NLL-test over temperature")
    _figure_legend(figure, ax, runs)
    _save(figure, path)
    return True


def timed_series(history: Iterable[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """(minutes, value) of `key` in metrics.jsonl records that carry elapsed_s, in record order."""
    return [(float(r["elapsed_s"]) / 60, float(r[key])) for r in history
            if _is_number(r.get("elapsed_s")) and _is_number(r.get(key))]


def plot_nll_oracle_curves(runs: Sequence[RunReport], path: Path, against_time: bool = False) -> bool:
    """NLL-oracle over training steps (or minutes, from the records' elapsed_s), one line per run
    (from metrics.jsonl); False if no run logs it."""
    def points_of(run: RunReport) -> list[tuple[float, float]]:
        if against_time:
            return timed_series(run.history, "nll_oracle")
        return [(float(step), value) for step, value in metric_series(run.history).get("nll_oracle", [])]

    curves = [(index, run.label, points_of(run)) for index, run in enumerate(runs)]
    curves = [(index, label, points) for index, label, points in curves if points]
    if not curves:
        return False
    figure, (ax,) = _new_figure(1, panel_size=(6.4, 4.8))
    for index, label, points in curves:
        ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=label, **_line(index))
    ax.set_xlabel("minutes of training" if against_time else "step")
    ax.set_ylabel("NLL-oracle (nats per token)")
    ax.set_title("NLL-oracle during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(figure, path)
    return True


def _last_values(history: Iterable[dict[str, Any]]) -> dict[str, float]:
    return {name: points[-1][1] for name, points in metric_series(history).items()}


def _runs_section(runs: Sequence[RunReport]) -> str:
    rows = []
    for run in runs:
        steps = [r["step"] for r in run.history if _is_number(r.get("step"))]
        rows.append([run.label, run.model, run.corpus, str(run.run_dir), run.checkpoint,
                     max(steps) if steps else None, own_steps_cell(run.own_phase)])
    return ("## Runs\n\nOwn-phase steps: what the evaluated checkpoint holds of the trainer's own phase after "
            "its MLE start (a dash for trainers without one).\n\n"
            + markdown_table(["run", "model", "corpus", "directory", "evaluated checkpoint", "last logged step",
                              "own-phase steps"], rows))


def _training_section(runs: Sequence[RunReport]) -> str:
    finals = [_last_values(run.history) for run in runs]
    names = sorted({name for values in finals for name in values})
    if not names:
        return "## Training metrics\n\nNo run has a metrics.jsonl record.\n"
    rows = [[name, *(values.get(name) for values in finals)] for name in names]
    return ("## Training metrics\n\nLast logged value of each metric in metrics.jsonl.\n\n"
            + markdown_table(["metric", *(run.label for run in runs)], rows))


def _results_section(runs: Sequence[RunReport], orders: Sequence[int]) -> str:
    optional = [key for key in ("nll_test", "nll_oracle") if any(key in r for run in runs for r in run.results)]
    header = ["run", "T", *(f"BLEU-{n}" for n in orders), *(f"Self-BLEU-{n}" for n in orders),
              "distinct-1", "distinct-2", "unique", "length", *("NLL-test" if k == "nll_test" else "NLL-oracle" for k in optional)]
    rows = []
    for run in runs:
        for r in sorted(run.results, key=lambda r: r.get("temperature", 0.0)):
            rows.append([run.label, f"{r.get('temperature', 1.0):g}", *(r.get(f"bleu{n}") for n in orders),
                         *(r.get(f"self_bleu{n}") for n in orders), r.get("distinct1"), r.get("distinct2"),
                         r.get("unique_ratio"), r.get("mean_length"), *(r.get(k) for k in optional)])
    samples = sorted({r.get("num_hypotheses") for run in runs for r in run.results} - {None})
    note = (f"Samples per temperature: {', '.join(map(str, samples))}. "
            "References: each run's test split. " if samples else "")
    return ("## Quality and diversity over temperature\n\n" + note + "Higher BLEU = closer to the test "
            "text; lower Self-BLEU and higher distinct-n = more diverse; unique = share of distinct "
            "samples; length = mean tokens per sample (short samples lose BLEU to the brevity "
            "penalty).\n\n" + markdown_table(header, rows))


def write_report(runs: Sequence[RunReport], out_dir: Path, orders: Sequence[int], warnings: Sequence[str] = ()) -> Path:
    """Write report.md and the plots that apply (learning curves, quality–diversity, NLL-oracle) to out_dir;
    `warnings` are shown at the top (`textgan compare` passes textgan.provenance's lines there)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [
        ("learning_curves.png", "Learning curves (metrics.jsonl)", plot_learning_curves(runs, out_dir / "learning_curves.png")),
        ("quality_diversity.png", "Quality–diversity: BLEU-n vs Self-BLEU-n over temperature",
         plot_quality_diversity(runs, orders, out_dir / "quality_diversity.png")),
        ("nll_tradeoff.png", "NLL-oracle vs NLL-test over temperature (oracle runs)",
         plot_nll_tradeoff(runs, out_dir / "nll_tradeoff.png")),
        ("nll_oracle.png", "NLL-oracle during training (oracle runs)",
         plot_nll_oracle_curves(runs, out_dir / "nll_oracle.png")),
    ]
    parts = ["# textgan comparison report\n", *(f"> **Warning:** {w}\n" for w in warnings), _runs_section(runs), _results_section(runs, orders),
             _training_section(runs), "## Plots\n"]
    parts += [f"### {title}\n\n![{title}]({name})\n" for name, title, written in plots if written]
    trainers = {run.model.split("-")[0] for run in runs}
    if trainers - {"mle"} and "mle" not in trainers:
        parts.append("> **Note:** no MLE run is in this comparison. The protocol shows every GAN beside "
                     "MLE sampled over the same temperatures; add an MLE run of the same data.\n")
    parts.append("## Protocol\n\n" + PROTOCOL + "\n")
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(parts))
    return report
