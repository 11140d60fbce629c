"""`textgan evaluate` (metrics of text files or of a trained run over temperature) and `textgan compare`.

Two modes of `evaluate`, never mixed:

* files: `--hypotheses FILE --references FILE` (one sentence a line), both sides tokenised by
  the same `--tokenize split|nltk`: BLEU, optionally Self-BLEU, distinct-n;
* a run: `RUN_DIR` (its best checkpoint, else the latest): samples at each `--temperatures`
  value and scores them against the run's test split, rebuilt from the run's saved config and
  seed with the checkpoint's tokenizer; adds Self-BLEU, NLL-test and, on oracle runs,
  NLL-oracle. Results are also stored in RUN_DIR/eval/eval.jsonl for `textgan compare`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from textgan.checkpoint import MANIFEST, RUN_CONFIG, Checkpoint, find_checkpoint, load_checkpoint
from textgan.cli import register_command
from textgan.config import Config
from textgan.data import EncodedSplit, PreparedData
from textgan.data.corpus import absolute_paths, check_corpus_unchanged
from textgan.errors import ConfigError, DataError, TextGanError
from textgan.io import atomic_write_text, refuse_file
from textgan.metrics import bleu_multi, distinct_n, self_bleu_multi, tokenize_lines, unique_ratio
from textgan.metrics.bleu import MAX_ORDER
from textgan.metrics.nll import has_exact_likelihood, nll, nll_oracle
from textgan.metrics.tokenize import TOKENIZE_MODES
from textgan.models import Generator
from textgan.progress import progress
from textgan.report import RunReport, markdown_table, read_jsonl, write_report
from textgan.training.runtime import make_runtime

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURES = "1.0"
DEFAULT_SWEEP = "0.6,0.8,1.0,1.2"  # compare's default: every model over the same temperatures
DEFAULT_SAMPLES = 1000
DEFAULT_MAX_N = 5
LOWEST_BLEU_ORDER = 2  # Texygen reports BLEU-2..5; BLEU-1 only when --max-n 1
GENERATION_CHUNK = 500  # rows sampled per call (bounds the transformer's KV cache)
EVAL_DIR = "eval"
EVAL_FILE = "eval.jsonl"
# An evaluation is identified by these keys; evaluating again with the same ones replaces it.
RECORD_KEYS = ("checkpoint", "temperature", "n", "seed", "max_n")


# ------------------------------------------------------------------------- argument checks


def parse_temperatures(text: str) -> list[float]:
    """Comma-separated positive finite temperatures, in the given order, repeats dropped."""
    fix = "pass comma-separated positive numbers, e.g. --temperatures 0.6,0.8,1.0,1.2"
    values: list[float] = []
    for piece in text.split(","):
        try:
            value = float(piece)
        except ValueError:
            raise ConfigError(f"--temperatures: {piece.strip()!r} is not a number; {fix}") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"--temperatures: {piece.strip()} is not a positive finite temperature; {fix}")
        if value not in values:
            values.append(value)
    return values


def check_max_n(max_n: int) -> int:
    """--max-n must be a BLEU order 1..MAX_ORDER."""
    if not 1 <= max_n <= MAX_ORDER:
        raise ConfigError(f"--max-n must be in 1..{MAX_ORDER}, got {max_n}; Texygen reports BLEU-2..5 (--max-n 5)")
    return max_n


def bleu_orders(max_n: int) -> list[int]:
    """The BLEU orders reported for --max-n: 2..max_n (just 1 when max_n is 1)."""
    return list(range(min(LOWEST_BLEU_ORDER, max_n), max_n + 1))


def check_sample_count(n: int) -> int:
    """-n must be at least one sample per temperature."""
    if n < 1:
        raise ConfigError(f"-n must be >= 1 (samples per temperature), got {n}")
    return n


# ------------------------------------------------------------------------- text metrics


def _distinct(samples: list[list[str]], n: int) -> float | None:
    """Distinct-n, or None when no sample has n tokens (undefined, not zero)."""
    try:
        return distinct_n(samples, n)
    except DataError:
        return None


def text_metrics(hypotheses: list[list[str]], references: list[list[str]], max_n: int,
                 with_self_bleu: bool, stage: Callable[[str], None] = lambda name: None) -> dict[str, Any]:
    """bleuK (K = 2..max_n), self_bleuK (if asked), distinct1/2 and the counts, for token lists.

    `stage(name)` is called as each slow part starts (for progress)."""
    orders = bleu_orders(max_n)
    stage("BLEU")
    metrics: dict[str, Any] = {f"bleu{n}": score for n, score in
                               bleu_multi(hypotheses, references, max_n=max_n, min_n=orders[0]).items()}
    if with_self_bleu:
        if len(hypotheses) < 2:
            raise DataError(f"Self-BLEU needs at least 2 hypotheses, got {len(hypotheses)}; pass more or drop --self-bleu")
        stage("Self-BLEU")
        metrics.update({f"self_bleu{n}": score for n, score in
                        self_bleu_multi(hypotheses, max_n=max_n, min_n=orders[0]).items()})
    metrics.update(distinct1=_distinct(hypotheses, 1), distinct2=_distinct(hypotheses, 2),
                   num_hypotheses=len(hypotheses), num_references=len(references))
    return metrics


def read_lines(path: str, what: str) -> list[str]:
    """Lines of a UTF-8 text file; a missing, unreadable or blank file is a DataError."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"--{what} {path} not found; pass a text file with one sentence per line")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"--{what} {path} is not valid UTF-8; convert it to UTF-8") from None
    if not any(line.strip() for line in lines):
        raise DataError(f"--{what} {path} is empty; pass a file with one sentence per line")
    return lines


