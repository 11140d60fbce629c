"""Python API: train, resume, load and sample — what the CLI calls."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import torch

from textgan import config as config_mod
from textgan.checkpoint import Checkpoint, RunDirectory, find_checkpoint, load_checkpoint, seed_everything
from textgan.config import Config
from textgan.data import PreparedData, TextTokenizer, build_data, prompt_prefix
from textgan.data.corpus import IDENTITY_FILE, absolute_paths, check_corpus_unchanged, corpus_identity
from textgan.data.encoding import show_sample
from textgan.errors import ConfigError, TextGanError
from textgan.io import atomic_write_text, refuse_file
from textgan.models import Generator
from textgan.models.memory import check_fits_in_memory
from textgan.training import TRAINERS, Trainer
from textgan.training.runtime import Runtime, make_runtime

log = logging.getLogger(__name__)

# Keys that may change when a run is resumed (the schedule, device, checkpointing, sampling, and
# each trainer's `resumable_keys`); anything else must match the saved config.
RESUMABLE_KEYS = frozenset({"train.epochs", "train.device", "train.precision", "train.checkpoint_every_steps",
                            "train.checkpoint_every_minutes", "train.keep_checkpoints", "train.time_limit_minutes",
                            "data.num_proc", "train.patience", "train.deterministic", "sample.num_samples",
                            "sample.temperature", "sample.top_k", "sample.top_p", "train.tensorboard"}
                           ).union(*(trainer.resumable_keys for trainer in TRAINERS.values()))


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


# The key that lets a finished run train further when resumed, by trainer.
EXTEND_KEYS = {name: trainer.extend_key() for name, trainer in TRAINERS.items()}
# Trainers whose generator writes whole rows from noise and cannot continue a prompt: their
# samples hold a prompt of their own (shown before its reply all the same).
WHOLE_ROW_TRAINERS = frozenset(name for name, trainer in TRAINERS.items() if trainer.whole_rows)


@dataclass
class TrainResult:
    """What a training run produced; `note` says why a resumed run had nothing left to do, or that
    the run ended before its own phase; `plan` holds the plan's lines (a staged trainer's)."""

    run_dir: Path
    samples: list[str]
    metrics: dict
    note: str | None = None
    plan: list[str] | None = None


def finished_note(cfg: Config, trainer: Trainer, out: Path) -> str:
    """One line: the resumed run was already finished, and which key makes it train further."""
    key = type(trainer).extend_key()
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    how = f"raise {key} (now {value}): textgan train --out {shlex.quote(str(out))} --resume --set {key}=N"
    if key == "train.epochs" and trainer.should_stop_early():
        how += f"; it stopped early, so also raise train.patience (now {cfg.train.patience}, 0 = never stop)"
    return f"{out} is finished (step {trainer.step}); nothing to resume; to train further {how}"


def final_samples(generator: Generator, data: PreparedData, cfg: Config, device: torch.device) -> list[str]:
    """sample.num_samples texts from a fixed seed; for prompt -> reply data, replies to the
    validation prompts in turn, shown as `prompt → reply`."""
    from textgan.models.generation import generate

    s = cfg.sample
    rng = torch.Generator(device=device).manual_seed(cfg.train.seed)
    source = data.validation if len(data.validation) else data.train
    if cfg.train.trainer in WHOLE_ROW_TRAINERS:
        rows = generator.sample(s.num_samples, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, generator=rng)
        prompt_lengths = torch.zeros(len(rows), dtype=torch.long)
    else:
        rows, prompt_lengths = generate(generator, s.num_samples, s.temperature, rng, source,
                                        top_k=s.top_k, top_p=s.top_p)
    prompted = bool((source.prompt_lengths > 0).any())
    return [show_sample(data.tokenizer, row, int(p), prompted) for row, p in zip(rows.tolist(), prompt_lengths)]


def has_prompts(cfg: Config) -> bool:
    """Whether the configured corpus is prompt -> reply pairs (named fields or a bundled dialogue set)."""
    from textgan.data.corpus import BUNDLED_FIELDS

    return bool(cfg.data.prompt_field) or cfg.data.corpus in BUNDLED_FIELDS


def encode_within_context(cfg: Config, tokenizer: TextTokenizer, context: int | None) -> PreparedData:
    """The corpus encoded with `tokenizer`, rows no wider than a pretrained model's `context`: a
    larger tokenizer.max_length, or one that auto chose, is capped (in `cfg`, so the saved config
    rebuilds the same rows) with a warning."""
    asked = cfg.tokenizer.max_length
    if context is not None and asked != "auto" and int(asked) > context:
        log.warning("tokenizer.max_length=%s exceeds the %d positions of model %s; examples are encoded to %d tokens",
                    asked, context, cfg.model.init_from, context)
        cfg.tokenizer.max_length = context
    data = build_data(cfg, tokenizer)
    if context is not None and data.train.tokens.shape[1] > context:
        log.warning("tokenizer.max_length auto chose %d tokens, more than the %d positions of model %s; examples "
                    "are encoded to %d tokens", data.train.tokens.shape[1], context, cfg.model.init_from, context)
        cfg.tokenizer.max_length = context
        data = build_data(cfg, tokenizer)
    return data


def pretrained_generator_context(cfg: Config, generator: Generator) -> int | None:
    """The context of a resumed run's pretrained model (None for runs not started from one)."""
    hf_config = getattr(generator, "hf_config", None)
    if not cfg.model.init_from or hf_config is None:
        return None
    from textgan.models.transformer import context_length

    return context_length(hf_config)


