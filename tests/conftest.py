"""Shared fixtures: tiny corpora and a tiny config, so every test runs in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from textgan import api
from textgan.cli import main
from textgan.config import Config, load_config

WORDS = "the cat sat on a mat dog ran far away bird sang sweet song".split()


def tiny_lines(n: int = 60, seed: int = 0) -> list[str]:
    """Short whitespace-separated sentences over a small vocabulary."""
    g = torch.Generator().manual_seed(seed)
    lines = []
    for _ in range(n):
        length = int(torch.randint(3, 7, (1,), generator=g))
        idx = torch.randint(0, len(WORDS), (length,), generator=g).tolist()
        lines.append(" ".join(WORDS[i] for i in idx))
    return lines


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI expecting a user error: exit code 2 and one line `textgan: error: ...`; the line."""
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("textgan: error: "), err
    return err


def reply_nll_by_hand(generator, split, include_prompt: bool = False) -> float:
    """Mean NLL per token over each row's reply (or whole row) up to and including its first <eos>,
    counted position by position: the reference the trainers' and metrics' NLL must match."""
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        log_probs = generator.log_prob(split.tokens)
    generator.train(was_training)
    total, count = 0.0, 0
    for row, lp, prompt_length in zip(split.tokens.tolist(), log_probs, split.prompt_lengths.tolist()):
        end = row.index(generator.eos_id) if generator.eos_id in row else len(row) - 1
        start = 0 if include_prompt else prompt_length
        total -= float(lp[start : end + 1].double().sum())
        count += end + 1 - start
    return total / count


def recomputed_oracle_metrics(run: Path) -> dict[str, float]:
    """NLL-oracle and NLL-test of a finished sampling-trainer run's last checkpoint, computed
    afresh: the oracle's NLL of the trainer's evaluation samples (its fixed seed and count) and
    the generator's NLL of the test split counted by hand (`reply_nll_by_hand`)."""
    from textgan.checkpoint import RunDirectory
    from textgan.metrics.nll import nll_oracle
    from textgan.training import TRAINERS
    from textgan.training.runtime import make_runtime

    loaded = api.load(run, prefer="latest")
    cfg = loaded.config
    data = api.build_data(cfg)
    trainer = TRAINERS[cfg.train.trainer](cfg, RunDirectory(run, write=False), make_runtime("cpu", "fp32"), data,
                                          loaded.generator)
    return {"nll_oracle": nll_oracle(data.oracle, trainer.evaluation_samples(trainer.nll_oracle_samples)),
            "nll_test": reply_nll_by_hand(trainer.generator, data.test)}


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def txt_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(tiny_lines()) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def jsonl_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"body": line}) + "\n" for line in tiny_lines()), encoding="utf-8")
    return path


@pytest.fixture
def dialogue_corpus(tmp_path: Path) -> Path:
    pairs = [("how are you ?", "fine thanks ."), ("what is your name ?", "my name is bot ."),
             ("where do you live ?", "i live here .")] * 20
    path = tmp_path / "dialogues.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "reply": r}) + "\n" for p, r in pairs), encoding="utf-8")
    return path


def tiny_config(corpus: Path | str, **overrides: object) -> Config:
    """A config that trains in a second: small model, two epochs, word tokens."""
    sets = {
        "data.corpus": str(corpus), "tokenizer.kind": "word", "tokenizer.max_length": 10,
        "model.embedding_dim": 16, "model.hidden_dim": 16, "model.num_heads": 2,
        "train.epochs": 2, "train.batch_size": 8, "train.device": "cpu", "sample.num_samples": 3,
    }
    sets.update({k: v for k, v in overrides.items()})
    return load_config(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sets.items()])


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A one-epoch tiny run, trained once per session; tests that write to a run use a copy."""
    folder = tmp_path_factory.mktemp("trained")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(tiny_lines()), encoding="utf-8")
    api.train(tiny_config(corpus, **{"train.epochs": 1}), folder / "run")
    return folder / "run"


@pytest.fixture
def trained_run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the whole trained run, for tests that train into it (or would on a bug)."""
    target = tmp_path / "run"
    shutil.copytree(trained_run, target)
    return target


@pytest.fixture
def checkpoint_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run's checkpoint folder, for tests that damage its files."""
    target = tmp_path / "ckpt"
    shutil.copytree(api.load(trained_run).path, target)
    return target


def save_tiny_pretrained(folder: Path, with_pad: bool = False, dropout: float = 0.1) -> Path:
    """A tiny GPT-2 and a tiny byte-level BPE tokenizer saved as a Hugging Face model folder
    (what `save_pretrained` writes), so `model.init_from` is tested without any download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = [eos, "<pad>"] if with_pad else [eos]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(tiny_lines(200, seed=1) + ["how are you ? fine thanks ."], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=eos, eos_token=eos,
                                        unk_token=None, pad_token="<pad>" if with_pad else None)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory) -> Path:
    """A tiny pretrained causal LM folder, written once per session."""
    return save_tiny_pretrained(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch) -> None:
    """Caches (tokenised corpora, reference LMs) go to a folder of the test session, not ~/.cache."""
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
