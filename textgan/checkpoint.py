"""Run directories and checkpoints: config.json + model.safetensors + tokenizer.json + state.

A checkpoint is a folder `checkpoints/step-NNNNNNNN/` written under a temporary name, fsynced
and renamed; `checkpoints/latest` and `checkpoints/best` name folders. Trainer state (optimizer,
scheduler, RNG, step) is read back with `torch.load(weights_only=True)`: nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import random
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import yaml
from safetensors.torch import save_file

from textgan import config as config_mod
from textgan.config import Config
from textgan.data.corpus import IDENTITY_FILE
from textgan.data.tokenizer import TextTokenizer
from textgan.errors import CheckpointError, TextGanError
from textgan.io import atomic_dir, atomic_write_text, folder_lock, refuse_file
from textgan.models import Generator, load_generator, load_state_strict, read_safetensors

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"
RUN_CONFIG = "textgan.yaml"
MANIFEST = "checkpoint.json"
LOCK_FILE = ".lock"
# What textgan writes into a run directory; a folder holding anything else is not a run.
RUN_ENTRIES = frozenset({"config.yaml", "metrics.jsonl", "samples", CHECKPOINTS, "eval", LOCK_FILE, IDENTITY_FILE})
# Files of a checkpoint folder without which it cannot be loaded (trainer state: resumed).
CHECKPOINT_FILES = (RUN_CONFIG, "config.json", "model.safetensors", "tokenizer.json")

log = logging.getLogger(__name__)


def capture_rng() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain values (weights_only-safe); on
    CUDA, the state of this process's own GPU only (so a run resumes with fewer GPUs visible)."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state(torch.cuda.current_device())
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng`. The CUDA state goes to this process's own GPU; older checkpoints
    held every visible GPU's state in a list, of which the entry at this GPU's index is taken."""
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is None or not torch.cuda.is_available():
        return
    own = torch.cuda.current_device()
    if isinstance(cuda, (list, tuple)):
        cuda = cuda[own] if own < len(cuda) else None
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, own)


def generator_state(rng: torch.Generator) -> dict[str, Any]:
    """A trainer's random stream for a checkpoint: its state and the device type it runs on."""
    return {"device": rng.device.type, "state": rng.get_state()}


def restore_generator(rng: torch.Generator, saved: dict[str, Any] | torch.Tensor) -> None:
    """Inverse of `generator_state` (a bare state tensor from older checkpoints is accepted).

    States are device-specific (a CPU Mersenne Twister, a CUDA Philox seed and offset): on the
    device type it was saved on the stream continues exactly; on another one (a run started on
    the CPU resumed on CUDA, or back) the stream is carried across by reseeding from a hash of
    the saved state, so the run goes on reproducibly but no longer bit-identically, with a warning.
    """
    state = saved["state"] if isinstance(saved, dict) else saved
    origin = saved["device"] if isinstance(saved, dict) else None
    if origin in (None, rng.device.type) and state.numel() == rng.get_state().numel():
        rng.set_state(state)
        return
    digest = hashlib.sha256(state.contiguous().numpy().tobytes()).digest()
    rng.manual_seed(int.from_bytes(digest[:8], "little"))
    log.warning("a random stream saved on %s continues on %s, reseeded from its saved state: the resumed run "
                "is reproducible but not bit-identical to one that stayed on %s",
                origin or "another device type", rng.device.type, origin or "it")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Checkpoint:
    """What a checkpoint folder holds, loaded."""

    path: Path
    config: Config
    generator: Generator
    tokenizer: TextTokenizer
    state: dict[str, Any]


