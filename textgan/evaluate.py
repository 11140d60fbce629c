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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textgan.config import Config
from textgan.errors import ConfigError, DataError, TextGanError
from textgan.io import atomic_write_text, refuse_file
from textgan.metrics import sample_metrics, tokenize_lines, unique_ratio
from textgan.metrics.bleu import MAX_ORDER
from textgan.metrics.nll import has_exact_likelihood, nll, nll_oracle
from textgan.metrics.tokenize import TOKENIZE_MODES
from textgan.progress import progress
from textgan.provenance import OwnPhase, marked_label, own_phase, warnings_for, weights_digest
from textgan.report import RunReport, markdown_table, read_jsonl, write_report

if TYPE_CHECKING:  # torch loads when a run is evaluated: scoring text files never needs it
    import torch

    from textgan.checkpoint import Checkpoint
    from textgan.data import EncodedSplit, PreparedData
    from textgan.metrics.features import FeatureModel

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURES = "1.0"
DEFAULT_SWEEP = "0.6,0.8,1.0,1.2"  # compare's default: every model over the same temperatures
DEFAULT_SAMPLES = 1000
DEFAULT_MAX_N = 5
LOWEST_BLEU_ORDER = 2  # Texygen reports BLEU-2..5; BLEU-1 only when --max-n 1
EVAL_DIR = "eval"
EVAL_FILE = "eval.jsonl"
# An evaluation is identified by these keys; evaluating again with the same ones replaces it.
RECORD_KEYS = ("checkpoint", "temperature", "n", "seed", "max_n", "tokenize")


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


def text_metrics(hypotheses: list[list[str]], references: list[list[str]], max_n: int,
                 with_self_bleu: bool) -> dict[str, Any]:
    """bleuK (K = 2..max_n), self_bleuK (if asked), distinct1/2 and the counts, for token lists
    (`sample_metrics`: every hypothesis scored, an empty one 0)."""
    return sample_metrics(hypotheses, references, max_n, bleu_orders(max_n)[0], with_self_bleu)


DISTRIBUTION_KEYS = ("reverse_lm_nll", "forward_lm_nll", "c2st_accuracy", "frechet_distance")
"""The --distribution metrics: LM scores both ways, the classifier two-sample test's accuracy and
the Fréchet distance of sentence features (FED)."""
MAUVE_KEY = "mauve"
"""--mauve: MAUVE of the same sentence features (needs the mauve-text package)."""


@dataclass(frozen=True)
class DistributionBudget:
    """Epochs of the fresh models behind the --distribution metrics (None: their defaults)."""

    epochs: int | None = None

    def budgets(self) -> tuple[Any, Any]:
        """The (LMBudget, ClassifierBudget) pair."""
        from textgan.metrics.lm_scores import LMBudget
        from textgan.metrics.two_sample import ClassifierBudget

        if self.epochs is None:
            return LMBudget(), ClassifierBudget()
        return LMBudget(epochs=self.epochs), ClassifierBudget(epochs=self.epochs)


def distribution_metrics(samples: Any, real_train: Any, real_test: Any, vocabulary: Any, budget: DistributionBudget,
                         seed: int, device: Any = "cpu", forward_lm: Any = None) -> dict[str, float]:
    """reverse_lm_nll, forward_lm_nll and c2st_accuracy of (N, T) sample rows against real rows.

    `forward_lm` (an LM already fitted on real_train with the same budget and seed) saves
    refitting it for every temperature.
    """
    from textgan.metrics.lm_scores import fit_lm, forward_lm_nll, reverse_lm_nll
    from textgan.metrics.two_sample import classifier_two_sample_accuracy

    lm_budget, classifier_budget = budget.budgets()
    if forward_lm is None:
        forward_lm = fit_lm(real_train, vocabulary, lm_budget, seed, device)
    return {
        "reverse_lm_nll": reverse_lm_nll(samples, real_test, vocabulary, lm_budget, seed, device),
        "forward_lm_nll": forward_lm_nll(forward_lm, samples),
        "c2st_accuracy": classifier_two_sample_accuracy(real_test, samples, vocabulary.size, classifier_budget,
                                                        seed, device),
    }


