"""Dataclass configs with YAML round-trip, `--set a.b=c` overrides and validation.

One `Config` holds every section; it is saved resolved in each run directory and inside each
checkpoint, so sampling and resume rebuild exactly what was trained. Every field is declared
with `param(...)`, which puts its check (range, choices, or free text) beside its default:
`validate` walks every field, and a field declared without a check fails at import, so no key
can be added unchecked.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textgan.errors import ConfigError

# Every command's seed (train.seed, `--seed` of sample, chat, evaluate, compare, demo) is a whole
# number in 0..SEED_MAX: the trainers derive per-epoch and per-process seeds from it that must
# stay within the range torch and numpy accept.
SEED_MAX = 2**32 - 1


def seed_flag(text: str) -> int:
    """`--seed` of every command (an argparse type): a whole number in 0..SEED_MAX, the rule
    train.seed follows."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expects a whole number in 0..{SEED_MAX}, got {text!r}")
    return value


@dataclass(frozen=True)
class Check:
    """What values a config field accepts: a numeric range, a set of choices, or free text.

    A field may have both a range and choices (e.g. `"auto"` or an integer >= 2). Numbers must be
    finite unless `allow_inf`; list fields apply the range to every item.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the minimum itself is refused
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    free: bool = False  # any text (paths, field names)
    allow_inf: bool = False

    def describe_range(self) -> str:
        """The accepted interval in words (for error messages and docs)."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        return f"{'<' if self.high_open else '<='} {self.high}"

    def __call__(self, key: str, value: Any) -> None:
        """Raise ConfigError naming the key, the accepted values and the value given."""
        if isinstance(value, list):
            for item in value:
                self(key, item)
            return
        if self.choices is not None and (isinstance(value, str) or self.low is None and self.high is None):
            if value not in self.choices:
                also = f" or a number {self.describe_range()}" if self.low is not None or self.high is not None else ""
                raise ConfigError(f"{key} must be one of {', '.join(map(str, self.choices))}{also}, got {value!r}")
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isnan(value) or (math.isinf(value) and not self.allow_inf):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")
            too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
            too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
            if too_low or too_high:
                raise ConfigError(f"{key} must be {self.describe_range()}, got {value!r}")


def param(default: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
          high_open: bool = False, choices: tuple[Any, ...] | None = None, free: bool = False,
          allow_inf: bool = False) -> Any:
    """A dataclass field with its check beside its default (lists get a fresh copy per instance)."""
    check = Check(low, high, low_open, high_open, tuple(choices) if choices is not None else None, free, allow_inf)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"check": check})
    return field(default=default, metadata={"check": check})


@dataclass
class DataConfig:
    """Where the examples come from and how they are split."""

    corpus: str = param("poems", free=True)  # a bundled corpus name (poems, dialogues, dialogues_shakespeare), a path, or "oracle"
    text_field: str = param("text", free=True)  # column of a .jsonl/.csv/HF dataset holding the text
    prompt_field: str = param("", free=True)  # set (with reply_field) for prompt -> reply corpora
    reply_field: str = param("", free=True)
    validation_file: str = param("", free=True)  # optional explicit splits; otherwise split from the corpus
    test_file: str = param("", free=True)
    validation_fraction: float = param(0.05, low=0.0, high=0.5)
    test_fraction: float = param(0.05, low=0.0, high=0.5)
    max_examples: int = param(0, low=0)  # 0 = all; otherwise a seeded subset (quick runs)
    # Corpora larger than memory: tokenise once with `datasets` into memory-mapped token files,
    # cached by corpus and tokenizer fingerprint. auto = for files over memory_map_min_mb.
    memory_map: str = param("auto", choices=("auto", "always", "never"))
    memory_map_min_mb: float = param(256.0, low=0.0)
    cache_dir: str = param("", free=True)  # default ~/.cache/textgan
    num_proc: int = param(0, low=0)  # processes that tokenise a memory-mapped corpus (0 = one per CPU core)
    # Synthetic oracle (corpus: oracle): a canonical .npz or a random LSTM built from the seed.
    oracle_path: str = param("", free=True)
    oracle_samples: int = param(10000, low=1)
    oracle_seq_len: int = param(20, low=2)
    oracle_vocab_size: int = param(5000, low=2, high=1_000_000)
    oracle_hidden_dim: int = param(32, low=1, high=65536)
    oracle_embedding_dim: int = param(32, low=1, high=65536)


