"""Corpora larger than memory: tokenise once with `datasets`, keep token rows memory-mapped.

The corpus is read as an Arrow table (memory-mapped by `datasets`), split by the same seeded
indices as the in-memory path, tokenised batch by batch by the Rust tokenizer (which uses every core), and each split is written
once to an int64 `.npy` file under the cache directory, keyed by the corpus fingerprint (path,
size, modification time), the tokenizer's fingerprint and the encoding settings. Training then
indexes rows of a memory-mapped tensor: resident memory stays bounded by what a batch touches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import multiprocessing
import os
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textgan.config import Config
from textgan.data.corpus import (BUNDLED_FIELDS, Example, load_dataset, check_text_field, report_skipped,
                                 resolve_corpus, split_indices)
from textgan.data.encoding import (AUTO, AUTO_MAX_LENGTH, EncodedSplit, choose_max_length, encode_rows,
                                   report_overflow, row_length, token_ids)
from textgan.data.prepared import PreparedData
from textgan.data.tokenizer import TextTokenizer, build_tokenizer
from textgan.errors import DataError
from textgan.io import atomic_path
from textgan.progress import progress as progress_bar

log = logging.getLogger(__name__)

DROPPED, KEPT, TRUNCATED = 0, 1, 2


def default_cache_dir() -> Path:
    return Path(os.environ.get("TEXTGAN_CACHE", Path.home() / ".cache" / "textgan"))


def corpus_fingerprint(path: Path) -> str:
    """Identity of a corpus file or folder: resolved path, sizes and modification times."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path.resolve())] + [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def should_memory_map(cfg: Config) -> bool:
    """True when the config asks for it, or (auto) the corpus file is large."""
    if cfg.data.memory_map != "auto":
        return cfg.data.memory_map == "always"
    if cfg.data.corpus == "oracle" or cfg.data.validation_file or cfg.data.test_file:
        return False
    path = resolve_corpus(cfg.data.corpus)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return size >= cfg.data.memory_map_min_mb * 2**20


def _fields(cfg: Config, path: Path) -> tuple[str, str | None]:
    """(text column, prompt column or None) for this corpus."""
    if cfg.data.prompt_field:
        return cfg.data.reply_field, cfg.data.prompt_field
    if cfg.data.corpus in BUNDLED_FIELDS:
        prompt, reply = BUNDLED_FIELDS[cfg.data.corpus]
        return reply, prompt
    return ("text" if path.suffix.lower() == ".txt" else cfg.data.text_field), None


