"""The plan of a staged run (training/plan.py), its budget, the honest end, and reports that mark
a GAN run without a step of its own phase (textgan/provenance.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from textgan import api
from textgan.cli import main
from textgan.evaluate import compare_runs
from textgan.progress import LineProgress
from textgan.provenance import OwnPhase, marked_label, own_phase, warnings_for, weights_digest
from textgan.training.plan import Budget, PhasePlan, PhaseSpec, Plan, describe, pretraining_shares, water_fill
from textgan.training.staged import SamplingTrainer
from conftest import tiny_config
from test_policy_gradient import records, tiny_seqgan_config

STAGED = {"gumbel.adversarial_steps": 2, "gumbel.d_steps": 1, "gumbel.eval_every": 1, "gumbel.nll_oracle_samples": 32,
          "cot.steps": 2, "cot.pretrain_epochs": 1, "cot.eval_every": 1, "cot.nll_oracle_samples": 32}


def weights(run: Path) -> dict[str, torch.Tensor]:
    return api.load(run, prefer="latest").generator.state_dict()


@pytest.mark.parametrize("trainer", ["seqgan", "gumbel", "cot"])
def test_measuring_the_plan_leaves_the_run_exactly_as_without(tmp_path: Path, monkeypatch, trainer: str):
    cfg = {"train.trainer": trainer, **STAGED}
    api.train(tiny_seqgan_config(**cfg), tmp_path / "planned")
    monkeypatch.setattr(SamplingTrainer, "plan_run", lambda self: None)
    api.train(tiny_seqgan_config(**cfg), tmp_path / "unplanned")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(records(tmp_path / "planned")) == strip(records(tmp_path / "unplanned"))
    planned, unplanned = weights(tmp_path / "planned"), weights(tmp_path / "unplanned")
    assert all(torch.equal(planned[k], unplanned[k]) for k in planned)


def test_a_measured_step_with_a_non_finite_loss_does_not_stop_the_run(tmp_path: Path, monkeypatch):
    from textgan.training.gan_objectives import OBJECTIVES, Objective

    calls = {"n": 0}

    def poisoned_g_loss(fake, real=None):  # the 2nd generator update measured for the plan only
        calls["n"] += 1
        loss = OBJECTIVES["hinge"].g_loss(fake, real)
        return loss * float("nan") if calls["n"] == 2 else loss

    poisoned = Objective("hinge", OBJECTIVES["hinge"].d_loss, poisoned_g_loss, False, False, 0.0)
    monkeypatch.setattr("textgan.training.gumbel.get_objective", lambda name: poisoned)
    api.train(tiny_seqgan_config(**{"train.trainer": "gumbel", **STAGED}), tmp_path / "run")
    # the measurement stopped at its 2nd update, then the 2 adversarial steps trained
    assert calls["n"] == 4 and api.load(tmp_path / "run", prefer="latest").state["finished"]


def test_the_plan_is_said_before_training_one_line_per_phase(tmp_path: Path, capsys):
    api.train(tiny_seqgan_config(**{"train.time_limit_minutes": 30}), tmp_path / "run")
    err = capsys.readouterr().err
    plan = err[: err.index("MLE epoch 1/")].splitlines()
    assert plan[0].startswith("plan of this seqgan run (budget train.time_limit_minutes=30")
    assert "pretraining at most train.pretrain_time_fraction=0.3" in plan[0]
    assert [line.split(":")[0].strip() for line in plan[1:]] == ["MLE pretraining", "D pretraining", "SeqGAN adversarial"]
    assert plan[1].startswith("  MLE pretraining: 2 epochs (train.epochs): ~") and plan[1].endswith("fits the budget")


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path, txt_corpus: Path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--corpus", str(txt_corpus), "--tokenizer", "word", "--trainer", "seqgan", "--out", str(out),
                 "--dry-run", "--set", "train.time_limit_minutes=0.05", "--set", "seqgan.d_samples=64",
                 "--set", "seqgan.pretrain_d_steps=1000",
                 "--set", "discriminator.filter_sizes=[2,3]", "--set", "discriminator.num_filters=[4,4]"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0 and not out.exists()
    assert printed[0].startswith("plan of this seqgan run") and len(printed) >= 4
    # D's 1,000 updates never fit 0.9 s: its share cuts them (or, on a machine slow enough that MLE's one
    # guaranteed epoch takes the whole share, the time limit does)
    (d_line,) = [line for line in printed[1:3] if line.startswith("  D pretraining")]
    assert "its share of the budget cuts it to" in d_line or "the time limit ends it after" in d_line, printed


def test_dry_run_of_mle_says_it_has_one_phase(tmp_path: Path, txt_corpus: Path, capsys):
    assert main(["train", "--corpus", str(txt_corpus), "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("plan of this mle run: one phase, 10 epochs")
    assert not (tmp_path / "run").exists()


def test_water_fill_shares_equally_and_passes_on_what_a_phase_does_not_need():
    assert water_fill([10.0, 100.0], 60.0) == [10.0, 50.0]
    assert water_fill([100.0, 100.0], 60.0) == [30.0, 30.0]
    assert water_fill([5.0, 5.0], 60.0) == [5.0, 5.0]
    assert water_fill([5.0], -1.0) == [0.0]
    # a D update longer than all of pretraining's time gets none: MLE has it all
    assert pretraining_shares([(30, 47.0, 0), (50, 741.0, 0)], 126.0) == [126.0, 0.0]
    # MLE's one epoch comes first, even past the share: nothing is left for D
    assert pretraining_shares([(30, 137.0, 1), (50, 124.0, 0)], 126.0) == [137.0, 0.0]
    assert pretraining_shares([(30, 10.0, 1), (50, 20.0, 0)], 60.0) == [35.0, 25.0]


def test_a_plan_that_cannot_reach_the_own_phase_says_why():
    plan = fake_plan(limit=420.0, fraction=0.3)
    plan.phases[0].planned, plan.phases[2].cut = 2, "limit"
    plan.phases[2].spec.detail = "1 policy-gradient update and 5 D updates"
    lines = describe(plan, "seqgan")
    assert lines[-1] == ("  the budget cannot reach the adversarial phase: pretraining takes ~20s of it and one "
                         "adversarial round ~30s (1 policy-gradient update and 5 D updates); raise "
                         "train.time_limit_minutes to at least 0.9, or make a round cheaper")
    assert lines[3].endswith("~30s each, ~1h40m in all; the budget reaches none")


def fake_plan(limit: float, fraction: float) -> Plan:
    specs = [PhaseSpec("pretrain_g", "MLE pretraining", "epochs", 30, 0, "train.epochs", lambda: 0.0, at_least=1),
             PhaseSpec("pretrain_d", "D pretraining", "updates", 50, 0, "seqgan.pretrain_d_steps", lambda: 0.0),
             PhaseSpec("adversarial", "adversarial", "rounds", 200, 0, "seqgan.adversarial_rounds", lambda: 0.0, own=True)]
    return Plan([PhasePlan(specs[0], 10.0, 0), PhasePlan(specs[1], 20.0, 0), PhasePlan(specs[2], 30.0, 0)],
                limit, fraction)


def test_the_budget_shares_pretraining_and_refuses_units_that_would_overrun():
    now = [0.0]
    budget = Budget(fake_plan(limit=300.0, fraction=0.4), lambda: now[0])  # 120 s of pretraining, 60 s each
    epochs = 0
    while budget.allows("pretrain_g", epochs):
        now[0] += 10.0
        epochs += 1
    assert epochs == 6 and budget.cut["pretrain_g"] == (6, 30)
    updates = 0
    while budget.allows("pretrain_d", updates):
        now[0] += 20.0
        updates += 1
    assert updates == 3 and now[0] == 120.0
    rounds = 0
    while budget.allows("adversarial", rounds):
        now[0] += 30.0
        rounds += 1
    assert rounds == 6 and now[0] == 300.0


def test_mle_pretraining_runs_one_epoch_even_past_its_share():
    now = [0.0]
    budget = Budget(fake_plan(limit=10.0, fraction=0.1), lambda: now[0])
    assert budget.allows("pretrain_g", 0)
    now[0] = 10.0
    assert not budget.allows("pretrain_g", 1)
    assert not budget.allows("pretrain_d", 0)


def test_time_limit_in_d_pretraining_ends_with_an_honest_line(tmp_path: Path, capsys):
    cfg = tiny_seqgan_config(**{"train.time_limit_minutes": 0.02, "train.pretrain_time_fraction": 0,
                                "seqgan.pretrain_d_steps": 100_000, "train.epochs": 1})
    result = api.train(cfg, tmp_path / "run")
    # the limit falls in D pretraining, or its next update is refused and the first round too
    assert re.match(r"the time limit ended the run (in D pretraining|before its first adversarial round \(the budget "
                    r"cut D pretraining at \d+ of 100000 updates\)): no adversarial round was taken; the checkpoint "
                    r"is the MLE model; raise train.time_limit_minutes \(now 0.02\)", result.note), result.note
    assert result.note.endswith("textgan train --dry-run prints what a setting reaches")


def test_a_schedule_without_adversarial_rounds_says_so_and_the_cli_ends_with_it(tmp_path: Path, txt_corpus: Path, capsys):
    code = main(["train", "--corpus", str(txt_corpus), "--tokenizer", "word", "--trainer", "seqgan", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--set", "seqgan.adversarial_rounds=0", "--set", "seqgan.d_samples=32",
                 "--set", "seqgan.pretrain_d_steps=1", "--set", "discriminator.filter_sizes=[2,3]",
                 "--set", "discriminator.num_filters=[4,4]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0
    assert err[-1].startswith("textgan: the schedule ended the run before its first adversarial round: no adversarial "
                              "round was taken; the checkpoint is the MLE model; raise seqgan.adversarial_rounds (now 0)")
    assert own_phase(api.load(tmp_path / "run").state) == OwnPhase("adversarial", "rounds", 0)


def test_a_finished_gan_run_has_no_ending_note_and_records_its_rounds(tmp_path: Path):
    result = api.train(tiny_seqgan_config(), tmp_path / "run")
    assert result.note is None
    assert own_phase(api.load(tmp_path / "run").state) == OwnPhase("adversarial", "rounds", 2)


def test_own_phase_of_checkpoints_written_before_it_was_recorded():
    assert own_phase({"trainer": "gumbel", "extra": {"phase_steps": 7}}) == OwnPhase("adversarial", "steps", 7)
    assert own_phase({"trainer": "leakgan", "extra": {"round": 0}}) == OwnPhase("adversarial", "rounds", 0)
    assert own_phase({"trainer": "mle", "extra": {}}) is None


def test_warnings_mark_an_mle_start_and_identical_weights():
    start = OwnPhase("adversarial", "rounds", 0)
    assert marked_label("seqgan-lstm", start) == "seqgan-lstm [MLE start: 0 adversarial rounds]"
    assert marked_label("seqgan-lstm", OwnPhase("adversarial", "rounds", 3)) == "seqgan-lstm"
    lines = warnings_for(["mle-lstm", "seqgan-lstm", "cot-lstm"], [None, start, OwnPhase("cooperative", "steps", 4)],
                         ["abc", "abc", "def"])
    assert len(lines) == 2 and lines[0].startswith("seqgan-lstm took no adversarial step")
    assert lines[1].startswith("mle-lstm and seqgan-lstm hold identical generator weights")


def test_compare_marks_a_gan_without_rounds_and_flags_identical_weights(tmp_path: Path, txt_corpus: Path):
    common = {"discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [4, 4], "seqgan.d_samples": 32,
              "seqgan.pretrain_d_steps": 1, "data.test_fraction": 0.2, "train.patience": 0}
    api.train(tiny_config(txt_corpus, **common, **{"train.epochs": 1}), tmp_path / "mle")
    api.train(tiny_config(txt_corpus, **common, **{"train.trainer": "seqgan", "train.epochs": 1,
                                                   "seqgan.adversarial_rounds": 0}), tmp_path / "seqgan")
    shutil.copytree(tmp_path / "mle", tmp_path / "mle-copy")
    report = compare_runs([str(tmp_path / p) for p in ("mle", "seqgan", "mle-copy")], tmp_path / "report", [1.0],
                          20, 0, 2, "cpu").read_text(encoding="utf-8")
    assert "seqgan-lstm [MLE start: 0 adversarial rounds]" in report
    assert "| 0 adversarial rounds |" in report
    assert "took no adversarial step: its evaluated checkpoint is the MLE model it started from" in report
    # the case: the GAN's MLE start is the MLE run itself (same seed, same data)
    assert ("hold identical generator weights in their evaluated checkpoints: their rows are one model scored "
            "three times") in report and report.count("identical generator weights") == 1
    assert len({weights_digest(api.load(tmp_path / p).path) for p in ("mle", "seqgan", "mle-copy")}) == 1


def test_progress_lines_show_an_eta_from_the_plan_until_their_own_pace_is_known(capsys):
    bar = LineProgress(None, total=4, initial=0, desc="D pretraining", unit="updates", line_every=1, seconds_each=90.0)
    bar._print()
    assert "ETA 6m00s" in capsys.readouterr().err
    bar.started -= 2.0  # one update in 2 s: three more take 6 s
    bar.update()
    assert re.search(r"ETA 6\.\ds", capsys.readouterr().err)
