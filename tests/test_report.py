"""Report tables and plots from synthetic metrics and evaluation records (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.image import imread

from textgan.errors import DataError
from textgan.report import (
    RunReport,
    markdown_table,
    metric_series,
    plot_learning_curves,
    plot_nll_oracle_curves,
    plot_nll_tradeoff,
    plot_quality_diversity,
    read_jsonl,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def history(phase: str, steps: int, **curves: float) -> list[dict]:
    """metrics.jsonl-like records: each metric falls linearly from its start value."""
    return [{"step": s * 10, "epoch": s, "phase": phase, **{k: v - 0.1 * s for k, v in curves.items()}}
            for s in range(1, steps + 1)]


def results(model: str, *temperatures: float, oracle: bool = False) -> list[dict]:
    """Evaluation records: cooler = higher BLEU and Self-BLEU."""
    out = []
    for t in temperatures:
        r = {"model": model, "temperature": t, "num_hypotheses": 100, "num_references": 50,
             "distinct1": 0.1 * t, "distinct2": 0.3 * t, "unique_ratio": min(1.0, 0.8 * t), "nll_test": 3.0 + abs(1 - t)}
        r.update({f"bleu{n}": 0.9 / (n * t) for n in range(2, 6)})
        r.update({f"self_bleu{n}": 0.95 / (n * t) for n in range(2, 6)})
        if oracle:
            r["nll_oracle"] = 2.0 + t
        out.append(r)
    return out


def run(label: str, model: str, hist: list[dict], res: list[dict]) -> RunReport:
    return RunReport(label, model, Path("runs") / label, "oracle", "step-00000010", hist, res)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.01


def test_read_jsonl(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert read_jsonl(path) == []
    path.write_text('{"step": 1, "loss": 2.0}\n\n{"step": 2, "loss": 1.5}\n', encoding="utf-8")
    assert [r["step"] for r in read_jsonl(path)] == [1, 2]
    path.write_text('{"step": 1}\n{"step": \n{"step": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"metrics.jsonl:2 is not valid JSON"):
        read_jsonl(path)
    path.write_text('{"step": 1}\n{"step": 2, "lo', encoding="utf-8")  # torn by a kill: dropped
    assert [r["step"] for r in read_jsonl(path)] == [1]
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a JSON object"):
        read_jsonl(path)


def test_metric_series_keeps_numeric_metrics_only():
    records = [
        {"step": 1, "epoch": 0, "phase": "pretrain_g", "val_nll": 3.0, "finished": True},
        {"step": 2, "epoch": 1, "phase": "adversarial", "round": 1, "d_loss": 0.7, "val_nll": float("nan")},
        {"epoch": 2, "val_nll": 1.0},  # no step: cannot be placed on the x axis
        {"step": 3, "val_nll": 2.5, "note": "text"},
    ]
    assert metric_series(records) == {"val_nll": [(1, 3.0), (3, 2.5)], "d_loss": [(2, 0.7)]}


def test_markdown_table():
    table = markdown_table(["model", "BLEU-2", "NLL"], [["mle|lstm", 0.123456, None], ["gan", 1, float("inf")]])
    assert table.splitlines() == ["| model | BLEU-2 | NLL |", "|---|---|---|",
                                  "| mle\\|lstm | 0.1235 | – |", "| gan | 1 | inf |"]


def test_plots_are_written_and_readable(tmp_path):
    runs = [run("mle", "mle-lstm", history("mle", 4, train_nll=3.0, val_nll=3.2), results("mle-lstm", 0.6, 1.0, 1.4, oracle=True)),
            run("seqgan", "seqgan-lstm", history("adversarial", 3, nll_oracle=9.0, d_loss=0.7),
                results("seqgan-lstm", 1.0, oracle=True))]
    for plot, name in ((plot_learning_curves, "curves.png"), (plot_nll_oracle_curves, "oracle.png"),
                       (plot_nll_tradeoff, "tradeoff.png")):
        assert plot(runs, tmp_path / name)
        assert_png(tmp_path / name)
    assert plot_quality_diversity(runs, [2, 5], tmp_path / "qd.png")
    assert_png(tmp_path / "qd.png")


def test_plots_without_data_write_nothing(tmp_path):
    bare = [run("vae", "vae", [], results("vae", 1.0))]
    assert not plot_learning_curves(bare, tmp_path / "a.png")
    assert not plot_nll_oracle_curves(bare, tmp_path / "b.png")
    assert not plot_nll_tradeoff(bare, tmp_path / "c.png")  # no NLL-oracle: not an oracle run
    assert not plot_quality_diversity([run("x", "mle-lstm", [], [])], [2], tmp_path / "d.png")
    assert not list(tmp_path.iterdir())


def test_write_report(tmp_path):
    runs = [run("mle-lstm", "mle-lstm", history("mle", 3, val_nll=3.0), results("mle-lstm", 0.8, 1.0, oracle=True)),
            run("seqgan-lstm", "seqgan-lstm", history("adversarial", 2, nll_oracle=9.0), results("seqgan-lstm", 1.0, oracle=True))]
    report = write_report(runs, tmp_path / "out", [2, 3, 4, 5])
    text = report.read_text(encoding="utf-8")
    for name in ("learning_curves.png", "quality_diversity.png", "nll_tradeoff.png", "nll_oracle.png"):
        assert f"]({name})" in text
        assert_png(tmp_path / "out" / name)
    assert "| mle-lstm | 0.8 | 0.5625 |" in text  # BLEU-2 = 0.9 / (2 * 0.8)
    assert "| run | T | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | Self-BLEU-2 |" in text
    assert "| val_nll | 2.7000 | – |" in text  # last logged value; the GAN run never logged it
    assert "NLL-oracle" in text and "Caccia" in text
    assert "no MLE run" not in text


def test_report_warns_when_a_gan_has_no_mle_beside_it(tmp_path):
    gan = [run("gan-wgan_gp", "gan-wgan_gp", [], results("gan-wgan_gp", 1.0))]
    text = write_report(gan, tmp_path, [2]).read_text(encoding="utf-8")
    assert "no MLE run is in this comparison" in text
    assert "learning_curves.png" not in text and "nll_tradeoff.png" not in text
    assert "NLL-oracle" not in text.split("## Protocol")[0]


def test_phase_counters_of_the_relaxed_trainers_are_not_plotted_as_metrics():
    history = [{"step": 3, "epoch": 1, "phase": "adversarial", "adversarial_step": 1, "beta": 1.0, "g_loss": 0.7},
               {"step": 4, "epoch": 1, "phase": "cooperative", "cooperative_step": 1, "g_kl": 0.1}]
    assert set(metric_series(history)) == {"beta", "g_loss", "g_kl"}
