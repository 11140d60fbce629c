"""Generator registry: name -> class, plus building from a config and loading from a folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from textgan.config import ModelConfig
from textgan.errors import CheckpointError
from textgan.models.base import Generator
from textgan.models.lstm import LSTMGenerator


def _transformer_class() -> type[Generator]:
    """Import the GPT-2 generator lazily: `transformers` takes seconds to import."""
    from textgan.models.transformer import TransformerGenerator

    return TransformerGenerator


def is_causal_lm_type(model_type: object) -> bool:
    """Whether `transformers` has a causal LM of this config.json model_type (gpt2, llama, ...)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return isinstance(model_type, str) and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def _model_type_class(model_type: object) -> type[Generator] | None:
    if model_type == "textgan-lstm":
        return LSTMGenerator
    if model_type == "textgan-relational-memory":
        from textgan.models.relational_memory import RelationalMemoryGenerator

        return RelationalMemoryGenerator
    if model_type == "textgan-tied-lstm":
        from textgan.models.scratchgan import TiedLSTMGenerator

        return TiedLSTMGenerator
    if model_type == "textgan-leakgan":
        from textgan.models.leakgan import LeakGANGenerator

        return LeakGANGenerator
    if model_type == "textgan-continuous":
        from textgan.models.continuous import ContinuousGenerator

        return ContinuousGenerator
    if model_type == "textgan-vae":
        from textgan.models.vae import SentenceVAE

        return SentenceVAE
    if model_type == "gpt2" or is_causal_lm_type(model_type):
        return _transformer_class()
    return None


TEXTGAN_MODEL_TYPES = ("textgan-lstm", "textgan-tied-lstm", "textgan-relational-memory", "textgan-leakgan",
                       "textgan-continuous", "textgan-vae")
MODEL_TYPES = (*TEXTGAN_MODEL_TYPES, "a Hugging Face causal LM")


def build_generator(cfg: ModelConfig, vocab_size: int, max_length: int, bos_id: int,
                    eos_id: int | None, pad_id: int | None) -> Generator:
    """A fresh generator of the configured kind (initialised from the global torch RNG)."""
    common = dict(vocab_size=vocab_size, max_length=max_length, bos_id=bos_id, eos_id=eos_id,
                  pad_id=pad_id, embedding_dim=cfg.embedding_dim, num_layers=cfg.num_layers,
                  dropout=cfg.dropout)
    if cfg.kind == "lstm":
        return LSTMGenerator(hidden_dim=cfg.hidden_dim, init_std=cfg.init_std, **common)
    if cfg.kind == "relational_memory":
        from textgan.models.relational_memory import RelationalMemoryGenerator

        return RelationalMemoryGenerator(hidden_dim=cfg.hidden_dim, num_heads=cfg.num_heads,
                                         memory_slots=cfg.memory_slots, init_std=cfg.init_std, **common)
    return _transformer_class()(num_heads=cfg.num_heads, init_std=cfg.init_std, **common)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, with one-line errors for missing or corrupt files."""
    if not path.is_file():
        raise CheckpointError(f"{path} not found; the checkpoint is incomplete, use another one")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({str(exc).splitlines()[0]}); the checkpoint "
            "is truncated or corrupt, use an earlier one"
        ) from None


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load weights, naming missing, extra and wrongly shaped tensors in the error."""
    own = module.state_dict()
    # causal LMs tie their output layer to the input embedding; save_pretrained stores it once
    first_holder: dict[int, str] = {}
    tied = {k for k, v in own.items() if first_holder.setdefault(v.data_ptr(), k) != k}
    missing = [k for k in own if k not in state and k not in tied]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in state if k in own and own[k].shape != state[k].shape]
    problems = []
    if missing:
        problems.append(f"missing tensors {', '.join(missing[:5])}")
    if unexpected:
        problems.append(f"unexpected tensors {', '.join(unexpected[:5])}")
    if shaped:
        problems.append(f"tensors of another shape {', '.join(shaped[:5])}")
    if problems:
        raise CheckpointError(
            f"{path} does not match its config.json: {'; '.join(problems)}; the checkpoint was "
            "written by another model, use a matching one"
        )
    module.load_state_dict(state, strict=False)


def load_generator(directory: Path) -> Generator:
    """Rebuild a generator from a checkpoint folder's config.json and model.safetensors."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} not found; pass a checkpoint folder or a run directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{config_path} is corrupt (not JSON); use another checkpoint") from None
    model_cls = _model_type_class(config.get("model_type"))
    if model_cls is None:
        raise CheckpointError(
            f"{config_path} describes model type {config.get('model_type')!r}, not a textgan "
            f"generator ({', '.join(MODEL_TYPES)}); pass a generator checkpoint"
        )
    try:
        model = model_cls.from_config_dict(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path} has invalid settings ({exc}); use another checkpoint") from None
    state = read_safetensors(directory / "model.safetensors")
    transformer = config.get("model_type") not in TEXTGAN_MODEL_TYPES
    if transformer:  # saved in the Hugging Face layout, without our wrapper's prefix
        state = {f"model.{k}": v for k, v in state.items()}
    load_state_strict(model, state, directory / "model.safetensors")
    if transformer:
        model.model.tie_weights()
    return model
