"""benchmarks/leaderboard.py: the grid from the registry and presets, kill-and-resume cell by cell, the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiny_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import leaderboard  # noqa: E402

SMALL_D = {"embedding_dim": 8, "filter_sizes": [2, 3], "num_filters": [6, 6]}


def write_presets(folder: Path, corpus: Path) -> None:
    common = {"data": {"corpus": str(corpus), "test_fraction": 0.2},
              "tokenizer": {"kind": "word", "max_length": 10},
              "model": {"embedding_dim": 16, "hidden_dim": 16},
              "train": {"epochs": 10_000, "batch_size": 8, "patience": 0}}
    presets = {
        "tiny_mle": {**common, "train": {**common["train"], "trainer": "mle"}},
        "tiny_seqgan": {**common, "train": {**common["train"], "trainer": "seqgan", "epochs": 1},
                        "discriminator": SMALL_D,
                        "seqgan": {"pretrain_d_steps": 2, "d_samples": 32, "rollout_count": 2,
                                   "adversarial_rounds": 10_000, "eval_every": 1000}},
    }
    folder.mkdir()
    for name, values in presets.items():
        (folder / f"{name}.yaml").write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    (folder / "tiny_vae_other.yaml").write_text(json.dumps({"train": {"trainer": "mle"}}), encoding="utf-8")


def test_models_come_from_the_registry_and_the_presets(tmp_path):
    write_presets(tmp_path / "examples", tmp_path / "corpus.txt")
    (tmp_path / "examples" / "tiny_seqgan_fast.yaml").write_text('{"train": {"trainer": "seqgan"}}', encoding="utf-8")
    models, skipped = leaderboard.models_of("tiny", tmp_path / "examples", ["mle", "seqgan", "vae", "gan"])
    assert [m for m, _ in models] == ["mle", "seqgan", "seqgan_fast"]
    # vae: its only file names another trainer; gan: none at all
    assert [line.split()[1] for line in skipped] == ["vae", "gan"]
    assert set(leaderboard.registered_trainers()) >= {"mle", "seqgan", "gan", "vae"}
    cells, _ = leaderboard.cells_of(["tiny"], 2, tmp_path / "examples", tmp_path / "out", ["mle", "seqgan"],
                                    only={"mle", "seqgan_fast"})
    assert [(c.model, c.seed) for c in cells] == [("mle", 0), ("mle", 1), ("seqgan_fast", 0), ("seqgan_fast", 1)]


def test_beyond_the_reference_curve():
    mle = [(0.5, 0.4), (0.7, 0.6), (0.9, 0.8)]  # Self-BLEU (lower better), BLEU (higher better), by temperature
    assert leaderboard.beyond((0.6, 0.55), mle, x_lower=True, y_higher=True)  # MLE reaches 0.5 at x = 0.6
    assert not leaderboard.beyond((0.6, 0.45), mle, x_lower=True, y_higher=True)
    assert not leaderboard.beyond((0.95, 0.75), mle, x_lower=True, y_higher=True)  # MLE's (0.9, 0.8) beats it
    assert leaderboard.beyond((0.95, 0.85), mle, x_lower=True, y_higher=True)
    assert leaderboard.beyond((0.3, 0.9), mle, x_lower=True, y_higher=True) is None  # more diverse than MLE gets
    # a curve where a hotter point beats the others in both coordinates: it is the rival everywhere right of it
    odd = [(0.49, 0.16), (0.36, 0.19), (0.31, 0.28), (0.25, 0.30)]
    assert not leaderboard.beyond((0.34, 0.29), odd, x_lower=True, y_higher=True)
    assert leaderboard.beyond((0.34, 0.31), odd, x_lower=True, y_higher=True)
    nll = [(7.5, 9.5), (8.0, 9.0), (9.0, 7.0)]  # NLL-test, NLL-oracle: both lower better
    assert leaderboard.beyond((8.5, 7.9), nll, x_lower=True, y_higher=False)
    assert not leaderboard.beyond((8.5, 8.1), nll, x_lower=True, y_higher=False)  # MLE has 8.0 at NLL-test 8.5


def _command(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks" / "leaderboard.py"), "--settings", "tiny", "--trainers",
            "mle,seqgan,vae", "--seeds", "2", "--minutes", "0.05", "--examples", str(tmp_path / "examples"),
            "--out", str(tmp_path / "out"), "--results", str(tmp_path / "docs" / "results.md"),
            "--temperatures", "0.7,1.5", "--samples", "24", "--distribution-epochs", "1", *extra]


def test_tiny_grid_killed_and_resumed_cell_by_cell(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_lines(120)) + "\n", encoding="utf-8")
    write_presets(tmp_path / "examples", corpus)
    cells = {name: tmp_path / "out" / "tiny" / name.split("/")[0] / name.split("/")[1]
             for name in ("mle/seed0", "mle/seed1", "seqgan/seed0", "seqgan/seed1")}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, env=env)
    deadline = time.monotonic() + 300
    # kill the whole grid once the first cell is finished and the second has a checkpoint
    while not ((cells["mle/seed0"] / "leaderboard.json").is_file()
               and (cells["mle/seed1"] / "checkpoints" / "latest").is_file()):
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = (cells["mle/seed0"] / "leaderboard.json").read_text()
    finished_eval = (cells["mle/seed0"] / "eval" / "eval.jsonl").read_text()
    assert not (cells["mle/seed1"] / "leaderboard.json").exists()

    done = subprocess.run(_command(tmp_path), capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped: vae on tiny" in done.stdout and "1 finished earlier, 3 to run" in done.stdout
    # not redone: its training and first evaluations stand; MLE may be sampled hotter afterwards
    before, after = json.loads(finished), json.loads((cells["mle/seed0"] / "leaderboard.json").read_text())
    assert {k: v for k, v in after.items() if k not in ("temperatures", "eval_seconds")} == \
           {k: v for k, v in before.items() if k not in ("temperatures", "eval_seconds")}
    assert (cells["mle/seed0"] / "eval" / "eval.jsonl").read_text().startswith(finished_eval)
    assert "tiny/mle/seed1: resuming" in (tmp_path / "out" / "logs" / "tiny_mle_seed1.log").read_text()
    for name, cell in cells.items():
        info = json.loads((cell / "leaderboard.json").read_text())
        hotter = info["temperatures"][3:]  # MLE sampled hotter until its curve is as diverse as seqgan's
        assert info["temperatures"][:3] == [0.7, 1.0, 1.5] and info["updates"] > 0
        assert not hotter if name.startswith("seqgan") else all(1.5 < t <= 4.0 for t in hotter)
        assert info["tokenize"] is None and info["schedule_finished"] and info["parameters"] > 0
        # the equal budget was spent, but for a step that would have ended past it (the run's plan refuses it)
        assert info["train_seconds"] >= 3.0 / 2, name
        records = [json.loads(line) for line in (cell / "eval" / "eval.jsonl").read_text().splitlines()]
        assert {r["temperature"] for r in records} == {0.7, 1.0, 1.5, *hotter}
        assert all({"bleu2", "self_bleu5", "nll_test", "reverse_lm_nll", "c2st_accuracy", "frechet_distance",
                    "mauve"} <= set(r) for r in records)
        assert len({r["features"] for r in records}) == 1  # one feature model for the whole setting

    report = (tmp_path / "docs" / "results.md").read_text()
    assert "| mle | 2 |" in report and "| seqgan | 2 |" in report
    assert "**seqgan**: no verdict: 2 complete seed(s) of it and 2 of MLE; 3 of each are needed." in report
    commands = report.split("```bash", 1)[1].split("```")[0].strip().splitlines()
    assert len(commands) == 1 and "--minutes 0.05" in commands[0]  # run twice, recorded once
    assert (tmp_path / "docs" / "img" / "results_tiny_bleu.png").stat().st_size > 10_000
    again = subprocess.run(_command(tmp_path), capture_output=True, text=True, env=env, timeout=300)
    assert "4 finished earlier, 0 to run" in again.stdout
    (tmp_path / "docs" / "results.md").unlink()
    rebuilt = subprocess.run(_command(tmp_path, "--report-only"), capture_output=True, text=True, env=env, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (tmp_path / "docs" / "results.md").read_text() == report  # from the run directories alone


def test_training_rows_read_the_start_end_and_best_nll_oracle_of_each_seed():
    history = [{"phase": "pretrain_g", "step": 0, "nll_oracle": 11.0, "elapsed_s": 6.0},
               {"phase": "pretrain_g", "step": 5, "nll_oracle": 9.0, "elapsed_s": 60.0},
               {"phase": "pretrain_d", "step": 6, "d_loss": 0.6, "elapsed_s": 66.0},
               {"phase": "adversarial", "step": 7, "nll_oracle": 8.5, "elapsed_s": 120.0},
               {"phase": "adversarial", "step": 8, "nll_oracle": 8.7, "elapsed_s": 180.0}]
    model = leaderboard.ModelResults("seqgan", [{}], {}, [history])
    assert leaderboard.training_rows([model]) == [["seqgan", 0, 9.0, 8.7, "8.5000 at 2.0 min", 2, "3.0"]]
    assert leaderboard.training_rows([leaderboard.ModelResults("mle", [{}], {}, [[{"step": 1, "val_nll": 7.0}]])]) == []


def test_equal_diversity_reads_mles_curve_at_the_models_self_bleu():
    def results(name: str, points: dict[float, dict[str, float]]) -> leaderboard.ModelResults:
        return leaderboard.ModelResults(name, [{}], {t: {k: [v] for k, v in m.items()} for t, m in points.items()})

    mle = results("mle", {0.5: {"self_bleu2": 0.8, "bleu2": 0.9}, 1.0: {"self_bleu2": 0.4, "bleu2": 0.5}})
    gan = results("gan", {1.0: {"self_bleu2": 0.6, "bleu2": 0.75}})
    off = results("off", {1.0: {"self_bleu2": 0.95, "bleu2": 0.99}})
    rows = leaderboard.equal_diversity_rows([mle, gan, off], mle)
    assert rows[0][:2] == ["gan", "0.750 / 0.700"]  # MLE halfway between its two temperatures
    assert rows[1][:2] == ["off", "0.990 / –"] and rows[0][-1] == "–"


def test_a_curve_that_turns_is_read_at_every_crossing():
    nll = [(8.7, 6.9), (7.9, 8.3), (7.6, 9.7), (7.7, 10.3)]  # NLL-test falls, then rises again
    assert leaderboard.crossings(nll, 7.65) == pytest.approx([8.3 + 1.4 * 5 / 6, 10.0])
    assert leaderboard.crossings(nll, 9.0) == []


def test_every_invocation_that_grows_the_grid_is_recorded_once(tmp_path):
    leaderboard.record_command(tmp_path, "python benchmarks/leaderboard.py --settings oracle")
    leaderboard.record_command(tmp_path, "python benchmarks/leaderboard.py --settings coco --models vae")
    leaderboard.record_command(tmp_path, "python benchmarks/leaderboard.py --settings oracle")  # a resume
    assert (tmp_path / "command.txt").read_text().splitlines() == [
        "python benchmarks/leaderboard.py --settings oracle",
        "python benchmarks/leaderboard.py --settings coco --models vae",
    ]


def _results(name: str, seeds: list[dict[float, dict[str, float]]], parameters: int = 100) -> leaderboard.ModelResults:
    """A model's results from per-seed {temperature: {metric: value}}."""
    by_temperature: dict[float, dict[str, list[float]]] = {}
    for seed in seeds:
        for t, metrics in seed.items():
            for key, value in metrics.items():
                by_temperature.setdefault(t, {}).setdefault(key, []).append(value)
    return leaderboard.ModelResults(name, [{"parameters": parameters}] * len(seeds), by_temperature)


