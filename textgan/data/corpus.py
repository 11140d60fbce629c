"""Corpus readers: .txt (one example per line), .jsonl, .csv and saved `datasets` folders.

Everything goes through `datasets`, so a user's corpus of any size is read the same way; the
result is a list of examples, each a text or a (prompt, reply) pair, split reproducibly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgan.config import DataConfig
from textgan.errors import DataError

log = logging.getLogger(__name__)

BUNDLED = {"poems": "poems.txt", "dialogues": "dialogues.jsonl",
           "dialogues_shakespeare": "dialogues_shakespeare.jsonl"}
BUNDLED_FIELDS = {"dialogues": ("prompt", "reply"), "dialogues_shakespeare": ("prompt", "reply")}
SUFFIXES = {".txt": "text", ".jsonl": "json", ".json": "json", ".csv": "csv"}


@dataclass
class Example:
    """One training example: a text, or a prompt with its reply."""

    text: str
    prompt: str | None = None


@dataclass
class Splits:
    """Train, validation and test examples."""

    train: list[Example]
    validation: list[Example]
    test: list[Example]


def bundled_data_dir() -> Path:
    """The repository's data/ folder holding the bundled corpora."""
    return Path(__file__).resolve().parents[2] / "data"


def resolve_corpus(name_or_path: str) -> Path:
    """Map a bundled corpus name to its file, or check that a user path exists."""
    if name_or_path in BUNDLED:
        path = bundled_data_dir() / BUNDLED[name_or_path]
        if not path.is_file():
            raise DataError(
                f"bundled corpus {name_or_path!r} not found at {path}; install textgan from its "
                "source tree (pip install -e .) or pass --corpus PATH"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise DataError(
            f"corpus {path} not found; pass an existing .txt/.jsonl/.csv file or a saved dataset "
            f"folder, or a bundled corpus ({', '.join(BUNDLED)})"
        )
    return path


PATH_KEYS = ("corpus", "validation_file", "test_file", "oracle_path", "cache_dir")
IDENTITY_FILE = "corpus.json"  # in a run directory: what its data files were when it was trained


def absolute_paths(cfg: DataConfig, base: Path | None = None) -> None:
    """Make the data section's relative paths absolute, in place: against `base` (a run's
    directory) where the file is there, else against the working directory. Bundled corpus
    names and "oracle" stay names."""
    for key in PATH_KEYS:
        value = getattr(cfg, key)
        if not value or (key == "corpus" and (value in BUNDLED or value == "oracle")):
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None and (base / path).exists():
            path = base / path
        setattr(cfg, key, os.path.abspath(path))


def _identity(path: Path) -> dict[str, object]:
    """Size and a hash of the first MiB of a file (of the names and sizes of a folder's files)."""
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files)
        digest.update("\n".join(f"{p.relative_to(path)}:{p.stat().st_size}" for p in files).encode())
    else:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
    return {"size": size, "head_sha256": digest.hexdigest()[:16]}


def corpus_identity(cfg: DataConfig) -> dict[str, dict[str, object]]:
    """Identity of each data file the config reads (bundled corpora included), keyed by config key."""
    found = {}
    for key in ("corpus", "validation_file", "test_file", "oracle_path"):
        value = getattr(cfg, key)
        if not value or (key == "corpus" and value == "oracle"):
            continue
        path = bundled_data_dir() / BUNDLED[value] if key == "corpus" and value in BUNDLED else Path(value)
        if path.exists():
            found[key] = {"path": value, **_identity(path)}
    return found


