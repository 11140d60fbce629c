"""Dataclass configs with YAML round-trip, `--set a.b=c` overrides and validation.

One `Config` holds every section; it is saved resolved in each run directory and inside each
checkpoint, so sampling and resume rebuild exactly what was trained.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textgan.errors import ConfigError


@dataclass
class DataConfig:
    """Where the examples come from and how they are split."""

    corpus: str = "poems"  # a bundled corpus name (poems, dialogues), a path, or "oracle"
    text_field: str = "text"  # column of a .jsonl/.csv/HF dataset holding the text
    prompt_field: str = ""  # set (with reply_field) for prompt -> reply corpora
    reply_field: str = ""
    validation_file: str = ""  # optional explicit splits; otherwise split from the corpus
    test_file: str = ""
    validation_fraction: float = 0.05
    test_fraction: float = 0.05
    max_examples: int = 0  # 0 = all; otherwise a seeded subset (quick runs)
    # Corpora larger than memory: tokenise once with `datasets` into memory-mapped token files,
    # cached by corpus and tokenizer fingerprint. auto = for files over memory_map_min_mb.
    memory_map: str = "auto"  # auto | always | never
    memory_map_min_mb: float = 256.0
    cache_dir: str = ""  # default ~/.cache/textgan
    num_proc: int = 0  # processes that tokenise a memory-mapped corpus (0 = one per CPU core)
    # Synthetic oracle (corpus: oracle): a canonical .npz or a random LSTM built from the seed.
    oracle_path: str = ""
    oracle_samples: int = 10000
    oracle_seq_len: int = 20
    oracle_vocab_size: int = 5000
    oracle_hidden_dim: int = 32
    oracle_embedding_dim: int = 32


@dataclass
class TokenizerConfig:
    """How text becomes token ids."""

    kind: str = "char"  # char | word | bpe
    word_split: str = "whitespace"  # word tokenizer: whitespace | nltk
    vocab_size: int = 8000  # bpe target size (char/word keep every symbol seen >= min_frequency)
    min_frequency: int = 1
    lowercase: bool = False
    max_length: int = 32  # tokens per example, end token included
    overflow: str = "drop"  # drop | truncate examples longer than max_length
    training_examples: int = 0  # train the tokenizer on at most this many examples (0 = all)


@dataclass
class ModelConfig:
    """Generator architecture."""

    kind: str = "lstm"  # lstm | transformer
    embedding_dim: int = 64
    hidden_dim: int = 64
    num_layers: int = 1
    num_heads: int = 4  # transformer only
    dropout: float = 0.0
    # 0: the architecture's own initialisation (PyTorch's for the LSTM, GPT-2's N(0, 0.02));
    # > 0: weights drawn from N(0, init_std) (SeqGAN: every LSTM weight and bias N(0, 0.1))
    init_std: float = 0.0
    # a Hugging Face causal LM (folder or Hub id) to start from, with its own tokenizer; the
    # architecture keys above and tokenizer.kind are then ignored
    init_from: str = ""


@dataclass
class TrainConfig:
    """Optimisation, evaluation and checkpoint schedule shared by every trainer."""

    trainer: str = "mle"
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    patience: int = 3  # epochs without validation improvement before early stopping (0 = off)
    lr_schedule: str = "constant"  # constant | cosine
    eval_batches: int = 0  # 0 = the whole validation split
    checkpoint_every_steps: int = 0  # 0 = only at the end of each epoch
    checkpoint_every_minutes: float = 0.0
    keep_checkpoints: int = 3
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16
    seed: int = 0


@dataclass
class SampleConfig:
    """Defaults for sampling after training and in `textgan sample`."""

    num_samples: int = 10
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


@dataclass
class DiscriminatorConfig:
    """TextCNN discriminator (Kim 2014 with highway and dropout); defaults are SeqGAN's."""

    embedding_dim: int = 64
    filter_sizes: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20])
    num_filters: list[int] = field(
        default_factory=lambda: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    )
    dropout: float = 0.25  # SeqGAN's dropout_keep_prob 0.75
    l2: float = 0.2  # SeqGAN's l2_reg_lambda, on the output layer
    learning_rate: float = 1e-4


