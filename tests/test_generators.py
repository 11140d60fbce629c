"""Every generator behind one interface: teacher forcing = incremental decoding, sampling, save/load."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from textgan.config import ModelConfig
from textgan.models import build_generator, load_generator
from textgan.models.token_nll import fused_linear_nll
from textgan.models.sampling import filter_logits, sample_tokens

KINDS = ["lstm", "transformer", "relational_memory"]


def make(kind: str):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, embedding_dim=16, hidden_dim=16, num_layers=2, num_heads=2)
    return build_generator(cfg, vocab_size=20, max_length=10, bos_id=1, eos_id=2, pad_id=0).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_logits_equal_teacher_forcing(kind):
    g = make(kind)
    x = torch.randint(0, 20, (3, 8))
    full = g(x)
    first, state = g.logits(x[:, :5])
    rest, state = g.logits(x[:, 5:6], state)
    last, _ = g.logits(x[:, 6:], state)
    assert torch.allclose(torch.cat([first, rest, last], 1), full, atol=1e-5)
    picked = g.select_state(g.logits(x[:, :5])[1], torch.tensor([2, 2, 0]))
    again, _ = g.logits(x[[2, 2, 0], 5:6], picked)
    assert torch.allclose(again[:, 0], full[[2, 2, 0], 5], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_is_seeded_padded_and_prefixed(kind):
    g = make(kind)
    a = g.sample(6, generator=torch.Generator().manual_seed(1), prefix=[5, 6])
    b = g.sample(6, generator=torch.Generator().manual_seed(1), prefix=[5, 6])
    assert torch.equal(a, b) and a.shape == (6, 10)
    assert (a[:, :2] == torch.tensor([5, 6])).all()
    for row in a.tolist():
        if 2 in row[2:]:
            end = row.index(2, 2)
            assert all(t == 0 for t in row[end + 1 :])


@pytest.mark.parametrize("kind", KINDS)
def test_rows_sampled_with_their_draws_do_not_depend_on_the_other_rows(kind):
    """Per-row prefixes and per-row draws: each row, sampled alone, is the row of the batch."""
    g = make(kind)
    rows = torch.randint(3, 20, (5, 10))
    lengths = torch.tensor([0, 3, 1, 0, 6])
    draws = torch.rand(5, 10, generator=torch.Generator().manual_seed(4))
    batch = g.sample(5, prefix=rows, prefix_lengths=lengths, uniforms=draws)
    for i in range(5):
        alone = g.sample(1, prefix=rows[i : i + 1], prefix_lengths=lengths[i : i + 1], uniforms=draws[i : i + 1])
        assert torch.equal(alone[0], batch[i]), i
    assert all(torch.equal(batch[i, : lengths[i]], rows[i, : lengths[i]]) for i in range(5))


@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_matches_softmax(kind):
    g = make(kind)
    targets = torch.randint(3, 20, (2, 10))
    lp = g.log_prob(targets)
    logits = g(g.inputs_for(targets))
    expected = torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
    assert torch.allclose(lp, expected, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load(kind, tmp_path):
    g = make(kind)
    g.save_pretrained(tmp_path)
    again = load_generator(tmp_path).eval()
    x = torch.randint(0, 20, (2, 6))
    assert torch.equal(again(x), g(x))


def test_transformer_checkpoint_loads_with_transformers(tmp_path):
    from transformers import AutoModelForCausalLM

    g = make("transformer")
    g.save_pretrained(tmp_path)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    x = torch.randint(0, 20, (2, 6))
    assert torch.allclose(hf(x).logits, g(x), atol=1e-6)


def test_sampling_filters():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, :2]).all()
    probs = torch.softmax(logits, -1)[0]  # ~[.03,.09,.24,.64]
    kept = filter_logits(logits, top_p=0.7)
    assert torch.isfinite(kept[0, 2:]).all() and torch.isinf(kept[0, :2]).all() and probs[3] < 0.7
    draws = sample_tokens(logits.expand(20000, 4), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / 20000
    assert torch.allclose(freq, probs, atol=0.01)
    cold = sample_tokens(logits.expand(100, 4), temperature=1e-3, generator=torch.Generator().manual_seed(0))
    assert (cold == 3).all()


@pytest.mark.parametrize("kind", KINDS)
def test_fused_loss_equals_cross_entropy(kind):
    g = make(kind).train()
    inputs, targets = torch.randint(0, 20, (3, 8)), torch.randint(0, 20, (3, 8))
    weights = (torch.rand(3, 8) > 0.3).float()
    fused = g(inputs, targets, weights)
    fused.backward()
    fused_grads = [p.grad.clone() for p in g.parameters()]
    g.zero_grad()
    logits = g(inputs)
    plain = (torch.nn.functional.cross_entropy(logits.reshape(-1, 20), targets.reshape(-1), reduction="none")
             * weights.reshape(-1)).sum()
    plain.backward()
    assert torch.allclose(fused, plain, atol=1e-4)
    for a, p in zip(fused_grads, g.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-5)


class MatmulCount(TorchDispatchMode):
    """Counts the matrix multiplications run while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.addmm_)
        return func(*args, **(kwargs or {}))


