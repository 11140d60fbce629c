"""Trainer registry: one trainer per paradigm, chosen by `train.trainer`."""

from __future__ import annotations

from textgan.training.base import Trainer
from textgan.training.mle import MLETrainer

TRAINERS: dict[str, type[Trainer]] = {"mle": MLETrainer}
