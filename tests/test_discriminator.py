"""TextCNN: input kinds, agreement with a plain Conv1d implementation, L2, config, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from textgan.cli import main
from textgan.config import DiscriminatorConfig
from textgan.errors import ConfigError
from textgan.models.cnn_discriminator import TextCNN, build_discriminator

VOCAB, LENGTH = 23, 9


def tiny_textcnn(**overrides) -> TextCNN:
    torch.manual_seed(0)
    settings = dict(embedding_dim=8, filter_sizes=(1, 2, 3, 9), num_filters=(4, 5, 3, 2), dropout=0.25)
    settings.update(overrides)
    return TextCNN(VOCAB, LENGTH, **settings).eval()


def conv1d_logits(d: TextCNN, x: torch.Tensor) -> torch.Tensor:
    """Kim's CNN written the usual way: one conv1d per filter size, ReLU, max over time."""
    embedded = d.embed(x).transpose(1, 2)
    pooled = []
    for size, bank in zip(d.filter_sizes, d.filters):
        weight = bank.weight.view(bank.out_features, size, d.embedding_dim).transpose(1, 2)
        pooled.append(torch.relu(F.conv1d(embedded, weight, bank.bias)).amax(dim=2))
    return d.head(torch.cat(pooled, dim=1))


def test_ids_one_hot_and_embeddings_give_equal_logits():
    d = tiny_textcnn()
    tokens = torch.randint(VOCAB, (6, LENGTH))
    from_ids = d(tokens)
    assert from_ids.shape == (6,)
    assert torch.equal(d(F.one_hot(tokens, VOCAB).float()), from_ids)
    assert torch.equal(d(d.embedding(tokens)), from_ids)


def test_matches_a_conv1d_per_filter_size_across_row_blocks():
    d = tiny_textcnn()
    d.row_block = 4  # several blocks, the last one partial
    tokens = torch.randint(VOCAB, (11, LENGTH))
    torch.testing.assert_close(d(tokens), conv1d_logits(d, tokens), rtol=1e-5, atol=1e-5)


def test_gradients_match_a_conv1d_per_filter_size():
    """The windows' own backward (shifted slab additions) gives autograd's gradients of the
    usual conv1d network, for every parameter and a soft one-hot input."""
    d = tiny_textcnn(dropout=0.0)
    soft = torch.softmax(3 * torch.randn(7, LENGTH, VOCAB), dim=-1)
    grads = []
    for logits in (d, lambda x: conv1d_logits(d, x)):
        d.zero_grad(set_to_none=True)
        x = soft.clone().requires_grad_()
        (logits(x) * torch.linspace(-1, 1, 7)).sum().backward()
        grads.append([x.grad] + [p.grad for p in d.parameters()])
    for name, ours, reference in zip(["input"] + [n for n, _ in d.named_parameters()], *grads):
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6, msg=name)


def test_window_matmul_passes_gradcheck_past_a_shared_prefix():
    from textgan.models.cnn_discriminator import _WindowMatmul

    embedded = torch.randn(3, 6, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3 * 2, dtype=torch.float64, requires_grad=True)
    for first_window in (0, 2):
        assert torch.autograd.gradcheck(lambda e, w: _WindowMatmul.apply(e, w, first_window), (embedded, weight))


def test_bf16_autocast_stays_close_to_fp32():
    d = tiny_textcnn()
    tokens = torch.randint(VOCAB, (8, LENGTH))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = d(tokens)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, d(tokens), rtol=0.05, atol=0.05)


def test_soft_one_hot_input_passes_gradients():
    d = tiny_textcnn()
    soft = torch.softmax(torch.randn(3, LENGTH, VOCAB), dim=-1).requires_grad_()
    d(soft).sum().backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0


def test_l2_penalty_is_half_the_squared_output_layer():
    d = tiny_textcnn()
    expected = 0.5 * (d.output.weight.pow(2).sum() + d.output.bias.pow(2).sum())
    torch.testing.assert_close(d.l2_penalty(), expected)
    d.l2_penalty().backward()
    assert d.filters[0].weight.grad is None and d.output.weight.grad is not None


def test_dropout_only_in_training_mode():
    d = tiny_textcnn(dropout=0.5)
    tokens = torch.randint(VOCAB, (16, LENGTH))
    assert torch.equal(d(tokens), d(tokens))
    d.train()
    torch.manual_seed(1)
    assert not torch.equal(d(tokens), d(tokens))