def test_fused_loss_without_gradient_computes_only_the_loss():
    hidden, weight, bias = torch.randn(300, 16, requires_grad=True), torch.randn(20, 16, requires_grad=True), torch.randn(20)
    targets, weights = torch.randint(0, 20, (300,)), torch.rand(300)
    blocks = 3  # 300 rows in blocks of 128
    with MatmulCount() as training:
        with_grad = fused_linear_nll(hidden, weight, bias, targets, weights)
    with torch.no_grad(), MatmulCount() as evaluating:
        without = fused_linear_nll(hidden, weight, bias, targets, weights)
    with MatmulCount() as frozen:
        detached = fused_linear_nll(hidden.detach(), weight.detach(), bias, targets, weights)
    assert training.count == 3 * blocks  # logits, and the two gradients formed in the forward
    assert evaluating.count == frozen.count == blocks  # the logits only
    assert not without.requires_grad and not detached.requires_grad
    assert torch.equal(without, with_grad.detach()) and torch.equal(detached, without)


def test_fused_loss_under_bf16_autocast_stays_close():
    g = make("lstm").train()
    inputs, targets = torch.randint(0, 20, (4, 8)), torch.randint(0, 20, (4, 8))
    exact = g(inputs, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        approx = g(inputs, targets)
    approx.backward()
    assert abs(approx.item() - exact.item()) < 0.02 * exact.item()
    assert all(p.grad.dtype == p.dtype and torch.isfinite(p.grad).all() for p in g.parameters())


def test_init_std_draws_every_weight_from_a_normal():
    """SeqGAN's initialisation: every LSTM weight and bias N(0, 0.1); GPT-2's initializer_range."""
    torch.manual_seed(0)
    lstm = build_generator(ModelConfig(kind="lstm", embedding_dim=64, hidden_dim=64, init_std=0.1),
                           vocab_size=500, max_length=10, bos_id=1, eos_id=2, pad_id=0)
    values = torch.cat([p.detach().flatten() for p in lstm.parameters()])
    assert abs(float(values.std()) - 0.1) < 0.005 and abs(float(values.mean())) < 0.005
    default = build_generator(ModelConfig(kind="lstm", embedding_dim=64, hidden_dim=64),
                              vocab_size=500, max_length=10, bos_id=1, eos_id=2, pad_id=0)
    assert float(default.embedding.weight.detach().std()) > 0.9  # PyTorch's N(0, 1) embeddings
    gpt = build_generator(ModelConfig(kind="transformer", embedding_dim=16, num_heads=2, init_std=0.05),
                          vocab_size=50, max_length=10, bos_id=1, eos_id=2, pad_id=0)
    assert gpt.hf_config.initializer_range == 0.05
    assert abs(float(gpt.model.transformer.wte.weight.detach().std()) - 0.05) < 0.01
