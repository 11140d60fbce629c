"""Two processes (torchrun, gloo on CPU) give the same losses and weights as one process, for
every trainer: MLE, SeqGAN, MaliGAN, RankGAN and LeakGAN (rollouts and D scoring split), the continuous
GANs, the VAE, the relaxed-sampling GANs, CoT, ScratchGAN and GAD."""

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
from distributed_runs import RESUMED, runs  # noqa: E402

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
    names = {"one": NAMES, "two": [*NAMES, *RESUMED]}
    for name, command in launches.items():
        done = subprocess.run([*command, str(root / name), str(corpus), *names[name]], env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-4 * max(1.0, abs(a))
    return a == b


def assert_same_run(first: Path, second: Path) -> None:
    """Same metrics.jsonl records (to float tolerance), final weights of every module, samples."""
    one, two = records(first), records(second)
    assert [(r["step"], r["phase"]) for r in one] == [(r["step"], r["phase"]) for r in two]
    assert len(one) >= 2
    for a, b in zip(one, two):
        assert a.keys() == b.keys(), (a, b)
        for key in a.keys() - IGNORED:
            assert close(a[key], b[key]), (a["step"], a["phase"], key, a[key], b[key])
    latest = lambda run: run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    files = sorted(p.name for p in latest(first).glob("*.safetensors"))
    assert files == sorted(p.name for p in latest(second).glob("*.safetensors")) and "model.safetensors" in files
    for file in files:  # the generator, and the discriminator / rollout network where there is one
        w1, w2 = load_file(str(latest(first) / file)), load_file(str(latest(second) / file))
        assert w1.keys() == w2.keys()
        for key in w1:
            assert torch.allclose(w1[key].float(), w2[key].float(), atol=1e-5), (file, key)
    assert (second / "samples" / "final.txt").read_text() == (first / "samples" / "final.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_two_processes_match_one(both: Path, name: str):
    assert_same_run(both / "one" / name, both / "two" / name)


@pytest.mark.parametrize("name", list(RESUMED))
def test_resumed_on_two_processes_matches_one_uninterrupted(both: Path, name: str):
    """Every process restores its own random streams and the shared ones: the resumed run ends
    like the uninterrupted one (itself equal to one process)."""
    assert_same_run(both / "one" / RESUMED[name][0], both / "two" / name)


def test_batch_smaller_than_the_processes_is_refused(tmp_path):
    """Every process needs rows of each global batch."""
    from textgan import api
    from textgan.checkpoint import RunDirectory
    from textgan.errors import ConfigError
    from textgan.models import build_generator
    from textgan.training import TRAINERS
    from textgan.training.runtime import Runtime

    from conftest import tiny_config

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(tiny_lines(40)) + "\n", encoding="utf-8")
    cfg = tiny_config(corpus, **{"train.batch_size": 1})
    data = api.build_data(cfg)
    generator = build_generator(cfg.model, data.tokenizer.vocab_size, data.train.tokens.shape[1],
                                    data.tokenizer.bos_id, data.tokenizer.eos_id, data.tokenizer.pad_id)
    two_processes = Runtime(torch.device("cpu"), rank=0, world_size=2)
    with pytest.raises(ConfigError, match="train.batch_size=1 is the global batch, split over 2 processes; "
                                          "raise it to at least 2"):
        TRAINERS["mle"](cfg, RunDirectory(tmp_path / "run"), two_processes, data, generator)
