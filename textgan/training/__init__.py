"""Trainer registry: one trainer per paradigm, chosen by `train.trainer`."""

from __future__ import annotations

from textgan.training.base import Trainer
from textgan.training.mle import MLETrainer
from textgan.training.policy_gradient import SeqGANTrainer
from textgan.training.continuous_gan import ContinuousGANTrainer
from textgan.training.discrete_gans import MaliGANTrainer, RankGANTrainer
from textgan.training.leakgan import LeakGANTrainer
from textgan.training.vae import VAETrainer
from textgan.training.gumbel import GumbelTrainer
from textgan.training.cot import CoTTrainer
from textgan.training.gad import GADTrainer
from textgan.training.scratchgan import ScratchGANTrainer

TRAINERS: dict[str, type[Trainer]] = {"mle": MLETrainer}
TRAINERS["vae"] = VAETrainer
TRAINERS["gan"] = ContinuousGANTrainer
TRAINERS["seqgan"] = SeqGANTrainer
TRAINERS["maligan"] = MaliGANTrainer
TRAINERS["rankgan"] = RankGANTrainer
TRAINERS["leakgan"] = LeakGANTrainer
TRAINERS["gumbel"] = GumbelTrainer
TRAINERS["cot"] = CoTTrainer
TRAINERS["scratchgan"] = ScratchGANTrainer
TRAINERS["gad"] = GADTrainer
