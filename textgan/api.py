"""Python API: train, resume, load and sample — what the CLI calls."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from textgan import config as config_mod
from textgan.checkpoint import Checkpoint, RunDirectory, find_checkpoint, load_checkpoint, seed_everything
from textgan.config import Config
from textgan.data import PreparedData, prepare_data, prompt_prefix
from textgan.data.corpus import IDENTITY_FILE, absolute_paths, check_corpus_unchanged, corpus_identity
from textgan.errors import ConfigError, TextGanError
from textgan.io import atomic_write_text
from textgan.models import Generator
from textgan.training import TRAINERS
from textgan.training.runtime import make_runtime

log = logging.getLogger(__name__)

# Keys that may change when a run is resumed; anything else must match the saved config.
RESUMABLE_KEYS = {"train.epochs", "train.device", "train.precision", "train.checkpoint_every_steps",
                  "train.checkpoint_every_minutes", "train.keep_checkpoints", "data.num_proc",
                  "train.patience", "sample.num_samples", "sample.temperature", "sample.top_k",
                  "sample.top_p", "seqgan.adversarial_rounds", "seqgan.time_limit_minutes",
                  "gumbel.adversarial_steps", "gumbel.time_limit_minutes", "cot.steps", "cot.time_limit_minutes"}


@dataclass
class TrainResult:
    """What a finished training run produced."""

    run_dir: Path
    samples: list[str]
    metrics: dict


def _flat(cfg: Config) -> dict[str, object]:
    return {f"{section}.{key}": value for section, values in config_mod.to_dict(cfg).items()
            for key, value in values.items()}


def check_resume_compatible(saved: Config, requested: Config) -> None:
    """Refuse a resume whose config changes anything but the schedule or device."""
    old, new = _flat(saved), _flat(requested)
    changed = [k for k in new if old.get(k) != new[k] and k not in RESUMABLE_KEYS]
    if changed:
        raise ConfigError(
            f"--resume: the run was trained with other settings ({', '.join(changed[:4])}); only "
            "epochs, device, precision and the checkpoint schedule may change; start a new --out"
        )


def build_data(cfg: Config, tokenizer=None) -> PreparedData:
    """Prepare the configured corpus (or the synthetic oracle's sequences).

    tokenizer.max_length: auto is replaced in `cfg` by the length chosen, so the run's saved
    config rebuilds the same rows for sampling, resume and evaluation.
    """
    if cfg.data.corpus == "oracle":
        from textgan.data.oracle import prepare_oracle_data

        return prepare_oracle_data(cfg)
    data = prepare_data(cfg, tokenizer)
    cfg.tokenizer.max_length = int(data.train.tokens.shape[1])
    return data


def train(cfg: Config, out: str | Path, resume: bool = False) -> TrainResult:
    """Train the configured trainer into run directory `out` (or continue it with resume).

    The data paths of `cfg` become absolute (relative ones found in `out` on resume), so the run
    reads the same files from any folder later.
    """
    out = Path(out)
    absolute_paths(cfg.data, out if resume else None)
    runtime = make_runtime(cfg.train.device, cfg.train.precision)
    run = RunDirectory(out, write=runtime.is_main)
    checkpoint_path = None
    if resume:
        saved_config = out / "config.yaml"
        if not saved_config.is_file():
            raise TextGanError(f"--resume {out}: no config.yaml there; pass the run directory of an earlier textgan train")
        saved = config_mod.from_dict(config_mod.load_yaml(saved_config))
        absolute_paths(saved.data, out)
        check_resume_compatible(saved, cfg)
        check_corpus_unchanged(out, cfg.data)
        checkpoint_path = run.pointed("latest")
        if checkpoint_path is None:
            raise TextGanError(f"--resume {out}: no checkpoint in {run.checkpoints}; start the run again without --resume")
    elif (out / "metrics.jsonl").exists() and runtime.is_main:
        raise TextGanError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    trainer_cls = TRAINERS.get(cfg.train.trainer)
    if trainer_cls is None:
        raise ConfigError(f"train.trainer must be one of {', '.join(TRAINERS)}, got {cfg.train.trainer!r}")

    seed_everything(cfg.train.seed)
    with runtime.main_first():  # rank 0 fills the tokenisation cache, the others then read it
        if checkpoint_path is not None:
            loaded = load_checkpoint(checkpoint_path)
            data = build_data(cfg, loaded.tokenizer)
        else:
            data = build_data(cfg)
    if checkpoint_path is not None:
        generator = loaded.generator
    else:
        generator = trainer_cls.new_generator(cfg, data)
    trainer = trainer_cls(cfg, run, runtime, data, generator)
    if checkpoint_path is None and runtime.is_main:
        atomic_write_text(out / IDENTITY_FILE, json.dumps(corpus_identity(cfg.data), indent=1) + "\n")
    if checkpoint_path is not None:
        trainer.resume_from(checkpoint_path)
        log.info("resumed %s at step %d", out, trainer.step)
    try:
        trainer.train()
    except torch.cuda.OutOfMemoryError:
        smaller = max(1, cfg.train.batch_size // 2)
        raise TextGanError(
            f"the {runtime.device.type} device ran out of memory at batch size {cfg.train.batch_size}; "
            f"retry with --batch-size {smaller} (and --resume to keep what was trained)"
        ) from None

    samples: list[str] = []
    if runtime.is_main:
        generator = trainer.generator.eval()
        rng = torch.Generator(device=runtime.device).manual_seed(cfg.train.seed)
        s = cfg.sample
        rows = generator.sample(s.num_samples, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                                generator=rng)
        samples = [data.tokenizer.decode(r) for r in rows.tolist()]
        run.write_samples("final.txt", samples)
    last = {}
    if run.metrics_file.is_file():
        lines = run.metrics_file.read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1]) if lines else {}
    return TrainResult(out, samples, last)


def load(path: str | Path, prefer: str = "best") -> Checkpoint:
    """Load the best (else latest) checkpoint of a run directory, or a checkpoint folder."""
    return load_checkpoint(find_checkpoint(Path(path), prefer))


def sample(
    model: Checkpoint | str | Path,
    n: int = 10,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    prompt: str | None = None,
    seed: int = 0,
    device: str = "auto",
) -> list[str]:
    """Sample n texts (replies to `prompt`, if given) from a run or checkpoint."""
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top-p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ConfigError(f"top-k must be >= 0, got {top_k}")
    if n < 1:
        raise ConfigError(f"-n must be >= 1, got {n}")
    checkpoint = model if isinstance(model, Checkpoint) else load(model)
    runtime = make_runtime(device, "fp32")
    generator: Generator = checkpoint.generator.to(runtime.device).eval()
    tokenizer = checkpoint.tokenizer
    prefix = None
    if prompt is not None:
        unknown = tokenizer.unknown_characters(prompt)
        if unknown:
            raise TextGanError(
                f"the prompt holds {', '.join(repr(u) for u in unknown[:5])}, unknown to this model's "
                "tokenizer; rephrase the prompt with words seen in training"
            )
        prefix = prompt_prefix(tokenizer, prompt)
        if len(prefix) >= generator.max_length:
            raise TextGanError(
                f"the prompt is {len(prefix)} tokens but the model generates at most "
                f"{generator.max_length}; shorten the prompt"
            )
    rng = torch.Generator(device=runtime.device).manual_seed(seed)
    rows = generator.sample(n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, generator=rng)
    start = len(prefix) if prefix else 0
    return [tokenizer.decode(r[start:]) for r in rows.tolist()]
