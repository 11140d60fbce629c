"""Reproduce Texygen's COCO BLEU / Self-BLEU table and time textgan's BLEU against nltk and fast-bleu.

For every file of texygen_samples/: BLEU-2..5 of all its lines against all of coco/test.txt and
Self-BLEU-2..5 over all its lines, tokenised with nltk's NLTKWordTokenizer (Texygen's protocol,
see docs/metrics.md). Prints our table beside Texygen's published one, checks our per-sentence
scores against nltk's sentence_bleu on a subset, and times, on the same tokens: textgan, nltk
(extrapolated from the subset) and fast-bleu (when installed: pip install fast-bleu).

    python benchmarks/bleu_speed.py            # data from benchmarks/data/ (see its README)
    python benchmarks/bleu_speed.py --process 3   # whole processes

`--process N` times whole processes instead, N rounds, alternating: `textgan evaluate` on the
seq.txt row (files read, nltk tokenisation, BLEU-2..5, Self-BLEU-2..5, JSON printed) against a
script doing the same with fast-bleu, and shows that the textgan process imports no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data"
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from textgan.metrics import bleu_multi_scores, self_bleu_multi_scores, tokenize_lines  # noqa: E402

FILES = ("seq", "maligan", "rank", "leakgan", "textgan", "mle")
MODEL = {
    "seq": "SeqGAN",
    "maligan": "MaliGAN",
    "rank": "RankGAN",
    "leakgan": "LeakGAN",
    "textgan": "TextGAN",
    "mle": "MLE",
}
ORDERS = (2, 3, 4, 5)
# Texygen's README (COCO, full sets), as copied in benchmarks/data/README.md.
PUBLISHED_BLEU = {
    "seq": (0.745, 0.498, 0.294, 0.180),
    "maligan": (0.673, 0.432, 0.257, 0.159),
    "rank": (0.743, 0.467, 0.264, 0.156),
    "leakgan": (0.746, 0.528, 0.355, 0.230),
    "textgan": (0.593, 0.463, 0.277, 0.207),
    "mle": (0.731, 0.497, 0.305, 0.189),
}
PUBLISHED_SELF_BLEU = {
    "seq": (0.950, 0.840, 0.670, 0.489),
    "maligan": (0.918, 0.781, 0.606, 0.437),
    "rank": (0.959, 0.882, 0.762, 0.618),
    "leakgan": (0.966, 0.913, 0.848, 0.780),
    "textgan": (0.942, 0.931, 0.804, 0.746),
    "mle": (0.916, 0.769, 0.583, 0.408),
}


def read_lines(path: Path) -> list[str]:
    """Lines of a text file, as Texygen iterates them (every line, empty ones included)."""
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def mean(xs: np.ndarray) -> float:
    """Plain mean of per-sentence scores."""
    return float(np.mean(xs))


def time_ours(hyps: list, refs: list, repeat: int) -> tuple[dict, dict, list[float]]:
    """BLEU-2..5 and Self-BLEU-2..5 per sentence with textgan, timed ``repeat`` times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        b = bleu_multi_scores(hyps, refs, max_n=5, min_n=2)
        s = self_bleu_multi_scores(hyps, max_n=5, min_n=2)
        times.append(time.perf_counter() - t0)
    return b, s, times


def time_fast_bleu(hyps: list, refs: list) -> tuple[dict, dict, float] | None:
    """The same row with fast-bleu (C++, multithreaded), or None if it is not installed."""
    try:
        from fast_bleu import BLEU, SelfBLEU
    except ImportError:
        return None
    weights = {n: (1.0 / n,) * n for n in ORDERS}
    t0 = time.perf_counter()
    b = BLEU(refs, weights).get_score(hyps)
    s = SelfBLEU(hyps, weights).get_score()
    elapsed = time.perf_counter() - t0
    return {n: np.asarray(b[n]) for n in ORDERS}, {n: np.asarray(s[n]) for n in ORDERS}, elapsed