def test_a_verdict_needs_three_seeds_and_a_margin_beyond_the_intervals():
    mle = [{0.5: {"self_bleu2": 0.8, "bleu2": 0.80 + e}, 1.0: {"self_bleu2": 0.4, "bleu2": 0.40 + e}}
           for e in (-0.01, 0.0, 0.01)]
    clear = _results("clear", [{1.0: {"self_bleu2": 0.6, "bleu2": 0.75 + e}} for e in (-0.01, 0.0, 0.01)])
    noisy = _results("noisy", [{1.0: {"self_bleu2": 0.6, "bleu2": 0.65 + e}} for e in (-0.2, 0.0, 0.2)])
    reference = _results("mle", mle)
    assert leaderboard.plane_verdicts(clear, reference, "self_bleu2", "bleu2", True, True) == [True]
    # its mean (0.65) beats MLE's 0.60 at Self-BLEU 0.6, but not by more than its interval over seeds
    assert leaderboard.plane_verdicts(noisy, reference, "self_bleu2", "bleu2", True, True) == [False]
    assert "beyond MLE's curve, by more than the intervals over seeds, on BLEU-2" in \
           leaderboard.dominance_line(clear, reference)
    two_seeds = _results("two", [{1.0: {"self_bleu2": 0.6, "bleu2": 0.75}}] * 2)
    assert "no verdict: 2 complete seed(s)" in leaderboard.dominance_line(two_seeds, reference)
    bigger = _results("bigger", [{1.0: {"self_bleu2": 0.6, "bleu2": 0.75}}] * 3, parameters=250)
    assert "(its generator has 250 parameters, MLE's 100)" in leaderboard.dominance_line(bigger, reference)
    assert leaderboard.half_width([1.0, 2.0, 3.0]) == pytest.approx(4.303 * 1.0 / 3 ** 0.5)