@dataclass
class TokenizerConfig:
    """How text becomes token ids."""

    kind: str = param("char", choices=("char", "word", "bpe"))
    word_split: str = param("whitespace", choices=("whitespace", "nltk"))  # word tokenizer
    # bpe target size (char/word keep every symbol seen >= min_frequency); the largest published
    # vocabularies are ~256k, and the BPE trainer aborts natively far above that
    vocab_size: int = param(8000, low=16, high=1_000_000)
    min_frequency: int = param(1, low=1)
    lowercase: bool = param(False)
    # tokens per example, end token included; auto: from the corpus (docs/corpora.md)
    max_length: int | str = param("auto", low=2, high=1_000_000, choices=("auto",))
    overflow: str = param("drop", choices=("drop", "truncate"))  # examples longer than max_length
    training_examples: int = param(0, low=0)  # train the tokenizer on at most this many examples (0 = all)


@dataclass
class ModelConfig:
    """Generator architecture."""

    kind: str = param("lstm", choices=("lstm", "transformer", "relational_memory"))
    embedding_dim: int = param(64, low=1)
    hidden_dim: int = param(64, low=1)
    num_layers: int = param(1, low=1)
    num_heads: int = param(4, low=1)  # transformer and relational_memory
    memory_slots: int = param(1, low=1)  # relational_memory: rows of the memory, each hidden_dim wide
    dropout: float = param(0.0, low=0.0, high=1.0, high_open=True)
    # 0: the architecture's own initialisation (PyTorch's for the LSTM, GPT-2's N(0, 0.02));
    # > 0: weights drawn from N(0, init_std) (SeqGAN: every LSTM weight and bias N(0, 0.1))
    init_std: float = param(0.0, low=0.0)
    # a Hugging Face causal LM (folder or Hub id) to start from, with its own tokenizer, or a textgan
    # run folder (its best checkpoint's generator and tokenizer); the architecture keys above and
    # tokenizer.kind are then ignored
    init_from: str = param("", free=True)


TRAINER_NAMES = ("mle", "vae", "gan", "seqgan", "maligan", "rankgan", "leakgan", "gumbel", "cot", "scratchgan",
                 "gad")  # textgan.training.TRAINERS must have exactly these


@dataclass
class TrainConfig:
    """Optimisation, evaluation and checkpoint schedule shared by every trainer."""

    trainer: str = param("mle", choices=TRAINER_NAMES)
    epochs: int = param(10, low=1)
    batch_size: int = param(64, low=1)
    learning_rate: float = param(0.01, low=0.0, low_open=True)
    weight_decay: float = param(0.0, low=0.0)
    grad_clip: float = param(5.0, low=0.0)  # 0 = no clipping
    patience: int = param(3, low=0)  # epochs without validation improvement before early stopping (0 = off)
    lr_schedule: str = param("constant", choices=("constant", "cosine"))
    eval_batches: int = param(0, low=0)  # 0 = the whole validation split
    # prompt -> reply data: prompt tokens count in the MLE loss and in every NLL (default: the reply only)
    nll_include_prompt: bool = param(False)
    checkpoint_every_steps: int = param(0, low=0)  # 0 = only at the end of each epoch
    checkpoint_every_minutes: float = param(0.0, low=0.0)
    # wall-clock budget: training stops (finished) once it has run this long in all, resumes
    # included (0 = no limit); the leaderboard's equal budget per model
    time_limit_minutes: float = param(0.0, low=0.0)
    # staged trainers (seqgan and kin, gumbel, cot): with time_limit_minutes, pretraining (MLE and D)
    # takes at most this fraction of it, shared between its phases, so a budgeted run spends most of its
    # time in its own phase; each pretraining phase ends before a unit that would overrun its share
    # (MLE after one epoch at least). The run's plan says what is cut (0 = pretraining uncapped)
    pretrain_time_fraction: float = param(0.3, low=0.0, high=1.0)
    keep_checkpoints: int = param(3, low=1)
    device: str = param("auto", choices=("auto", "cpu", "cuda", "mps"))
    precision: str = param("fp32", choices=("fp32", "bf16", "fp16"))
    # CUDA only: deterministic kernels (cuDNN, cuBLAS workspace, torch's deterministic algorithms),
    # so the same seed repeats a run on the same GPU model; CPU kernels are deterministic anyway
    deterministic: bool = param(True)
    seed: int = param(0, low=0, high=SEED_MAX)
    tensorboard: bool = param(True)  # event files in RUN/tensorboard/ (tensorboard --logdir runs/)