def pretrained_data(cfg: Config) -> PreparedData:
    """The corpus encoded with the tokenizer of the model named by model.init_from."""
    from textgan.config import TokenizerConfig
    from textgan.models.pretrained import load_pretrained_tokenizer, pretrained_context

    name = cfg.model.init_from
    tokenizer = load_pretrained_tokenizer(name, separator=has_prompts(cfg))
    ignored = "tokenizer.kind=%s is ignored: " % cfg.tokenizer.kind if cfg.tokenizer.kind != TokenizerConfig().kind else ""
    (log.warning if ignored else log.info)("%sthe corpus is encoded with the tokenizer of %s (%d tokens)",
                                           ignored, name, tokenizer.vocab_size)
    return encode_within_context(cfg, tokenizer, pretrained_context(name))


def train(cfg: Config, out: str | Path, resume: bool = False, dry_run: bool = False) -> TrainResult:
    """Train the configured trainer into run directory `out` (or continue it with resume).

    The data paths of `cfg` become absolute (relative ones found in `out` on resume), so the run
    reads the same files from any folder later. The run directory is locked while training
    (rank 0 holds the lock under torchrun). With `dry_run`, the trainer is built and its plan
    made (`TrainResult.plan`), and nothing is written into `out`.
    """
    out = Path(out)
    absolute_paths(cfg.data, out if resume else None)
    runtime = make_runtime(cfg.train.device, cfg.train.precision, cfg.train.deterministic)
    run = RunDirectory(out, write=runtime.is_main and not dry_run)
    if resume and not (out / "config.yaml").is_file():
        refuse_file(out)
        raise TextGanError(f"--resume {out}: no config.yaml there; pass the run directory of an earlier textgan train")
    if dry_run:
        refuse_file(out)
        return _train(cfg, run, runtime, resume, dry_run=True)
    with run.claim() if runtime.is_main else contextlib.nullcontext():
        return _train(cfg, run, runtime, resume)


