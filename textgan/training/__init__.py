"""Trainer registry: one trainer per paradigm, chosen by `train.trainer`.

Every module of this package is imported here; each `Trainer` subclass that sets `name`
registers itself, so a new trainer is one module (plus its config section and presets).
"""

from __future__ import annotations

import importlib
import pkgutil

from textgan.config import TRAINER_NAMES
from textgan.training.base import Trainer

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

if set(Trainer.registry) != set(TRAINER_NAMES):
    raise ImportError(f"textgan.training registers {sorted(Trainer.registry)} but config.TRAINER_NAMES lists "
                      f"{sorted(TRAINER_NAMES)}: add the new trainer's name there")
TRAINERS: dict[str, type[Trainer]] = {name: Trainer.registry[name] for name in TRAINER_NAMES}