@dataclass
class GanConfig:
    """Image-style GAN (generator on soft one-hot / embeddings), its objective and GAN-practice knobs.

    The generator learns at train.learning_rate (clipped to train.grad_clip), D at
    discriminator.learning_rate; train.epochs counts passes of real batches through D.
    """

    objective: str = "wgan_gp"  # minimax | non_saturating | lsgan | wgan | wgan_gp | hinge | rsgan | began
    architecture: str = "conv"  # conv (residual 1-D convolutions, Gulrajani et al. 2017) | mlp
    output: str = "softmax"  # softmax: (T, V) distributions | embedding: (T, E) vectors in a fixed
    # random token table, E = discriminator.embedding_dim
    decode: str = "argmax"  # argmax | sample (per position, with temperature/top-k/top-p)
    noise_dim: int = 128
    hidden_dim: int = 128
    num_blocks: int = 2  # residual blocks (conv) or hidden layers (mlp)
    d_steps: int = 5  # discriminator updates per generator update
    optimizer: str = "auto"  # auto (RMSProp for wgan, Adam otherwise) | adam | rmsprop
    beta1: float = 0.5  # Adam betas (WGAN-GP's 0.5, 0.9)
    beta2: float = 0.9
    clip: float = 0.01  # wgan: critic weights clipped to [-clip, clip]
    gp_weight: float = 10.0  # wgan_gp: gradient-penalty weight lambda
    label_smoothing: float = 0.0  # one-sided: real target 1 - this (minimax, non_saturating, lsgan, rsgan)
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs at the start
    instance_noise_steps: int = 0  # generator steps over which that std falls linearly to 0 (0 = constant)
    began_gamma: float = 0.5  # BEGAN diversity ratio E[L(G(z))] / E[L(x)]
    began_lambda_k: float = 0.001  # BEGAN learning rate of k_t
    began_hidden_dim: int = 64  # BEGAN autoencoder width and code size
    eval_every: int = 100  # generator steps between health checks (unique samples, distinct-2, BLEU-2)
    eval_samples: int = 256  # size of the fixed-noise sample used by the health checks


@dataclass
class VaeConfig:
    """Sentence VAE (Bowman et al. 2016); encoder and decoder sizes come from the model section."""

    latent_dim: int = 32
    kl_schedule: str = "linear"  # linear | cyclical (Fu et al. 2019) | constant (weight 1 throughout)
    kl_anneal_steps: int = 2000  # linear: steps for the KL weight to reach 1; cyclical: one cycle's length
    kl_cycle_ratio: float = 0.5  # cyclical: share of each cycle over which the weight rises from 0 to 1
    word_dropout: float = 0.25  # share of decoder inputs replaced by a blank (zero) embedding
    active_unit_threshold: float = 0.01  # a latent unit is active when Cov_x(E_q[z_u]) exceeds this


@dataclass
class SeqGanConfig:
    """SeqGAN (Yu et al. 2017): policy gradient on Monte-Carlo rollout rewards from a TextCNN D.

    G is first trained by MLE for train.epochs epochs at train.learning_rate (batches of
    train.batch_size, also the policy-gradient batch); D learns at discriminator.learning_rate.
    Defaults are the paper's synthetic-data settings.
    """

    pretrain_d_steps: int = 50  # D pretraining updates, each on freshly generated samples
    d_epochs: int = 3  # epochs over each fresh real/generated set
    adversarial_rounds: int = 200  # SeqGAN's total_batch
    g_steps: int = 1  # policy-gradient updates of G per round
    d_steps: int = 5  # k: D updates per round, each on fresh samples for d_epochs epochs
    d_samples: int = 10000  # generated sequences per D update (with as many real ones)
    d_batch_size: int = 64
    rollout_count: int = 16  # Monte-Carlo completions per prefix
    rollout_update_rate: float = 0.8  # after each round: rollout = rate * rollout + (1 - rate) * G
    pg_learning_rate: float = 0.01
    baseline: bool = False  # subtract the batch's mean reward at each position (less variance)
    instance_noise: float = 0.0  # std of Gaussian noise on D's input embeddings at the start
    instance_noise_rounds: int = 0  # adversarial rounds over which that std falls linearly to 0 (0 = constant)
    label_smoothing: float = 0.0  # one-sided: D's target for real sequences is 1 - this
    nll_oracle_samples: int = 10000  # generated samples the oracle scores per evaluation (oracle runs)
    eval_every: int = 5  # MLE epochs / adversarial rounds between evaluations (phase ends always)
    time_limit_minutes: float = 0.0  # no new adversarial round once the session has run this long (0 = no limit)


