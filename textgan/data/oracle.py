"""Synthetic data from the SeqGAN oracle: train/validation/test sequences it samples itself.

The oracle is the canonical SeqGAN LSTM (`data.oracle_path`, an .npz) or, without a path, a
random one drawn from `train.seed` with the `data.oracle_*` sizes. Token ids are the
vocabulary ("0".."V-1"); there is no <eos> or padding: every sequence has `oracle_seq_len`
tokens. The oracle rides along in `PreparedData.oracle` for NLL-oracle evaluation.
"""

from __future__ import annotations

import logging

import torch

from textgan.config import Config
from textgan.data.encoding import EncodedSplit
from textgan.data.prepared import PreparedData
from textgan.data.tokenizer import vocabulary_tokenizer
from textgan.models.oracle import OracleLSTM, load_oracle_npz, random_oracle

log = logging.getLogger(__name__)

# The data stream is seeded apart from the random oracle's weights (which use the seed itself).
DATA_SEED_OFFSET = 7919


def build_oracle(cfg: Config) -> OracleLSTM:
    """The canonical oracle from data.oracle_path, or a random one from train.seed."""
    data = cfg.data
    if data.oracle_path:
        return load_oracle_npz(data.oracle_path)
    return random_oracle(cfg.train.seed, data.oracle_vocab_size, data.oracle_embedding_dim, data.oracle_hidden_dim)


def split_sizes(cfg: Config) -> tuple[int, int, int]:
    """Training sequences, then validation and test sequences as fractions of them."""
    train = cfg.data.oracle_samples
    return (train, round(train * cfg.data.validation_fraction), round(train * cfg.data.test_fraction))


def prepare_oracle_data(cfg: Config) -> PreparedData:
    """Sample the train/validation/test sequences from the oracle (seeded by train.seed)."""
    oracle = build_oracle(cfg)
    rng = torch.Generator().manual_seed(cfg.train.seed + DATA_SEED_OFFSET)
    length = cfg.data.oracle_seq_len
    splits = [oracle.sample(n, length, generator=rng) for n in split_sizes(cfg)]
    source = cfg.data.oracle_path or f"random oracle (seed {cfg.train.seed})"
    log.info("oracle data from %s: vocabulary %d, %s sequences of %d tokens", source, oracle.vocab_size,
             "/".join(str(len(s)) for s in splits), length)
    encoded = [EncodedSplit(tokens, torch.zeros(len(tokens), dtype=torch.long)) for tokens in splits]
    return PreparedData(vocabulary_tokenizer(oracle.vocab_size), *encoded, oracle=oracle)