def _train(cfg: Config, run: RunDirectory, runtime: Runtime, resume: bool, dry_run: bool = False) -> TrainResult:
    out = run.path
    checkpoint_path = None
    if resume:
        saved = config_mod.from_dict(config_mod.load_yaml(out / "config.yaml"))
        absolute_paths(saved.data, out)
        check_resume_compatible(saved, cfg)
        check_corpus_unchanged(out, cfg.data)
        checkpoint_path = run.resolve("latest", resumable=True)
        if checkpoint_path is None:
            raise TextGanError(f"--resume {out}: no checkpoint in {run.checkpoints}; start the run again without --resume")
    elif runtime.is_main and run.holds_run():
        raise TextGanError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    trainer_cls = TRAINERS.get(cfg.train.trainer)
    if trainer_cls is None:
        raise ConfigError(f"train.trainer must be one of {', '.join(TRAINERS)}, got {cfg.train.trainer!r}")

    seed_everything(cfg.train.seed)
    start_run = checkpoint_path is None and config_mod.is_run_folder(cfg.model.init_from)
    with runtime.main_first():  # rank 0 fills the tokenisation cache, the others then read it
        if checkpoint_path is not None or start_run:
            loaded = load_checkpoint(checkpoint_path or find_checkpoint(Path(cfg.model.init_from).expanduser()))
            data = (build_data(cfg) if start_run and cfg.data.corpus == "oracle" else
                    encode_within_context(cfg, loaded.tokenizer, pretrained_generator_context(cfg, loaded.generator)))
        elif cfg.model.init_from:
            if cfg.data.corpus == "oracle":
                raise ConfigError(f"model.init_from={cfg.model.init_from}: no textgan run there (its config.yaml); on "
                                  "the oracle start from a run folder, e.g. one of examples/oracle_mle.yaml")
            data = pretrained_data(cfg)
        else:
            data = build_data(cfg)
    if start_run and loaded.generator.vocab_size != data.tokenizer.vocab_size:
        raise ConfigError(f"model.init_from={cfg.model.init_from}: its generator has {loaded.generator.vocab_size} "
                          f"tokens, this corpus {data.tokenizer.vocab_size}; start from a run on the same data")
    if checkpoint_path is not None or start_run:
        generator = loaded.generator
    elif cfg.model.init_from:
        from textgan.models.pretrained import load_pretrained_generator

        generator = load_pretrained_generator(cfg.model.init_from, data.tokenizer, data.train.tokens.shape[1])
    else:
        if trainer_cls.new_generator.__func__ is Trainer.new_generator.__func__:  # model.kind's generator
            # the data's row length: tokenizer.max_length for corpora, data.oracle_seq_len for the oracle
            check_fits_in_memory(cfg, data.tokenizer.vocab_size, data.train.tokens.shape[1], runtime.device,
                                 trainer_cls.networks)
        generator = trainer_cls.new_generator(cfg, data)
    trainer = trainer_cls(cfg, run, runtime, data, generator)
    if checkpoint_path is not None:
        trainer.resume_from(checkpoint_path)
        log.info("resumed %s at step %d", out, trainer.step)
    if dry_run:
        return TrainResult(out, [], {}, plan=plan_lines(trainer))
    if checkpoint_path is None and runtime.is_main:
        atomic_write_text(out / IDENTITY_FILE, json.dumps(corpus_identity(cfg.data), indent=1) + "\n")
    was_finished, start_step = trainer.finished, trainer.step
    try:
        trainer.train()
    except torch.cuda.OutOfMemoryError:
        smaller = max(1, cfg.train.batch_size // 2)
        raise TextGanError(
            f"the {runtime.device.type} device ran out of memory at batch size {cfg.train.batch_size}; "
            f"retry with --batch-size {smaller} (and --resume to keep what was trained)"
        ) from None
    last = {}
    if run.metrics_file.is_file():
        lines = run.metrics_file.read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1]) if lines else {}
    if was_finished and trainer.step == start_step:
        return TrainResult(out, [], last, finished_note(cfg, trainer, out) if runtime.is_main else None)

    samples: list[str] = []
    if runtime.is_main:
        samples = final_samples(trainer.generator.eval(), data, cfg, runtime.device)
        run.write_samples("final.txt", samples)
    return TrainResult(out, samples, last, trainer.ending_note() if runtime.is_main else None)


def plan_lines(trainer: Trainer) -> list[str]:
    """The plan of a run not yet trained (`--dry-run`): a staged trainer's measured phases, else one line."""
    if trainer.finished:
        return [f"{trainer.run.path} is finished (step {trainer.step}); nothing to plan"]
    make = getattr(trainer, "make_plan", None)
    if make is None:
        t = trainer.cfg.train
        limit = f", stopped by train.time_limit_minutes={t.time_limit_minutes:g}" if t.time_limit_minutes else ""
        return [f"plan of this {trainer.name} run: one phase, {t.epochs} epochs (train.epochs){limit}"]
    return make().lines


def load(path: str | Path, prefer: str = "best") -> Checkpoint:
    """Load the best (else latest) checkpoint of a run directory, or a checkpoint folder."""
    return load_checkpoint(find_checkpoint(Path(path), prefer))