def test_config_dict_round_trip_rebuilds_the_same_network():
    d = tiny_textcnn()
    rebuilt = TextCNN.from_config_dict(d.config_dict())
    rebuilt.load_state_dict(d.state_dict())
    tokens = torch.randint(VOCAB, (4, LENGTH))
    assert torch.equal(rebuilt.eval()(tokens), d(tokens))


def test_build_discriminator_uses_the_seqgan_defaults():
    d = build_discriminator(DiscriminatorConfig(), vocab_size=50, max_length=20)
    assert d.filter_sizes == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    assert sum(d.num_filters) == 1720 and d.embedding_dim == 64 and d.dropout_rate == 0.25
    assert d(torch.randint(50, (2, 20))).shape == (2,)


def test_filter_longer_than_the_sequences_is_a_config_error():
    with pytest.raises(ConfigError, match="filter_sizes has 20 but sequences are 16 tokens; drop sizes above 16"):
        build_discriminator(DiscriminatorConfig(), vocab_size=50, max_length=16)


def test_mismatched_filter_lists_are_rejected_on_the_command_line(capsys, tmp_path):
    code = main(["train", "--out", str(tmp_path / "run"), "--set", "discriminator.filter_sizes=[1,2]",
                 "--set", "discriminator.num_filters=[5]"])
    assert code == 2
    assert "discriminator.num_filters (1 counts) must be non-empty lists of the same length" in capsys.readouterr().err


def test_float_input_of_another_width_is_refused():
    with pytest.raises(ValueError, match="last dimension 5"):
        tiny_textcnn()(torch.randn(2, LENGTH, 5))


def test_relgan_representations_share_one_cnn():
    """RelGAN's D: each slice of the embedding is read by the same filters, highway and output."""
    d = tiny_textcnn(embedding_dim=6, representations=3, filter_sizes=(2, 3), num_filters=(4, 5))
    tokens = torch.randint(VOCAB, (5, LENGTH))
    per = d.representation_logits(tokens)
    assert per.shape == (5, 3)
    single = TextCNN(VOCAB, LENGTH, embedding_dim=2, filter_sizes=(2, 3), num_filters=(4, 5)).eval()
    single.load_state_dict({k: v for k, v in d.state_dict().items() if k != "embedding.weight"}, strict=False)
    for r in range(3):
        single.embedding.weight.data = d.embedding.weight.data[:, 2 * r : 2 * r + 2]
        torch.testing.assert_close(single(tokens), per[:, r])
    torch.testing.assert_close(d(tokens), per.mean(1))
    torch.testing.assert_close(d(F.one_hot(tokens, VOCAB).float()), d(tokens))
    d.row_block = 4  # blocks of one row: the same logits
    torch.testing.assert_close(d.representation_logits(tokens), per)
    with pytest.raises(ConfigError, match="discriminator.embedding_dim \\(6\\) must be divisible by "
                                          "discriminator.representations \\(4\\)"):
        tiny_textcnn(embedding_dim=6, representations=4)


def completions_of(samples: torch.Tensor, prefix_lengths: list[int], per_prefix: int) -> tuple[torch.Tensor, ...]:
    """Completions that keep each sample's first t tokens and draw the rest: (rows, sources, t)."""
    generator = torch.Generator().manual_seed(1)
    rows, sources, prefixes = [], [], []
    for t in prefix_lengths:
        for b in range(samples.shape[0]):
            for _ in range(per_prefix):
                tail = torch.randint(VOCAB, (samples.shape[1] - t,), generator=generator)
                rows.append(torch.cat([samples[b, :t], tail]))
                sources.append(b)
                prefixes.append(t)
    return torch.stack(rows), torch.tensor(sources), torch.tensor(prefixes)