@dataclass
class SampleConfig:
    """Defaults for sampling after training and in `textgan sample`."""

    num_samples: int = param(10, low=1)
    temperature: float = param(1.0, low=0.0, low_open=True)
    top_k: int = param(0, low=0)
    top_p: float = param(1.0, low=0.0, high=1.0, low_open=True)


@dataclass
class DiscriminatorConfig:
    """TextCNN discriminator (Kim 2014 with highway and dropout); defaults are SeqGAN's."""

    embedding_dim: int = param(64, low=1)
    filter_sizes: list[int] = param([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20], low=1)
    num_filters: list[int] = param([100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160], low=1)
    dropout: float = param(0.25, low=0.0, high=1.0, high_open=True)  # SeqGAN's dropout_keep_prob 0.75
    l2: float = param(0.2, low=0.0)  # SeqGAN's l2_reg_lambda, on the output layer
    learning_rate: float = param(1e-4, low=0.0, low_open=True)
    # RelGAN's multiple representations: the embedding is cut into this many small ones, each
    # read by the same filters (one logit each); 1 = SeqGAN's TextCNN
    representations: int = param(1, low=1)
    # seqgan: SeqGAN's initialisation, biases and one output layer; relgan: RelGAN's (He-normal
    # filters, no biases in the highway, a layer of 100 before the logit)
    style: str = param("seqgan", choices=("seqgan", "relgan"))


OBJECTIVE_NAMES = ("minimax", "non_saturating", "lsgan", "wgan", "wgan_gp", "hinge", "rsgan", "began")


@dataclass
class GanConfig:
    """Image-style GAN (generator on soft one-hot / embeddings), its objective and GAN-practice knobs.

    The generator learns at train.learning_rate (clipped to train.grad_clip), D at
    discriminator.learning_rate; train.epochs counts passes of real batches through D.
    """

    objective: str = param("wgan_gp", choices=OBJECTIVE_NAMES)
    # conv: residual 1-D convolutions (Gulrajani et al. 2017) | mlp
    architecture: str = param("conv", choices=("conv", "mlp"))
    # softmax: (T, V) distributions | embedding: (T, E) vectors in a fixed random token table,
    # E = discriminator.embedding_dim
    output: str = param("softmax", choices=("softmax", "embedding"))
    decode: str = param("argmax", choices=("argmax", "sample"))  # sample: per position, with temperature/top-k/top-p
    noise_dim: int = param(128, low=1)
    hidden_dim: int = param(128, low=1)
    num_blocks: int = param(2, low=1)  # residual blocks (conv) or hidden layers (mlp)
    # textcnn: SeqGAN's TextCNN (the discriminator section) | resnet: the WGAN-GP language model's
    # residual 1-D conv critic, gan.num_blocks blocks of gan.hidden_dim channels like the generator
    critic: str = param("textcnn", choices=("textcnn", "resnet"))
    d_steps: int = param(5, low=1)  # discriminator updates per generator update
    optimizer: str = param("auto", choices=("auto", "adam", "rmsprop"))  # auto: RMSProp for wgan, Adam otherwise
    beta1: float = param(0.5, low=0.0, high=1.0, high_open=True)  # Adam betas (WGAN-GP's 0.5, 0.9)
    beta2: float = param(0.9, low=0.0, high=1.0, high_open=True)
    clip: float = param(0.01, low=0.0, low_open=True)  # wgan: critic weights clipped to [-clip, clip]
    gp_weight: float = param(10.0, low=0.0)  # wgan_gp: gradient-penalty weight lambda
    # one-sided: real target 1 - this (minimax, non_saturating, lsgan, rsgan)
    label_smoothing: float = param(0.0, low=0.0, high=0.5)
    instance_noise: float = param(0.0, low=0.0)  # std of Gaussian noise on D's inputs at the start
    instance_noise_steps: int = param(0, low=0)  # generator steps over which that std falls linearly to 0 (0 = constant)
    began_gamma: float = param(0.5, low=0.0, high=1.0, low_open=True)  # BEGAN diversity ratio E[L(G(z))] / E[L(x)]
    began_lambda_k: float = param(0.001, low=0.0)  # BEGAN learning rate of k_t
    began_hidden_dim: int = param(64, low=1)  # BEGAN autoencoder width and code size
    eval_every: int = param(100, low=1)  # generator steps between health checks (unique samples, distinct-2, BLEU-2)
    eval_samples: int = param(256, low=2)  # size of the fixed-noise sample used by the health checks


