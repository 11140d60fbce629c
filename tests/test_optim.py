"""The optimiser factory: its fast update matches torch's reference implementation, and its
state round-trips through a checkpoint so a resumed run repeats the uninterrupted one."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from textgan.models.cnn_discriminator import TextCNN
from textgan.training.optim import make_optimizer

REFERENCE = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return TextCNN(50, 8, embedding_dim=16, filter_sizes=(2, 3), num_filters=(8, 6), dropout=0.0)


def _steps(model: nn.Module, optimizer: torch.optim.Optimizer, steps: range) -> None:
    """Deterministic updates: step i's batch and targets come from seed i."""
    for i in steps:
        rng = torch.Generator().manual_seed(i)
        tokens = torch.randint(50, (16, 8), generator=rng)
        targets = torch.randint(2, (16,), generator=rng).float()
        optimizer.zero_grad(set_to_none=True)
        nn.functional.binary_cross_entropy_with_logits(model(tokens), targets).backward()
        optimizer.step()


@pytest.mark.parametrize("kind", ["adam", "adamw", "rmsprop"])
def test_update_matches_reference_implementation(kind: str) -> None:
    fast_model, reference_model = _model(), _model()
    fast = make_optimizer(fast_model.parameters(), 1e-2, kind, weight_decay=0.01)
    options = {"foreach": False} if kind == "rmsprop" else {"foreach": False, "fused": False}
    reference = REFERENCE[kind](reference_model.parameters(), lr=1e-2, weight_decay=0.01, **options)
    assert type(fast) is type(reference)
    if kind != "rmsprop":
        assert fast.param_groups[0]["fused"]  # CPU has fused Adam kernels in the torch this needs
    _steps(fast_model, fast, range(8))
    _steps(reference_model, reference, range(8))
    for (name, a), b in zip(fast_model.named_parameters(), reference_model.parameters()):
        assert not torch.equal(a, _model().get_parameter(name)), name  # the steps moved it
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_state_round_trips_bit_exactly(kind: str) -> None:
    whole_model = _model()
    whole = make_optimizer(whole_model.parameters(), 1e-2, kind)
    _steps(whole_model, whole, range(6))

    first_model = _model()
    first = make_optimizer(first_model.parameters(), 1e-2, kind)
    _steps(first_model, first, range(3))
    buffer = io.BytesIO()
    torch.save({"model": first_model.state_dict(), "optimizer": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed_model = _model()
    resumed_model.load_state_dict(saved["model"])
    resumed = make_optimizer(resumed_model.parameters(), 1e-2, kind)
    resumed.load_state_dict(saved["optimizer"])
    _steps(resumed_model, resumed, range(3, 6))
    for a, b in zip(whole_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_of_the_per_tensor_implementation_resumes_with_it() -> None:
    """A run checkpointed before the factory (plain Adam) goes on with the same kernels."""
    model = _model()
    old = torch.optim.Adam(model.parameters(), lr=1e-2)
    _steps(model, old, range(2))
    resumed = make_optimizer(model.parameters(), 1e-2)
    resumed.load_state_dict(old.state_dict())
    assert not resumed.param_groups[0]["fused"]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown optimizer kind"):
        make_optimizer(_model().parameters(), 1e-2, "sgd")
