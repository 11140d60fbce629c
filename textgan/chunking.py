"""Row-chunk sizes that follow the device.

Several loops work on rows in chunks sized for CPU caches (sampling, the fused NLL's blocks, the
oracle's rows). On a GPU a chunk's cost is its kernel launches, not cache misses, so there the
chunks are GPU_FACTOR times larger: fewer launches for the same work.
"""

from __future__ import annotations

import torch

GPU_FACTOR = 16


def chunk_rows(cpu_rows: int, device: torch.device | str) -> int:
    """Rows per chunk on `device`: `cpu_rows` on the CPU, GPU_FACTOR times as many on a GPU."""
    return cpu_rows if torch.device(device).type == "cpu" else cpu_rows * GPU_FACTOR