def nltk_check(
    hyps: list, refs: list, ours_b: dict, ours_s: dict, n_bleu: int, n_self: int
) -> tuple[float, float, float, float]:
    """nltk sentence_bleu on the first hypotheses/samples: max |diff| and seconds per sentence."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    weights = [(1.0 / n,) * n for n in ORDERS]
    smooth = SmoothingFunction().method1
    worst_b = worst_s = 0.0
    t0 = time.perf_counter()
    for i in range(min(n_bleu, len(hyps))):
        # One call with a list of weights counts orders 1..5 once (nltk's fastest way).
        scores = sentence_bleu(refs, hyps[i], weights, smoothing_function=smooth)
        for n, v in zip(ORDERS, scores):
            worst_b = max(worst_b, abs(float(v) - float(ours_b[n][i])))
    per_hyp = (time.perf_counter() - t0) / max(1, min(n_bleu, len(hyps)))
    t0 = time.perf_counter()
    for i in range(min(n_self, len(hyps))):
        others = hyps[:i] + hyps[i + 1 :]
        scores = sentence_bleu(others, hyps[i], weights, smoothing_function=smooth)
        for n, v in zip(ORDERS, scores):
            worst_s = max(worst_s, abs(float(v) - float(ours_s[n][i])))
    per_self = (time.perf_counter() - t0) / max(1, min(n_self, len(hyps)))
    return worst_b, worst_s, per_hyp, per_self


def adjudicate(hyps: list, refs: list, b: dict, s: dict, fb_b: dict, fb_s: dict, top: int = 3) -> str:
    """Score with nltk the sentences where fast-bleu and textgan differ by more than 1e-6."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smooth = SmoothingFunction().method1
    out = ""
    for kind, ours, theirs in (("BLEU", b, fb_b), ("Self-BLEU", s, fb_s)):
        gap = np.max(np.vstack([np.abs(ours[n] - theirs[n]) for n in ORDERS]), axis=0)
        for i in [int(j) for j in np.argsort(-gap)[:top] if gap[j] > 1e-6]:
            others = refs if kind == "BLEU" else hyps[:i] + hyps[i + 1 :]
            n = max(ORDERS, key=lambda m: abs(ours[m][i] - theirs[m][i]))
            ref = sentence_bleu(others, hyps[i], (1.0 / n,) * n, smoothing_function=smooth)
            out += (f"\n    {kind}-{n} of sample {i} {' '.join(hyps[i])!r}: nltk {ref:.6f}, "
                    f"textgan {ours[n][i]:.6f}, fast-bleu {theirs[n][i]:.6f}")
    return out


FAST_BLEU_SCRIPT = """
import sys
from fast_bleu import BLEU, SelfBLEU
from nltk.tokenize import NLTKWordTokenizer
tokenizer = NLTKWordTokenizer()
def read(path):
    with open(path, encoding="utf-8") as f:
        return [tokenizer.tokenize(line) for line in f.read().splitlines()]
hyps, refs = read(sys.argv[1]), [r for r in read(sys.argv[2]) if r]
weights = {n: (1.0 / n,) * n for n in (2, 3, 4, 5)}
bleu, self_bleu = BLEU(refs, weights).get_score(hyps), SelfBLEU(hyps, weights).get_score()
print({f"bleu{n}": sum(v) / len(v) for n, v in bleu.items()} | {f"self_bleu{n}": sum(v) / len(v) for n, v in self_bleu.items()})
"""


def timed_process(command: list[str]) -> tuple[float, str]:
    """Wall seconds of a whole process and its stdout."""
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return time.perf_counter() - t0, done.stdout


