"""benchmarks/gpu_smoke.sh runs every trainer and fails when any of them fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_smoke.sh"
RUNS = ("mle-lstm-bf16", "mle-lstm-fp16", "mle-transformer-bf16", "seqgan-oracle-bf16",
        "gan-wgan-gp-bf16", "vae-bf16", "gan-wgan-gp-fp16", "vae-fp16")

# Stands in for `textgan`: writes a one-line metrics.jsonl, or fails for fp16 runs.
FAKE_TEXTGAN = """
import json, pathlib, sys
args = sys.argv[1:]
if "fp16" in args:
    sys.exit("fp16: refused")
out = pathlib.Path(args[args.index("--out") + 1])
out.mkdir(parents=True)
(out / "metrics.jsonl").write_text(json.dumps({"step": 3}) + "\\n")
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def smoke(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the script with the fake launcher on CPU."""
    fake = tmp_path / "fake_textgan.py"
    fake.write_text(FAKE_TEXTGAN)
    env = {**os.environ, "LAUNCH": f"{sys.executable} {fake}"}
    return subprocess.run(["bash", str(SCRIPT), "--device", "cpu", *args, str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_failed_run_fails_the_script_after_every_run_was_tried(tmp_path: Path):
    result = smoke(tmp_path)
    assert result.returncode == 1
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.log")) == sorted(RUNS)
    assert "3 of 8 runs FAILED: mle-lstm-fp16 gan-wgan-gp-fp16 vae-fp16" in result.stderr
    assert result.stdout.count("3 steps in") == 5


def test_all_runs_passing_exits_zero(tmp_path: Path):
    result = smoke(tmp_path, "--only", "*-bf16")
    assert result.returncode == 0, result.stderr
    assert "all 5 runs passed" in result.stdout


def test_bad_arguments_exit_2(tmp_path: Path):
    assert smoke(tmp_path, "--bogus").returncode == 2