def test_points_more_diverse_than_mle_ask_for_a_hotter_mle():
    mle = _results("mle", [{1.0: {"self_bleu2": 0.4, "bleu2": 0.4}}])
    hot = _results("hot", [{1.0: {"self_bleu2": 0.3, "bleu2": 0.3}}])
    cool = _results("cool", [{1.0: {"self_bleu2": 0.5, "bleu2": 0.5}}])
    assert leaderboard.more_diverse_than_reference([mle, hot, cool])
    assert not leaderboard.more_diverse_than_reference([mle, cool])


def test_incomplete_cells_are_listed_and_never_averaged(tmp_path):
    def cell(seed: int, finished: bool, bleu: float, tokenize: str | None = None) -> None:
        folder = tmp_path / "tiny" / "gan" / f"seed{seed}"
        (folder / "eval").mkdir(parents=True)
        info = {"setting": "tiny", "model": "gan", "seed": seed, "minutes": 1, "updates": 5, "eval_seconds": 1.0,
                "train_seconds": 60.0 if finished else 36.0,
                "checkpoint": "step-1", "samples": 10, "eval_seed": 0, "schedule_finished": finished,
                "tokenize": tokenize}
        (folder / "leaderboard.json").write_text(json.dumps(info))
        record = {"checkpoint": "step-1", "n": 10, "seed": 0, "tokenize": tokenize, "temperature": 1.0, "bleu2": bleu}
        (folder / "eval" / "eval.jsonl").write_text(json.dumps(record) + "\n")

    cell(0, True, 0.5)
    cell(1, False, 0.9)  # killed mid-training: its figure must not enter the mean
    (tmp_path / "tiny" / "gan" / "seed2").mkdir()  # failed before any evaluation
    (model,) = leaderboard.collect(tmp_path, "tiny")
    assert model.mean(1.0, "bleu2") == 0.5 and len(model.cells) == 1
    assert [line.split(":")[0] for line in model.incomplete] == ["tiny/gan/seed1", "tiny/gan/seed2"]
    assert "training stopped after 0.6 of 1 min" in model.incomplete[0]
    section = leaderboard.setting_section("tiny", [model], tmp_path / "img", tmp_path / "results.md")
    assert "- tiny/gan/seed1: training stopped" in section and "- tiny/gan/seed2: not finished" in section