@dataclass
class VaeConfig:
    """Sentence VAE (Bowman et al. 2016); encoder and decoder sizes come from the model section."""

    latent_dim: int = param(32, low=1)
    # linear | cyclical (Fu et al. 2019) | constant (weight 1 throughout)
    kl_schedule: str = param("linear", choices=("linear", "cyclical", "constant"))
    kl_anneal_steps: int = param(2000, low=1)  # linear: steps for the KL weight to reach 1; cyclical: one cycle's length
    kl_cycle_ratio: float = param(0.5, low=0.0, high=1.0, low_open=True)  # cyclical: share of each cycle rising 0 -> 1
    word_dropout: float = param(0.25, low=0.0, high=1.0)  # share of decoder inputs replaced by a blank (zero) embedding
    active_unit_threshold: float = param(0.01, low=0.0)  # a latent unit is active when Cov_x(E_q[z_u]) exceeds this


@dataclass
class SeqGanConfig:
    """SeqGAN (Yu et al. 2017): policy gradient on Monte-Carlo rollout rewards from a TextCNN D.

    G is first trained by MLE for train.epochs epochs at train.learning_rate (batches of
    train.batch_size, also the policy-gradient batch); D learns at discriminator.learning_rate.
    Defaults are the paper's synthetic-data settings.
    """

    pretrain_d_steps: int = param(50, low=0)  # D pretraining updates, each on freshly generated samples
    d_epochs: int = param(3, low=1)  # epochs over each fresh real/generated set
    adversarial_rounds: int = param(200, low=0)  # SeqGAN's total_batch
    g_steps: int = param(1, low=1)  # policy-gradient updates of G per round
    d_steps: int = param(5, low=0)  # k: D updates per round, each on fresh samples for d_epochs epochs
    d_samples: int = param(10000, low=1)  # generated sequences per D update (with as many real ones)
    d_batch_size: int = param(64, low=1)
    rollout_count: int = param(16, low=1)  # Monte-Carlo completions per prefix
    rollout_update_rate: float = param(0.8, low=0.0, high=1.0)  # after each round: rollout = rate * rollout + (1 - rate) * G
    pg_learning_rate: float = param(0.01, low=0.0, low_open=True)
    baseline: bool = param(False)  # subtract the other rows' mean reward at each position (less variance)
    instance_noise: float = param(0.0, low=0.0)  # std of Gaussian noise on D's input embeddings at the start
    instance_noise_rounds: int = param(0, low=0)  # rounds over which that std falls linearly to 0 (0 = constant)
    label_smoothing: float = param(0.0, low=0.0, high=0.5)  # one-sided: D's target for real sequences is 1 - this
    nll_oracle_samples: int = param(10000, low=1)  # generated samples the oracle scores per evaluation (oracle runs)
    eval_every: int = param(5, low=1)  # MLE epochs / adversarial rounds between evaluations (phase ends always)
    # no new adversarial round once this session has run this long (0 = no limit); unlike
    # train.time_limit_minutes it counts this session only, and only stops the rounds
    time_limit_minutes: float = param(0.0, low=0.0)


@dataclass
class MaliGanConfig:
    """MaliGAN (Che et al. 2017) on the SeqGAN trainer: every seqgan.* key applies; its own knob."""

    # false: the paper's sentence-level reward from D(sample); true: per-position rewards from
    # seqgan.rollout_count rollouts (Q / (1 - Q) normalised over the batch at each position)
    rollouts: bool = param(False)
    # the paper's Algorithm 2 (mixed MLE-Mali training): G's rows start with a real prefix of
    # mixing_tokens tokens, learnt by MLE, and G continues them for the Mali reward; the prefix
    # shrinks by mixing_decrease tokens every mixing_every rounds, down to 0 (0 = off: Algorithm 1)
    mixing_tokens: int = param(0, low=0)
    mixing_decrease: int = param(1, low=1)
    mixing_every: int = param(10, low=1)
    # Algorithm 2's n: continuations G samples of each real prefix; the weights are normalised
    # within each prefix's n rows (1: one continuation each, normalised over the batch)
    mixing_samples: int = param(1, low=1)