def check_corpus_unchanged(run_dir: Path, cfg: DataConfig) -> None:
    """Warn in one line when a data file differs from what the run in `run_dir` was trained on."""
    recorded = run_dir / IDENTITY_FILE
    if not recorded.is_file():
        return
    before = json.loads(recorded.read_text(encoding="utf-8"))
    now = corpus_identity(cfg)
    same = ("size", "head_sha256")
    changed = [f"{entry['path']} (now missing)" if key not in now else
               f"{entry['path']} ({entry['size']:,} bytes then, {now[key]['size']:,} now)"
               for key, entry in before.items()
               if key not in now or any(now[key][k] != entry[k] for k in same)]
    if changed:
        log.warning("data changed since %s was trained: %s; the rebuilt splits may differ from those it "
                    "was trained and tested on", run_dir, ", ".join(changed))


def _check_text_file(path: Path) -> None:
    """Refuse empty, binary and non-UTF-8 files before `datasets` sees them."""
    if path.stat().st_size == 0:
        raise DataError(f"corpus {path} is empty; give a file with one example per line")
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    if b"\x00" in head:
        raise DataError(f"corpus {path} looks binary (it holds NUL bytes); give a UTF-8 text file")
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(line[: exc.start].decode("utf-8")) + 1
                raise DataError(
                    f"corpus {path} is not valid UTF-8 at line {number}, column {column} (byte "
                    f"0x{line[exc.start]:02x}); re-encode it as UTF-8"
                ) from None


@contextlib.contextmanager
def _datasets_quiet() -> Iterator[None]:
    """Silence the `datasets` loggers (their errors become one DataError of ours)."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _bad_json_line(path: Path) -> str | None:
    """Why a JSON-lines file that `datasets` could not read fails ("line N is ..."): its first
    line that is not a JSON object, else its first blank line (which datasets' reader of
    mixed-type fields stops at), else None."""
    blank = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                blank = blank or number
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})"
            if not isinstance(row, dict):
                return f"line {number} is a JSON {type(row).__name__}, not an object"
    return f"line {blank} is blank" if blank else None


def _line_of_row(path: Path, row: int) -> int:
    """The line of a JSON-lines file holding data row `row` (0-based; blank lines hold none)."""
    with open(path, encoding="utf-8") as handle:
        seen = -1
        for number, line in enumerate(handle, 1):
            seen += bool(line.strip())
            if seen == row:
                return number
    return row + 1


def load_dataset(path: Path) -> Any:
    """A corpus file (.txt, .jsonl, .csv) or saved dataset folder as a `datasets.Dataset`; bad
    files are refused in one line."""
    import datasets

    datasets.disable_progress_bars()
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise DataError(
                f"corpus folder {path} is not a dataset saved with datasets' save_to_disk ({exc}); "
                "pass a file or a saved dataset folder"
            ) from None
        if isinstance(loaded, datasets.DatasetDict):
            if "train" not in loaded:
                raise DataError(f"saved dataset {path} has no 'train' split; it has {list(loaded)}")
            loaded = loaded["train"]
        return loaded
    builder = SUFFIXES.get(path.suffix.lower())
    if builder is None:
        raise DataError(
            f"corpus {path} has an unsupported extension {path.suffix!r}; use .txt, .jsonl, .csv "
            "or a saved dataset folder"
        )
    _check_text_file(path)
    try:
        with _datasets_quiet():
            return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many types for malformed files
        bad = _bad_json_line(path) if path.suffix.lower() == ".jsonl" else None
        if bad:
            raise DataError(f"could not read corpus {path} as JSON lines: {bad}; fix or remove that line") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"could not read corpus {path} as {builder}: {first}; fix the file") from None


def check_text_field(dataset, name: str, path: Path) -> None:
    """Refuse a field that is absent, or whose values are numbers, lists or objects rather than
    text (CSV has no types: its cells are read as text)."""
    import datasets

    if name not in dataset.column_names:
        raise DataError(
            f"corpus {path} has no field {name!r} (fields: {', '.join(dataset.column_names)}); "
            "pass --text-field NAME"
        )
    feature = dataset.features[name]
    if path.suffix.lower() == ".csv" or (
            isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
        return
    start = 0
    for batch in dataset.select_columns([name]).iter(batch_size=8192):
        for offset, value in enumerate(batch[name]):
            if value is not None and not isinstance(value, str):
                row = start + offset
                where = f"line {_line_of_row(path, row)}" if path.suffix.lower() == ".jsonl" else f"row {row + 1}"
                raise DataError(
                    f"corpus {path} {where}: field {name!r} holds {json.dumps(value, default=str)[:40]} "
                    f"({type(value).__name__}), not text; quote it or remove the row"
                )
        start += len(batch[name])


def _column(dataset, name: str, path: Path) -> list[str]:
    """The field's values as text, "" where missing or null."""
    check_text_field(dataset, name, path)
    return ["" if value is None else str(value) for value in dataset[name]]