def test_shared_prefix_logits_equal_the_plain_d():
    d = tiny_textcnn(dropout=0.5)  # eval mode: dropout off
    d.row_block = 5  # several blocks per prefix length, the last one partial
    samples = torch.randint(VOCAB, (3, LENGTH))
    completions, sources, prefixes = completions_of(samples, list(range(1, LENGTH)), 2)
    shuffle = torch.randperm(len(completions), generator=torch.Generator().manual_seed(2))
    completions, sources, prefixes = completions[shuffle], sources[shuffle], prefixes[shuffle]
    shared = d.shared_prefix_logits(samples, completions, sources, prefixes)
    torch.testing.assert_close(shared, d(completions), rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = d.shared_prefix_logits(samples, completions, sources, prefixes)
    torch.testing.assert_close(low, d(completions), rtol=0.05, atol=0.05)


def test_fp32_scoring_path_equals_the_training_path():
    """Without a gradient, fp32 banks run as F.conv1d; with one, as the window matmul: same logits."""
    d = tiny_textcnn()
    d.row_block = 5
    samples = torch.randint(VOCAB, (3, LENGTH))
    completions, sources, prefixes = completions_of(samples, list(range(1, LENGTH)), 2)
    with_gradient = d(completions)
    assert with_gradient.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(d(completions), with_gradient.detach(), rtol=1e-5, atol=1e-5)
        shared = d.shared_prefix_logits(samples, completions, sources, prefixes)
    torch.testing.assert_close(shared, d.shared_prefix_logits(samples, completions, sources, prefixes).detach(),
                               rtol=1e-5, atol=1e-5)


def test_shared_prefix_uses_the_samples_windows():
    d = tiny_textcnn()
    samples = torch.randint(VOCAB, (2, LENGTH))
    completions, sources, prefixes = completions_of(samples, [LENGTH - 1], 1)
    # a completion credited to the other sample takes that sample's prefix windows: another score
    swapped = d.shared_prefix_logits(samples, completions, 1 - sources, prefixes)
    assert not torch.allclose(swapped, d(completions))


def test_conv_flops_count_the_windows_outside_the_prefix():
    d = tiny_textcnn()  # sizes 1, 2, 3, 9 with 4, 5, 3, 2 filters, E = 8, T = 9
    assert d.conv_flops(LENGTH) == 2 * 8 * (4 * 1 * 9 + 5 * 2 * 8 + 3 * 3 * 7 + 2 * 9 * 1)
    # prefix of 3 tokens: sizes 1, 2, 3 skip 3, 2, 1 windows; size 9 skips none
    assert d.conv_flops(LENGTH, 3) == 2 * 8 * (4 * 1 * 6 + 5 * 2 * 6 + 3 * 3 * 6 + 2 * 9 * 1)


def test_shared_prefix_flops_follow_the_row_blocks():
    d = tiny_textcnn()
    d.row_block = 4
    prefixes = torch.tensor([3, 1, 1, 1, 3, 3, 3, 3])  # blocks: [1, 1, 1, 3] then [3, 3, 3, 3]
    assert d.shared_prefix_conv_flops(LENGTH, prefixes) == 4 * d.conv_flops(LENGTH, 1) + 4 * d.conv_flops(LENGTH, 3)


def test_relgan_style_has_the_references_head_biases_and_initialisation():
    """RelGAN's D: no highway biases (gate bias 0), a layer of 100 then the logit (zero biases),
    embeddings truncated N(0, 1 / V), filters He-normal with zero biases."""
    torch.manual_seed(0)
    d = TextCNN(5000, 20, embedding_dim=64, filter_sizes=[2, 3], num_filters=[30, 30], representations=64,
                style="relgan")
    assert d.highway.bias is None and d.projection.weight.shape == (100, 60) and d.output.weight.shape == (1, 100)
    assert float(d.projection.bias.detach().abs().max()) == 0.0 == float(d.output.bias.detach().abs().max())
    assert all(float(bank.bias.detach().abs().max()) == 0.0 for bank in d.filters)
    assert float(d.embedding.weight.detach().std()) == pytest.approx(0.88 * 5000 ** -0.5, rel=0.05)
    assert float(d.filters[0].weight.detach().std()) == pytest.approx(0.88 * (2 / 2) ** 0.5, rel=0.2)  # 2 taps x width 1
    assert d.representation_logits(torch.randint(5000, (3, 20))).shape == (3, 64)
    seqgan = TextCNN(5000, 20, embedding_dim=64, filter_sizes=[2, 3], num_filters=[30, 30], representations=64)
    assert float(seqgan.highway.bias.detach()[:60].mean()) == -2.0 and isinstance(seqgan.projection, torch.nn.Identity)
