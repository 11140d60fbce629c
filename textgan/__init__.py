"""textgan: text generation with GANs (SeqGAN and continuous baselines), compared honestly
against maximum likelihood with exact BLEU / Self-BLEU / NLL."""

from textgan.api import TrainResult, load, sample, train
from textgan.config import Config, load_config
from textgan.errors import TextGanError

__version__ = "0.1.0"
__all__ = ["Config", "TextGanError", "TrainResult", "load", "load_config", "sample", "train", "__version__"]