@dataclass
class Config:
    """Every section of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    vae: VaeConfig = field(default_factory=VaeConfig)
    seqgan: SeqGanConfig = field(default_factory=SeqGanConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "tokenizer.kind": ("char", "word", "bpe"),
    "tokenizer.word_split": ("whitespace", "nltk"),
    "tokenizer.overflow": ("drop", "truncate"),
    "data.memory_map": ("auto", "always", "never"),
    "model.kind": ("lstm", "transformer"),
    "train.device": ("auto", "cpu", "cuda", "mps"),
    "train.precision": ("fp32", "bf16", "fp16"),
    "train.lr_schedule": ("constant", "cosine"),
    "gan.objective": ("minimax", "non_saturating", "lsgan", "wgan", "wgan_gp", "hinge", "rsgan", "began"),
    "gan.architecture": ("conv", "mlp"),
    "gan.output": ("softmax", "embedding"),
    "gan.decode": ("argmax", "sample"),
    "gan.optimizer": ("auto", "adam", "rmsprop"),
    "vae.kl_schedule": ("linear", "cyclical", "constant"),
}

# (minimum, maximum, minimum is exclusive)
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "seqgan.pretrain_d_steps": (0, None, False),
    "seqgan.d_epochs": (1, None, False),
    "seqgan.adversarial_rounds": (0, None, False),
    "seqgan.g_steps": (1, None, False),
    "seqgan.d_steps": (0, None, False),
    "seqgan.d_samples": (1, None, False),
    "seqgan.d_batch_size": (1, None, False),
    "seqgan.rollout_count": (1, None, False),
    "seqgan.rollout_update_rate": (0.0, 1.0, False),
    "seqgan.pg_learning_rate": (0.0, None, True),
    "seqgan.instance_noise": (0.0, None, False),
    "seqgan.instance_noise_rounds": (0, None, False),
    "seqgan.label_smoothing": (0.0, 0.5, False),
    "seqgan.nll_oracle_samples": (1, None, False),
    "seqgan.eval_every": (1, None, False),
    "seqgan.time_limit_minutes": (0.0, None, False),
    "data.validation_fraction": (0.0, 0.5, False),
    "data.test_fraction": (0.0, 0.5, False),
    "data.max_examples": (0, None, False),
    "data.memory_map_min_mb": (0.0, None, False),
    "data.num_proc": (0, None, False),
    "tokenizer.training_examples": (0, None, False),
    "data.oracle_samples": (1, None, False),
    "data.oracle_seq_len": (2, None, False),
    "data.oracle_vocab_size": (2, None, False),
    "tokenizer.vocab_size": (16, None, False),
    "tokenizer.min_frequency": (1, None, False),
    "tokenizer.max_length": (2, None, False),
    "model.embedding_dim": (1, None, False),
    "model.hidden_dim": (1, None, False),
    "model.num_layers": (1, None, False),
    "model.num_heads": (1, None, False),
    "model.dropout": (0.0, 1.0, False),
    "model.init_std": (0.0, None, False),
    "train.epochs": (1, None, False),
    "train.batch_size": (1, None, False),
    "train.learning_rate": (0.0, None, True),
    "train.weight_decay": (0.0, None, False),
    "train.grad_clip": (0.0, None, False),
    "train.patience": (0, None, False),
    "train.keep_checkpoints": (1, None, False),
    "train.checkpoint_every_steps": (0, None, False),
    "train.checkpoint_every_minutes": (0.0, None, False),
    "sample.num_samples": (1, None, False),
    "sample.temperature": (0.0, None, True),
    "sample.top_k": (0, None, False),
    "sample.top_p": (0.0, 1.0, True),
    "discriminator.embedding_dim": (1, None, False),
    "discriminator.dropout": (0.0, 1.0, False),
    "discriminator.l2": (0.0, None, False),
    "discriminator.learning_rate": (0.0, None, True),
    "gan.noise_dim": (1, None, False),
    "gan.hidden_dim": (1, None, False),
    "gan.num_blocks": (1, None, False),
    "gan.d_steps": (1, None, False),
    "gan.beta1": (0.0, 1.0, False),
    "gan.beta2": (0.0, 1.0, False),
    "gan.clip": (0.0, None, True),
    "gan.gp_weight": (0.0, None, False),
    "gan.label_smoothing": (0.0, 0.5, False),
    "gan.instance_noise": (0.0, None, False),
    "gan.instance_noise_steps": (0, None, False),
    "gan.began_gamma": (0.0, 1.0, True),
    "gan.began_lambda_k": (0.0, None, False),
    "gan.began_hidden_dim": (1, None, False),
    "gan.eval_every": (1, None, False),
    "gan.eval_samples": (2, None, False),
    "vae.latent_dim": (1, None, False),
    "vae.kl_anneal_steps": (1, None, False),
    "vae.kl_cycle_ratio": (0.0, 1.0, True),
    "vae.word_dropout": (0.0, 1.0, False),
    "vae.active_unit_threshold": (0.0, None, False),
}


def _section_types() -> dict[str, type]:
    return typing.get_type_hints(Config)


def new_config() -> Config:
    """A Config with defaults for every section."""
    return Config()


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict of every section (YAML/JSON ready)."""
    return {name: dataclasses.asdict(getattr(cfg, name)) for name in _section_types()}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against a field's annotation; int -> float is the only conversion."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            if option is type(None) and value is None:
                return None
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0], key)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key} expects a list, got {value!r}; write e.g. {key}=[1,2,3]")
        return [_coerce(v, item_type, key) for v in value]
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key} expects a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key} expects a whole number, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key} expects true or false, got {value!r}")
        return value
    if annotation is str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key {key} expects text, got {value!r}")
        return str(value)
    return value