def _read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-order .npy file."""
    with open(path, "rb") as handle:
        np.lib.format.read_magic(handle)
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        return tuple(shape), dtype, handle.tell()


def _mapped_tensor(path: Path) -> torch.Tensor:
    """A read-only tensor backed by a memory-mapped .npy file (advised as randomly accessed)."""
    shape, dtype, offset = _read_npy_header(path)
    count = int(np.prod(shape))
    if count == 0:
        return torch.zeros(shape, dtype=torch.int64)
    with open(path, "rb") as handle:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_RANDOM)
    array = np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape)
    with warnings.catch_warnings():  # read-only by design: rows are copied when indexed
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


class FileRows:
    """The (N, T) int64 token rows of a .npy file, read on demand with `os.pread`.

    Indexing (row indices, a slice, an int, or (rows, columns)) returns a tensor holding just
    those rows. Nothing of the file is mapped into the process: a memory map would count every
    page a batch touches as resident, and the kernel maps whole large page-cache folios around
    each touched row (about 1.5 MB per sampled row here, 5.8 GB after 200 batches of a 2 GB
    corpus); with reads, resident memory holds the batches and nothing else.
    """

    dtype = torch.int64

    def __init__(self, path: Path) -> None:
        shape, dtype, self.offset = _read_npy_header(path)
        if dtype != np.dtype("<i8") or len(shape) != 2:
            raise DataError(f"{path} is not a token file (int64 rows); delete the cache folder and retry")
        self.path = Path(path)
        self.shape = torch.Size(shape)
        self.row_bytes = shape[1] * 8
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def dim(self) -> int:
        return 2

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    def _read(self, start: int, rows: int) -> bytes:
        return os.pread(self._fd, rows * self.row_bytes, self.offset + start * self.row_bytes)

    def __getitem__(self, index: Any) -> torch.Tensor:
        columns: Any = slice(None)
        if isinstance(index, tuple):
            index, columns = index
        count = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(count)
            rows = range(start, stop, step)
            data = self._read(start, max(stop - start, 0)) if step == 1 else b"".join(self._read(r, 1) for r in rows)
        elif isinstance(index, int):
            if not -count <= index < count:
                raise IndexError(f"row {index} is out of range for {count} rows")
            return self[[index % count], columns][0]
        else:
            rows = torch.as_tensor(index, dtype=torch.long).reshape(-1).tolist()
            if any(not -count <= r < count for r in rows):
                raise IndexError(f"a row index is out of range for {count} rows")
            data = b"".join(self._read(r % count, 1) for r in rows)
        out = torch.frombuffer(bytearray(data), dtype=torch.int64) if data else torch.zeros(0, dtype=torch.int64)
        return out.view(len(rows), self.shape[1])[:, columns]

    def tolist(self) -> list[list[int]]:
        return self[:].tolist()


ROWS_PER_PART = 1 << 20  # rows one worker encodes at a time (progress granularity)
_PART: dict[str, Any] = {}  # what forked workers share with the parent (set before the fork)


def _workers(cfg: Config) -> int:
    return cfg.data.num_proc or os.cpu_count() or 1


def _write_split(dataset, indices: np.ndarray, name: str, files: dict[str, Path], tokenizer: TextTokenizer,
                 cfg: Config, has_prompt: bool, width: int) -> None:
    """Tokenise one split into .npy files, in parts of ROWS_PER_PART rows spread over
    `data.num_proc` processes. Each part's kept rows are written in place at the part's first
    row with plain file writes (the page cache holds them, not the process), and the gaps that
    dropped rows leave are closed afterwards."""
    tok = cfg.tokenizer
    rows = len(indices)
    bounds = [(lo, min(lo + ROWS_PER_PART, rows)) for lo in range(0, rows, ROWS_PER_PART)]
    with atomic_path(files["tokens"]) as tmp_tokens, atomic_path(files["prompt_lengths"]) as tmp_prompts:
        offsets = (_preallocate_npy(tmp_tokens, (rows, width)), _preallocate_npy(tmp_prompts, (rows,)))
        _PART.update(subset=dataset.select(indices), tokenizer=tokenizer, overflow=tok.overflow, width=width,
                     has_prompt=has_prompt, files=(tmp_tokens, tmp_prompts), offsets=offsets)
        try:
            progress = progress_bar(total=rows, desc=f"tokenising {name}", unit="rows")
            results = []
            workers = min(_workers(cfg), len(bounds))
            if workers > 1:
                with multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_tokenizers) as pool:
                    for result in pool.imap(_encode_part, bounds):
                        results.append(result)
                        progress.update(result[3])
            else:
                for part in bounds:
                    results.append(_encode_part(part))
                    progress.update(results[-1][3])
            progress.close()
        finally:
            _PART.clear()
        kept = 0
        for (lo, _), (part_kept, _, _, _) in zip(bounds, results):
            if kept != lo:  # close the gap left by dropped rows of earlier parts
                _move_rows(tmp_tokens, offsets[0], width * 8, lo, kept, part_kept)
                _move_rows(tmp_prompts, offsets[1], 8, lo, kept, part_kept)
            kept += part_kept
        _shrink_npy(tmp_tokens, (kept, width), offsets[0])
        _shrink_npy(tmp_prompts, (kept,), offsets[1])
    dropped, truncated = sum(r[1] for r in results), sum(r[2] for r in results)
    report_overflow(name, dropped, truncated, rows, width)
    files["meta"].write_text(json.dumps({"dropped": dropped, "truncated": truncated}), encoding="utf-8")


def _quiet_tokenizers() -> None:
    """In a forked worker: the Rust tokenizer runs single-threaded, without its fork warning."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _encode_part(bounds: tuple[int, int]) -> tuple[int, int, int, int]:
    """Encode rows [lo, hi) of the split and write the kept ones from row lo on.

    Returns (kept, dropped, truncated, rows read).
    """
    lo, hi = bounds
    tokenizer, overflow, width, has_prompt = _PART["tokenizer"], _PART["overflow"], _PART["width"], _PART["has_prompt"]
    kept = dropped = truncated = 0
    with open(_PART["files"][0], "r+b") as token_file, open(_PART["files"][1], "r+b") as prompt_file:
        token_file.seek(_PART["offsets"][0] + lo * width * 8)
        prompt_file.seek(_PART["offsets"][1] + lo * 8)
        for batch in _PART["subset"].select(range(lo, hi)).iter(batch_size=32768):
            texts = tokenizer.encode_capped([t.strip() for t in batch["text"]], width)
            prompts = tokenizer.encode_capped([p.strip() for p in batch["prompt"]], width) if has_prompt else [None] * len(texts)
            rows, prompt_lengths, part_dropped, part_truncated = encode_rows(texts, prompts, tokenizer, width, overflow)
            dropped, truncated = dropped + part_dropped, truncated + part_truncated
            if rows:
                token_file.write(np.asarray(rows, dtype=np.int64).tobytes())
                prompt_file.write(np.asarray(prompt_lengths, dtype=np.int64).tobytes())
                kept += len(rows)
    return kept, dropped, truncated, hi - lo


