"""benchmarks/gpu_smoke.sh: its checks catch disagreeing numbers, a failed run fails the script
after every check was tried, and its dry run on the CPU (--device cpu --quick) trains for real."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_smoke.sh"
spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "benchmarks" / "gpu_smoke.py")
gpu_smoke = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_smoke)

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def smoke(out: Path, *args: str) -> subprocess.CompletedProcess:
    """The script on the CPU, quick, with this interpreter."""
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(SCRIPT), "--device", "cpu", "--quick", *args, str(out)],
                          env=env, capture_output=True, text=True, timeout=600)


def test_records_compare_within_a_tolerance_step_by_step():
    a = [{"step": 1, "phase": "mle", "val_nll": 5.0, "elapsed_s": 1.0}, {"step": 2, "phase": "mle", "val_nll": 4.0}]
    b = [{"step": 1, "phase": "mle", "val_nll": 5.04, "elapsed_s": 9.0}, {"step": 2, "phase": "mle", "val_nll": 4.0}]
    assert gpu_smoke.compare_records(a, b, 1e-2) is None  # wall-clock numbers are not compared
    assert "val_nll: 5.0 against 5.04" in gpu_smoke.compare_records(a, b, 1e-3)
    assert "records against" in gpu_smoke.compare_records(a, b[:1], 1e-2)
    assert gpu_smoke.compare_records(a, [{**b[0], "phase": "adversarial"}, b[1]], 1e-2).startswith("step/phase")
    assert gpu_smoke.compare_records(a, b, 0.0, phases=lambda r: r["step"] == 2) is None
    nan = [{"step": 1, "phase": "mle", "val_nll": float("nan")}]
    assert gpu_smoke.compare_records(nan, nan, 1.0) is not None  # NaN never agrees


def test_outcomes_are_the_last_val_nll_and_nll_oracle():  # (or the VAE's bound, the GAN's BLEU-2)
    a = [{"step": 1, "nll_oracle": 9.0, "val_nll": 3.0}, {"step": 2, "val_nll": 2.0}]
    assert gpu_smoke.outcome(a) == {"nll_oracle": 9.0, "val_nll": 2.0}
    assert gpu_smoke.compare_outcomes(a, [{"step": 5, "nll_oracle": 9.5, "val_nll": 2.1}], 0.15) is None
    assert "nll_oracle 9 against 12" in gpu_smoke.compare_outcomes(a, [{"nll_oracle": 12.0, "val_nll": 2.0}], 0.15)
    assert gpu_smoke.compare_outcomes(a, [{"val_nll": 2.0}], 0.15).startswith("outcomes")


def test_every_trainer_and_precision_is_planned():
    assert set(gpu_smoke.TRAINERS) >= {"mle", "mle_transformer", "seqgan", "maligan", "rankgan", "leakgan",
                                       "gumbel_rmc", "cot", "gan", "vae"}
    assert "model.kind=relational_memory" in gpu_smoke.TRAINERS["gumbel_rmc"]


@needs_bash
def test_a_cpu_dry_run_trains_compares_and_resumes(tmp_path: Path):
    result = smoke(tmp_path / "out", "--only", "mle-[fr][pe][3s]*")  # mle-fp32 and mle-resume
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mle-fp32" in result.stdout and "mle-resume" in result.stdout and "all 2 checks passed" in result.stdout
    assert (tmp_path / "out" / "mle-cpu" / "metrics.jsonl").is_file()  # the CPU reference it compared with


@needs_bash
def test_a_failed_run_fails_the_script_naming_it(tmp_path: Path):
    result = smoke(tmp_path / "out", "--only", "[mv][la]e-fp16")  # mle-fp16, vae-fp16: fp16 needs a GPU
    assert result.returncode == 1
    assert "2 of 2 checks FAILED: mle-fp16 vae-fp16" in result.stderr
    assert "fp16 needs a GPU" in (tmp_path / "out" / "vae-fp16.log").read_text()


@needs_bash
def test_bad_arguments_exit_2(tmp_path: Path):
    assert smoke(tmp_path, "--bogus").returncode == 2
