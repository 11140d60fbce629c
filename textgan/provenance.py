"""What an evaluated checkpoint is, for reports that cannot mislead: how many steps of its
trainer's own phase (adversarial rounds, cooperative steps) it holds, and a digest of its
generator's weights. A GAN checkpoint with no step of its own phase is its MLE start, and two
checkpoints with one digest are one model: `textgan compare`, `textgan evaluate` and the
leaderboard mark both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

WEIGHTS_FILE = "model.safetensors"
# Checkpoints written before the trainers recorded `own_phase`: trainer -> (phase, unit, counter in state["extra"]).
LEGACY_OWN_PHASES = {
    **{name: ("adversarial", "rounds", "round") for name in ("seqgan", "maligan", "rankgan", "leakgan")},
    "gumbel": ("adversarial", "steps", "phase_steps"),
    "cot": ("cooperative", "steps", "phase_steps"),
}


@dataclass(frozen=True)
class OwnPhase:
    """The trainer's own phase after its MLE start, and the steps of it a checkpoint holds."""

    name: str  # e.g. adversarial
    unit: str  # e.g. rounds
    steps: int

    def describe(self) -> str:
        """e.g. `12 adversarial rounds`."""
        return f"{self.steps} {self.name} {self.unit}"


def own_phase(state: dict[str, Any]) -> OwnPhase | None:
    """The own phase recorded in a checkpoint's trainer state; None for trainers without an MLE
    start (mle, vae, gan) and for checkpoints without a state."""
    recorded = state.get("own_phase")
    if isinstance(recorded, dict):
        return OwnPhase(str(recorded["name"]), str(recorded["unit"]), int(recorded["steps"]))
    legacy = LEGACY_OWN_PHASES.get(str(state.get("trainer")))
    extra = state.get("extra") or {}
    if legacy is not None and legacy[2] in extra:
        return OwnPhase(legacy[0], legacy[1], int(extra[legacy[2]]))
    return None


def weights_digest(checkpoint: Path) -> str:
    """SHA-256 of the generator's tensors (names, dtypes, shapes, bytes), blind to file metadata;
    empty when the checkpoint holds no model.safetensors."""
    file = Path(checkpoint) / WEIGHTS_FILE
    if not file.is_file():
        return ""
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(file), framework="pt") as tensors:
        for name in sorted(tensors.keys()):
            tensor = tensors.get_tensor(name).contiguous()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def is_mle_start(phase: OwnPhase | None) -> bool:
    """Whether a GAN checkpoint took no step of its own phase (it is the MLE model it started from)."""
    return phase is not None and phase.steps == 0


def marked_label(label: str, phase: OwnPhase | None) -> str:
    """The label every table and legend shows: a GAN with no own-phase step is marked as its MLE start."""
    return f"{label} [MLE start: 0 {phase.name} {phase.unit}]" if is_mle_start(phase) else label


def own_steps_cell(phase: OwnPhase | None) -> str:
    """The table cell of a run's own-phase steps (a dash for trainers without an MLE start)."""
    return phase.describe() if phase is not None else "–"


def warnings_for(labels: Sequence[str], phases: Sequence[OwnPhase | None], digests: Sequence[str]) -> list[str]:
    """One line per GAN run that is its MLE start, and one per group of runs whose evaluated
    checkpoints hold identical generator weights."""
    lines = [f"{label} took no {phase.name} step: its evaluated checkpoint is the MLE model it started from, "
             f"so its scores are that MLE model's, not the GAN's (give it a budget or schedule that reaches "
             f"its {phase.name} phase; `textgan train ... --dry-run` prints the plan)"
             for label, phase in zip(labels, phases) if phase is not None and is_mle_start(phase)]
    groups: dict[str, list[str]] = {}
    for label, digest in zip(labels, digests):
        if digest:
            groups.setdefault(digest, []).append(label)
    times = {2: "twice", 3: "three times"}
    lines += [f"{', '.join(names[:-1])} and {names[-1]} hold identical generator weights in their evaluated "
              f"checkpoints: their rows are one model scored {times.get(len(names), f'{len(names)} times')}"
              for names in groups.values() if len(names) > 1]
    return lines