def token_rows(sentences: list[list[str]], vocabulary: dict[str, int], length: int) -> Any:
    """(N, length) id rows of token lists: ids, then <eos> (1), then <pad> (2); <bos> is 0."""
    import torch

    rows = torch.full((len(sentences), length), 2, dtype=torch.long)
    for i, sentence in enumerate(sentences):
        ids = [vocabulary[token] for token in sentence] + [1]
        rows[i, : len(ids)] = torch.tensor(ids)
    return rows


def file_distribution_metrics(hypotheses: list[list[str]], references: list[list[str]], budget: DistributionBudget,
                              seed: int, lm_scores: bool = True, features: FeatureModel | None = None,
                              mauve: bool = False) -> dict[str, Any]:
    """The --distribution metrics of token lists: the references are the real text both LMs
    and the classifier see (the forward LM trains on them, the reverse LM is scored on them).

    Without `features`, FD (and MAUVE) use the forward LM's hidden states as sentence features;
    `lm_scores=False` (--mauve alone) computes only the feature metrics.
    """
    from textgan.metrics.features import FeatureModel
    from textgan.metrics.frechet import frechet_distance, mauve_score
    from textgan.metrics.lm_scores import Vocabulary, fit_lm

    words = {token: i + 3 for i, token in enumerate(sorted({t for s in hypotheses + references for t in s}))}
    length = max(map(len, hypotheses + references)) + 1
    hyp_rows, ref_rows = token_rows(hypotheses, words, length), token_rows(references, words, length)
    vocabulary = Vocabulary(size=len(words) + 3, bos_id=0, eos_id=1, pad_id=2)
    forward_lm = fit_lm(ref_rows, vocabulary, budget.budgets()[0], seed) if lm_scores or features is None else None
    metrics: dict[str, Any] = {}
    if lm_scores:
        metrics.update(distribution_metrics(hyp_rows, ref_rows, ref_rows, vocabulary, budget, seed,
                                            forward_lm=forward_lm))
    if features is None:
        features = FeatureModel(f"reference LM fitted on the references ({budget.budgets()[0].epochs} epochs, seed "
                                f"{seed})", generator=forward_lm)
        real, fake = features.rows(ref_rows), features.rows(hyp_rows)
    else:
        real, fake = features.texts([" ".join(s) for s in references]), features.texts([" ".join(s) for s in hypotheses])
    metrics.update({"frechet_distance": frechet_distance(real, fake), "features": features.description})
    if mauve:
        metrics[MAUVE_KEY] = mauve_score(real, fake, seed=seed)
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
                   with_self_bleu: bool, distribution: DistributionBudget | None = None,
                   seed: int = 0, features: FeatureModel | None = None, mauve: bool = False) -> dict[str, Any]:
    """Metrics of a hypotheses file against a references file, both tokenised the same way
    (with `distribution`, also the reverse/forward LM scores, the two-sample test and FD; with
    `mauve`, MAUVE and FD; `features` replaces the default feature model).

    Blank hypothesis lines are kept (an empty output scores 0); blank reference lines are skipped.
    """
    if tokenize not in TOKENIZE_MODES:
        raise ConfigError(f"--tokenize must be one of {', '.join(TOKENIZE_MODES)}, got {tokenize!r}")
    max_n = check_max_n(max_n)
    hyps = tokenize_lines(read_lines(hypotheses, "hypotheses"), tokenize)
    refs = tokenize_lines([line for line in read_lines(references, "references") if line.strip()], tokenize)
    metrics = text_metrics(hyps, refs, max_n, with_self_bleu)
    if distribution is not None or mauve:
        metrics.update(file_distribution_metrics(hyps, refs, distribution or DistributionBudget(), seed,
                                                 lm_scores=distribution is not None, features=features, mauve=mauve))
    return metrics


# ------------------------------------------------------------------------- runs


def model_name(cfg: Config) -> str:
    """Trainer plus model kind, e.g. mle-lstm, seqgan-transformer or vae-transformer (gan-<objective>)."""
    trainer = cfg.train.trainer
    if trainer == "gan":  # the image-style generator has no model.kind; its objective tells runs apart
        return f"gan-{cfg.gan.objective}"
    return f"{trainer}-{cfg.model.kind}"