@dataclass
class RankGanConfig:
    """RankGAN (Lin et al. 2017) on the SeqGAN trainer: every seqgan.* key applies; the ranker's knobs."""

    gamma: float = param(1.0, low=0.0, low_open=True)  # inverse temperature of the softmax over cosine relevances
    reference_size: int = param(16, low=1)  # real rows whose mean feature is the reference U
    comparison_size: int = param(64, low=1)  # real rows that a generated sentence is ranked against (G's reward)


@dataclass
class LeakGanConfig:
    """LeakGAN (Guo et al. 2018) on the SeqGAN trainer: every seqgan.* key applies; D's leaked
    features drive a Manager; the Worker is an LSTM of model.embedding_dim / model.hidden_dim."""

    goal_size: int = param(16, low=1)  # k: the Worker's output is V x k, its goal embedding w has k entries
    step_size: int = param(4, low=1)  # c: the Worker's goal is renewed every c tokens, to the sum of the last c goals
    manager_hidden_dim: int = param(32, low=1)  # the Manager LSTM's width
    delta: float = param(16.0, low=0.0, low_open=True)  # rescaled activation sigma(delta * (rank / B - 0.5))
    # pretraining alternates this many times {D updates, MLE epochs}, each round a share of
    # seqgan.pretrain_d_steps and train.epochs
    pretrain_rounds: int = param(10, low=1)
    mle_every: int = param(10, low=0)  # interleaved training: MLE epochs after every this many rounds (0 = none)
    mle_epochs: int = param(5, low=1)  # full MLE epochs (Worker NLL + Manager goal loss on real rows) each time
    negative_logit_scale: float = param(1.5, low=0.0, low_open=True)  # D's generated rows: softmax(logits x this)


@dataclass
class GumbelConfig:
    """Relaxed-sampling GANs (RelGAN, GSGAN): D sees softmax(beta * (o + g)) of G's logits o and
    Gumbel noise g. G is first trained by MLE for train.epochs epochs at train.learning_rate;
    D learns at discriminator.learning_rate. Defaults are RelGAN's."""

    adversarial_steps: int = param(5000, low=0)  # generator updates after pretraining
    d_steps: int = param(5, low=1)  # discriminator updates per generator update
    g_learning_rate: float = param(1e-4, low=0.0, low_open=True)  # Adam, adversarial phase
    # any gan.objective; wgan, wgan_gp and began use gan.clip, gan.gp_weight and gan.began_*
    objective: str = param("rsgan", choices=OBJECTIVE_NAMES)
    beta_max: float = param(100.0, low=0.0, low_open=True)  # RelGAN's "temperature" (GSGAN: 1 / tau, constant)
    # exponential | linear | log | sigmoid | quad | sqrt (RelGAN's) | constant (beta_max throughout)
    beta_schedule: str = param("exponential",
                               choices=("exponential", "linear", "log", "sigmoid", "quad", "sqrt", "constant"))
    beta_steps: int = param(5000, low=0)  # the schedule's N (RelGAN: 5,000, beyond its runs); 0: adversarial_steps
    d_grad_clip: float = param(5.0, low=0.0)  # D's global gradient-norm clip (RelGAN: 5; 0 = none)
    eval_every: int = param(100, low=1)  # MLE epochs / adversarial steps between evaluations (phase ends always)
    nll_oracle_samples: int = param(10000, low=1)  # generated samples the oracle scores per evaluation (oracle runs)


@dataclass
class CotConfig:
    """Cooperative training (Lu et al. 2019): a mediator LM (the model section's architecture at
    mediator_width times its width, trained by MLE on an equal mix of real and generated rows)
    and a generator that minimises the exact per-step KL(G || mediator) along its own samples.
    Defaults are the authors' code's."""

    steps: int = param(2000, low=0)  # generator updates
    mediator_steps: int = param(1, low=1)  # mediator updates per generator update
    pretrain_epochs: int = param(0, low=0)  # MLE epochs of G first, at train.learning_rate (CoT: none)
    g_learning_rate: float = param(1e-3, low=0.0, low_open=True)  # Adam
    mediator_learning_rate: float = param(3e-3, low=0.0, low_open=True)  # Adam
    adam_beta2: float = param(0.95, low=0.0, high=1.0, high_open=True)  # both networks' Adam beta2 (CoT: 0.95)
    mediator_width: float = param(2.0, low=0.0, low_open=True)  # mediator's model.embedding_dim and hidden_dim x this
    mediator_dropout: float = param(0.5, low=0.0, high=1.0, high_open=True)  # mediator outputs, in its updates
    eval_every: int = param(100, low=1)  # MLE epochs / generator updates between evaluations (phase ends always)
    nll_oracle_samples: int = param(10000, low=1)  # generated samples the oracle scores per evaluation (oracle runs)


