"""Recurrent cells run in fp32 under mixed precision.

Under `torch.autocast` PyTorch runs an `nn.LSTM` in low precision: on CUDA the cuDNN RNN path
casts to fp16 whatever the autocast dtype (so a bf16 run trains its LSTMs in fp16, without the
loss scaling that only fp16 runs get), on the CPU the oneDNN path runs in bf16. Small
policy-gradient gradients then underflow. Every LSTM of textgan (generator, rollout copy, VAE,
LeakGAN's Manager and Worker) goes through `run_recurrent`, which runs it in fp32; the layers
around it (embeddings, output projections, the discriminator) keep the autocast dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


def _as_float(value: Any) -> Any:
    """`value` (a tensor, a PackedSequence, a tuple of them or None) with floating tensors in fp32."""
    if value is None:
        return None
    if isinstance(value, PackedSequence):
        return value.float()
    if isinstance(value, (tuple, list)):
        return type(value)(_as_float(v) for v in value)
    return value.float() if value.is_floating_point() else value


def run_recurrent(cell: nn.Module, inputs: Any, state: Any = None) -> Any:
    """`cell(inputs, state)` with autocast off and fp32 inputs and state when autocast is on
    (the cell's own weights are fp32); a plain call otherwise."""
    data = inputs.data if isinstance(inputs, PackedSequence) else inputs
    device_type = data.device.type
    if not torch.is_autocast_enabled(device_type):
        return cell(inputs, state)
    with torch.autocast(device_type=device_type, enabled=False):
        return cell(_as_float(inputs), _as_float(state))
