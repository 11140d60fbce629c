"""`textgan chat`: a scripted conversation through stdin, the context window, commands, errors."""

from __future__ import annotations

import io

import pytest

from conftest import cli_error, tiny_config
from textgan import api
from textgan.chat import context_prefix
from textgan.cli import main


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat")
    pairs = [("how are you ?", "fine thanks ."), ("what is your name ?", "my name is bot ."),
             ("where do you live ?", "i live here .")] * 20
    corpus = folder / "dialogues.jsonl"
    corpus.write_text("".join(f'{{"prompt": "{p}", "reply": "{r}"}}\n' for p, r in pairs), encoding="utf-8")
    cfg = tiny_config(corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply", "train.epochs": 25,
                                 "train.learning_rate": 0.02, "tokenizer.max_length": 16})
    api.train(cfg, folder / "run")
    return folder / "run"


def chat(run, text, monkeypatch, capsys, *flags):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["chat", str(run), *flags]) == 0
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


def test_scripted_conversation_answers_each_line_until_quit(dialogue_run, monkeypatch, capsys):
    script = "how are you ?\n/temperature 0.7\n/top_p 0.9\n\nwhat is your name ?\n/reset\nwhere do you live ?\n/quit\nnot read\n"
    replies, err = chat(dialogue_run, script, monkeypatch, capsys, "--greedy")
    assert len(replies) == 3
    # the first turn has no context: exactly what `sample` answers to the same prompt
    assert replies[0] == api.sample(dialogue_run, n=1, prompt="how are you ?", greedy=True, with_prompt=False)[0]
    assert "(temperature = 0.7)" in err and "(top_p = 0.9)" in err and "(conversation forgotten)" in err


def test_recent_turns_are_the_context_up_to_the_length(dialogue_run):
    tokenizer = api.load(dialogue_run).tokenizer
    turns = ["how are you ?", "fine thanks .", "what is your name ?"]
    # room for the newest turn and its reply only (16 - 4 for the reply - 1 for <sep>)
    assert context_prefix(tokenizer, turns, 16) == tokenizer.encode("fine thanks . what is your name ?") + [tokenizer.sep_id]
    assert context_prefix(tokenizer, turns, 12) == tokenizer.encode("what is your name ?") + [tokenizer.sep_id]
    long = ["fine " * 30]
    assert context_prefix(tokenizer, long, 16)[:-1] == tokenizer.encode("fine " * 11)


def test_bad_commands_cost_one_line_and_the_chat_goes_on(dialogue_run, monkeypatch, capsys):
    replies, err = chat(dialogue_run, "/temperature hot\n/top_p 2\n/dance\nhow are you ?\n", monkeypatch, capsys)
    assert len(replies) == 1
    assert "/temperature expects a number" in err and "top-p must be in (0, 1]" in err and "unknown command" in err


def test_a_run_without_prompts_is_refused_with_the_fix(trained_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    err = cli_error(["chat", str(trained_run)], capsys)
    assert "not prompt -> reply pairs" in err and "examples/dialogues_mle.yaml" in err