def test_coco_cells_are_scored_on_nltk_tokens_and_published_self_bleu_says_its_sample_count():
    assert leaderboard.SETTINGS["coco"].eval_tokenize == "nltk"
    assert leaderboard.SETTINGS["oracle"].eval_tokenize is None
    mle = leaderboard.ModelResults("mle", [{"samples": 2000, "minutes": 1, "updates": 1, "train_seconds": 1.0,
                                            "eval_seconds": 1.0, "parameters": 10}],
                                   {1.0: {"bleu2": [0.7], "self_bleu2": [0.8]}})
    section = leaderboard.setting_section("coco", [mle], Path("/nonexistent/img"), Path("/nonexistent/results.md"))
    assert "`nltk` tokens of every cell's decoded text" in section
    assert "Its Self-BLEU scores 9,984 samples against each other, ours 2,000" in section


def test_leaderboard_marks_cells_that_are_their_mle_start(tmp_path: Path):
    from textgan.provenance import OwnPhase

    lb = leaderboard
    start, rounds = OwnPhase("adversarial", "rounds", 0), OwnPhase("adversarial", "rounds", 5)
    mle = lb.ModelResults("mle", [{"seed": 0, "weights_digest": "x"}], {}, phases=[None])
    seqgan = lb.ModelResults("seqgan", [{"seed": 0, "weights_digest": "x"}, {"seed": 1, "weights_digest": "y"}], {},
                             phases=[start, rounds])
    assert seqgan.label == "seqgan [MLE start in 1 of 2 seeds: 0 adversarial rounds]" and mle.label == "mle"
    lines = lb.provenance_warnings([mle, seqgan])
    assert lines[0].startswith("seqgan seed 0 took no adversarial step")
    assert lines[1].startswith("mle seed 0 and seqgan seed 0 hold identical generator weights")
    assert lb.phase_fields(rounds) == {"own_phase": ["adversarial", "rounds", 5]}
    assert lb.cell_phase({"own_phase": ["adversarial", "rounds", 5]}, tmp_path) == rounds
    assert lb.phase_fields(None) == {"own_phase": None}