@dataclass
class LoadedRun:
    """A run's checkpoint, its rebuilt data and where its evaluations go."""

    run_dir: Path
    checkpoint: Checkpoint
    data: PreparedData
    references: list[list[str]]
    device: torch.device
    real_features: dict[str, Any] = field(default_factory=dict)  # feature model -> (N, H) features of the test split

    @property
    def reference_lines(self) -> list[str]:
        """The test split's texts after their prompts, decoded (what --tokenize re-tokenises)."""
        tokenizer = self.checkpoint.tokenizer
        return [tokenizer.decode(row[int(start):]) for row, start in
                zip(self.data.test.tokens.tolist(), self.data.test.prompt_lengths)]

    @property
    def model(self) -> str:
        return model_name(self.checkpoint.config)


def run_directory_of(checkpoint_path: Path, given: Path) -> Path:
    """The run directory a checkpoint belongs to (the given folder itself if it is not inside one)."""
    from textgan.checkpoint import RUN_CONFIG

    if (given / RUN_CONFIG).is_file() and checkpoint_path.parent.name == "checkpoints":
        return checkpoint_path.parent.parent
    return given


def split_texts(split: EncodedSplit, tokenizer: Any) -> list[list[str]]:
    """Token strings of each row of a split after its prompt (the text BLEU compares)."""
    return [tokenizer.tokens(row[int(start):]) for row, start in zip(split.tokens.tolist(), split.prompt_lengths)]


def load_run(path: str | Path, device: str = "auto") -> LoadedRun:
    """Load a run's checkpoint (best, else latest) and rebuild its test split from its config and seed."""
    from textgan.data import build_data
    from textgan.checkpoint import find_checkpoint, load_checkpoint
    from textgan.data.corpus import absolute_paths, check_corpus_unchanged
    from textgan.training.runtime import make_runtime

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


def run_reference_lm(run: LoadedRun, budget: DistributionBudget, seed: int) -> Any:
    """The LM fitted on the run's training split (cached on disk): the forward LM and the default
    feature model."""
    from textgan.data.mapped import default_cache_dir
    from textgan.metrics.features import reference_lm
    from textgan.metrics.lm_scores import Vocabulary

    generator = run.checkpoint.generator
    vocabulary = Vocabulary(generator.vocab_size, generator.bos_id, generator.eos_id, generator.pad_id)
    cfg = run.checkpoint.config
    cache = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    return reference_lm(run.data.train.tokens, vocabulary, budget.budgets()[0], seed, cache, run.device)


def run_distribution_metrics(run: LoadedRun, rows: torch.Tensor, budget: DistributionBudget, seed: int) -> dict[str, float]:
    """The LM-score metrics of sampled rows against the run's train (forward LM) and test rows."""
    from textgan.metrics.lm_scores import Vocabulary

    generator = run.checkpoint.generator
    vocabulary = Vocabulary(generator.vocab_size, generator.bos_id, generator.eos_id, generator.pad_id)
    return distribution_metrics(rows, run.data.train.tokens, run.data.test.tokens, vocabulary, budget, seed,
                                run.device, run_reference_lm(run, budget, seed))


def load_feature_source(source: str, device: str | torch.device = "cpu") -> FeatureModel:
    """--features-from: a textgan run directory or checkpoint folder (its generator), or a local
    Hugging Face model folder (AutoModel), as the sentence-feature model of FD and MAUVE."""
    from textgan.checkpoint import RUN_CONFIG, find_checkpoint, load_checkpoint
    from textgan.metrics.features import FeatureModel, load_hf_feature_model
    from textgan.training.runtime import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    path = Path(source)
    if not path.is_dir():
        raise ConfigError(f"--features-from {source}: no such folder; pass a textgan run directory, a checkpoint "
                          "folder or a local Hugging Face model folder")
    if (path / "config.yaml").is_file() or (path / RUN_CONFIG).is_file():
        checkpoint = load_checkpoint(find_checkpoint(path))
        return FeatureModel(f"textgan run {path}", generator=checkpoint.generator.to(device).eval(),
                            tokenizer=checkpoint.tokenizer)
    return load_hf_feature_model(path, device)


def feature_model(source: str | None, run: LoadedRun, budget: DistributionBudget, seed: int) -> FeatureModel:
    """`source` loaded (see load_feature_source), by default the reference LM fitted on the training
    split of `run` (relative figures: see textgan.metrics.features)."""
    from textgan.metrics.features import FeatureModel

    if source is not None:
        return load_feature_source(source, run.device)
    return FeatureModel(f"reference LM fitted on the training split of {run.run_dir} ({budget.budgets()[0].epochs} "
                        f"epochs, seed {seed})", generator=run_reference_lm(run, budget, seed),
                        tokenizer=run.checkpoint.tokenizer)


