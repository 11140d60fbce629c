"""Two processes (torchrun, gloo on CPU) give the same losses and weights as one process, for
every trainer: MLE, SeqGAN (rollouts and D scoring split), the continuous GANs and the VAE."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_lines

WORKER = Path(__file__).with_name("distributed_runs.py")
sys.path.insert(0, str(WORKER.parent))
from distributed_runs import runs  # noqa: E402

NAMES = list(runs("corpus"))
IGNORED = {"elapsed_s"}  # wall-clock seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Path:
    """Every run trained once in one process (one/) and once in two (two/)."""
    root = tmp_path_factory.mktemp("distributed")
    corpus = root / "c.txt"
    corpus.write_text("\n".join(tiny_lines(200)) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launches = {
        "one": [sys.executable, str(WORKER)],
        "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                "127.0.0.1", "--master_port", str(free_port()), str(WORKER)],
    }
    for name, command in launches.items():
        done = subprocess.run([*command, str(root / name), str(corpus)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-4 * max(1.0, abs(a))
    return a == b


@pytest.mark.parametrize("name", NAMES)
def test_two_processes_match_one(both: Path, name: str):
    one, two = records(both / "one" / name), records(both / "two" / name)
    assert [(r["step"], r["phase"]) for r in one] == [(r["step"], r["phase"]) for r in two]
    assert len(one) >= 2
    for a, b in zip(one, two):
        assert a.keys() == b.keys()
        for key in a.keys() - IGNORED:
            assert close(a[key], b[key]), (a["step"], a["phase"], key, a[key], b[key])
    latest = lambda run: both / run / name / "checkpoints" / (both / run / name / "checkpoints" / "latest").read_text().strip()
    files = sorted(p.name for p in latest("one").glob("*.safetensors"))
    assert files == sorted(p.name for p in latest("two").glob("*.safetensors")) and "model.safetensors" in files
    for file in files:  # the generator, and the discriminator / rollout network where there is one
        w1, w2 = load_file(str(latest("one") / file)), load_file(str(latest("two") / file))
        assert w1.keys() == w2.keys()
        for key in w1:
            assert torch.allclose(w1[key].float(), w2[key].float(), atol=1e-5), (file, key)
    assert (both / "two" / name / "samples" / "final.txt").read_text() == (both / "one" / name / "samples" / "final.txt").read_text()