@dataclass
class ScratchGanConfig:
    """ScratchGAN (de Masson d'Autume et al. 2019): no MLE; per step one D and one G update on a
    batch of train.batch_size; dense rewards 2 sigmoid(D_t) - 1 from a recurrent per-token D,
    discounted returns, a moving-average baseline. Defaults are the authors' code's (EMNLP2017 News);
    G's size is the model section's (2 x 512 LSTM there), its embedding model.embedding_dim wide."""

    steps: int = param(200_000, low=0)  # one D and one G update each
    pretrain_epochs: int = param(0, low=0)  # MLE epochs first, at train.learning_rate (ScratchGAN: none; > 0 an ablation)
    gamma: float = param(0.23, low=0.0, high=1.0)  # discount of the per-token rewards
    baseline_decay: float = param(0.08, low=0.0, high=1.0)  # b <- decay * b + (1 - decay) * mean return
    g_learning_rate: float = param(9.59e-5, low=0.0, low_open=True)  # Adam
    d_learning_rate: float = param(9.38e-3, low=0.0, low_open=True)  # Adam, about 100x G's
    beta1: float = param(0.5, low=0.0, high=1.0, high_open=True)  # Adam beta1 of both
    d_hidden_dim: int = param(512, low=1)  # D's LSTM width
    d_num_layers: int = param(1, low=1)
    d_embedding_dim: int = param(64, low=1)  # D's trainable embedding width
    d_embedding_dropout: float = param(0.1, low=0.0, high=1.0, high_open=True)  # dropout on D's embedding table
    d_layer_norm: bool = param(True)  # layer norm inside D's LSTM
    d_l2: float = param(1e-6, low=0.0)  # L2 weight on every D weight (sum of squares / 2)
    # a word2vec/GloVe text file: frozen vectors beside the trainable embeddings of G and D ("" = none)
    word_vectors: str = param("", free=True)
    eval_every: int = param(1000, low=1)  # steps between evaluations (the last step always)
    nll_oracle_samples: int = param(10000, low=1)  # generated samples the oracle scores per evaluation (oracle runs)


@dataclass
class GadConfig:
    """Group-relative adversarial training (GAD-style GRPO against an on-policy discriminator):
    k samples per prompt or real prefix, the discriminator's score as reward, group-relative
    advantages, a per-token KL to the starting model; starts from model.init_from (an MLE run or a
    Hugging Face causal LM) or gad.pretrain_epochs of MLE. D: the discriminator section."""

    steps: int = param(2000, low=0)  # policy updates (each after gad.d_steps D updates on the step's samples)
    group_size: int = param(4, low=2)  # k samples per prompt / prefix; train.batch_size must be a multiple
    prefix_tokens: int = param(0, low=0)  # plain text: real tokens each group starts from (0 = from <bos>)
    advantage: str = param("grpo", choices=("grpo", "rloo"))  # group-normalised | leave-one-out
    clip_epsilon: float = param(0.2, low=0.0)  # importance ratio clipped to [1 - eps, 1 + eps] (0 = not clipped)
    inner_epochs: int = param(1, low=1)  # policy updates on each step's samples (> 1: the ratio moves)
    kl_coef: float = param(0.04, low=0.0)  # weight of the k3 KL to the starting model (0 = none)
    g_learning_rate: float = param(1e-4, low=0.0, low_open=True)  # Adam
    # recurrent: an LSTM sequence D (GAD's D is a language model with a score head) | textcnn: the
    # discriminator section's TextCNN (SeqGAN's size costs ~8 MLE steps a step on the oracle)
    discriminator: str = param("recurrent", choices=("recurrent", "textcnn"))
    d_loss: str = param("bradley_terry", choices=("bradley_terry", "binary"))  # real > generated pairs | real / fake
    d_steps: int = param(1, low=1)  # D updates per step, on the step's samples
    d_hidden_dim: int = param(64, low=1)  # recurrent D's LSTM width (embedding: discriminator.embedding_dim)
    pretrain_epochs: int = param(0, low=0)  # MLE epochs first (0: start from model.init_from as it is)
    eval_every: int = param(100, low=1)  # steps between evaluations (the last step always)
    nll_oracle_samples: int = param(10000, low=1)  # generated samples the oracle scores per evaluation (oracle runs)


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
    maligan: MaliGanConfig = field(default_factory=MaliGanConfig)
    rankgan: RankGanConfig = field(default_factory=RankGanConfig)
    leakgan: LeakGanConfig = field(default_factory=LeakGanConfig)
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    cot: CotConfig = field(default_factory=CotConfig)
    scratchgan: ScratchGanConfig = field(default_factory=ScratchGanConfig)
    gad: GadConfig = field(default_factory=GadConfig)


