"""Big corpora: tokenisation throughput and peak memory while training on a generated corpus.

Generates a text corpus of --gigabytes (synthetic English-like sentences, seeded), tokenises it
once through the memory-mapped path (Arrow via `datasets`, the Rust tokenizer on every core,
cached), then trains an LSTM for
--steps steps on it, and prints lines/s of tokenisation and the peak resident memory of the whole
process (target: under 3 GB). Usage:
    python benchmarks/big_corpus.py --gigabytes 2 --workdir /tmp/textgan-big
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
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


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--workdir", default="/tmp/textgan-big")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the corpus and cache afterwards")
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    start = time.perf_counter()
    lines = write_corpus(corpus, args.gigabytes, seed=0)
    print(f"corpus: {corpus.stat().st_size / 2**30:.2f} GB, {lines:,} lines, written in {time.perf_counter() - start:.0f} s")

    cfg = load_config(None, [
        f"data.corpus={corpus}", "data.memory_map=always", f"data.cache_dir={work / 'cache'}",
"data.validation_fraction=0.0005", "data.test_fraction=0.0005",
        "tokenizer.kind=word", "tokenizer.max_length=24", "tokenizer.training_examples=200000",
        "model.embedding_dim=32", "model.hidden_dim=32", "train.epochs=1", "train.batch_size=64",
        f"train.checkpoint_every_steps={args.steps}", "train.device=cpu", "sample.num_samples=3",
    ])
    start = time.perf_counter()
    data = api.build_data(cfg)
    seconds = time.perf_counter() - start
    rows = len(data.train) + len(data.validation) + len(data.test)
    print(f"tokenisation (split, tokenizer training on 200k lines, {torch.get_num_threads()} cores, write memory-mapped rows): "
          f"{seconds:.0f} s, {lines / seconds:,.0f} lines/s; {rows:,} rows kept; peak RSS so far {peak_rss_gb():.2f} GB")

    start = time.perf_counter()
    data = api.build_data(cfg)
    print(f"second load (cached): {time.perf_counter() - start:.1f} s")

    seed_everything(0)
    tok = data.tokenizer
    generator = build_generator(cfg.model, tok.vocab_size, cfg.tokenizer.max_length, tok.bos_id, tok.eos_id, tok.pad_id)
    stepper = MLEStepper(generator, Runtime(torch.device("cpu")), 0.01, 0.0, 5.0)

    start = time.perf_counter()
    for step, rows_batch in enumerate(global_batches(epoch_order(len(data.train), 0, 0), 64)):
        if step == args.steps:
            break
        stepper.step(data.train, rows_batch)
    print(f"training: {args.steps} steps (batch 64, rows drawn at random from {len(data.train):,}) in "
          f"{time.perf_counter() - start:.0f} s")
    print(f"peak RSS of the whole run: {peak_rss_gb():.2f} GB (target < 3 GB)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