NPY_HEADER_BYTES = 128  # fixed, so a header rewritten for fewer rows keeps the data in place


def _write_npy_header(handle: Any, shape: tuple[int, ...]) -> int:
    """An int64 C-order .npy (version 1.0) header of NPY_HEADER_BYTES bytes; returns its size."""
    described = repr({"descr": "<i8", "fortran_order": False, "shape": tuple(shape)})
    padding = NPY_HEADER_BYTES - 10 - len(described) - 1
    handle.write(b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little")
                 + described.encode("latin1") + b" " * padding + b"\n")
    return NPY_HEADER_BYTES


def _preallocate_npy(path: Path, shape: tuple[int, ...]) -> int:
    """Write an int64 .npy header for `shape`, size the file for the data; returns the data offset."""
    with open(path, "wb") as handle:
        offset = _write_npy_header(handle, shape)
        handle.truncate(offset + int(np.prod(shape)) * 8)
    return offset


def _move_rows(path: Path, offset: int, row_bytes: int, source: int, target: int, count: int,
               chunk_rows: int = 1 << 16) -> None:
    """Copy `count` rows from row `source` to row `target` < source in place, chunk by chunk."""
    with open(path, "r+b") as handle:
        for start in range(0, count, chunk_rows):
            size = min(chunk_rows, count - start)
            handle.seek(offset + (source + start) * row_bytes)
            data = handle.read(size * row_bytes)
            handle.seek(offset + (target + start) * row_bytes)
            handle.write(data)


def _shrink_npy(path: Path, shape: tuple[int, ...], offset: int) -> None:
    """Rewrite a .npy header for fewer rows and cut the file (the rows were written first)."""
    with open(path, "r+b") as handle:
        _write_npy_header(handle, shape)
        handle.truncate(offset + int(np.prod(shape)) * 8)


def _train_tokenizer(dataset, train_indices: np.ndarray, cfg: Config, has_prompt: bool) -> TextTokenizer:
    limit = cfg.tokenizer.training_examples or len(train_indices)
    subset = dataset.select(train_indices[:limit])

    def texts():
        for batch in subset.iter(batch_size=8192):
            prompts = batch["prompt"] if has_prompt else [None] * len(batch["text"])
            for text, prompt in zip(batch["text"], prompts):
                yield text.strip()
                if prompt is not None:
                    yield prompt.strip()

    return build_tokenizer(texts(), cfg.tokenizer)


def _non_empty_rows(dataset, has_prompt: bool) -> np.ndarray:
    """Indices of rows whose text (and prompt) is not blank, computed by Arrow in C++ one record
    batch at a time (the trimmed copies of a batch's strings are all it holds)."""
    import pyarrow.compute as pc

    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    columns = ["text", "prompt"] if has_prompt else ["text"]
    found, offset = [], 0
    for batch in table.select(columns).to_batches(max_chunksize=1 << 20):
        keep = None
        for column in columns:
            values = pc.fill_null(batch.column(column).cast("string"), "")
            filled = pc.not_equal(pc.utf8_trim_whitespace(values), "")
            keep = filled if keep is None else pc.and_(keep, filled)
        found.append(np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + offset)
        offset += batch.num_rows
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


SPLITS = ("train", "validation", "test")


AUTO_SAMPLE_ROWS = 100_000  # train rows whose lengths size tokenizer.max_length: auto