def save_checkpoint(
    path: Path,
    cfg: Config,
    generator: Generator,
    tokenizer: TextTokenizer,
    state: dict[str, Any],
    modules: dict[str, torch.nn.Module] | None = None,
) -> None:
    """Write a complete checkpoint folder atomically (the old one stays intact on failure)."""
    with atomic_dir(path) as tmp:
        generator.save_pretrained(tmp)
        tokenizer.save(tmp / "tokenizer.json")
        manifest = {"tokenizer_fingerprint": tokenizer.fingerprint(), "modules": sorted(modules or {})}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        (tmp / RUN_CONFIG).write_text(
            yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        for name, module in (modules or {}).items():
            tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
            save_file(tensors, str(tmp / f"{name}.safetensors"))
        torch.save(state, tmp / STATE_FILE)


def read_state(path: Path) -> dict[str, Any]:
    """Trainer state of a checkpoint, loaded without unpickling arbitrary objects."""
    file = path / STATE_FILE
    if not file.is_file():
        return {}
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{file} holds objects other than tensors and plain values and was refused "
            "(it may be hostile); use a checkpoint written by textgan"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{file} is truncated or corrupt ({str(exc).splitlines()[0]}); use an earlier checkpoint") from None


def load_module_weights(path: Path, name: str, module: torch.nn.Module) -> None:
    """Load `<name>.safetensors` of a checkpoint into a module, strictly."""
    file = path / f"{name}.safetensors"
    load_state_strict(module, read_safetensors(file), file)


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint folder: config, generator, tokenizer, trainer state."""
    path = Path(path)
    config_file = path / RUN_CONFIG
    if not config_file.is_file():
        raise CheckpointError(f"{path} is not a textgan checkpoint ({RUN_CONFIG} missing); pass a checkpoint folder or run directory")
    cfg = config_mod.from_dict(config_mod.load_yaml(config_file))
    tokenizer = TextTokenizer.load(path / "tokenizer.json")
    generator = load_generator(path)
    manifest_file = path / MANIFEST
    manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
    expected = manifest.get("tokenizer_fingerprint")
    if generator.vocab_size != tokenizer.vocab_size or (expected and expected != tokenizer.fingerprint()):
        raise CheckpointError(
            f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model expects "
            f"{generator.vocab_size}; the tokenizer.json belongs to another run, restore the matching one"
        )
    return Checkpoint(path, cfg, generator, tokenizer, read_state(path))


class RunDirectory:
    """A run's folder: config.yaml, metrics.jsonl, samples/, checkpoints/."""

    def __init__(self, path: Path, write: bool = True) -> None:
        self.path = Path(path)
        self.write = write  # only the main process writes

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    def save_config(self, cfg: Config) -> None:
        if self.write:
            config_mod.save_yaml(cfg, self.path / "config.yaml")

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON object to metrics.jsonl."""
        if not self.write:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop metric records after `step` (a resumed run rewrites them identically)."""
        if not self.write or not self.metrics_file.is_file():
            return
        kept = [line for line in self.metrics_file.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_text(self.metrics_file, "".join(line + "\n" for line in kept))

    def write_samples(self, name: str, lines: list[str]) -> Path:
        path = self.path / "samples" / name
        if self.write:
            atomic_write_text(path, "".join(line.replace("\n", " ") + "\n" for line in lines))
        return path

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}"

    def mark(self, pointer: str, checkpoint: Path) -> None:
        """Point `checkpoints/<pointer>` (latest, best) at a checkpoint folder."""
        if self.write:
            atomic_write_text(self.checkpoints / pointer, checkpoint.name + "\n")

    def pointed(self, pointer: str) -> Path | None:
        file = self.checkpoints / pointer
        if not file.is_file():
            return None
        target = self.checkpoints / file.read_text(encoding="utf-8").strip()
        return target if target.is_dir() else None

    def complete_checkpoints(self, resumable: bool = False) -> list[Path]:
        """Checkpoint folders holding every file a load needs (and trainer state if
        `resumable`), oldest first."""
        if not self.checkpoints.is_dir():
            return []
        needed = CHECKPOINT_FILES + ((STATE_FILE,) if resumable else ())
        return sorted(p for p in self.checkpoints.iterdir()
                      if p.is_dir() and p.name.startswith("step-") and all((p / f).is_file() for f in needed))

    def resolve(self, pointer: str, resumable: bool = False) -> Path | None:
        """The checkpoint `checkpoints/<pointer>` names; if that one is missing or incomplete,
        the newest complete checkpoint instead, with a warning saying so."""
        target = self.pointed(pointer)
        complete = self.complete_checkpoints(resumable)
        if target in complete or not complete:
            return target  # (an incomplete target then fails to load with its own message)
        file = self.checkpoints / pointer
        named = f"names {file.read_text(encoding='utf-8').strip()}, which is missing or incomplete" if file.is_file() else "is missing"
        log.warning("%s %s; using %s, the newest complete checkpoint", file, named, complete[-1].name)
        return complete[-1]

    def holds_run(self) -> bool:
        """Whether a run was trained here (metrics or checkpoints written)."""
        return self.metrics_file.is_file() or bool(self.complete_checkpoints())

    @contextlib.contextmanager
    def claim(self) -> Iterator[Path]:
        """Lock the folder against a second training while the block runs, after checking it
        can take a run: new, empty or a run directory, not a file or a folder of other files.
        A folder made here that is left holding only the lock file is removed again."""
        refuse_file(self.path)
        if self.path.is_dir():
            foreign = sorted(p.name for p in self.path.iterdir() if p.name not in RUN_ENTRIES)
            if foreign and not (self.path / "config.yaml").is_file() and not self.metrics_file.is_file():
                raise TextGanError(
                    f"--out {self.path} is a folder of other files ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}), not a run directory; pass a new or empty folder"
                )
        created = not self.path.exists()
        try:
            with folder_lock(self.path, LOCK_FILE) as lock_file:
                yield lock_file
        finally:
            if created and [p.name for p in self.path.iterdir()] == [LOCK_FILE]:
                shutil.rmtree(self.path, ignore_errors=True)

    def prune(self, keep: int) -> None:
        """Keep the newest `keep` checkpoints and the best one."""
        if not self.write or not self.checkpoints.is_dir():
            return
        protected = {p.name for p in (self.pointed("best"), self.pointed("latest")) if p}
        folders = sorted(p for p in self.checkpoints.iterdir() if p.is_dir() and p.name.startswith("step-"))
        for old in folders[:-keep]:
            if old.name not in protected:
                shutil.rmtree(old, ignore_errors=True)


def fresh_run_path(parent: Path, prefix: str) -> Path:
    """A new folder name `parent/prefix-YYYYmmdd-HHMMSS` (with -2, -3... if that is taken)."""
    stem = Path(parent) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, count = stem, 1
    while path.exists():
        count += 1
        path = stem.with_name(f"{stem.name}-{count}")
    return path


def find_checkpoint(path: Path, prefer: str = "best") -> Path:
    """A checkpoint folder from a run directory (best, else latest) or the folder itself."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} not found; pass a run directory written by textgan train or a checkpoint folder")
    if (path / RUN_CONFIG).is_file():
        return path
    run = RunDirectory(path, write=False)
    pointers = [p for p in (prefer, "latest", "best") if (run.checkpoints / p).is_file()]
    found = run.resolve(pointers[0] if pointers else prefer)
    if found is not None:
        return found
    raise CheckpointError(f"{path} holds no checkpoint; train first (textgan train --out {path}) or pass a checkpoint folder")