def report_skipped(path: Path, skipped: int, total: int, fields: list[str]) -> None:
    """Say in one warning how many rows were skipped for a missing, null or blank field."""
    if skipped and path.suffix.lower() != ".txt":  # blank lines of a .txt are separators
        names = " or ".join(repr(f) for f in fields)
        log.warning("corpus %s: %d of %d rows have no text in %s (missing, null or blank) and were skipped",
                    path, skipped, total, names)


def read_examples(path_or_name: str, cfg: DataConfig) -> list[Example]:
    """Read every non-empty example of a corpus as text or (prompt, reply)."""
    path = resolve_corpus(path_or_name)
    dataset = load_dataset(path)
    prompt_field, reply_field = cfg.prompt_field, cfg.reply_field
    if not prompt_field and path_or_name in BUNDLED_FIELDS:
        prompt_field, reply_field = BUNDLED_FIELDS[path_or_name]
    if prompt_field:
        prompts = _column(dataset, prompt_field, path)
        replies = _column(dataset, reply_field, path)
        examples = [
            Example(text=r.strip(), prompt=p.strip())
            for p, r in zip(prompts, replies)
            if p.strip() and r.strip()
        ]
        report_skipped(path, len(prompts) - len(examples), len(prompts), [prompt_field, reply_field])
    else:
        field = "text" if path.suffix.lower() == ".txt" else cfg.text_field
        texts = _column(dataset, field, path)
        examples = [Example(text=t.strip()) for t in texts if t.strip()]
        report_skipped(path, len(texts) - len(examples), len(texts), [field])
    if not examples:
        raise DataError(f"corpus {path} has no non-empty examples; give at least one line of text")
    return examples


def split_indices(n: int, cfg: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test indices into n examples (validation and test come first); a
    split given as a file (data.validation_file, data.test_file) takes nothing from the corpus."""
    order = np.random.default_rng(seed).permutation(n)
    if cfg.max_examples:
        order = order[: cfg.max_examples]
    n = len(order)
    n_val = max(1, round(n * cfg.validation_fraction)) if cfg.validation_fraction > 0 and not cfg.validation_file else 0
    n_test = max(1, round(n * cfg.test_fraction)) if cfg.test_fraction > 0 and not cfg.test_file else 0
    if n - n_val - n_test < 1:
        raise DataError(
            f"corpus has {n} examples, too few to split into train/validation/test; add examples "
            "or set data.validation_fraction and data.test_fraction to 0"
        )
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Read the corpus and split it reproducibly from the seed (or use the given split files)."""
    examples = read_examples(cfg.corpus, cfg)
    train, validation, test = split_indices(len(examples), cfg, seed)
    splits = Splits(
        train=[examples[i] for i in train],
        validation=[examples[i] for i in validation],
        test=[examples[i] for i in test],
    )
    if cfg.validation_file:
        splits.validation = read_examples(cfg.validation_file, cfg)
    if cfg.test_file:
        splits.test = read_examples(cfg.test_file, cfg)
    log.info("corpus %s: %d train, %d validation, %d test", cfg.corpus, len(splits.train),
             len(splits.validation), len(splits.test))
    return splits