def _set_key(cfg: Config, key: str, value: Any) -> None:
    parts = key.split(".")
    sections = _section_types()
    if len(parts) != 2 or parts[0] not in sections:
        raise ConfigError(
            f"unknown config key {key!r}; keys look like section.name with section one of "
            f"{', '.join(sections)}"
        )
    section = getattr(cfg, parts[0])
    hints = typing.get_type_hints(type(section))
    if parts[1] not in hints:
        raise ConfigError(
            f"unknown config key {key!r}; known keys in {parts[0]}: {', '.join(hints)}"
        )
    setattr(section, parts[1], _coerce(value, hints[parts[1]], key))


def update(cfg: Config, values: dict[str, Any], where: str = "config") -> Config:
    """Apply a nested dict ({section: {key: value}}) to cfg in place, checking keys and types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of sections, got {type(values).__name__}")
    for section, entries in values.items():
        if not isinstance(entries, dict):
            raise ConfigError(f"{where}: section {section!r} must be a mapping of key: value")
        for key, value in entries.items():
            _set_key(cfg, f"{section}.{key}", value)
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b=value`; the value is read as YAML so numbers, booleans and lists work."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value (e.g. train.epochs=5), got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `--set key=value` strings in order."""
    for text in overrides:
        key, value = parse_override(text)
        _set_key(cfg, key, value)
    return cfg


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file safely; syntax errors name the line and column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {path} has a YAML syntax error{where}: {problem}") from None
    return data or {}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file, then `--set` overrides; validated."""
    cfg = new_config()
    if path:
        update(cfg, load_yaml(path), where=str(path))
    apply_overrides(cfg, overrides or [])
    validate(cfg)
    return cfg


def from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a Config saved with `to_dict` (unknown keys are errors)."""
    cfg = update(new_config(), values, where="saved config")
    validate(cfg)
    return cfg


def check_filter_lists(filter_sizes: list[int], num_filters: list[int]) -> None:
    """Discriminator filter sizes and counts: non-empty, positive, one count per size."""
    if not filter_sizes or len(filter_sizes) != len(num_filters):
        raise ConfigError(
            f"discriminator.filter_sizes ({len(filter_sizes)} sizes) and discriminator.num_filters "
            f"({len(num_filters)} counts) must be non-empty lists of the same length"
        )
    if min(filter_sizes) < 1 or min(num_filters) < 1:
        raise ConfigError("discriminator.filter_sizes and discriminator.num_filters must all be >= 1")


def validate(cfg: Config) -> None:
    """Check choices and ranges of every known key; raise ConfigError naming the key and fix."""
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        if not hasattr(cfg, section):
            continue
        value = getattr(getattr(cfg, section), name)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    for key, (low, high, exclusive) in RANGES.items():
        section, name = key.split(".")
        if not hasattr(cfg, section):
            continue
        value = getattr(getattr(cfg, section), name)
        too_low = low is not None and (value <= low if exclusive else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            bound = (
                f"in ({low}, {high}]" if exclusive and high is not None
                else f"> {low}" if exclusive
                else f"in [{low}, {high}]" if high is not None
                else f">= {low}"
            )
            raise ConfigError(f"{key} must be {bound}, got {value!r}")
    if bool(cfg.data.prompt_field) != bool(cfg.data.reply_field):
        raise ConfigError("data.prompt_field and data.reply_field go together; set both or neither")
    check_filter_lists(cfg.discriminator.filter_sizes, cfg.discriminator.num_filters)
    if cfg.gan.label_smoothing and cfg.gan.objective not in ("minimax", "non_saturating", "lsgan", "rsgan"):
        raise ConfigError(
            f"gan.label_smoothing applies to minimax, non_saturating, lsgan and rsgan (objectives with a "
            f"real label), not {cfg.gan.objective}; set it to 0"
        )
    if cfg.model.init_from and (cfg.data.corpus == "oracle" or cfg.train.trainer in ("gan", "vae")):
        raise ConfigError(
            f"model.init_from starts a token generator from a pretrained LM; it does not apply to "
            f"{'the oracle corpus' if cfg.data.corpus == 'oracle' else 'train.trainer=' + cfg.train.trainer}; "
            "unset model.init_from or pick a text corpus and a token-generator trainer (mle, seqgan)"
        )
    if cfg.model.kind == "transformer" and cfg.model.embedding_dim % cfg.model.num_heads:
        raise ConfigError(
            f"model.embedding_dim ({cfg.model.embedding_dim}) must be divisible by "
            f"model.num_heads ({cfg.model.num_heads})"
        )


def save_yaml(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    from textgan.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))

