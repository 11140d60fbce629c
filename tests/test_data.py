"""Corpus readers in every format and the three tokenizers."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from textgan.config import DataConfig, TokenizerConfig
from textgan.data import build_tokenizer, encode_examples, load_splits, read_examples
from textgan.data.corpus import Example
from textgan.data.tokenizer import TextTokenizer
from textgan.errors import DataError

from conftest import tiny_lines


def test_txt_jsonl_csv_and_saved_dataset_read_the_same(tmp_path, txt_corpus, jsonl_corpus):
    expected = [e.text for e in read_examples(str(txt_corpus), DataConfig())]
    assert expected == tiny_lines()
    assert [e.text for e in read_examples(str(jsonl_corpus), DataConfig(text_field="body"))] == expected
    csv_path = tmp_path / "c.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        writer.writerows([[i, t] for i, t in enumerate(expected)])
    assert [e.text for e in read_examples(str(csv_path), DataConfig(text_field="body"))] == expected
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"body": expected}).save_to_disk(str(folder))
    assert [e.text for e in read_examples(str(folder), DataConfig(text_field="body"))] == expected


def test_prompt_reply_pairs(dialogue_corpus):
    examples = read_examples(str(dialogue_corpus), DataConfig(prompt_field="prompt", reply_field="reply"))
    assert examples[0] == Example(text="fine thanks .", prompt="how are you ?")


def test_split_is_reproducible_and_disjoint(txt_corpus):
    cfg = DataConfig(corpus=str(txt_corpus), validation_fraction=0.1, test_fraction=0.1)
    a, b = load_splits(cfg, seed=3), load_splits(cfg, seed=3)
    assert a == b
    assert len(a.train) + len(a.validation) + len(a.test) == 60
    assert load_splits(cfg, seed=4).train != a.train


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"abc\x00def\n", "looks binary"),
    (b"caf\xe9\n", "not valid UTF-8"),
])
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_examples(str(path), DataConfig())


def test_missing_field_and_missing_file(tmp_path, jsonl_corpus):
    with pytest.raises(DataError, match="no field 'text'.*--text-field"):
        read_examples(str(jsonl_corpus), DataConfig())
    with pytest.raises(DataError, match="not found"):
        read_examples(str(tmp_path / "nope.txt"), DataConfig())


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_tokenizers_round_trip_and_load_elsewhere(tmp_path, kind):
    texts = tiny_lines()
    tok = build_tokenizer(texts, TokenizerConfig(kind=kind, vocab_size=40))
    for text in texts[:10]:
        assert tok.decode(tok.encode(text)) == text
    tok.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert again.encode(texts[0]) == tok.encode(texts[0]) and again.fingerprint() == tok.fingerprint()
    raw = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert raw.encode(texts[0], add_special_tokens=False).ids == tok.encode(texts[0])
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert fast.decode(fast(texts[0])["input_ids"]) == texts[0]
    assert [tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id, tok.sep_id] == [0, 1, 2, 3, 4]


def test_nltk_word_split():
    tok = build_tokenizer(["Hello, world! Isn't it?"], TokenizerConfig(kind="word", word_split="nltk"))
    assert tok.tokens(tok.encode("Hello, world!")) == ["Hello", ",", "world", "!"]


def test_max_length_policy_counts(caplog):
    tok = build_tokenizer(["a b c d e f", "a b"], TokenizerConfig(kind="word"))
    examples = [Example("a b c d e f"), Example("a b")]
    dropped = encode_examples(examples, tok, 4, "drop")
    assert len(dropped) == 1 and dropped.dropped == 1
    truncated = encode_examples(examples, tok, 4, "truncate")
    assert truncated.truncated == 1 and truncated.tokens.tolist()[0] == tok.encode("a b c d")
    assert truncated.tokens.tolist()[1] == tok.encode("a b") + [tok.eos_id, tok.pad_id]
    with pytest.raises(DataError, match="longer than tokenizer.max_length"):
        encode_examples([Example("a b c d e f")], tok, 3, "drop")


def test_dialogue_rows_hold_prompt_separator_reply():
    tok = build_tokenizer(["how are you ?", "fine ."], TokenizerConfig(kind="word"))
    split = encode_examples([Example("fine .", prompt="how are you ?")], tok, 10, "drop")
    row = split.tokens[0].tolist()
    assert row[:7] == tok.encode("how are you ?") + [tok.sep_id] + tok.encode("fine .")
    assert row[7] == tok.eos_id and int(split.prompt_lengths[0]) == 5
    assert json.dumps(row)  # plain ints


@pytest.mark.parametrize("corpus_fixture, extra", [("txt_corpus", {}),
                                                  ("dialogue_corpus", {"prompt_field": "prompt", "reply_field": "reply"})])
def test_memory_mapped_path_equals_in_memory(tmp_path, request, corpus_fixture, extra):
    from textgan.config import load_config
    from textgan.data import prepare_data

    corpus = request.getfixturevalue(corpus_fixture)
    sets = [f"data.corpus={corpus}", "tokenizer.kind=word", "tokenizer.max_length=9",
            f"data.cache_dir={tmp_path / 'cache'}"] + [f"data.{k}={v}" for k, v in extra.items()]
    in_memory = prepare_data(load_config(None, sets + ["data.memory_map=never"]))
    mapped = prepare_data(load_config(None, sets + ["data.memory_map=always"]))
    cached = prepare_data(load_config(None, sets + ["data.memory_map=always"]))
    assert mapped.tokenizer.fingerprint() == in_memory.tokenizer.fingerprint()
    for name in ("train", "validation", "test"):
        a, b, c = getattr(in_memory, name), getattr(mapped, name), getattr(cached, name)
        assert torch.equal(a.tokens, b.tokens[:]) and torch.equal(a.prompt_lengths, b.prompt_lengths)
        assert torch.equal(b.tokens[:], c.tokens[:]) and a.dropped == b.dropped


def test_parallel_tokenisation_in_parts_with_dropped_rows_equals_in_memory(tmp_path, monkeypatch):
    """Several worker processes, parts of 5 rows, rows dropped for length: the gaps are closed."""
    from textgan.config import load_config
    from textgan.data import mapped, prepare_data

    from conftest import tiny_lines

    lines = [line + (" far away far away" if i % 3 == 0 else "") for i, line in enumerate(tiny_lines(80))]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(mapped, "ROWS_PER_PART", 5)
    sets = [f"data.corpus={corpus}", "tokenizer.kind=word", "tokenizer.max_length=7", "data.num_proc=2",
            f"data.cache_dir={tmp_path / 'cache'}"]
    in_memory = prepare_data(load_config(None, sets + ["data.memory_map=never"]))
    parallel = prepare_data(load_config(None, sets + ["data.memory_map=always"]))
    assert in_memory.train.dropped > 0 and len(in_memory.train) > 10
    for name in ("train", "validation", "test"):
        a, b = getattr(in_memory, name), getattr(parallel, name)
        assert torch.equal(a.tokens, b.tokens[:]) and torch.equal(a.prompt_lengths, b.prompt_lengths)
        assert a.dropped == b.dropped


def test_file_rows_read_what_indexing_a_tensor_reads(tmp_path):
    """Token rows read from disk on demand answer every index the trainers use like a tensor."""
    import numpy as np

    from textgan.data.mapped import FileRows

    rows = torch.arange(7 * 5).view(7, 5)
    np.save(tmp_path / "t.npy", rows.numpy().astype(np.int64))
    stored = FileRows(tmp_path / "t.npy")
    assert len(stored) == 7 and stored.shape == rows.shape and stored.dim() == 2
    for index in (torch.tensor([6, 0, 0, 3]), [2, -1], slice(2, 5), slice(None), slice(1, 7, 3), slice(5, 2)):
        assert torch.equal(stored[index], rows[index]), index
    assert torch.equal(stored[torch.tensor([4, 1]), :2], rows[torch.tensor([4, 1]), :2])
    assert torch.equal(stored[3], rows[3]) and stored.tolist() == rows.tolist()
    with pytest.raises(IndexError):
        stored[torch.tensor([7])]


@pytest.mark.parametrize("name, pairs", [("dialogues", 20_000), ("dialogues_shakespeare", 13_817)])
def test_bundled_dialogue_corpora_are_short_prompt_reply_pairs(name, pairs):
    examples = read_examples(name, DataConfig(corpus=name))
    assert len(examples) == pairs
    assert all(e.prompt and e.text for e in examples)
    assert max(max(len(e.prompt.split()), len(e.text.split())) for e in examples) <= 20