def whole_processes(data: Path, rounds: int) -> int:
    """Time `textgan evaluate` on the seq.txt row against the fast-bleu script, whole processes."""
    hyps, refs = data / "texygen_samples" / "seq.txt", data / "coco" / "test.txt"
    ours_cmd = [sys.executable, "-m", "textgan", "evaluate", "--hypotheses", str(hyps), "--references", str(refs),
                "--tokenize", "nltk", "--self-bleu", "--json"]
    fast_cmd = [sys.executable, "-c", FAST_BLEU_SCRIPT, str(hyps), str(refs)]
    imports = subprocess.run([sys.executable, "-X", "importtime", *ours_cmd[1:]], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    torch_loaded = any(line.rstrip().endswith("| torch") for line in imports.stderr.splitlines())
    print(f"textgan evaluate imports torch: {'yes' if torch_loaded else 'no'}")
    ours_times, fast_times = [], []
    for _ in range(rounds):
        seconds, ours_out = timed_process(ours_cmd)
        ours_times.append(seconds)
        try:
            seconds, fast_out = timed_process(fast_cmd)
        except subprocess.CalledProcessError as exc:
            print(f"fast-bleu script failed (pip install fast-bleu): {exc.stderr.strip().splitlines()[-1]}")
            return 1
        fast_times.append(seconds)
    ours = json.loads(ours_out)
    print("textgan  : " + ", ".join(f"{k} {ours[k]:.4f}" for k in ours if "bleu" in k))
    print("fast-bleu: " + fast_out.strip())
    print(f"whole process over {rounds} alternating rounds: textgan {min(ours_times):.2f}-{max(ours_times):.2f} s, "
          f"fast-bleu script {min(fast_times):.2f}-{max(fast_times):.2f} s; "
          f"{statistics.median(fast_times) / statistics.median(ours_times):.1f}x (medians)")
    return 0


def fmt_table(title: str, ours: dict, published: dict, files: list[str], label: str) -> str:
    """Rows n, columns models: 'ours (published)'."""
    lines = [title, f"{'':10}" + "".join(f"{MODEL[f]:>17}" for f in files)]
    for j, n in enumerate(ORDERS):
        cells = "".join(f"{ours[f][n]:>9.4f} ({published[f][j]:.3f})" for f in files)
        lines.append(f"{label}-{n:<{10 - len(label) - 1}}" + cells)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables and timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(DATA),
                    help="folder with coco/ and texygen_samples/ (default: the repository's benchmarks/data)")
    ap.add_argument("--files", default=",".join(FILES), help="comma-separated sample files (no .txt)")
    ap.add_argument("--nltk-check", type=int, default=200, metavar="N",
                    help="compare with nltk on the first N hypotheses per file (0: skip)")
    ap.add_argument("--nltk-self-check", type=int, default=5, metavar="M",
                    help="compare Self-BLEU with nltk on the first M samples per file")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats for textgan")
    ap.add_argument("--process", type=int, default=0, metavar="N",
                    help="instead: time N alternating rounds of whole processes, textgan evaluate vs fast-bleu")
    args = ap.parse_args(argv)

    data = Path(args.data_dir)
    if args.process:
        return whole_processes(data, args.process)
    files = [f.strip() for f in args.files.split(",") if f.strip()]
    unknown = [f for f in files if f not in MODEL]
    if unknown:
        ap.error(f"unknown file(s) {unknown}; choose from {', '.join(FILES)}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPU cores")

    t0 = time.perf_counter()
    refs = tokenize_lines(read_lines(data / "coco" / "test.txt"), "nltk")
    print(f"references: {len(refs)} lines of coco/test.txt, {sum(map(len, refs))} tokens, "
          f"tokenised in {time.perf_counter() - t0:.2f} s")

    ours_bleu: dict[str, dict[int, float]] = {}
    ours_self: dict[str, dict[int, float]] = {}
    timing_rows = []
    for f in files:
        t0 = time.perf_counter()
        hyps = tokenize_lines(read_lines(data / "texygen_samples" / f"{f}.txt"), "nltk")
        tok_s = time.perf_counter() - t0
        b, s, times = time_ours(hyps, refs, args.repeat)
        ours_bleu[f] = {n: mean(b[n]) for n in ORDERS}
        ours_self[f] = {n: mean(s[n]) for n in ORDERS}
        line = (f"{f}.txt: {len(hyps)} samples (tokenised in {tok_s:.2f} s); textgan BLEU-2..5 + "
                f"Self-BLEU-2..5: best {min(times):.3f} s, median {statistics.median(times):.3f} s "
                f"of {len(times)}")
        row = {"file": f, "ours": min(times), "fast": None, "nltk": None}
        fb = time_fast_bleu(hyps, refs)
        if fb is None:
            line += "; fast-bleu not installed (pip install fast-bleu), skipped"
        else:
            fb_b, fb_s, fb_t = fb
            dev_b = max(float(np.max(np.abs(fb_b[n] - b[n]))) for n in ORDERS)
            dev_s = max(float(np.max(np.abs(fb_s[n] - s[n]))) for n in ORDERS)
            row["fast"] = fb_t
            line += (f"\n    fast-bleu: {fb_t:.2f} s ({fb_t / min(times):.1f}x ours); "
                     f"max |fast-bleu - ours| per sentence: BLEU {dev_b:.1e}, Self-BLEU {dev_s:.1e}")
            line += adjudicate(hyps, refs, b, s, fb_b, fb_s)
        if args.nltk_check > 0:
            wb, ws, per_hyp, per_self = nltk_check(hyps, refs, b, s, args.nltk_check, args.nltk_self_check)
            est = per_hyp * len(hyps) + per_self * len(hyps)
            row["nltk"] = est
            line += (f"\n    nltk check: first {min(args.nltk_check, len(hyps))} hypotheses x all "
                     f"{len(refs)} refs, max |nltk - ours| {wb:.1e}; first "
                     f"{min(args.nltk_self_check, len(hyps))} Self-BLEU samples, max |diff| {ws:.1e}"
                     f"\n    nltk: {per_hyp:.3f} s per hypothesis, {per_self:.3f} s per Self-BLEU "
                     f"sample -> {est / 3600:.2f} h per row extrapolated ({est / min(times):,.0f}x ours)")
        print(line, flush=True)
        timing_rows.append(row)

    print()
    print(fmt_table("BLEU vs coco/test.txt: ours (Texygen published)", ours_bleu, PUBLISHED_BLEU, files, "BLEU"))
    print()
    print(fmt_table("Self-BLEU: ours (Texygen published)", ours_self, PUBLISHED_SELF_BLEU, files, "S-BLEU"))
    print()
    print("time per row (BLEU-2..5 + Self-BLEU-2..5, after tokenisation):")
    print(f"{'file':10}{'textgan':>10}{'fast-bleu':>12}{'nltk (extrap.)':>16}")
    for r in timing_rows:
        fast = f"{r['fast']:.2f} s" if r["fast"] is not None else "n/a"
        nl = f"{r['nltk'] / 3600:.2f} h" if r["nltk"] is not None else "n/a"
        print(f"{r['file']:10}{r['ours']:>8.3f} s{fast:>12}{nl:>16}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
