"""Any Hugging Face causal LM as the generator (model.init_from), on a tiny GPT-2 saved locally."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import cli_error, save_tiny_pretrained, tiny_config, tiny_lines
from textgan import api
from textgan.cli import main


def pretrained_config(corpus, folder, **overrides):
    return tiny_config(corpus, **{"model.init_from": str(folder), "tokenizer.max_length": 24,
                                  "train.learning_rate": 0.005, **overrides})


def test_mle_fine_tunes_the_pretrained_model_with_its_own_tokenizer(tmp_path, txt_corpus, tiny_pretrained, caplog):
    hf_tokenizer = AutoTokenizer.from_pretrained(tiny_pretrained)
    original = AutoModelForCausalLM.from_pretrained(tiny_pretrained)
    with caplog.at_level(logging.INFO):
        result = api.train(pretrained_config(txt_corpus, tiny_pretrained), tmp_path / "run")
    assert "tokenizer.kind=word is ignored" in caplog.text
    checkpoint = api.load(result.run_dir)
    # the corpus was encoded with the model's tokenizer, ending in its own end token
    data_row = checkpoint.tokenizer.encode("the cat sat")
    assert data_row == hf_tokenizer("the cat sat", add_special_tokens=False)["input_ids"]
    assert checkpoint.tokenizer.eos_id == hf_tokenizer.eos_token_id
    assert checkpoint.tokenizer.tokens(data_row + [hf_tokenizer.eos_token_id, 5]) == ["the", "cat", "sat"]  # BLEU on words
    # the checkpoint is a Hugging Face model and tokenizer again, fine-tuned from the original
    folder = checkpoint.path
    tuned = AutoModelForCausalLM.from_pretrained(folder)
    reloaded = AutoTokenizer.from_pretrained(folder)
    assert reloaded("the cat sat", add_special_tokens=False)["input_ids"] == data_row
    assert tuned.config.vocab_size == len(hf_tokenizer)
    assert not torch.equal(tuned.transformer.wte.weight, original.transformer.wte.weight)
    x = torch.tensor([data_row])
    assert torch.allclose(tuned(x).logits, checkpoint.generator.eval()(x), atol=1e-5)
    # samples stop at the model's context-capped length, not its 64 positions
    assert checkpoint.generator.max_length == 24
    assert result.samples and all(isinstance(s, str) for s in result.samples)


def test_fine_tuning_starts_from_the_pretrained_weights(tmp_path, txt_corpus, tiny_pretrained):
    from textgan.models.pretrained import load_pretrained_generator, load_pretrained_tokenizer

    tokenizer = load_pretrained_tokenizer(str(tiny_pretrained), separator=False)
    generator = load_pretrained_generator(str(tiny_pretrained), tokenizer, 24)
    original = AutoModelForCausalLM.from_pretrained(tiny_pretrained)
    for name, tensor in original.state_dict().items():
        assert torch.equal(generator.model.state_dict()[name], tensor), name


def test_dialogues_get_a_separator_and_prompted_sampling(tmp_path, dialogue_corpus, tiny_pretrained):
    run = tmp_path / "run"
    api.train(pretrained_config(dialogue_corpus, tiny_pretrained, **{
        "train.epochs": 3, "data.prompt_field": "prompt", "data.reply_field": "reply",
        "tokenizer.max_length": 48}), run)
    checkpoint = api.load(run)
    tokenizer = checkpoint.tokenizer
    assert tokenizer.sep_id is not None and tokenizer.sep_id != tokenizer.eos_id
    assert checkpoint.generator.vocab_size == tokenizer.vocab_size == len(AutoTokenizer.from_pretrained(tiny_pretrained)) + 1
    assert AutoTokenizer.from_pretrained(checkpoint.path).sep_token == "<sep>"
    replies = api.sample(run, n=3, prompt="how are you ?", seed=1)
    assert len(replies) == 3


def test_context_caps_max_length_and_says_so(tmp_path, txt_corpus, tiny_pretrained, caplog):
    with caplog.at_level(logging.WARNING):
        api.train(pretrained_config(txt_corpus, tiny_pretrained, **{"tokenizer.max_length": 200,
                                                                     "train.epochs": 1}), tmp_path / "run")
    assert "exceeds the 64 positions" in caplog.text
    assert api.load(tmp_path / "run").generator.max_length == 64


def test_auto_max_length_stays_within_the_context(tmp_path, tiny_pretrained, caplog):
    corpus = tmp_path / "long.txt"
    lines = tiny_lines(400, seed=3)
    corpus.write_text("\n".join(" ".join(lines[i:i + 20]) for i in range(0, 400, 20)) + "\n", encoding="utf-8")
    sets = {"tokenizer.max_length": "auto", "tokenizer.overflow": "truncate", "train.epochs": 1}
    with caplog.at_level(logging.WARNING):
        api.train(pretrained_config(corpus, tiny_pretrained, **sets), tmp_path / "run")
    assert "auto chose" in caplog.text and "more than the 64 positions" in caplog.text
    assert api.load(tmp_path / "run").generator.max_length == 64
    assert "max_length: 64" in (tmp_path / "run" / "config.yaml").read_text()  # resume rebuilds the same rows
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "2"]) == 0


def test_pad_token_of_the_model_is_kept(tmp_path, txt_corpus):
    folder = save_tiny_pretrained(tmp_path / "with_pad", with_pad=True)
    api.train(pretrained_config(txt_corpus, folder, **{"train.epochs": 1}), tmp_path / "run")
    tokenizer = api.load(tmp_path / "run").tokenizer
    assert tokenizer.pad_id == AutoTokenizer.from_pretrained(folder).pad_token_id != tokenizer.eos_id


@pytest.mark.parametrize("trainer", ["seqgan", "maligan", "rankgan"])
def test_adversarial_trainer_fine_tunes_the_pretrained_model_and_resumes_exactly(tmp_path, txt_corpus, tiny_pretrained, trainer):
    sets = {"train.trainer": trainer, "train.epochs": 1, "seqgan.pretrain_d_steps": 1, "seqgan.adversarial_rounds": 2,
            "seqgan.d_steps": 1, "seqgan.d_samples": 16, "seqgan.rollout_count": 2, "seqgan.eval_every": 1,
            "discriminator.filter_sizes": [1, 2], "discriminator.num_filters": [4, 4], "train.checkpoint_every_steps": 2}
    api.train(pretrained_config(txt_corpus, tiny_pretrained, **sets), tmp_path / "full")
    stopped = pretrained_config(txt_corpus, tiny_pretrained, **{**sets, "seqgan.adversarial_rounds": 1})
    api.train(stopped, tmp_path / "split")
    api.train(pretrained_config(txt_corpus, tiny_pretrained, **sets), tmp_path / "split", resume=True)
    def records(run):  # all but the wall-clock elapsed_s
        return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert records(tmp_path / "full") == records(tmp_path / "split")
    discriminator = api.load(tmp_path / "full").path / "discriminator.safetensors"
    from safetensors.torch import load_file

    embedding = [v for k, v in load_file(str(discriminator)).items() if v.dim() == 2 and "emb" in k]
    assert embedding and embedding[0].shape[0] == len(AutoTokenizer.from_pretrained(tiny_pretrained))


@pytest.mark.parametrize("trainer, steps", [("gumbel", "gumbel.adversarial_steps"), ("cot", "cot.steps")])
def test_relaxed_and_cooperative_trainers_take_the_pretrained_model(tmp_path, txt_corpus, tiny_pretrained, trainer, steps):
    sets = {"train.trainer": trainer, "train.epochs": 1, steps: 2,
            "discriminator.filter_sizes": [1, 2], "discriminator.num_filters": [4, 4]}
    api.train(pretrained_config(txt_corpus, tiny_pretrained, **sets), tmp_path / "run")
    model = AutoModelForCausalLM.from_pretrained(api.load(tmp_path / "run").path)
    assert model.get_input_embeddings().weight.shape[0] == len(AutoTokenizer.from_pretrained(tiny_pretrained))
    assert api.sample(tmp_path / "run", n=2, seed=0)


def test_bf16_fine_tuning_runs(tmp_path, txt_corpus, tiny_pretrained):
    result = api.train(pretrained_config(txt_corpus, tiny_pretrained, **{"train.precision": "bf16", "train.epochs": 1}),
                       tmp_path / "run")
    assert result.samples


def test_cli_init_from_and_one_line_errors(tmp_path, txt_corpus, tiny_pretrained, capsys):
    code = main(["train", "--corpus", str(txt_corpus), "--init-from", str(tiny_pretrained), "--epochs", "1",
                 "--max-length", "24", "--batch-size", "8", "--device", "cpu", "--out", str(tmp_path / "run"),
                 "--set", "sample.num_samples=2"])
    assert code == 0
    assert f"init_from: {tiny_pretrained}" in (tmp_path / "run" / "config.yaml").read_text()
    capsys.readouterr()
    err = cli_error(["train", "--corpus", str(txt_corpus), "--init-from", str(tmp_path / "missing"),
                     "--out", str(tmp_path / "r2")], capsys)
    assert "model.init_from" in err and "not found" in err
    err = cli_error(["train", "--corpus", "oracle", "--init-from", str(tiny_pretrained), "--out", str(tmp_path / "r3")],
                    capsys)
    assert "oracle" in err


def test_evaluate_and_compare_take_a_pretrained_run(tmp_path, txt_corpus, tiny_pretrained, capsys):
    run = tmp_path / "run"
    api.train(pretrained_config(txt_corpus, tiny_pretrained, **{"train.epochs": 1}), run)
    assert main(["evaluate", str(run), "--temperatures", "1.0", "-n", "8", "--json"]) == 0
    assert "bleu" in capsys.readouterr().out
    shutil.copytree(run, tmp_path / "copy")
    assert main(["compare", str(run), str(tmp_path / "copy"), "--temperatures", "1.0", "-n", "8", "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()


def test_two_processes_match_one(tmp_path, txt_corpus):
    folder = save_tiny_pretrained(tmp_path / "model", dropout=0.0)  # dropout masks differ by process
    args = ["train", "--corpus", str(txt_corpus), "--init-from", str(folder), "--epochs", "2", "--batch-size", "15",
            "--max-length", "24", "--device", "cpu", "--set", "train.learning_rate=0.005", "--set", "sample.num_samples=2"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launches = {"one": [sys.executable, "-m", "textgan"],
                "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                        "127.0.0.1", "--master_port", str(port), "-m", "textgan"]}
    for name, command in launches.items():
        done = subprocess.run([*command, *args, "--out", str(tmp_path / name)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = (tmp_path / "one" / "metrics.jsonl").read_text(), (tmp_path / "two" / "metrics.jsonl").read_text()
    for a, b in zip(one.splitlines(), two.splitlines(), strict=True):
        a, b = json.loads(a), json.loads(b)
        assert a["step"] == b["step"] and a["val_nll"] == pytest.approx(b["val_nll"], rel=1e-4)
