"""Corpus readers in every format and the three tokenizers."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from textgan.config import DataConfig, TokenizerConfig
from textgan.data import build_tokenizer, encode_examples, load_splits, read_examples
from textgan.data.corpus import Example
from textgan.data.encoding import encode_row, eos_positions, fill_id, pad_after_eos, scored_mask, target_mask
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


def test_a_split_given_as_a_file_leaves_the_other_split_drawn_from_the_corpus(txt_corpus, tmp_path):
    held_out = tmp_path / "test.txt"
    held_out.write_text("one test line\nanother test line\n", encoding="utf-8")
    cfg = DataConfig(corpus=str(txt_corpus), validation_fraction=0.1, test_fraction=0.1, test_file=str(held_out))
    splits = load_splits(cfg, seed=3)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (54, 6, 2)  # early stopping still works
    both = DataConfig(corpus=str(txt_corpus), validation_file=str(held_out), test_file=str(held_out))
    assert len(load_splits(both, seed=3).train) == 60


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"abc\x00def\n", "looks binary"),
    (b"caf\xe9\n", "not valid UTF-8 at line 1, column 4"),
    (b"ok\n\xc3\xa9t\xe9\n", "not valid UTF-8 at line 2, column 3"),  # columns count characters
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


def test_the_end_of_sequence_rule():
    # After the first <eos> comes <pad>, else <eos>, else id 0; a likelihood counts every token up
    # to and including the first <eos>, after the prompt unless the prompt is asked for.
    assert [fill_id(0, 2), fill_id(None, 2), fill_id(None, None), fill_id(5, None)] == [0, 2, 0, 5]
    rows = torch.tensor([[4, 5, 2, 7, 2], [4, 2, 6, 6, 6], [4, 5, 6, 7, 8]])
    assert eos_positions(rows, 2).tolist() == [2, 1, 5]
    assert eos_positions(rows, None).tolist() == [5, 5, 5]
    assert target_mask(rows, 2).int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert pad_after_eos(rows, 2, 0).tolist() == [[4, 5, 2, 0, 0], [4, 2, 0, 0, 0], [4, 5, 6, 7, 8]]
    prompts = torch.tensor([1, 0, 3])
    assert scored_mask(rows, prompts, 2).int().tolist() == [[0, 1, 1, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 1, 1]]
    assert torch.equal(scored_mask(rows, prompts, 2, include_prompt=True), target_mask(rows, 2))


@pytest.mark.parametrize("pad_id, eos_id", [(0, 2), (None, 2), (None, None)])
def test_real_and_generated_rows_are_filled_alike(pad_id, eos_id):
    # A discriminator must not tell real rows from generated ones by what follows <eos>.
    from types import SimpleNamespace

    from textgan.models.continuous import ContinuousGenerator
    from textgan.models.lstm import LSTMGenerator

    fill = fill_id(pad_id, eos_id)
    tokenizer = SimpleNamespace(pad_id=pad_id, eos_id=eos_id, sep_id=None)
    real, _, _ = encode_row([4, 5], None, tokenizer, 6, "drop")
    assert real == [4, 5] + ([eos_id] if eos_id is not None else []) + [fill] * (4 - (eos_id is not None))
    torch.manual_seed(0)
    lstm = LSTMGenerator(8, 6, bos_id=1, eos_id=eos_id, pad_id=pad_id)
    with torch.no_grad():
        lstm.output.bias[2] = 5.0  # <eos> (or token 2) early and often
    sampled = lstm.sample(20, generator=torch.Generator().manual_seed(0))
    continuous = ContinuousGenerator(8, 6, bos_id=1, eos_id=eos_id, pad_id=pad_id)
    decoded = continuous.decode_scores(torch.randn(20, 6, 8).index_fill_(2, torch.tensor([2]), 3.0))
    for rows in (sampled, decoded):
        assert torch.equal(rows, pad_after_eos(rows, eos_id, fill))
        if eos_id is not None:
            ended = ~target_mask(rows, eos_id)
            assert ended.any() and bool((rows[ended] == fill).all())


@pytest.mark.parametrize("max_length", ["11", "auto"])
@pytest.mark.parametrize("corpus_fixture, extra", [("txt_corpus", {}),
                                                  ("dialogue_corpus", {"prompt_field": "prompt", "reply_field": "reply"})])
def test_memory_mapped_path_equals_in_memory(tmp_path, request, corpus_fixture, extra, max_length):
    from textgan.config import load_config
    from textgan.data import prepare_data

    corpus = request.getfixturevalue(corpus_fixture)
    sets = [f"data.corpus={corpus}", "tokenizer.kind=word", f"tokenizer.max_length={max_length}",
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


def test_auto_max_length_is_the_longest_row_unless_a_few_outliers_would_set_it():
    from textgan.data.encoding import AUTO_MAX_LENGTH, choose_max_length

    assert choose_max_length([10] * 99 + [17]) == 17  # within twice the 99th percentile: kept whole
    assert choose_max_length([10] * 200 + [5000]) == 10  # one huge line does not set every row's width
    assert choose_max_length([5000] * 3) == AUTO_MAX_LENGTH
    tok = build_tokenizer(["a b c d e f", "a b"], TokenizerConfig(kind="word"))
    split = encode_examples([Example("a b c d e f"), Example("a b")], tok, "auto", "drop")
    assert split.tokens.shape == (2, 7) and split.dropped == 0  # 6 words and <eos>


def test_a_corpus_fits_by_default_and_the_run_keeps_the_length(tmp_path, capsys):
    """Quatrains of 32 pre-tokenised symbols train with no length given; sample and resume
    rebuild the same rows from the run."""
    from textgan import api
    from textgan.cli import main

    symbols = [chr(0x4E00 + i) for i in range(40)]
    g = torch.Generator().manual_seed(0)
    poems = []
    for _ in range(40):
        lines = [" ".join(symbols[i] for i in torch.randint(0, 40, (7,), generator=g).tolist()) for _ in range(4)]
        poems.append(f"{lines[0]} ， {lines[1]} 。 {lines[2]} ， {lines[3]} 。")
    corpus = tmp_path / "poems.txt"
    corpus.write_text("\n".join(poems) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    args = ["train", "--corpus", str(corpus), "--tokenizer", "word", "--model", "lstm", "--epochs", "1",
            "--out", str(run), "--device", "cpu", "--set", "model.hidden_dim=8", "--set", "model.embedding_dim=8"]
    assert main(args) == 0, capsys.readouterr().err
    assert "max_length: 33" in (run / "config.yaml").read_text(encoding="utf-8")  # 32 symbols and <eos>
    assert api.load(run).generator.max_length == 33
    assert len(api.sample(run, n=2, device="cpu")) == 2
    assert main(args[:3] + ["--epochs", "2", "--out", str(run), "--resume", "--device", "cpu"]) == 0


def test_overflow_is_one_warning_per_split_and_losing_most_of_a_split_is_refused(caplog):
    tok = build_tokenizer(["a b c d e f", "a b"], TokenizerConfig(kind="word"))
    examples = [Example("a b c d e f"), Example("a b"), Example("a b c"), Example("b a"), Example("c d e f")]
    with caplog.at_level("INFO", logger="textgan"):
        split = encode_examples(examples, tok, 4, "drop", "validation")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(split) == 3 and len(warnings) == 1
    assert "2 of 5 validation examples (40.0%)" in warnings[0] and "dropped" in warnings[0]
    with pytest.raises(DataError, match="3 of 5 train examples .* would be dropped.*--max-length"):
        encode_examples(examples, tok, 3, "drop", "train")


def test_a_huge_line_is_never_tokenised_whole(monkeypatch):
    """Only a window of each example reaches the tokenizer: memory stays in proportion to the length."""
    tok = build_tokenizer(["a b c", "x y z"], TokenizerConfig(kind="char"))
    seen: list[int] = []
    encode_batch = TextTokenizer.encode_batch
    monkeypatch.setattr(TextTokenizer, "encode_batch",
                        lambda self, texts: seen.extend(map(len, texts)) or encode_batch(self, texts))
    split = encode_examples([Example("a b c"), Example("x" * 1_000_000), Example("c b a")], tok, 8, "drop")
    assert len(split) == 2 and split.dropped == 1
    assert max(seen) < 1000


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_capped_encoding_is_the_head_of_the_full_encoding(kind):
    """Exact wherever the cut falls at whitespace; a word longer than the window is cut inside."""
    from conftest import WORDS

    g = torch.Generator().manual_seed(1)
    texts = [" ".join(WORDS[i] for i in torch.randint(0, len(WORDS), (n,), generator=g).tolist())
             for n in (1, 3, 9, 40, 400)] + ["", "a  b\tc", "a " + "b" * 50 + " c " * 300]
    word = "catcatcat" * 300
    tok = build_tokenizer(texts + [word], TokenizerConfig(kind=kind, vocab_size=40))
    for limit in (2, 5, 30):
        assert tok.encode_capped(texts, limit) == [tok.encode(t)[: limit + 1] for t in texts]
        assert len(tok.encode_capped([word], limit)[0]) == min(limit + 1, len(tok.encode(word)))


def test_jsonl_rows_without_the_field_are_counted_in_one_warning(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    rows = [{"text": "a b"}, {"text": None}, {"other": "x"}, {"text": "  "}, {"text": "c d"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with caplog.at_level("WARNING", logger="textgan"):
        examples = read_examples(str(path), DataConfig())
    assert [e.text for e in examples] == ["a b", "c d"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "3 of 5 rows have no text in 'text'" in warnings[0]


@pytest.mark.parametrize("value, shown", [(5, "5 (int)"), (["a", "b"], '["a", "b"] (list)')])
def test_jsonl_values_that_are_not_text_are_refused_naming_the_line(tmp_path, value, shown):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "a b"}) + "\n" + json.dumps({"text": value}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"line 2: field 'text' holds {re.escape(shown)}, not text"):
        read_examples(str(path), DataConfig())


def test_data_paths_are_stored_absolute_and_read_back_from_anywhere(tmp_path, monkeypatch, caplog):
    """A run trained on a relative --corpus evaluates from another folder, and says when the corpus
    changed since."""
    from textgan import api
    from textgan.data.corpus import absolute_paths
    from textgan.evaluate import load_run

    from conftest import tiny_config

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "corpus.txt").write_text("\n".join(tiny_lines()) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "data")
    api.train(tiny_config("corpus.txt", **{"train.epochs": 1, "data.test_fraction": 0.1}), tmp_path / "run")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert f"corpus: {tmp_path / 'data' / 'corpus.txt'}" in (tmp_path / "run" / "config.yaml").read_text()
    assert len(load_run(tmp_path / "run", device="cpu").references) == 6
    with open(tmp_path / "data" / "corpus.txt", "a", encoding="utf-8") as handle:
        handle.write("a new line\n")
    with caplog.at_level("WARNING", logger="textgan"):
        load_run(tmp_path / "run", device="cpu")
    assert any("data changed since" in r.getMessage() for r in caplog.records)
    cfg = DataConfig(corpus="corpus.txt", test_file="poems")  # relative paths resolve in the run first
    (tmp_path / "run" / "corpus.txt").write_text("x\n", encoding="utf-8")
    absolute_paths(cfg, tmp_path / "run")
    assert cfg.corpus == str(tmp_path / "run" / "corpus.txt") and cfg.test_file == str(tmp_path / "elsewhere" / "poems")
    bundled = DataConfig(corpus="poems")
    absolute_paths(bundled, tmp_path / "run")
    assert bundled.corpus == "poems"