def evaluate_files(hypotheses: str, references: str, tokenize: str, max_n: int,
                   with_self_bleu: bool) -> dict[str, Any]:
    """Metrics of a hypotheses file against a references file, both tokenised the same way.

    Blank hypothesis lines are kept (an empty output scores 0); blank reference lines are skipped.
    """
    if tokenize not in TOKENIZE_MODES:
        raise ConfigError(f"--tokenize must be one of {', '.join(TOKENIZE_MODES)}, got {tokenize!r}")
    max_n = check_max_n(max_n)
    hyps = tokenize_lines(read_lines(hypotheses, "hypotheses"), tokenize)
    refs = tokenize_lines([line for line in read_lines(references, "references") if line.strip()], tokenize)
    return text_metrics(hyps, refs, max_n, with_self_bleu)


# ------------------------------------------------------------------------- runs


def model_name(cfg: Config) -> str:
    """Trainer plus model kind, e.g. mle-lstm or seqgan-transformer (gan-<objective>, vae)."""
    trainer = cfg.train.trainer
    if trainer == "gan":  # the image-style generator ignores model.kind; its objective tells runs apart
        return f"gan-{cfg.gan.objective}"
    if trainer == "vae":
        return "vae"
    return f"{trainer}-{cfg.model.kind}"


@dataclass
class LoadedRun:
    """A run's checkpoint, its rebuilt data and where its evaluations go."""

    run_dir: Path
    checkpoint: Checkpoint
    data: PreparedData
    references: list[list[str]]
    device: torch.device

    @property
    def model(self) -> str:
        return model_name(self.checkpoint.config)


def run_directory_of(checkpoint_path: Path, given: Path) -> Path:
    """The run directory a checkpoint belongs to (the given folder itself if it is not inside one)."""
    if (given / RUN_CONFIG).is_file() and checkpoint_path.parent.name == "checkpoints":
        return checkpoint_path.parent.parent
    return given


def split_texts(split: EncodedSplit, tokenizer: Any) -> list[list[str]]:
    """Token strings of each row of a split after its prompt (the text BLEU compares)."""
    return [tokenizer.tokens(row[int(start):]) for row, start in zip(split.tokens.tolist(), split.prompt_lengths)]