def feature_metrics(run: LoadedRun, features: FeatureModel, rows: torch.Tensor, texts: list[str],
                    mauve: bool, seed: int) -> dict[str, Any]:
    """frechet_distance (and mauve) of the samples against the run's test split in `features`'
    space: whole token rows go straight in when the feature model shares the run's tokenizer, else
    the decoded texts after their prompts (`texts`, the test split's `reference_lines`)."""
    from textgan.metrics.frechet import frechet_distance, mauve_score

    same_tokens = features.tokenizer is not None and (
        features.tokenizer.fingerprint() == run.checkpoint.tokenizer.fingerprint())
    if features.description not in run.real_features:
        run.real_features[features.description] = (
            features.rows(run.data.test.tokens) if same_tokens else features.texts(run.reference_lines))
    real = run.real_features[features.description]
    fake = features.rows(rows) if same_tokens else features.texts(texts)
    record: dict[str, Any] = {"frechet_distance": frechet_distance(real, fake), "features": features.description}
    if mauve:
        record[MAUVE_KEY] = mauve_score(real, fake, seed=seed)
    return record


def evaluate_at(run: LoadedRun, temperature: float, n: int, seed: int, max_n: int,
                distribution: DistributionBudget | None = None,
                stage: Callable[[str], None] = lambda name: None, tokenize: str | None = None,
                features: FeatureModel | None = None, mauve: bool = False) -> tuple[dict[str, Any], list[str]]:
    """One evaluation record of the run at a temperature, and the decoded samples it scored.

    Every temperature samples from the same seed, so curves differ only by the temperature.
    `stage(name)` is called as each slow part starts (for progress). `tokenize` (split | nltk)
    scores BLEU on the decoded samples and references re-tokenised that way, so runs with
    different tokenizers are scored alike; None scores the run's own tokens. `features` adds
    the Fréchet distance (and MAUVE with `mauve`) of sentence features.
    """
    import torch

    from textgan.models.generation import generate

    stage("sampling")
    generator = run.checkpoint.generator
    tokenizer = run.checkpoint.tokenizer
    rng = torch.Generator(device=run.device).manual_seed(seed)
    rows, starts = generate(generator, n, temperature, rng, run.data.test)
    ids = [row[int(start):] for row, start in zip(rows.tolist(), starts)]
    texts = [tokenizer.decode(row) for row in ids]
    if tokenize is None:
        hypotheses, references = [tokenizer.tokens(row) for row in ids], run.references
    else:
        hypotheses, references = tokenize_lines(texts, tokenize), tokenize_lines(run.reference_lines, tokenize)
    record: dict[str, Any] = {
        "run": str(run.run_dir), "model": run.model, "checkpoint": run.checkpoint.path.name,
        "step": run.checkpoint.state.get("step"), "temperature": temperature, "n": n, "seed": seed,
        "max_n": max_n, "tokenize": tokenize,
    }
    phase = own_phase(run.checkpoint.state)
    if phase is not None:  # a GAN's steps of its own phase (0: the checkpoint is its MLE start)
        record.update(own_phase=phase.name, own_phase_steps=phase.steps)
    stage("BLEU, Self-BLEU")
    record.update(text_metrics(hypotheses, references, max_n, with_self_bleu=n >= 2))
    record["unique_ratio"] = unique_ratio(hypotheses)
    record["mean_length"] = sum(map(len, hypotheses)) / len(hypotheses)
    if has_exact_likelihood(generator):
        stage("NLL-test")
        record["nll_test"] = nll(generator, run.data.test.tokens, split="test", temperature=temperature,
                                 prompt_lengths=run.data.test.prompt_lengths,
                                 include_prompt=run.checkpoint.config.train.nll_include_prompt)
    if run.data.oracle is not None:
        stage("NLL-oracle")
        record["nll_oracle"] = nll_oracle(run.data.oracle, rows.to(run.device))
    if distribution is not None:
        record.update(run_distribution_metrics(run, rows, distribution, seed))
    if features is not None:
        stage("FD, MAUVE" if mauve else "FD")
        record.update(feature_metrics(run, features, rows, texts, mauve, seed))
    return record, texts


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


