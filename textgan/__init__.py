"""textgan: text generation with GANs (SeqGAN and continuous baselines), compared honestly
against maximum likelihood with exact BLEU / Self-BLEU / NLL."""

from typing import Any

from textgan.config import Config, load_config
from textgan.errors import TextGanError

__version__ = "0.1.0"
__all__ = ["Config", "TextGanError", "TrainResult", "load", "load_config", "sample", "train", "__version__"]


def __getattr__(name: str) -> Any:
    """The training API loads torch on first use, so `textgan evaluate` on text files never does."""
    if name in ("TrainResult", "load", "sample", "train"):
        from textgan import api

        return getattr(api, name)
    raise AttributeError(f"module 'textgan' has no attribute {name!r}")