def _section_types() -> dict[str, type]:
    return typing.get_type_hints(Config)


def fields_with_checks(root: type = Config) -> dict[str, tuple[Any, Check | None]]:
    """Every key `section.name` of `root` with its type annotation and its declared check."""
    table: dict[str, tuple[Any, Check | None]] = {}
    for section, section_type in typing.get_type_hints(root).items():
        hints = typing.get_type_hints(section_type)
        for item in dataclasses.fields(section_type):
            table[f"{section}.{item.name}"] = (hints[item.name], item.metadata.get("check"))
    return table


def require_checks(root: type = Config) -> None:
    """Refuse (at import) a field declared without `param`, or a number/text field with nothing to check."""
    for key, (annotation, check) in fields_with_checks(root).items():
        if check is None:
            raise TypeError(f"config key {key} is declared without param(...); declare its range or choices")
        if annotation is bool:
            continue
        if not (check.free or check.choices is not None or check.low is not None or check.high is not None):
            raise TypeError(f"config key {key} declares no range, choices or free=True in its param(...)")


require_checks()


def new_config() -> Config:
    """A Config with defaults for every section."""
    return Config()


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict of every section (YAML/JSON ready)."""
    return {name: dataclasses.asdict(getattr(cfg, name)) for name in _section_types()}


def _matches(value: Any, annotation: Any) -> bool:
    """Whether `value` has the shape of one option of a union (int accepted for float)."""
    if typing.get_origin(annotation) is list:
        return isinstance(value, list)
    if annotation is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if annotation is float:
        return isinstance(value, (int, float))
    return isinstance(value, annotation) if isinstance(annotation, type) else True


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against a field's annotation; int -> float is the only conversion."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        options = tuple(a for a in options if a is not type(None))
        chosen = next((a for a in options if _matches(value, a)), options[0])
        return _coerce(value, chosen, key)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key} expects a list, got {value!r}; write e.g. {key}=[1,2,3]")
        return [_coerce(v, item_type, key) for v in value]
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
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


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set `section.name` to `value` after checking that the key exists and the type fits."""
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
            set_key(cfg, f"{section}.{key}", value)
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
        set_key(cfg, key, value)
    return cfg


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {seen[key]} and {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file safely; syntax errors and keys given twice name the line and column."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; pass a YAML file to --config")
    if path.exists() and not path.is_file():
        raise ConfigError(f"config file {path} is not a regular file (a pipe, socket or device); pass a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass an existing YAML file to --config")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if "given twice" in problem:
            raise ConfigError(f"config file {path}: {problem}; keep one of them") from None
        raise ConfigError(f"config file {path} has a YAML syntax error{where}: {problem}") from None
    return data or {}