def evaluate_run(run: LoadedRun, temperatures: list[float], n: int, seed: int, max_n: int,
                 distribution: DistributionBudget | None = None, tokenize: str | None = None,
                 features: FeatureModel | None = None, mauve: bool = False) -> list[dict[str, Any]]:
    """Evaluate a loaded run at each temperature; store records and samples under RUN_DIR/eval/."""
    records = []
    bar = progress(total=len(temperatures), desc=f"evaluating {run.run_dir.name} ({n} samples per temperature)",
                   unit="temperatures", line_every=1)
    for temperature in temperatures:
        record, samples = evaluate_at(run, temperature, n, seed, max_n, distribution,
                                      stage=lambda name, t=temperature: bar.set_postfix(T=f"{t:g}", now=name),
                                      tokenize=tokenize, features=features, mauve=mauve)
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
                  ("nll_oracle", "NLL-oracle"), ("reverse_lm_nll", "reverse-LM"), ("forward_lm_nll", "forward-LM"),
                  ("c2st_accuracy", "C2ST acc"), ("frechet_distance", "FD"), (MAUVE_KEY, "MAUVE"))


def print_run_results(records: list[dict[str, Any]], max_n: int, phase: OwnPhase | None = None) -> None:
    """The records as a markdown table, one row per temperature, under a line naming the run (a
    GAN that took no step of its own phase marked as its MLE start)."""
    orders = bleu_orders(max_n)
    keys = [f"bleu{n}" for n in orders] + [f"self_bleu{n}" for n in orders]
    names = [f"BLEU-{n}" for n in orders] + [f"Self-BLEU-{n}" for n in orders]
    for key, name in RESULT_COLUMNS:
        if any(key in r for r in records):
            keys.append(key)
            names.append(name)
    first = records[0]
    held = f", {phase.describe()}" if phase is not None else ""
    print(f"{first['run']} ({marked_label(first['model'], phase)}, {first['checkpoint']}{held}): "
          f"{first['num_hypotheses']} samples per temperature against {first['num_references']} test references")
    print(markdown_table(["T", *names], [[f"{r['temperature']:g}", *(r.get(k) for k in keys)] for r in records]), end="")


# ------------------------------------------------------------------------- commands


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="?", metavar="RUN_DIR", help="a run directory to sample and score (or use --hypotheses/--references)")
    p.add_argument("--hypotheses", metavar="FILE", help="generated text, one sentence a line (blank lines score 0)")
    p.add_argument("--references", metavar="FILE", help="reference text, one sentence a line (blank lines skipped)")
    p.add_argument("--tokenize", choices=TOKENIZE_MODES,
                   help="both sides alike: split (whitespace) or nltk; files default to split, runs to their own "
                        "tokenizer's tokens (pass nltk to score runs of different tokenizers alike, as Texygen)")
    p.add_argument("--max-n", type=int, default=DEFAULT_MAX_N, help="highest BLEU order, 1..10 (default 5: BLEU-2..5)")
    p.add_argument("--self-bleu", action="store_true", help="files: also Self-BLEU of the hypotheses (always on for runs)")
    p.add_argument("--json", action="store_true", help="print JSON (runs: one object per line, one line per temperature)")
    p.add_argument("--temperatures", metavar="T1,T2,...", help=f"runs: sampling temperatures (default {DEFAULT_TEMPERATURES})")
    p.add_argument("-n", type=int, help=f"runs: samples per temperature (default {DEFAULT_SAMPLES})")
    p.add_argument("--seed", type=int, help="runs: sampling seed (default 0)")
    p.add_argument("--device", help="runs: auto | cpu | cuda | mps (default auto)")
    p.add_argument("--distribution", action="store_true",
                   help="also reverse/forward LM NLL and the classifier two-sample accuracy (trains small models)")
    p.add_argument("--distribution-epochs", type=int, metavar="N",
                   help="epochs of those models (default: LMs 5, classifier 3)")
    add_feature_arguments(p)


