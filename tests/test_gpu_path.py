"""The GPU path, checked on the CPU (issue 25): resume across precisions, device types and GPU
counts; recurrent cells in fp32 under mixed precision; deterministic CUDA settings; the rollout
copy's packed weights; the LM scores' RNG; host synchronisations of the D loop and of gradient
averaging. What needs a device is in benchmarks/gpu_smoke.sh."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textgan import api
from textgan.checkpoint import (
    STATE_FILE,
    RunDirectory,
    capture_rng,
    generator_state,
    restore_generator,
    restore_rng,
)
from textgan.chunking import chunk_rows
from textgan.models.leakgan import LeakGANGenerator
from textgan.models.lstm import LSTMGenerator
from textgan.models.vae import SentenceVAE
from textgan.training import runtime as runtime_mod
from textgan.training.base import NonFiniteLossError, load_optimizer_state
from textgan.training.mle import MLETrainer
from textgan.training.rollouts import RolloutNetwork
from textgan.training.runtime import Runtime

from conftest import tiny_config
from test_policy_gradient import build_trainer, tiny_seqgan_config

BF16 = torch.autocast("cpu", dtype=torch.bfloat16)


# -- resume across precisions --------------------------------------------------------------------
def test_an_enabled_scaler_starts_afresh_from_a_disabled_ones_empty_state():
    enabled = torch.amp.GradScaler("cpu", enabled=True)
    with pytest.raises(RuntimeError, match="empty"):  # what torch does on its own
        torch.amp.GradScaler("cpu", enabled=True).load_state_dict({})
    load_optimizer_state(enabled, {})
    assert enabled.get_scale() == 65536.0
    disabled = torch.amp.GradScaler("cpu", enabled=False)
    load_optimizer_state(disabled, enabled.state_dict())  # fp16 -> fp32: ignored
    assert disabled.state_dict() == {}


def test_an_fp32_run_resumes_with_fp16_loss_scaling(tmp_path: Path, txt_corpus: Path):
    cfg = tiny_config(txt_corpus, **{"train.epochs": 1})
    api.train(cfg, tmp_path / "run")
    data = api.build_data(tiny_config(txt_corpus, **{"train.epochs": 1}))
    checkpoint = RunDirectory(tmp_path / "run").pointed("latest")
    generator = api.load_checkpoint(checkpoint).generator
    trainer = MLETrainer(cfg, RunDirectory(tmp_path / "run"), Runtime(torch.device("cpu"), "fp16"), data, generator)
    trainer.resume_from(checkpoint)  # raised "The source state dict is empty" before
    assert trainer.stepper.scaler.is_enabled() and trainer.step > 0


# -- resume across device types and GPU counts ---------------------------------------------------
def test_a_generator_state_from_another_device_type_carries_the_stream_reproducibly(caplog):
    cuda_state = {"device": "cuda", "state": torch.arange(16, dtype=torch.uint8)}  # Philox seed + offset
    with pytest.raises(RuntimeError):  # what set_state does with it
        torch.Generator().set_state(cuda_state["state"])
    draws = []
    for saved in (cuda_state, cuda_state, cuda_state["state"]):  # the last: an older checkpoint's bare tensor
        rng = torch.Generator()
        with caplog.at_level(logging.WARNING):
            restore_generator(rng, saved)
        draws.append(torch.rand(4, generator=rng))
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])
    assert "saved on cuda continues on cpu" in caplog.text and "not bit-identical" in caplog.text
    # the same device type continues exactly
    rng = torch.Generator().manual_seed(3)
    saved = generator_state(rng)
    expected = torch.rand(4, generator=rng)
    restore_generator(rng, saved)
    assert torch.equal(torch.rand(4, generator=rng), expected)


def test_a_seqgan_run_saved_on_cuda_resumes_on_the_cpu(tmp_path: Path):
    run = tmp_path / "run"
    api.train(tiny_seqgan_config(**{"seqgan.adversarial_rounds": 1}), run)
    checkpoint = RunDirectory(run).pointed("latest")
    state = torch.load(checkpoint / STATE_FILE, weights_only=True)
    state["extra"]["rng"] = {"device": "cuda", "state": torch.arange(16, dtype=torch.uint8)}
    torch.save(state, checkpoint / STATE_FILE)
    result = api.train(tiny_seqgan_config(), run, resume=True)
    assert result.metrics["round"] == 2


@pytest.fixture
def one_gpu(monkeypatch):
    """torch.cuda as seen by a process on GPU 0 of a machine with one GPU; records RNG calls."""
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": calls.append(("get", device)) or torch.full((16,), 7, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": calls.append(("set", device)))
    return calls


def test_only_the_processs_own_cuda_rng_state_is_saved(one_gpu):
    state = capture_rng()
    assert one_gpu == [("get", 0)] and torch.equal(state["cuda"], torch.full((16,), 7, dtype=torch.uint8))
    restore_rng(state)
    assert one_gpu[1:] == [("set", 0)]


def test_a_state_saved_on_eight_gpus_restores_on_one(one_gpu):
    state = capture_rng()
    state["cuda"] = [torch.full((16,), i, dtype=torch.uint8) for i in range(8)]  # older checkpoints: every GPU's
    restore_rng(state)  # set_rng_state_all touched GPUs 1..7, which are not there
    assert one_gpu[1:] == [("set", 0)]


# -- recurrent cells under mixed precision ----------------------------------------------------------
def lstm_output_dtypes(model: nn.Module, run) -> set[torch.dtype]:
    """dtypes of every nn.LSTM output while `run()` runs under bf16 autocast."""
    dtypes: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda _m, _i, out: dtypes.add((out[0].data if hasattr(out[0], "data") else out[0]).dtype))
             for m in model.modules() if isinstance(m, nn.LSTM)]
    with BF16:
        run()
    for hook in hooks:
        hook.remove()
    return dtypes


def test_every_lstm_runs_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    targets = torch.randint(3, 12, (4, 7))
    lstm = LSTMGenerator(12, 7, 0, 1, 2, embedding_dim=6, hidden_dim=8)
    vae = SentenceVAE(12, 7, bos_id=1, eos_id=2, pad_id=0, embedding_dim=6, hidden_dim=8, latent_dim=3)
    leak = LeakGANGenerator(vocab_size=7, max_length=6, bos_id=5, eos_id=6, embedding_dim=8, hidden_dim=8,
                            manager_hidden_dim=8, goal_size=3, step_size=2, discriminator_embedding_dim=4,
                            filter_sizes=[2, 3], num_filters=[4, 5])
    rollout = RolloutNetwork(lstm)

    def vae_forward():
        mean, _ = vae.encode(targets)
        vae.decode_logits(vae.inputs_for(targets), mean)

    assert lstm_output_dtypes(lstm, lambda: lstm.log_prob(targets)) == {torch.float32}
    assert lstm_output_dtypes(vae, vae_forward) == {torch.float32}
    assert lstm_output_dtypes(leak, lambda: leak.log_prob(targets % 5)) == {torch.float32}
    assert lstm_output_dtypes(rollout, lambda: rollout.network.sample(4, 7)) == {torch.float32}


def lstm_gradients(model: LSTMGenerator, targets: torch.Tensor, autocast: bool, through_output: bool) -> torch.Tensor:
    model.zero_grad()
    with BF16 if autocast else contextlib.nullcontext():
        hidden, weight, bias = model.output_features(model.inputs_for(targets))
        if through_output:  # the bf16 output layer's rounding reaches the LSTM's gradient too
            loss = F.cross_entropy((hidden @ weight.t() + bias).float().flatten(0, 1), targets.flatten())
        else:
            loss = hidden.float().pow(2).mean()
    (loss * 1e-4).backward()  # small, like a policy gradient's
    return torch.cat([p.grad.flatten() for p in model.lstm.parameters()])


def test_a_bf16_runs_lstm_gets_the_fp32_gradients():
    torch.manual_seed(0)
    model = LSTMGenerator(50, 12, 0, 1, 2, embedding_dim=16, hidden_dim=32)
    targets = torch.randint(3, 50, (8, 12))
    fp32 = lstm_gradients(model, targets, autocast=False, through_output=False)
    bf16 = lstm_gradients(model, targets, autocast=True, through_output=False)
    assert torch.allclose(bf16, fp32, rtol=1e-5, atol=1e-12)  # the LSTM itself: as fp32 (bf16 before: ~1e-2 off)
    fp32 = lstm_gradients(model, targets, autocast=False, through_output=True)
    bf16 = lstm_gradients(model, targets, autocast=True, through_output=True)
    assert ((bf16 - fp32).norm() / fp32.norm()).item() < 1e-2


# -- determinism, packed weights, RNG of the LM scores ---------------------------------------------
def test_deterministic_settings_are_made_on_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda mode, warn_only=False: calls.append((mode, warn_only)))
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "")  # so that monkeypatch restores the environment after
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    runtime_mod.configure_determinism(torch.device("cpu"), True)
    runtime_mod.configure_determinism(torch.device("cuda", 0), False)
    assert calls == [] and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    runtime_mod.configure_determinism(torch.device("cuda", 0), True)
    assert calls == [(True, True)]
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_the_rollout_copy_packs_its_lstm_weights(monkeypatch):
    generator = LSTMGenerator(12, 7, 0, 1, 2, embedding_dim=6, hidden_dim=8)
    packed = []
    monkeypatch.setattr(nn.LSTM, "flatten_parameters", lambda self: packed.append(self))
    rollout = RolloutNetwork(generator)
    assert packed == [rollout.network.lstm]


def test_the_lm_scores_leave_the_cuda_generators_alone(monkeypatch):
    from textgan.metrics.lm_scores import LMBudget, Vocabulary, fit_lm

    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(seed))
    rows = torch.randint(3, 10, (6, 5))
    before = torch.get_rng_state()
    fit_lm(rows, Vocabulary(10, bos_id=0, eos_id=1, pad_id=2), LMBudget(epochs=1, embedding_dim=4, hidden_dim=4), seed=3)
    assert seeded == [] and torch.equal(torch.get_rng_state(), before)


def test_chunks_follow_the_device():
    assert chunk_rows(512, torch.device("cpu")) == 512
    assert chunk_rows(512, torch.device("cuda", 1)) == 512 * 16


# -- host synchronisations ------------------------------------------------------------------------
def test_gradient_averaging_reads_the_host_once_not_once_per_parameter(monkeypatch):
    runtime = Runtime(torch.device("cpu"), world_size=2)
    monkeypatch.setattr(runtime_mod.dist, "all_reduce", lambda tensor, op=None: tensor.mul_(2))  # two equal processes
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(2, 2))
    model[0](torch.randn(5, 3)).sum().backward()  # layers 1 and 2 get no gradient
    expected = [p.grad.clone() for p in model[0].parameters()]
    reads = []
    original = torch.Tensor.__float__
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: reads.append(1) or original(self))
    runtime.average_gradients(model.parameters())
    assert reads == []
    assert all(torch.equal(p.grad, e) for p, e in zip(model[0].parameters(), expected))
    assert all(p.grad is None for p in [*model[1].parameters(), *model[2].parameters()])


def test_the_d_loop_checks_finiteness_once_an_epoch_and_still_stops_on_nan(tmp_path: Path, monkeypatch):
    trainer = build_trainer(tiny_seqgan_config(**{"seqgan.d_epochs": 3, "seqgan.d_batch_size": 16}), tmp_path / "run")
    checks = []
    original = trainer.check_finite
    monkeypatch.setattr(trainer, "check_finite", lambda loss, what="loss": checks.append(what) or original(loss, what))
    trainer.train_discriminator(0.0)
    assert checks == ["discriminator loss"] * 3  # 3 epochs of 8 batches each
    forward = trainer.discriminator.forward
    monkeypatch.setattr(trainer.discriminator, "forward", lambda tokens: forward(tokens) * float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"^discriminator loss became non-finite at step 1; no checkpoint"):
        trainer.train_discriminator(0.0)


def test_batches_reach_cuda_from_pinned_memory_without_waiting():
    class HostRows:
        calls: list = []

        def pin_memory(self):
            self.calls.append("pin")
            return self

        def to(self, device, non_blocking=False):
            self.calls.append((str(device), non_blocking))
            return self

    rows = HostRows()
    Runtime(torch.device("cuda", 1)).to_device(rows)
    assert rows.calls == ["pin", ("cuda:1", True)]
    assert torch.equal(Runtime(torch.device("cpu")).to_device(torch.arange(3)), torch.arange(3))


def test_the_others_wait_for_rank_0s_tokenisation_on_the_patient_group(monkeypatch):
    waits = []
    monkeypatch.setattr(runtime_mod.dist, "barrier", lambda group=None: waits.append(group))
    patient = object()
    for rank in (0, 1):
        with Runtime(torch.device("cpu"), rank=rank, world_size=2, patient_group=patient).main_first():
            waits.append(f"rank {rank} tokenises")
    assert waits == ["rank 0 tokenises", patient, patient, "rank 1 tokenises"]
    assert runtime_mod.PATIENT_TIMEOUT.days >= 2
