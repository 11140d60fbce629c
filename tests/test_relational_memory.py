"""The relational memory core generator: shapes, memory, gates, config, and MLE training."""

from __future__ import annotations

import json

import pytest
import torch

from textgan import api
from textgan.config import ModelConfig
from textgan.errors import ConfigError
from textgan.models import build_generator
from textgan.models.relational_memory import RelationalMemoryGenerator

from conftest import tiny_config


def make(**settings) -> RelationalMemoryGenerator:
    torch.manual_seed(0)
    options = dict(embedding_dim=8, hidden_dim=12, num_heads=3, memory_slots=2, num_layers=1)
    options.update(settings)
    return RelationalMemoryGenerator(vocab_size=17, max_length=6, bos_id=1, eos_id=2, pad_id=0, **options).eval()


def test_shapes_of_logits_state_and_features():
    g = make()
    tokens = torch.randint(0, 17, (4, 5))
    logits, memory = g.logits(tokens)
    assert logits.shape == (4, 5, 17) and memory.shape == (4, 2, 12)
    hidden, weight, bias = g.output_features(tokens)
    assert hidden.shape == (4, 5, 24) and weight.shape == (17, 24) and bias.shape == (17,)
    assert torch.allclose(hidden[:, -1], memory.flatten(1))
    assert g.sample(3).shape == (3, 6)


def test_memory_starts_as_unit_rows_and_every_parameter_learns():
    g = make(memory_slots=3, hidden_dim=4, num_heads=2).train()
    assert torch.equal(g.initial_memory(2)[0], torch.eye(3, 4))
    assert torch.equal(make(memory_slots=3, hidden_dim=2, num_heads=2).initial_memory(1)[0], torch.eye(3, 2))
    tokens = torch.randint(0, 17, (3, 6))
    g(g.inputs_for(tokens), tokens).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_the_memory_carries_information_across_steps():
    """Two sequences that differ only in their first token differ at the last step."""
    g = make()
    a = torch.tensor([[3, 4, 5, 6, 7]])
    b = torch.tensor([[9, 4, 5, 6, 7]])
    assert not torch.allclose(g.logits(a)[0][:, -1], g.logits(b)[0][:, -1])


def test_built_from_the_model_section_and_checked():
    cfg = ModelConfig(kind="relational_memory", embedding_dim=8, hidden_dim=12, num_heads=2, memory_slots=3)
    g = build_generator(cfg, vocab_size=11, max_length=5, bos_id=1, eos_id=2, pad_id=0)
    assert isinstance(g, RelationalMemoryGenerator) and g.memory_slots == 3 and g.num_heads == 2
    with pytest.raises(ConfigError, match="model.hidden_dim \\(12\\) must be divisible by model.num_heads \\(5\\)"):
        make(num_heads=5)


def test_mle_training_lowers_the_validation_nll(tmp_path, txt_corpus):
    cfg = tiny_config(txt_corpus, **{"model.kind": "relational_memory", "model.num_heads": 2,
                                     "train.epochs": 3, "train.learning_rate": 0.005})
    api.train(cfg, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_nll"] < records[0]["val_nll"]
    assert api.sample(tmp_path / "run", n=2)


@pytest.mark.parametrize("settings, message", [
    (["model.kind=relational_memory", "model.hidden_dim=10", "model.num_heads=3"],
     "model.hidden_dim (10) must be divisible by model.num_heads (3) for the relational memory"),
    (["discriminator.representations=5"],
     "discriminator.embedding_dim (64) must be divisible by discriminator.representations (5)"),
])
def test_bad_sizes_exit_2_with_one_line(tmp_path, txt_corpus, capsys, settings, message):
    from conftest import cli_error

    args = ["train", "--corpus", str(txt_corpus), "--trainer", "gumbel", "--out", str(tmp_path / "run")]
    err = cli_error([*args, *[a for s in settings for a in ("--set", s)]], capsys)
    assert message in err and not (tmp_path / "run").exists()


def test_seqgan_rolls_out_the_relational_memory(tmp_path, txt_corpus):
    """Rollouts expand the memory state by rows (select_state) and the delayed copy follows G."""
    cfg = tiny_config(txt_corpus, **{"model.kind": "relational_memory", "model.num_heads": 2, "train.trainer": "seqgan",
                                     "train.epochs": 1, "discriminator.embedding_dim": 8,
                                     "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [4, 4],
                                     "seqgan.pretrain_d_steps": 1, "seqgan.adversarial_rounds": 2,
                                     "seqgan.rollout_count": 2, "seqgan.d_samples": 16, "seqgan.eval_every": 1})
    api.train(cfg, tmp_path / "run")
    rounds = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
              if r["phase"] == "adversarial"]
    assert [r["round"] for r in rounds] == [1, 2] and all(0 <= r["mean_reward"] <= 1 for r in rounds)


def test_attention_normalises_q_k_v_and_scales_by_three_head_sizes():
    """RelGAN's (Santoro et al.'s) attention: a layer norm over all heads' [q k v], q scaled by
    (2 key size + head size)^-1/2; computed here by hand for 2 rows, 2 heads of 3."""
    from textgan.models.relational_memory import AttentionBlock

    torch.manual_seed(0)
    block = AttentionBlock(6, 2)
    with torch.no_grad():
        block.q_bias.normal_()
        block.v_bias.normal_()
    rows = torch.randn(1, 2, 6)
    qkv = torch.nn.functional.layer_norm(rows @ block.qkv.weight.t(), (18,), block.qkv_norm.weight)
    heads = []
    for h in range(2):
        q, k, v = qkv[0, :, 9 * h: 9 * h + 3], qkv[0, :, 9 * h + 3: 9 * h + 6], qkv[0, :, 9 * h + 6: 9 * h + 9]
        q, v = q + block.q_bias[h], v + block.v_bias[h]
        heads.append(torch.softmax((q / 9 ** 0.5) @ k.t(), dim=-1) @ v)
    attended = torch.cat(heads, dim=-1).unsqueeze(0)
    after = block.attention_norm(rows + attended)
    torch.testing.assert_close(block(rows), block.mlp_norm(after + block.mlp(after)))
    with torch.no_grad():  # the layer norm makes the attention blind to the projection's scale
        before = block(rows)
        block.qkv.weight.mul_(7.0)
        torch.testing.assert_close(block(rows), before, atol=2e-4, rtol=1e-3)  # up to the norm's epsilon


def test_references_initialisation_and_gates_without_bias():
    torch.manual_seed(0)
    g = RelationalMemoryGenerator(vocab_size=400, max_length=5, embedding_dim=32, hidden_dim=64, num_heads=2)
    assert g.input_gates.bias is None and g.memory_gates.bias is None and g.blocks[0].qkv.bias is None
    assert float(g.embedding.weight.detach().std()) == pytest.approx(0.88 * 400 ** -0.5, rel=0.1)  # truncated at 2 std
    assert float(g.output.weight.detach().std()) == pytest.approx(0.88 * 64 ** -0.5, rel=0.1)
    assert float(g.output.bias.detach().abs().max()) == 0.0 == float(g.input_projection.bias.detach().abs().max())
    assert float(g.embedding.weight.detach().abs().max()) <= 2 * 400 ** -0.5
