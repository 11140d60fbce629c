"""Big corpora: tokenisation throughput and peak memory while training on a generated corpus.

Generates a text corpus of --gigabytes (synthetic English-like sentences, seeded), tokenises it
once through the memory-mapped path (Arrow via `datasets`, one tokenising process per core,
cached), then, in a fresh process, loads the cached rows and trains an LSTM for --steps steps.
Prints lines/s of tokenisation and each phase's peak resident memory (process and children,
proportional set size), anonymous and file-backed apart (target while training: under 3 GB). Usage:
    python benchmarks/big_corpus.py --gigabytes 2 --workdir /tmp/textgan-big
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from textgan import api
from textgan.checkpoint import seed_everything
from textgan.config import load_config
from textgan.models import build_generator
from textgan.training.base import epoch_order, global_batches
from textgan.training.mle import MLEStepper
from textgan.training.runtime import Runtime

WORDS = ("the a of to and in is was for on that with as by at from his her an were are which this be "
         "been has had its not but they their said one will who would new more after also two first year "
         "city people world state time government over into than other some could many most only them when "
         "market house police week report night season team game home school water money music film").split()


def write_corpus(path: Path, gigabytes: float, seed: int) -> int:
    """Write seeded sentences until the file reaches the size; returns the line count."""
    rng = random.Random(seed)
    target = int(gigabytes * 2**30)
    lines = written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            block = "".join(" ".join(rng.choices(WORDS, k=rng.randint(5, 18))) + " .\n" for _ in range(20000))
            handle.write(block)
            written += len(block)
            lines += 20000
    return lines


class MemoryWatch:
    """Peak resident memory of this process and its children, sampled every 0.1 s, as
    proportional set size (a page shared by k processes counts 1/k to each, so forked workers
    are not counted twice), split into anonymous memory (heap: what must fit in RAM) and
    file-backed pages (memory-mapped corpus and token files: the kernel drops them under
    pressure)."""

    def __init__(self) -> None:
        self.peak = {"total": 0, "anonymous": 0, "file": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pids() -> list[int]:
        pids, queue = [], [os.getpid()]
        while queue:
            pid = queue.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                queue += [int(child) for child in task.read_text().split()]
        return pids

    def sample(self) -> None:
        anonymous = file = 0
        for pid in self._pids():
            try:
                lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            except (FileNotFoundError, ProcessLookupError):
                continue
            kb = {name: int(value.split()[0]) * 1024 for name, value in (line.split(":", 1) for line in lines)}
            anonymous += kb.get("Pss_Anon", 0)
            file += kb.get("Pss_File", 0) + kb.get("Pss_Shmem", 0)
        for key, value in (("total", anonymous + file), ("anonymous", anonymous), ("file", file)):
            self.peak[key] = max(self.peak[key], value)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def report(self) -> str:
        gb = {key: value / 2**30 for key, value in self.peak.items()}
        return (f"peak resident {gb['total']:.2f} GB (each at its own moment: peak anonymous {gb['anonymous']:.2f} GB, "
                f"peak file-backed {gb['file']:.2f} GB)")


def config(work: Path, corpus: Path, steps: int):
    return load_config(None, [
        f"data.corpus={corpus}", "data.memory_map=always", f"data.cache_dir={work / 'cache'}",
        "data.validation_fraction=0.0005", "data.test_fraction=0.0005",
        "tokenizer.kind=word", "tokenizer.max_length=24", "tokenizer.training_examples=200000",
        "model.embedding_dim=32", "model.hidden_dim=32", "train.epochs=1", "train.batch_size=64",
        f"train.checkpoint_every_steps={steps}", "train.device=cpu", "sample.num_samples=3",
    ])


def train_from_cache(work: Path, steps: int) -> None:
    """The training phase on its own (a fresh process): load the cached rows, take MLE steps."""
    with MemoryWatch() as watch:
        start = time.perf_counter()
        data = api.build_data(config(work, work / "corpus.txt", steps))
        loaded = time.perf_counter() - start
        seed_everything(0)
        tok = data.tokenizer
        generator = build_generator(config(work, work / "corpus.txt", steps).model, tok.vocab_size, 24,
                                    tok.bos_id, tok.eos_id, tok.pad_id)
        stepper = MLEStepper(generator, Runtime(torch.device("cpu")), 0.01, 0.0, 5.0)
        start = time.perf_counter()
        for step, rows_batch in enumerate(global_batches(epoch_order(len(data.train), 0, 0), 64)):
            if step == steps:
                break
            stepper.step(data.train, rows_batch)
        seconds = time.perf_counter() - start
    print(f"training process: cached data loaded in {loaded:.1f} s; {steps} steps (batch 64, rows drawn at random "
          f"from {len(data.train):,}) in {seconds:.0f} s; {watch.report()} (target < 3 GB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--workdir", default="/tmp/textgan-big")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--num-proc", type=int, default=0, help="tokenising processes (0: one per core)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and cache afterwards")
    parser.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    work = Path(args.workdir)
    if args.train_only:
        train_from_cache(work, args.steps)
        return
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    start = time.perf_counter()
    lines = write_corpus(corpus, args.gigabytes, seed=0)
    print(f"corpus: {corpus.stat().st_size / 2**30:.2f} GB, {lines:,} lines, written in {time.perf_counter() - start:.0f} s",
          flush=True)

    cfg = config(work, corpus, args.steps)
    cfg.data.num_proc = args.num_proc
    with MemoryWatch() as watch:
        start = time.perf_counter()
        data = api.build_data(cfg)
        seconds = time.perf_counter() - start
    rows = len(data.train) + len(data.validation) + len(data.test)
    print(f"tokenisation (split, tokenizer training on 200k lines, {cfg.data.num_proc or os.cpu_count()} processes, "
          f"write rows): {seconds:.0f} s, {lines / seconds:,.0f} lines/s; {rows:,} rows kept; {watch.report()}",
          flush=True)
    del data
    subprocess.run([sys.executable, __file__, "--train-only", "--workdir", str(work), "--steps", str(args.steps)],
                   check=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
