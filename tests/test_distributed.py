"""Two processes (torchrun, gloo on CPU) give the same losses and weights as one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from textgan import api

from conftest import tiny_lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(tiny_lines(200)) + "\n", encoding="utf-8")
    args = ["train", "--corpus", str(corpus), "--tokenizer", "word", "--epochs", "2", "--device", "cpu",
            "--set", "train.batch_size=16", "--set", "model.hidden_dim=16", "--set", "model.embedding_dim=16"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "textgan", *args, "--out", str(tmp_path / "one")],
                   check=True, env=env, capture_output=True)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "textgan", *args, "--out", str(tmp_path / "two")],
                   check=True, env=env, capture_output=True)

    def records(run: str) -> list[dict]:
        return [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    one, two = records("one"), records("two")
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two):
        for key in ("train_nll", "val_nll"):
            assert abs(a[key] - b[key]) < 1e-5, (key, a[key], b[key])
    weights = lambda run: load_file(str(api.load(tmp_path / run, prefer="latest").path / "model.safetensors"))
    w1, w2 = weights("one"), weights("two")
    assert w1.keys() == w2.keys()
    for name in w1:
        assert torch.allclose(w1[name], w2[name], atol=1e-5), name