def _auto_width(dataset, train_indices: np.ndarray, tokenizer: TextTokenizer, has_prompt: bool) -> int:
    """tokenizer.max_length: auto from up to AUTO_SAMPLE_ROWS train rows (the train indices are a
    seeded permutation, so their head is a random sample)."""
    batch = dataset.select(train_indices[:AUTO_SAMPLE_ROWS])[:]
    prompts = batch["prompt"] if has_prompt else [None] * len(batch["text"])
    examples = [Example(t.strip(), p.strip() if p is not None else None) for t, p in zip(batch["text"], prompts)]
    texts, prompt_ids = token_ids(examples, tokenizer, AUTO_MAX_LENGTH)
    width = choose_max_length([row_length(t, p, tokenizer) for t, p in zip(texts, prompt_ids)])
    log.info("tokenizer.max_length auto: %d tokens from %d train examples", width, len(examples))
    return width


def _split_files(folder: Path, name: str, tokenizer: TextTokenizer, cfg: Config, width: int) -> dict[str, Path]:
    key = f"{tokenizer.fingerprint()}-{width}-{cfg.tokenizer.overflow}"
    return {"tokens": folder / f"{name}-{key}.tokens.npy", "prompt_lengths": folder / f"{name}-{key}.prompts.npy",
            "meta": folder / f"{name}-{key}.json"}


def _load_split(files: dict[str, Path]) -> EncodedSplit:
    meta: dict[str, Any] = json.loads(files["meta"].read_text(encoding="utf-8"))
    return EncodedSplit(FileRows(files["tokens"]), _mapped_tensor(files["prompt_lengths"]),  # type: ignore[arg-type]
                        meta["dropped"], meta["truncated"])


def prepare_memory_mapped(cfg: Config, tokenizer: TextTokenizer | None = None) -> PreparedData:
    """PreparedData whose splits are memory-mapped token rows (see the module docstring).

    When the cache holds every split, neither the corpus nor the split indices are read.
    """
    path = resolve_corpus(cfg.data.corpus)
    text_field, prompt_field = _fields(cfg, path)
    renames = {text_field: "text", **({prompt_field: "prompt"} if prompt_field else {})}
    has_prompt = prompt_field is not None
    cache = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    settings = json.dumps({"corpus": corpus_fingerprint(path), "fields": renames, "seed": cfg.train.seed,
                           "max_examples": cfg.data.max_examples, "fractions": [cfg.data.validation_fraction, cfg.data.test_fraction],
                           "tokenizer": vars(cfg.tokenizer) if tokenizer is None else tokenizer.fingerprint()},
                          sort_keys=True, default=str)
    folder = cache / hashlib.sha256(settings.encode()).hexdigest()[:16]
    tokenizer_file, width_file = folder / "tokenizer.json", folder / "auto_max_length.json"
    if tokenizer is None and tokenizer_file.is_file():
        tokenizer = TextTokenizer.load(tokenizer_file)
    width = cfg.tokenizer.max_length
    if width == AUTO:
        width = json.loads(width_file.read_text(encoding="utf-8")) if width_file.is_file() else None
    if tokenizer is not None and width is not None and all(
            _split_files(folder, name, tokenizer, cfg, width)["meta"].is_file() for name in SPLITS):
        log.info("using cached tokens in %s", folder)
        return PreparedData(tokenizer=tokenizer, splits=None,
                            **{name: _load_split(_split_files(folder, name, tokenizer, cfg, width)) for name in SPLITS})

    dataset = load_dataset(path)
    for field in renames:
        check_text_field(dataset, field, path)
    dataset = dataset.select_columns(list(renames)).rename_columns({k: v for k, v in renames.items() if k != v})
    non_empty = _non_empty_rows(dataset, has_prompt)
    report_skipped(path, len(dataset) - len(non_empty), len(dataset), list(renames))
    if len(non_empty) == 0:
        raise DataError(f"corpus {path} has no non-empty examples; give at least one line of text")
    position = split_indices(len(non_empty), cfg.data, cfg.train.seed)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = _train_tokenizer(dataset, non_empty[position[0]], cfg, has_prompt)
        tokenizer.save(tokenizer_file)
    if width is None:
        width = _auto_width(dataset, non_empty[position[0]], tokenizer, has_prompt)
        width_file.write_text(json.dumps(width), encoding="utf-8")
    splits: dict[str, EncodedSplit] = {}
    for name, chosen in zip(SPLITS, position):
        files = _split_files(folder, name, tokenizer, cfg, width)
        if not files["meta"].is_file():
            _write_split(dataset, non_empty[chosen], name, files, tokenizer, cfg, has_prompt, width)
        splits[name] = _load_split(files)
    return PreparedData(tokenizer=tokenizer, splits=None, **splits)