def load_run_yaml(path: str | Path) -> dict[str, Any]:
    """A run's own config (RUN/config.yaml, a checkpoint's textgan.yaml): written by textgan, so
    an empty, unreadable or non-mapping file is damage, refused naming it (never read as defaults)."""
    path = Path(path)
    fix = ("restore it (every checkpoint keeps a copy: RUN/checkpoints/step-N/textgan.yaml); "
           "nothing was written")
    try:
        data = load_yaml(path)
    except ConfigError as exc:  # "config file PATH <reason>; <fix for a preset>": keep the reason
        reason = str(exc).removeprefix(f"config file {path}").strip(" :").split("; ")[0]
        reason = f"it {reason}" if reason.startswith(("has ", "is ")) else reason
        raise ConfigError(f"{path} is damaged ({reason}); {fix}") from None
    if not data or not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        what = "empty" if not data else f"a YAML {type(data).__name__} of the wrong shape"
        raise ConfigError(f"{path} is damaged ({what}, not the run's settings); {fix}")
    return data


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
    """Check every key against the check declared beside it, then the rules that join keys."""
    for key, (_, check) in fields_with_checks().items():
        section, name = key.split(".")
        if check is not None:  # never None for Config: require_checks ran at import
            check(key, getattr(getattr(cfg, section), name))
    if bool(cfg.data.prompt_field) != bool(cfg.data.reply_field):
        raise ConfigError("data.prompt_field and data.reply_field go together; set both or neither")
    check_filter_lists(cfg.discriminator.filter_sizes, cfg.discriminator.num_filters)
    if cfg.train.trainer == "gan" and cfg.model.kind != "lstm":
        raise ConfigError(
            f"train.trainer=gan trains its own image-style generator (gan.architecture), not a model.kind="
            f"{cfg.model.kind} one; drop --model {cfg.model.kind} (model.kind=lstm), or train a {cfg.model.kind} "
            "with another trainer (mle, seqgan, vae, gumbel, cot, ...)"
        )
    if cfg.train.trainer == "leakgan" and cfg.model.kind != "lstm":
        raise ConfigError(
            f"train.trainer=leakgan brings its own generator (a Manager and a Worker LSTM), not a model.kind="
            f"{cfg.model.kind} one; drop model.kind (model.kind=lstm) or pick another trainer"
        )
    if cfg.train.trainer == "leakgan" and cfg.discriminator.representations != 1:
        raise ConfigError("train.trainer=leakgan leaks the features of one TextCNN; set discriminator.representations=1")
    m = cfg.maligan
    if m.mixing_tokens and m.mixing_samples > 1 and (cfg.train.batch_size % m.mixing_samples or m.rollouts):
        raise ConfigError(f"maligan.mixing_samples={m.mixing_samples} groups the rows of a batch by real prefix: "
                          "train.batch_size must be a multiple of it, and maligan.rollouts false")
    if cfg.discriminator.embedding_dim % cfg.discriminator.representations:
        raise ConfigError(
            f"discriminator.embedding_dim ({cfg.discriminator.embedding_dim}) must be divisible by "
            f"discriminator.representations ({cfg.discriminator.representations})"
        )
    if cfg.model.kind == "relational_memory" and cfg.model.hidden_dim % cfg.model.num_heads:
        raise ConfigError(
            f"model.hidden_dim ({cfg.model.hidden_dim}) must be divisible by "
            f"model.num_heads ({cfg.model.num_heads}) for the relational memory"
        )
    if cfg.train.trainer == "gad":
        check_gad(cfg)
    # gad on the oracle starts from a run folder that may not exist yet (api.train checks it)
    oracle = cfg.data.corpus == "oracle" and cfg.train.trainer != "gad"
    if (cfg.model.init_from and not is_run_folder(cfg.model.init_from)
            and (oracle or cfg.train.trainer in ("gan", "vae", "leakgan"))):
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


def is_run_folder(path: str) -> bool:
    """Whether model.init_from names a textgan run directory (its config.yaml beside checkpoints/)."""
    return (Path(path).expanduser() / "config.yaml").is_file()


def check_gad(cfg: Config) -> None:
    """train.trainer=gad: a start to fine-tune, and whole groups in a batch."""
    if not cfg.model.init_from and not cfg.gad.pretrain_epochs:
        raise ConfigError("train.trainer=gad fine-tunes a trained generator; pass --init-from RUN_OR_MODEL (an MLE "
                          "run folder or a Hugging Face causal LM) or set gad.pretrain_epochs")
    if cfg.train.batch_size % cfg.gad.group_size:
        raise ConfigError(f"train.batch_size ({cfg.train.batch_size}) must be a multiple of gad.group_size "
                          f"({cfg.gad.group_size}): batch_size / group_size prompts, group_size samples each")


def save_yaml(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    from textgan.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def keys_markdown() -> str:
    """A markdown table of every key with its default and what it accepts (docs/configuration.md)."""
    rows = ["| key | default | accepts |", "| --- | --- | --- |"]
    defaults = to_dict(new_config())
    for key, (annotation, check) in fields_with_checks().items():
        section, name = key.split(".")
        accepts = []
        if annotation is bool:
            accepts.append("true, false")
        if check is not None and check.choices is not None:
            accepts.append(", ".join(map(str, check.choices)))
        if check is not None and (check.low is not None or check.high is not None):
            accepts.append(("each " if typing.get_origin(annotation) is list else "") + check.describe_range())
        if check is not None and check.free:
            accepts.append("any text")
        rows.append(f"| `{key}` | `{defaults[section][name]!r}` | {'; or '.join(accepts)} |")
    return "\n".join(rows)
