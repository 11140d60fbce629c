"""Peak memory of preparing a corpus of ordinary lines with one huge line among them.

Writes --lines short sentences (seeded) with one line of --megabytes characters in the middle,
prepares it in memory with the char tokenizer (read, split, tokenizer trained, rows encoded),
and prints the process's peak resident memory before and after. The huge line is dropped for
its length either way; only a window of it should be tokenised. Usage:
    python benchmarks/long_line_memory.py --workdir /tmp/textgan-long-line --max-length 64
"""

from __future__ import annotations

import argparse
import random
import resource
from pathlib import Path

from textgan.config import load_config
from textgan.data import prepare_data

WORDS = "the a of to and in is it you that he was for on are with as his they be at one have".split()


def write_corpus(path: Path, lines: int, megabytes: float, seed: int) -> None:
    """Short seeded sentences with one line of `megabytes` MiB of one character in the middle."""
    rng = random.Random(seed)
    text = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 8))) for _ in range(lines)]
    text.insert(lines // 2, "x" * int(megabytes * 2**20))
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def peak_gb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--max-length", default="64", help="tokenizer.max_length (a number or auto)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / "corpus.txt"
    write_corpus(corpus, args.lines, args.megabytes, args.seed)
    before = peak_gb()
    data = prepare_data(load_config(None, [f"data.corpus={corpus}", "tokenizer.kind=char", "data.memory_map=never",
                                           f"tokenizer.max_length={args.max_length}"]))
    dropped = data.train.dropped + data.validation.dropped + data.test.dropped
    print(f"peak resident memory: {before:.2f} GB before preparing, {peak_gb():.2f} GB after; "
          f"rows {len(data.train)} train of width {data.train.tokens.shape[1]}, {dropped} dropped")


if __name__ == "__main__":
    main()