def load_run(path: str | Path, device: str = "auto") -> LoadedRun:
    """Load a run's checkpoint (best, else latest) and rebuild its test split from its config and seed."""
    from textgan.api import build_data

    given = Path(path)
    checkpoint_path = find_checkpoint(given)
    checkpoint = load_checkpoint(checkpoint_path)
    runtime = make_runtime(device, "fp32")
    cfg = checkpoint.config
    run_dir = run_directory_of(checkpoint_path, given)
    absolute_paths(cfg.data, run_dir)
    check_corpus_unchanged(run_dir, cfg.data)
    try:
        data = build_data(cfg, checkpoint.tokenizer)
    except DataError as exc:
        raise DataError(f"cannot rebuild the test split of {given} from its config: {exc}") from None
    if len(data.test) == 0:
        raise DataError(
            f"{given}: the run's test split is empty (data.test_fraction={cfg.data.test_fraction}, no "
            "data.test_file); evaluate files with --hypotheses/--references, or train with a test split"
        )
    checkpoint.generator.to(runtime.device).eval()
    if data.oracle is not None:
        data.oracle.to(runtime.device)
    return LoadedRun(run_dir, checkpoint, data,
                     split_texts(data.test, checkpoint.tokenizer), runtime.device)


@torch.no_grad()
def generate(generator: Generator, count: int, temperature: float, rng: torch.Generator,
             split: EncodedSplit, top_k: int = 0, top_p: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` rows as long as the split's; with prompts, replies to the split's prompts in turn.

    Returns the rows and each row's prompt length (where its generated text starts).
    """
    length = split.tokens.shape[1]
    if not bool((split.prompt_lengths > 0).any()):
        chunks = [generator.sample(min(GENERATION_CHUNK, count - start), max_len=length,
                                   temperature=temperature, top_k=top_k, top_p=top_p, generator=rng).cpu()
                  for start in range(0, count, GENERATION_CHUNK)]
        return torch.cat(chunks), torch.zeros(count, dtype=torch.long)
    source = torch.arange(count) % len(split)
    prompt_lengths = split.prompt_lengths[source]
    rows = torch.empty(count, length, dtype=torch.long)
    for prompt_length in prompt_lengths.unique().tolist():
        where = (prompt_lengths == prompt_length).nonzero().squeeze(1)
        for part in torch.split(where, GENERATION_CHUNK):
            prefix = split.tokens[source[part], :prompt_length]
            rows[part] = generator.sample(len(part), max_len=length, temperature=temperature, top_k=top_k,
                                          top_p=top_p, prefix=prefix, generator=rng).cpu()
    return rows, prompt_lengths


def evaluate_at(run: LoadedRun, temperature: float, n: int, seed: int, max_n: int,
                stage: Callable[[str], None] = lambda name: None) -> tuple[dict[str, Any], list[str]]:
    """One evaluation record of the run at a temperature, and the decoded samples it scored.

    Every temperature samples from the same seed, so curves differ only by the temperature.
    `stage(name)` is called as each slow part starts (for progress).
    """
    stage("sampling")
    generator = run.checkpoint.generator
    tokenizer = run.checkpoint.tokenizer
    rng = torch.Generator(device=run.device).manual_seed(seed)
    rows, starts = generate(generator, n, temperature, rng, run.data.test)
    ids = [row[int(start):] for row, start in zip(rows.tolist(), starts)]
    hypotheses = [tokenizer.tokens(row) for row in ids]
    record: dict[str, Any] = {
        "run": str(run.run_dir), "model": run.model, "checkpoint": run.checkpoint.path.name,
        "step": run.checkpoint.state.get("step"), "temperature": temperature, "n": n, "seed": seed,
        "max_n": max_n,
    }
    record.update(text_metrics(hypotheses, run.references, max_n, with_self_bleu=n >= 2, stage=stage))
    record["unique_ratio"] = unique_ratio(hypotheses)
    record["mean_length"] = sum(map(len, hypotheses)) / len(hypotheses)
    if has_exact_likelihood(generator):
        stage("NLL-test")
        record["nll_test"] = nll(generator, run.data.test.tokens, split="test", temperature=temperature,
                                 prompt_lengths=run.data.test.prompt_lengths)
    if run.data.oracle is not None:
        stage("NLL-oracle")
        record["nll_oracle"] = nll_oracle(run.data.oracle, rows.to(run.device))
    return record, [tokenizer.decode(row) for row in ids]


def eval_file(run_dir: Path) -> Path:
    """RUN_DIR/eval/eval.jsonl, where a run's evaluation records are kept."""
    return Path(run_dir) / EVAL_DIR / EVAL_FILE


def _key(record: dict[str, Any]) -> tuple:
    return tuple(record.get(k) for k in RECORD_KEYS)


def store_records(run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Add records to RUN_DIR/eval/eval.jsonl, replacing earlier ones with the same RECORD_KEYS."""
    new_keys = {_key(r) for r in records}
    kept = [r for r in read_jsonl(eval_file(run_dir)) if _key(r) not in new_keys]
    atomic_write_text(eval_file(run_dir), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept + records))


def evaluate_run(run: LoadedRun, temperatures: list[float], n: int, seed: int, max_n: int) -> list[dict[str, Any]]:
    """Evaluate a loaded run at each temperature; store records and samples under RUN_DIR/eval/."""
    records = []
    bar = progress(total=len(temperatures), desc=f"evaluating {run.run_dir.name} ({n} samples per temperature)",
                   unit="temperatures", line_every=1)
    for temperature in temperatures:
        record, samples = evaluate_at(run, temperature, n, seed, max_n,
                                      stage=lambda name, t=temperature: bar.set_postfix(T=f"{t:g}", now=name))
        records.append(record)
        bar.set_postfix(T=f"{temperature:g}", **{k: f"{record[k]:.3f}" for k in ("bleu2", "self_bleu2") if k in record})
        bar.update()
        name = f"samples-{run.checkpoint.path.name}-t{temperature:g}.txt"
        atomic_write_text(run.run_dir / EVAL_DIR / name, "".join(s.replace("\n", " ") + "\n" for s in samples))
        log.info("%s at T=%g: %s", run.run_dir, temperature, record)
    bar.close()
    store_records(run.run_dir, records)
    return records


# ------------------------------------------------------------------------- printing


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_file_metrics(metrics: dict[str, Any]) -> None:
    """One `key value` line per metric."""
    for key, value in metrics.items():
        print(f"{key:<15} {_format(value)}")


RESULT_COLUMNS = (("distinct1", "distinct-1"), ("distinct2", "distinct-2"), ("nll_test", "NLL-test"),
                  ("nll_oracle", "NLL-oracle"))


def print_run_results(records: list[dict[str, Any]], max_n: int) -> None:
    """The records as a markdown table, one row per temperature."""
    orders = bleu_orders(max_n)
    keys = [f"bleu{n}" for n in orders] + [f"self_bleu{n}" for n in orders]
    names = [f"BLEU-{n}" for n in orders] + [f"Self-BLEU-{n}" for n in orders]
    for key, name in RESULT_COLUMNS:
        if any(key in r for r in records):
            keys.append(key)
            names.append(name)
    first = records[0]
    print(f"{first['run']} ({first['model']}, {first['checkpoint']}): {first['num_hypotheses']} samples per "
          f"temperature against {first['num_references']} test references")
    print(markdown_table(["T", *names], [[f"{r['temperature']:g}", *(r.get(k) for k in keys)] for r in records]), end="")


# ------------------------------------------------------------------------- commands


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="?", metavar="RUN_DIR", help="a run directory to sample and score (or use --hypotheses/--references)")
    p.add_argument("--hypotheses", metavar="FILE", help="generated text, one sentence a line (blank lines score 0)")
    p.add_argument("--references", metavar="FILE", help="reference text, one sentence a line (blank lines skipped)")
    p.add_argument("--tokenize", choices=TOKENIZE_MODES, help="files only, both sides alike: split (whitespace, the default) or nltk")
    p.add_argument("--max-n", type=int, default=DEFAULT_MAX_N, help="highest BLEU order, 1..10 (default 5: BLEU-2..5)")
    p.add_argument("--self-bleu", action="store_true", help="files: also Self-BLEU of the hypotheses (always on for runs)")
    p.add_argument("--json", action="store_true", help="print JSON (runs: one object per line, one line per temperature)")
    p.add_argument("--temperatures", metavar="T1,T2,...", help=f"runs: sampling temperatures (default {DEFAULT_TEMPERATURES})")
    p.add_argument("-n", type=int, help=f"runs: samples per temperature (default {DEFAULT_SAMPLES})")
    p.add_argument("--seed", type=int, help="runs: sampling seed (default 0)")
    p.add_argument("--device", help="runs: auto | cpu | cuda | mps (default auto)")


RUN_ONLY_FLAGS = (("temperatures", "--temperatures"), ("n", "-n"), ("seed", "--seed"), ("device", "--device"))


def run_evaluate(args: argparse.Namespace) -> int:
    files = args.hypotheses is not None or args.references is not None
    if files and args.run is not None:
        raise TextGanError(
            "--hypotheses/--references score text files and RUN_DIR scores a run's samples; pass one or the other"
        )
    if files:
        if args.hypotheses is None or args.references is None:
            raise TextGanError("--hypotheses and --references go together; pass both files")
        for attr, flag in RUN_ONLY_FLAGS:
            if getattr(args, attr) is not None:
                raise TextGanError(f"{flag} applies to RUN_DIR evaluation, not to --hypotheses/--references files; drop it")
        metrics = evaluate_files(args.hypotheses, args.references, args.tokenize or "split", args.max_n, args.self_bleu)
        if args.json:
            print(json.dumps(metrics))
        else:
            print_file_metrics(metrics)
        return 0
    if args.run is None:
        raise TextGanError("nothing to evaluate; pass RUN_DIR, or --hypotheses FILE --references FILE")
    if args.tokenize is not None:
        raise TextGanError("--tokenize applies to --hypotheses/--references files; a run is scored on its own tokenizer's tokens")
    max_n = check_max_n(args.max_n)
    temperatures = parse_temperatures(DEFAULT_TEMPERATURES if args.temperatures is None else args.temperatures)
    n = check_sample_count(args.n if args.n is not None else DEFAULT_SAMPLES)
    run = load_run(args.run, args.device or "auto")
    records = evaluate_run(run, temperatures, n, 0 if args.seed is None else args.seed, max_n)
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        print_run_results(records, max_n)
        print(f"results added to {eval_file(run.run_dir)}")
    return 0


def _labels(models: list[str], run_dirs: list[Path]) -> list[str]:
    """Model names, with as much of the run folder's path as tells runs of the same model apart."""
    labels = list(models)
    for depth in range(1, max(len(d.parts) for d in run_dirs) + 1):
        repeated = {label for label in labels if labels.count(label) > 1}
        if not repeated:
            break
        labels = [f"{m} ({'/'.join(d.parts[-depth:])})" if models.count(m) > 1 else m
                  for m, d in zip(models, run_dirs)]
    return labels


def tokenisation(cfg: Config, checkpoint_path: Path) -> tuple[str, str]:
    """What a run's BLEU is computed on: its corpus and its tokenizer (kind and vocabulary)."""
    manifest = checkpoint_path / MANIFEST
    fingerprint = json.loads(manifest.read_text(encoding="utf-8")).get("tokenizer_fingerprint") if manifest.is_file() else None
    vocabulary = f", vocabulary {str(fingerprint)[:8]}" if fingerprint else ""
    return str(cfg.data.corpus), f"{cfg.tokenizer.kind} tokens{vocabulary}"


def compare_runs(paths: list[str], out: str | Path, temperatures: list[float], n: int, seed: int,
                 max_n: int, device: str = "auto") -> Path:
    """Evaluate each run where RUN_DIR/eval lacks a result, then write report.md and plots to `out`."""
    resolved = [Path(p).resolve() for p in paths]
    repeated = {str(p) for p in resolved if resolved.count(p) > 1}
    if repeated:
        raise TextGanError(f"{sorted(repeated)[0]} is given twice; name each run once")
    refuse_file(Path(out))
    runs: list[tuple[Path, Config, str, list[dict[str, Any]]]] = []
    tokenisations: list[tuple[str, str]] = []
    for path in paths:
        checkpoint_path = find_checkpoint(Path(path))
        run_dir = run_directory_of(checkpoint_path, Path(path))
        wanted = {(checkpoint_path.name, t, n, seed, max_n) for t in temperatures}
        stored = [r for r in read_jsonl(eval_file(run_dir)) if _key(r) in wanted]
        missing = [t for t in temperatures if (checkpoint_path.name, t, n, seed, max_n) not in {_key(r) for r in stored}]
        if missing:
            loaded = load_run(path, device)
            stored += evaluate_run(loaded, missing, n, seed, max_n)
            cfg = loaded.checkpoint.config
        else:
            from textgan import config as config_mod

            cfg = config_mod.from_dict(config_mod.load_yaml(checkpoint_path / RUN_CONFIG))
        runs.append((run_dir, cfg, checkpoint_path.name, stored))
        tokenisations.append(tokenisation(cfg, checkpoint_path))
    labels = _labels([model_name(cfg) for _, cfg, _, _ in runs], [d.resolve() for d, _, _, _ in runs])
    notes = []
    if len(set(tokenisations)) > 1:
        groups: dict[tuple[str, str], list[str]] = {}
        for label, key in zip(labels, tokenisations):
            groups.setdefault(key, []).append(label)
        described = "; ".join(f"{', '.join(names)}: corpus {corpus}, {tokens}" for (corpus, tokens), names in groups.items())
        notes.append("BLEU and Self-BLEU are not comparable across these runs: each is scored on its own "
                     f"corpus and tokens ({described}); compare runs of one corpus and one tokenizer")
        log.warning("%s", notes[-1])
    reports = [RunReport(label, model_name(cfg), run_dir, cfg.data.corpus, checkpoint,
                         read_jsonl(run_dir / "metrics.jsonl"), results)
               for label, (run_dir, cfg, checkpoint, results) in zip(labels, runs)]
    return write_report(reports, Path(out), bleu_orders(max_n), notes)


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories to compare (include an MLE run)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder for report.md and the PNG plots")
    p.add_argument("--temperatures", default=DEFAULT_SWEEP, metavar="T1,T2,...",
                   help=f"temperatures every run is shown at (default {DEFAULT_SWEEP})")
    p.add_argument("-n", type=int, default=DEFAULT_SAMPLES, help=f"samples per temperature (default {DEFAULT_SAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--max-n", type=int, default=DEFAULT_MAX_N, help="highest BLEU order, 1..10 (default 5)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")


def run_compare(args: argparse.Namespace) -> int:
    temperatures = parse_temperatures(args.temperatures)
    report = compare_runs(args.runs, args.out, temperatures, check_sample_count(args.n), args.seed,
                          check_max_n(args.max_n), args.device)
    print(f"report: {report}")
    return 0


register_command("evaluate", add_evaluate_arguments, run_evaluate,
                 "BLEU/Self-BLEU/distinct-n of text files, or of a run's samples over temperature (plus NLL-test, NLL-oracle)")
register_command("compare", add_compare_arguments, run_compare,
                 "compare runs: report.md with tables, learning curves and quality-diversity plots")