def add_feature_arguments(p: argparse.ArgumentParser) -> None:
    """--mauve and --features-from, shared by evaluate and compare."""
    p.add_argument("--mauve", action="store_true",
                   help="also MAUVE and the Fréchet distance of sentence features (needs textgan[mauve])")
    p.add_argument("--features-from", metavar="PATH",
                   help="sentence features for FD/MAUVE from this textgan run or local Hugging Face model folder "
                        "(default: a reference LM fitted on the training split, giving relative figures only)")


RUN_ONLY_FLAGS = (("temperatures", "--temperatures"), ("n", "-n"), ("device", "--device"))


def check_feature_flags(args: argparse.Namespace) -> None:
    """--features-from chooses the features of FD and MAUVE: it needs --distribution or --mauve."""
    if args.features_from is not None and not (args.distribution or args.mauve):
        raise TextGanError("--features-from sets the features of FD and MAUVE; pass --distribution or --mauve too")


def distribution_budget(args: argparse.Namespace) -> DistributionBudget | None:
    """The --distribution request (None when not asked); --distribution-epochs needs --distribution."""
    check_feature_flags(args)
    if args.distribution_epochs is not None:
        if not args.distribution:
            raise TextGanError("--distribution-epochs sets the budget of --distribution; pass both")
        if args.distribution_epochs < 1:
            raise ConfigError(f"--distribution-epochs must be >= 1, got {args.distribution_epochs}")
    return DistributionBudget(args.distribution_epochs) if args.distribution else None


def run_evaluate(args: argparse.Namespace) -> int:
    distribution = distribution_budget(args)
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
        if args.seed is not None and not args.distribution:
            raise TextGanError("--seed on files seeds the --distribution models; pass --distribution or drop --seed")
        features = load_feature_source(args.features_from) if args.features_from else None
        metrics = evaluate_files(args.hypotheses, args.references, args.tokenize or "split", args.max_n, args.self_bleu,
                                 distribution, args.seed or 0, features, args.mauve)
        if args.json:
            print(json.dumps(metrics))
        else:
            print_file_metrics(metrics)
        return 0
    if args.run is None:
        raise TextGanError("nothing to evaluate; pass RUN_DIR, or --hypotheses FILE --references FILE")
    max_n = check_max_n(args.max_n)
    temperatures = parse_temperatures(DEFAULT_TEMPERATURES if args.temperatures is None else args.temperatures)
    n = check_sample_count(args.n if args.n is not None else DEFAULT_SAMPLES)
    run = load_run(args.run, args.device or "auto")
    seed = 0 if args.seed is None else args.seed
    features = (feature_model(args.features_from, run, distribution or DistributionBudget(), seed)
                if distribution is not None or args.mauve else None)
    records = evaluate_run(run, temperatures, n, seed, max_n, distribution, args.tokenize, features, args.mauve)
    phase = own_phase(run.checkpoint.state)
    for line in warnings_for([run.model], [phase], [""]):
        log.warning("%s", line)
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        print_run_results(records, max_n, phase)
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
    from textgan.checkpoint import MANIFEST

    manifest = checkpoint_path / MANIFEST
    fingerprint = json.loads(manifest.read_text(encoding="utf-8")).get("tokenizer_fingerprint") if manifest.is_file() else None
    vocabulary = f", vocabulary {str(fingerprint)[:8]}" if fingerprint else ""
    return str(cfg.data.corpus), f"{cfg.tokenizer.kind} tokens{vocabulary}"


