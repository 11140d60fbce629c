"""A pretrained Hugging Face causal LM and its own tokenizer as a textgan generator (`model.init_from`).

The model comes from `AutoModelForCausalLM`, the tokenizer from `AutoTokenizer` (a fast one: its
Rust `tokenizers.Tokenizer` is what textgan encodes with), from a local folder or a Hub id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tokenizers import AddedToken, Tokenizer

from textgan.data.tokenizer import PRETRAINED, SEP, TextTokenizer
from textgan.errors import ConfigError
from textgan.models.transformer import TransformerGenerator, context_length

log = logging.getLogger(__name__)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_error(name: str, what: str, exc: Exception) -> ConfigError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"model.init_from={name!r}: could not load its {what} ({first}); pass a folder written by "
        "save_pretrained or a Hub id reachable from this machine"
    )


def check_source(name: str) -> None:
    """Refuse a local-looking path that does not exist before `transformers` takes it for a Hub id."""
    if not Path(name).expanduser().exists() and name.startswith(("/", ".", "~")):
        raise ConfigError(f"model.init_from={name!r}: folder not found; pass a folder written by save_pretrained "
                          "or a Hub id such as gpt2")


# files of which a model folder holds at least one when its tokenizer was saved beside it
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model",
                   "vocab.txt")


def load_pretrained_tokenizer(name: str, separator: bool) -> TextTokenizer:
    """The model's own tokenizer; `separator` adds a <sep> token where it has none (prompt -> reply
    corpora need one that is not the end token)."""
    from transformers import AutoTokenizer

    check_source(name)
    folder = Path(name).expanduser()
    if folder.is_dir() and not any((folder / file).is_file() for file in TOKENIZER_FILES):
        raise ConfigError(f"model.init_from={name!r} is a folder without a tokenizer (none of "
                          f"{', '.join(TOKENIZER_FILES[:3])}); save the model's tokenizer there too "
                          "(tokenizer.save_pretrained(folder))")
    _quiet_transformers()
    try:
        hf = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(name, "tokenizer", exc) from None
    if len(hf) < 2:
        raise ConfigError(f"model.init_from={name!r}: its tokenizer has {len(hf)} token(s), so every text would be "
                          "blank; save the model's own tokenizer beside it")
    if not getattr(hf, "is_fast", False):
        raise ConfigError(f"model.init_from={name!r} has no fast tokenizer (tokenizer.json); convert it with "
                          "transformers' convert_slow_tokenizer and save it beside the model")
    if hf.eos_token is None:
        raise ConfigError(f"model.init_from={name!r}: its tokenizer has no end-of-text token; set eos_token in "
                          "its tokenizer_config.json")
    backend = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    backend.no_padding()
    backend.no_truncation()
    eos = str(hf.eos_token)
    specials = {"eos": eos, "bos": str(hf.bos_token or eos), "pad": str(hf.pad_token or eos)}
    if hf.unk_token is not None:
        specials["unk"] = str(hf.unk_token)
    if hf.sep_token is not None and hf.sep_token != eos:
        specials["sep"] = str(hf.sep_token)
    elif separator:
        backend.add_special_tokens([AddedToken(SEP, special=True, normalized=False)])
        specials["sep"] = SEP
        log.info("added a %s token to the tokenizer of %s (prompt -> reply data)", SEP, name)
    return TextTokenizer(backend, PRETRAINED, specials=specials)


def pretrained_context(name: str) -> int | None:
    """The model's maximum context (positions), read from its config alone."""
    from transformers import AutoConfig

    _quiet_transformers()
    try:
        return context_length(AutoConfig.from_pretrained(name))
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(name, "config", exc) from None


def load_pretrained_generator(name: str, tokenizer: TextTokenizer, max_length: int) -> TransformerGenerator:
    """The model's weights as a generator over `tokenizer`'s vocabulary (embeddings resized to it)."""
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype="float32")
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(name, "weights", exc) from None
    if model.get_input_embeddings().num_embeddings != tokenizer.vocab_size:
        # an added <sep>, or a model whose embedding table is padded beyond its tokenizer: the
        # discriminator and every sampled id then share the tokenizer's vocabulary
        model.resize_token_embeddings(tokenizer.vocab_size, mean_resizing=False)
    log.info("generator: %s from %s (%.1fM parameters)", model.config.model_type, name,
             sum(p.numel() for p in model.parameters()) / 1e6)
    return TransformerGenerator.from_pretrained_model(model, max_length, tokenizer.bos_id, tokenizer.eos_id,
                                                      tokenizer.pad_id)
