"""Corpus readers: .txt (one example per line), .jsonl, .csv and saved `datasets` folders.

Everything goes through `datasets`, so a user's corpus of any size is read the same way; the
result is a list of examples, each a text or a (prompt, reply) pair, split reproducibly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

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


def _check_text_file(path: Path) -> None:
    """Refuse empty, binary and non-UTF-8 files before `datasets` sees them."""
    if path.stat().st_size == 0:
        raise DataError(f"corpus {path} is empty; give a file with one example per line")
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    if b"\x00" in head:
        raise DataError(f"corpus {path} looks binary (it holds NUL bytes); give a UTF-8 text file")
    try:
        with open(path, encoding="utf-8") as handle:
            for _ in handle:
                pass
    except UnicodeDecodeError as exc:
        raise DataError(
            f"corpus {path} is not valid UTF-8 (byte {exc.start} of a line); re-encode it as UTF-8"
        ) from None


def _load_dataset(path: Path):
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
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many types for malformed files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"could not read corpus {path} as {builder}: {first}; fix the file") from None


def _column(dataset, name: str, path: Path) -> list[str]:
    if name not in dataset.column_names:
        raise DataError(
            f"corpus {path} has no field {name!r} (fields: {', '.join(dataset.column_names)}); "
            "pass --text-field NAME"
        )
    return ["" if value is None else str(value) for value in dataset[name]]


def read_examples(path_or_name: str, cfg: DataConfig) -> list[Example]:
    """Read every non-empty example of a corpus as text or (prompt, reply)."""
    path = resolve_corpus(path_or_name)
    dataset = _load_dataset(path)
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
    else:
        field = "text" if path.suffix.lower() == ".txt" else cfg.text_field
        examples = [Example(text=t.strip()) for t in _column(dataset, field, path) if t.strip()]
    if not examples:
        raise DataError(f"corpus {path} has no non-empty examples; give at least one line of text")
    return examples


def split_indices(n: int, cfg: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test indices into n examples (validation and test come first)."""
    order = np.random.default_rng(seed).permutation(n)
    if cfg.max_examples:
        order = order[: cfg.max_examples]
    if cfg.validation_file or cfg.test_file:
        return order, order[:0], order[:0]
    n = len(order)
    n_val = max(1, round(n * cfg.validation_fraction)) if cfg.validation_fraction > 0 else 0
    n_test = max(1, round(n * cfg.test_fraction)) if cfg.test_fraction > 0 else 0
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
