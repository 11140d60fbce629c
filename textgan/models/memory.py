"""Parameter counts from the config alone, and a refusal of models that cannot fit in memory.

A typo such as `model.hidden_dim=1000000` would otherwise ask the allocator for terabytes and
end in a traceback (or the OOM killer); the count is a formula, so nothing is allocated.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import torch

from textgan.config import Config, ModelConfig
from textgan.errors import ConfigError

# fp32 weights, their gradients and Adam's two moments: what training holds per parameter at least
TRAINING_BYTES_PER_PARAMETER = 4 * 4
# What a trainer trains beside the generator (its `Trainer.networks`): a TextCNN "discriminator",
# a weights-only "rollout" copy of the generator, a "mediator" of the generator's size.
NETWORKS = ("discriminator", "rollout", "mediator")


def lstm_parameters(vocab_size: int, embedding_dim: int, hidden_dim: int, num_layers: int) -> int:
    """Parameters of `LSTMGenerator`: embedding, LSTM layers (two bias vectors each), output layer."""
    layers = sum(4 * hidden_dim * ((embedding_dim if layer == 0 else hidden_dim) + hidden_dim + 2)
                 for layer in range(num_layers))
    return vocab_size * embedding_dim + layers + (hidden_dim + 1) * vocab_size


def gpt2_parameters(vocab_size: int, max_length: int, embedding_dim: int, num_layers: int) -> int:
    """Parameters of the GPT-2 generator: token and position embeddings, blocks (attention, 4x MLP,
    two layer norms), final layer norm; the output layer is tied to the token embedding."""
    e = embedding_dim
    return (vocab_size + max_length) * e + num_layers * (12 * e * e + 13 * e) + 2 * e


def textcnn_parameters(vocab_size: int, embedding_dim: int, filter_sizes: list[int], num_filters: list[int]) -> int:
    """Parameters of the TextCNN discriminator: embedding, one filter bank per window size,
    highway (gate and candidate), output logit."""
    features = sum(num_filters)
    banks = sum((k * embedding_dim + 1) * n for k, n in zip(filter_sizes, num_filters))
    return vocab_size * embedding_dim + banks + (features + 1) * 2 * features + features + 1


def generator_parameters(cfg: ModelConfig, vocab_size: int, max_length: int) -> int | None:
    """Parameter count of the generator `build_generator` would make (None for a kind without
    a formula here)."""
    if cfg.kind == "lstm":
        return lstm_parameters(vocab_size, cfg.embedding_dim, cfg.hidden_dim, cfg.num_layers)
    if cfg.kind == "transformer":
        return gpt2_parameters(vocab_size, max_length, cfg.embedding_dim, cfg.num_layers)
    return None


def training_bytes(cfg: Config, vocab_size: int, max_length: int, networks: tuple[str, ...] = ()) -> int | None:
    """Least bytes a training run holds for its networks: the generator (and the TextCNN
    discriminator or a mediator, as `networks` says) with gradients and Adam state, plus a
    rollout copy of the generator (weights only). None where the generator has no formula here."""
    unknown = set(networks) - set(NETWORKS)
    if unknown:
        raise ValueError(f"unknown networks {sorted(unknown)}; the memory check knows {', '.join(NETWORKS)}")
    generator = generator_parameters(cfg.model, vocab_size, max_length)
    if generator is None:
        return None
    total = generator * TRAINING_BYTES_PER_PARAMETER * (2 if "mediator" in networks else 1)
    if "rollout" in networks:
        total += generator * 4
    if "discriminator" in networks:
        d = cfg.discriminator
        total += TRAINING_BYTES_PER_PARAMETER * textcnn_parameters(
            vocab_size, d.embedding_dim, list(d.filter_sizes), list(d.num_filters))
    return total


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a new model on `device` (None where it cannot be told)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    return f"{nbytes:.3g} TB"


def _largest_key(cfg: Config, vocab_size: int, max_length: int, networks: tuple[str, ...]) -> str | None:
    """The model.* or discriminator.* size key whose default would save the most memory (None
    if no size key is above its default)."""
    needed = training_bytes(cfg, vocab_size, max_length, networks) or 0
    best, saved = None, 0
    for section in ("model", "discriminator"):
        values = getattr(cfg, section)
        defaults = type(values)()
        for field in dataclasses.fields(values):
            value, default = getattr(values, field.name), getattr(defaults, field.name)
            if isinstance(value, int) and not isinstance(value, bool) and value > default:
                smaller = copy.deepcopy(cfg)
                setattr(getattr(smaller, section), field.name, default)
                saving = needed - (training_bytes(smaller, vocab_size, max_length, networks) or needed)
                if saving > saved:
                    best, saved = f"{section}.{field.name}", saving
    return best


def check_fits_in_memory(cfg: Config, vocab_size: int, max_length: int, device: torch.device,
                         networks: tuple[str, ...] = ()) -> None:
    """Refuse, before anything is allocated, a run whose generator and `networks` (the trainer's
    `Trainer.networks`; weights, gradients, Adam moments in fp32) need more memory than `device`
    has available."""
    needed = training_bytes(cfg, vocab_size, max_length, networks)
    free = available_memory(device)
    if needed is None or free is None or needed <= free:
        return
    key = _largest_key(cfg, vocab_size, max_length, networks)
    if key is not None:
        section, name = key.split(".")
        fix = (f"lower {key} (now {getattr(getattr(cfg, section), name)}, "
               f"default {getattr(type(getattr(cfg, section))(), name)})")
    else:
        fix = "lower model.hidden_dim, model.embedding_dim or model.num_layers, or the vocabulary (tokenizer.vocab_size)"
    count = generator_parameters(cfg.model, vocab_size, max_length)
    raise ConfigError(
        f"training a {cfg.model.kind} generator of {count:,} parameters"
        f"{' with its discriminator' if 'discriminator' in networks else ''} needs at least "
        f"{_size(needed)} (fp32 weights, gradients, Adam state) but {_size(free)} is available on "
        f"{device.type}; {fix}"
    )
