"""`textgan export`: a Hugging Face folder with a model card, loaded back with transformers and sampled."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import cli_error, tiny_config
from textgan import api
from textgan.cli import main


def test_export_loads_back_with_transformers_and_samples(tmp_path, dialogue_corpus, capsys):
    cfg = tiny_config(dialogue_corpus, **{"model.kind": "transformer", "data.prompt_field": "prompt",
                                          "data.reply_field": "reply", "train.epochs": 2, "tokenizer.max_length": 12})
    api.train(cfg, tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "exported")]) == 0
    folder = tmp_path / "exported"
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # the model card's recipe: <bos> prompt <sep>, then generate the reply
    ids = [tokenizer.bos_token_id] + tokenizer("how are you ?", add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    torch.manual_seed(0)
    out = model.generate(torch.tensor([ids]), do_sample=True, max_new_tokens=6, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > len(ids) and isinstance(tokenizer.decode(out[0, len(ids):], skip_special_tokens=True), str)
    # the exported weights are the run's best checkpoint
    best = api.load(tmp_path / "run")
    x = torch.tensor([ids])
    assert torch.allclose(model(x).logits, best.generator.eval()(x), atol=1e-6)
    card = (folder / "README.md").read_text()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert str(dialogue_corpus) in card and "`mle`" in card and "pipeline_tag: text-generation" in card
    assert f"{records[-1]['val_nll']:.4g}" in card
    final = (tmp_path / "run" / "samples" / "final.txt").read_text().splitlines()
    assert all(line in card for line in final)


def test_export_of_a_pretrained_run_keeps_its_tokenizer(tmp_path, txt_corpus, tiny_pretrained):
    cfg = tiny_config(txt_corpus, **{"model.init_from": str(tiny_pretrained), "tokenizer.max_length": 24,
                                     "train.epochs": 1, "train.learning_rate": 0.005})
    api.train(cfg, tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "exported")]) == 0
    exported = AutoTokenizer.from_pretrained(tmp_path / "exported")
    original = AutoTokenizer.from_pretrained(tiny_pretrained)
    assert exported("the cat sat")["input_ids"] == original("the cat sat")["input_ids"]
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "exported").config.vocab_size == len(original)


def test_lstm_runs_and_existing_folders_are_refused(trained_run, tmp_path, capsys):
    err = cli_error(["export", str(trained_run), "--out", str(tmp_path / "x")], capsys)
    assert "textgan-lstm" in err and "model.kind=transformer" in err and not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    assert "already exists" in cli_error(["export", str(trained_run), "--out", str(tmp_path / "taken")], capsys)
