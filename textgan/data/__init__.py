"""Corpus -> tokenizer -> token tensors."""

from __future__ import annotations

from textgan.config import Config
from textgan.data.corpus import Example, Splits, load_splits, read_examples
from textgan.data.encoding import EncodedSplit, encode_examples, prompt_prefix
from textgan.data.prepared import PreparedData
from textgan.data.tokenizer import TextTokenizer, build_tokenizer

__all__ = ["Example", "EncodedSplit", "PreparedData", "Splits", "TextTokenizer", "build_data", "build_tokenizer",
           "encode_examples", "load_splits", "prepare_data", "prompt_prefix", "read_examples"]


def prepare_data(cfg: Config, tokenizer: TextTokenizer | None = None) -> PreparedData:
    """Read and split the corpus, train the tokenizer on the training split (unless given), encode.

    With tokenizer.max_length: auto the row width comes from the train split; every split has it.
    """
    from textgan.data.mapped import prepare_memory_mapped, should_memory_map

    if should_memory_map(cfg):
        return prepare_memory_mapped(cfg, tokenizer)
    splits = load_splits(cfg.data, cfg.train.seed)
    if tokenizer is None:
        limit = cfg.tokenizer.training_examples or len(splits.train)
        texts = [t for e in splits.train[:limit] for t in (e.text, e.prompt) if t]
        tokenizer = build_tokenizer(texts, cfg.tokenizer)
    tok = cfg.tokenizer
    train = encode_examples(splits.train, tokenizer, tok.max_length, tok.overflow, "train")
    width = train.tokens.shape[1]  # tokenizer.max_length: auto is sized from the train split
    return PreparedData(
        tokenizer=tokenizer,
        train=train,
        validation=encode_examples(splits.validation, tokenizer, width, tok.overflow, "validation"),
        test=encode_examples(splits.test, tokenizer, width, tok.overflow, "test"),
        splits=splits,
    )


def build_data(cfg: Config, tokenizer: TextTokenizer | None = None) -> PreparedData:
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