def compare_runs(paths: list[str], out: str | Path, temperatures: list[float], n: int, seed: int,
                 max_n: int, device: str = "auto", tokenize: str | None = None, mauve: bool = False,
                 features_from: str | None = None) -> Path:
    """Evaluate each run where RUN_DIR/eval lacks a result, then write report.md and plots to `out`.

    `tokenize` scores every run on its decoded text re-tokenised alike; `mauve` adds MAUVE and FD,
    with one feature model for every run: `features_from`, by default the reference LM fitted on
    the first run's training split (other runs' samples reach it as text).
    """
    resolved = [Path(p).resolve() for p in paths]
    repeated = {str(p) for p in resolved if resolved.count(p) > 1}
    if repeated:
        raise TextGanError(f"{sorted(repeated)[0]} is given twice; name each run once")
    refuse_file(Path(out))
    from textgan.checkpoint import RUN_CONFIG, find_checkpoint, read_state

    runs: list[tuple[Path, Config, str, list[dict[str, Any]]]] = []
    tokenisations: list[tuple[str, str]] = []
    features: FeatureModel | None = None
    for path in paths:
        checkpoint_path = find_checkpoint(Path(path))
        run_dir = run_directory_of(checkpoint_path, Path(path))
        if mauve and features is None:  # one feature model for every run, fixed by the first
            features = (load_feature_source(features_from, device) if features_from
                        else feature_model(None, load_run(path, device), DistributionBudget(), seed))
        wanted = {(checkpoint_path.name, t, n, seed, max_n, tokenize) for t in temperatures}
        stored = [r for r in read_jsonl(eval_file(run_dir)) if _key(r) in wanted
                  and (features is None or r.get("features") == features.description and MAUVE_KEY in r)]
        missing = [t for t in temperatures
                   if (checkpoint_path.name, t, n, seed, max_n, tokenize) not in {_key(r) for r in stored}]
        if missing:
            loaded = load_run(path, device)
            stored += evaluate_run(loaded, missing, n, seed, max_n, tokenize=tokenize, features=features, mauve=mauve)
            cfg = loaded.checkpoint.config
        else:
            from textgan import config as config_mod

            cfg = config_mod.from_dict(config_mod.load_yaml(checkpoint_path / RUN_CONFIG))
        runs.append((run_dir, cfg, checkpoint_path.name, stored))
        tokenisations.append(tokenisation(cfg, checkpoint_path))
    labels = _labels([model_name(cfg) for _, cfg, _, _ in runs], [d.resolve() for d, _, _, _ in runs])
    # what each evaluated checkpoint is: a GAN with no own-phase step, identical weights (textgan.provenance)
    phases = [own_phase(read_state(find_checkpoint(Path(path)))) for path in paths]
    digests = [weights_digest(find_checkpoint(Path(path))) for path in paths]
    notes = warnings_for(labels, phases, digests)
    for line in notes:
        log.warning("%s", line)
    labels = [marked_label(label, phase) for label, phase in zip(labels, phases)]
    if tokenize is not None:
        notes.append(f"BLEU and Self-BLEU of every run are scored on its decoded text re-tokenised by `{tokenize}`")
    elif len(set(tokenisations)) > 1:
        groups: dict[tuple[str, str], list[str]] = {}
        for label, key in zip(labels, tokenisations):
            groups.setdefault(key, []).append(label)
        described = "; ".join(f"{', '.join(names)}: corpus {corpus}, {tokens}" for (corpus, tokens), names in groups.items())
        notes.append("BLEU and Self-BLEU are not comparable across these runs: each is scored on its own "
                     f"corpus and tokens ({described}); compare runs of one corpus and one tokenizer, or pass "
                     "--tokenize nltk to score every run's decoded text alike")
        log.warning("%s", notes[-1])
    reports = [RunReport(label, model_name(cfg), run_dir, cfg.data.corpus, checkpoint,
                         read_jsonl(run_dir / "metrics.jsonl"), results, phase, digest)
               for label, (run_dir, cfg, checkpoint, results), phase, digest in zip(labels, runs, phases, digests)]
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
    p.add_argument("--tokenize", choices=TOKENIZE_MODES,
                   help="score every run's decoded text re-tokenised alike (split or nltk; default: each run's "
                        "own tokens)")
    add_feature_arguments(p)


def run_compare(args: argparse.Namespace) -> int:
    temperatures = parse_temperatures(args.temperatures)
    if args.features_from is not None and not args.mauve:
        raise TextGanError("--features-from sets the features of FD and MAUVE; pass --mauve too")
    report = compare_runs(args.runs, args.out, temperatures, check_sample_count(args.n), args.seed,
                          check_max_n(args.max_n), args.device, args.tokenize, args.mauve, args.features_from)
    print(f"report: {report}")
    return 0


# The subcommands this module adds to `textgan` (cli.py registers them): name -> (add_arguments, run, help).
COMMANDS = {
    "evaluate": (add_evaluate_arguments, run_evaluate,
                 "BLEU/Self-BLEU/distinct-n of text files, or of a run's samples over temperature (plus NLL-test, NLL-oracle)"),
    "compare": (add_compare_arguments, run_compare,
                "compare runs: report.md with tables, learning curves and quality-diversity plots"),
}