def check_sampling(n: int | None, temperature: float | None, top_k: int | None, top_p: float | None) -> None:
    """Refuse sampling settings outside their range (NaN and infinity included); None = unset."""
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"temperature must be > 0 and finite, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"top-p must be in (0, 1], got {top_p}")
    if top_k is not None and top_k < 0:
        raise ConfigError(f"top-k must be >= 0, got {top_k}")
    if n is not None and n < 1:
        raise ConfigError(f"-n must be >= 1, got {n}")


@dataclass
class Decoding:
    """How tokens are chosen: sampled at a temperature within top-k / top-p, or greedily; with an
    optional repetition penalty (> 1 discourages tokens already in the text)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    greedy: bool = False
    repetition_penalty: float = 1.0

    def check(self) -> None:
        """Refuse values outside their ranges, naming the option."""
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"temperature must be > 0 and finite, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ConfigError(f"top-k must be >= 0, got {self.top_k}")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise ConfigError(f"repetition penalty must be > 0 (1 = none), got {self.repetition_penalty}")


def decode_rows(generator: Generator, n: int, prefix: list[int] | None, decoding: Decoding, seed: int) -> torch.Tensor:
    """(n, max_length) rows continuing `prefix`. Greedy and repetition-penalised decoding of a
    Hugging Face generator go through its own `generate`; everything else through `sample`."""
    special = decoding.greedy or decoding.repetition_penalty != 1.0
    options = dict(temperature=decoding.temperature, top_k=decoding.top_k, top_p=decoding.top_p)
    if special and hasattr(generator, "generate_rows"):
        return generator.generate_rows(n, generator.max_length, list(prefix or []), greedy=decoding.greedy,
                                       repetition_penalty=decoding.repetition_penalty, seed=seed, **options)
    if special and type(generator).sample is not Generator.sample:
        raise ConfigError(f"greedy decoding and the repetition penalty apply to token generators (lstm, transformer, "
                          f"--init-from), not to {type(generator).__name__}; drop --greedy / --repetition-penalty")
    extra = dict(greedy=decoding.greedy, repetition_penalty=decoding.repetition_penalty) if special else {}
    rng = torch.Generator(device=generator.device).manual_seed(seed)
    return generator.sample(n, prefix=prefix, generator=rng, **options, **extra)


def check_prompt(tokenizer: TextTokenizer, generator: Generator, prompt: str) -> list[int]:
    """The ids that start a reply to `prompt`; unknown words and prompts too long are refused."""
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
    return prefix


def sample(
    model: Checkpoint | str | Path,
    n: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    prompt: str | None = None,
    seed: int = 0,
    device: str = "auto",
    greedy: bool = False,
    repetition_penalty: float = 1.0,
    with_prompt: bool = True,
) -> list[str]:
    """Sample n texts (replies to `prompt`, if given) from a run or checkpoint.

    Settings left None come from the run's `sample` config section. A prompt is shown with
    what was generated (`prompt → reply`, or the continued text) unless `with_prompt` is False.
    """
    check_sampling(n, temperature, top_k, top_p)
    checkpoint = model if isinstance(model, Checkpoint) else load(model)
    saved = checkpoint.config.sample
    n = saved.num_samples if n is None else n
    temperature = saved.temperature if temperature is None else temperature
    top_k = saved.top_k if top_k is None else top_k
    top_p = saved.top_p if top_p is None else top_p
    decoding = Decoding(temperature, top_k, top_p, greedy, repetition_penalty)
    decoding.check()
    runtime = make_runtime(device, "fp32")
    generator: Generator = checkpoint.generator.to(runtime.device).eval()
    tokenizer = checkpoint.tokenizer
    prefix = check_prompt(tokenizer, generator, prompt) if prompt is not None else None
    rows = decode_rows(generator, n, prefix, decoding, seed)
    start = len(prefix) if prefix else 0
    if with_prompt:
        prompted = has_prompts(checkpoint.config)
        return [show_sample(tokenizer, r, start, prompted) for r in rows.tolist()]
    return [tokenizer.decode(r[start:]) for r in rows.tolist()]
