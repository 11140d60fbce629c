"""textgan evaluate / compare and the NLL metrics, on tiny runs trained in temporary folders."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from textgan import api
from textgan.cli import main
from textgan.data import prepare_data
from textgan.errors import DataError, TextGanError
from textgan.evaluate import load_run, parse_temperatures
from textgan.metrics.nll import nll, nll_oracle
from textgan.training.base import evaluate_nll
from textgan.training.runtime import make_runtime

from conftest import reply_nll_by_hand, tiny_config, tiny_lines

ORACLE = {"data.oracle_samples": 200, "data.oracle_vocab_size": 30, "data.oracle_seq_len": 8,
          "data.oracle_hidden_dim": 8, "data.oracle_embedding_dim": 8, "train.epochs": 1}
FILE_KEYS = {"bleu2", "bleu3", "bleu4", "bleu5", "distinct1", "distinct2", "num_hypotheses", "num_references"}
SELF_BLEU_KEYS = {"self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5"}


def cli_error(args: list[str], capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("textgan: error: "), err
    return err


def cli_json_lines(args: list[str], capsys) -> list[dict]:
    assert main(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(tiny_lines(100)) + "\n", encoding="utf-8")
    api.train(tiny_config(corpus, **{"data.test_fraction": 0.1}), folder / "run")
    return folder / "run"


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("oracle")
    api.train(tiny_config("oracle", **ORACLE), folder / "run")
    return folder / "run"


@pytest.fixture
def text_files(tmp_path: Path) -> tuple[Path, Path]:
    hyps = tmp_path / "hyps.txt"
    refs = tmp_path / "refs.txt"
    hyps.write_text("the cat sat on the mat .\na dog ran far away\n\nthe bird sang a sweet song\n", encoding="utf-8")
    refs.write_text("the cat sat on a mat .\n\nthe dog ran away\na bird sang a song\n", encoding="utf-8")
    return hyps, refs


# ------------------------------------------------------------------------- NLL


def test_nll_refuses_the_training_split(text_run):
    run = load_run(text_run, "cpu")
    with pytest.raises(TextGanError, match="'train' split was refused"):
        nll(run.checkpoint.generator, run.data.train.tokens, split="train")
    with pytest.raises(TextGanError, match="refused"):
        nll(run.checkpoint.generator, run.data.test.tokens, split="everything")


def test_nll_at_temperature_one_equals_the_trainers_validation_nll(text_run):
    run = load_run(text_run, "cpu")
    generator, data = run.checkpoint.generator, run.data
    expected = evaluate_nll(generator, data.validation, make_runtime("cpu", "fp32"), batch_size=7)
    assert nll(generator, data.validation.tokens, split="validation", batch_size=5) == pytest.approx(expected, rel=1e-6)


def test_nll_temperature_scales_the_logits(text_run):
    run = load_run(text_run, "cpu")
    generator, test = run.checkpoint.generator, run.data.test
    # A huge temperature makes every token equally likely: NLL -> log(vocabulary size).
    assert nll(generator, test.tokens, split="test", temperature=1e6) == pytest.approx(math.log(generator.vocab_size), abs=1e-3)
    assert nll(generator, test.tokens, split="test", temperature=0.5) != nll(generator, test.tokens, split="test")
    with pytest.raises(TextGanError, match="temperature"):
        nll(generator, test.tokens, split="test", temperature=0.0)


def test_nll_refuses_a_generator_without_likelihood():
    from textgan.models.continuous import ContinuousGenerator

    with pytest.raises(TextGanError, match="no exact token likelihood"):
        nll(ContinuousGenerator(vocab_size=10, max_length=5), torch.zeros(2, 5, dtype=torch.long), split="test")


def test_nll_oracle_prefers_the_oracles_own_samples(oracle_run):
    oracle = load_run(oracle_run, "cpu").data.oracle
    rng = torch.Generator().manual_seed(0)
    own = oracle.sample(200, 8, generator=rng)
    uniform = torch.randint(oracle.vocab_size, (200, 8), generator=rng)
    assert nll_oracle(oracle, own) < nll_oracle(oracle, uniform) - 0.5
    with pytest.raises(DataError, match="non-empty"):
        nll_oracle(oracle, torch.zeros(0, 8, dtype=torch.long))


# ------------------------------------------------------------------------- files


def test_evaluate_files_json_keys_and_values_match_nltk(text_files, capsys):
    hyps, refs = text_files
    (record,) = cli_json_lines(["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--json"], capsys)
    assert set(record) == FILE_KEYS
    hyp_tokens = [line.split() for line in hyps.read_text().splitlines()]
    ref_tokens = [line.split() for line in refs.read_text().splitlines() if line.strip()]
    assert record["num_hypotheses"] == 4 and record["num_references"] == 3  # blank hypothesis kept, blank reference skipped
    for n in (2, 5):
        expected = sum(sentence_bleu(ref_tokens, h, weights=(1 / n,) * n, smoothing_function=SmoothingFunction().method1)
                       for h in hyp_tokens) / len(hyp_tokens)
        assert record[f"bleu{n}"] == pytest.approx(expected, abs=1e-9)


def test_evaluate_files_self_bleu_and_max_n(text_files, capsys):
    hyps, refs = text_files
    base = ["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--json"]
    (plain,) = cli_json_lines(base, capsys)
    (with_self,) = cli_json_lines(base + ["--self-bleu"], capsys)
    assert set(with_self) == FILE_KEYS | SELF_BLEU_KEYS
    assert with_self["bleu2"] == plain["bleu2"]
    (short,) = cli_json_lines(base + ["--max-n", "3"], capsys)
    assert {k for k in short if k.startswith("bleu")} == {"bleu2", "bleu3"}
    (unigram,) = cli_json_lines(base + ["--max-n", "1"], capsys)
    assert {k for k in unigram if k.startswith("bleu")} == {"bleu1"}


def test_evaluate_files_tokenize_applies_to_both_sides(tmp_path, capsys):
    hyps, refs = tmp_path / "h.txt", tmp_path / "r.txt"
    hyps.write_text("the cat sat on the mat.\n", encoding="utf-8")
    refs.write_text("the cat sat on the mat .\n", encoding="utf-8")
    base = ["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--json"]
    (nltk_words,) = cli_json_lines(base + ["--tokenize", "nltk"], capsys)
    (whitespace,) = cli_json_lines(base + ["--tokenize", "split"], capsys)
    assert nltk_words["bleu5"] == pytest.approx(1.0)  # nltk splits "mat." like the reference
    assert whitespace["bleu5"] < 0.8


def test_evaluate_files_prints_a_readable_table(text_files, capsys):
    hyps, refs = text_files
    assert main(["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--self-bleu"]) == 0
    out = capsys.readouterr().out
    assert "bleu2" in out and "self_bleu5" in out and "distinct2" in out


@pytest.mark.parametrize("hyp_text, ref_text, extra, message", [
    ("", "a b\n", [], "--hypotheses .* is empty"),
    ("a b\n", "\n\n", [], "--references .* is empty"),
    ("a b\n", "a b\n", ["--max-n", "0"], "--max-n must be in 1..10"),
    ("a b\n", "a b\n", ["--max-n", "11"], "--max-n must be in 1..10"),
    ("a b\n", "a b\n", ["--self-bleu"], "Self-BLEU needs at least 2 hypotheses"),
    ("a b\n", "a b\n", ["--temperatures", "1.0"], "--temperatures applies to RUN_DIR"),
    ("a b\n", "a b\n", ["-n", "5"], "-n applies to RUN_DIR"),
    ("a b\n", "a b\n", ["--tokenize", "words"], "invalid choice"),
])
def test_evaluate_files_bad_input(tmp_path, capsys, hyp_text, ref_text, extra, message):
    hyps, refs = tmp_path / "h.txt", tmp_path / "r.txt"
    hyps.write_text(hyp_text, encoding="utf-8")
    refs.write_text(ref_text, encoding="utf-8")
    err = cli_error(["evaluate", "--hypotheses", str(hyps), "--references", str(refs), *extra], capsys)
    assert re.search(message, err), err


def test_evaluate_files_not_utf8(tmp_path, capsys):
    hyps, refs = tmp_path / "h.txt", tmp_path / "r.txt"
    hyps.write_bytes(b"\xff\xfe\n")
    refs.write_text("a b\n", encoding="utf-8")
    assert "not valid UTF-8" in cli_error(["evaluate", "--hypotheses", str(hyps), "--references", str(refs)], capsys)


def test_evaluate_refuses_mixed_or_missing_inputs(tmp_path, text_files, text_run, capsys):
    hyps, refs = text_files
    assert "one or the other" in cli_error(["evaluate", str(text_run), "--hypotheses", str(hyps), "--references", str(refs)], capsys)
    assert "go together" in cli_error(["evaluate", "--hypotheses", str(hyps)], capsys)
    assert "nothing to evaluate" in cli_error(["evaluate"], capsys)
    assert "pass --distribution or --mauve" in cli_error(["evaluate", str(text_run), "--features-from", str(text_run)],
                                                         capsys)
    assert "not found" in cli_error(["evaluate", "--hypotheses", str(tmp_path / "nope.txt"), "--references", str(refs)], capsys)


# ------------------------------------------------------------------------- runs


def test_parse_temperatures():
    assert parse_temperatures("0.6, 0.8,1,0.8") == [0.6, 0.8, 1.0]


@pytest.mark.parametrize("flags, message", [
    (["--temperatures", "0"], "not a positive finite temperature"),
    (["--temperatures", "0.5,-1"], "not a positive finite temperature"),
    (["--temperatures", "0.5,abc"], "'abc' is not a number"),
    (["--temperatures", ""], "'' is not a number"),
    (["--temperatures", "nan"], "not a positive finite temperature"),
    (["-n", "0"], "-n must be >= 1"),
    (["--max-n", "11"], "--max-n must be in 1..10"),
])
def test_evaluate_run_bad_flags(text_run, capsys, flags, message):
    assert message in cli_error(["evaluate", str(text_run), *flags], capsys)


def test_evaluate_missing_run_or_checkpoint(tmp_path, capsys):
    assert "not found" in cli_error(["evaluate", str(tmp_path / "missing")], capsys)
    (tmp_path / "empty").mkdir()
    assert "holds no checkpoint" in cli_error(["evaluate", str(tmp_path / "empty")], capsys)


def test_evaluate_run_over_temperatures(text_run, capsys):
    args = ["evaluate", str(text_run), "--temperatures", "0.5,1.0", "-n", "12", "--json"]
    records = cli_json_lines(args, capsys)
    assert [r["temperature"] for r in records] == [0.5, 1.0]
    for r in records:
        assert FILE_KEYS | SELF_BLEU_KEYS | {"nll_test", "unique_ratio", "mean_length", "model", "checkpoint"} <= set(r)
        assert "nll_oracle" not in r and r["model"] == "mle-lstm" and r["num_hypotheses"] == 12
        assert r["num_references"] == len(load_run(text_run, "cpu").data.test)
    assert records[0]["nll_test"] != records[1]["nll_test"]
    assert cli_json_lines(args, capsys) == records  # seeded: the same numbers again
    stored = [json.loads(line) for line in (text_run / "eval" / "eval.jsonl").read_text().splitlines()]
    assert stored == records  # evaluating again replaced the records instead of repeating them
    assert len((text_run / "eval" / "samples-" f"{records[0]['checkpoint']}-t0.5.txt").read_text().splitlines()) == 12
    assert main(["evaluate", str(text_run), "--temperatures", "2", "-n", "12"]) == 0
    out = capsys.readouterr().out
    assert "| 2 |" in out and "NLL-test" in out
    assert len((text_run / "eval" / "eval.jsonl").read_text().splitlines()) == 3


def test_the_test_split_is_rebuilt_as_in_training(text_run):
    run = load_run(text_run, "cpu")
    fresh = prepare_data(run.checkpoint.config)  # a new tokenizer, trained on the same training split
    assert run.data.test.tokens.shape == fresh.test.tokens.shape
    assert [run.checkpoint.tokenizer.decode(r) for r in run.data.test.tokens.tolist()] == \
           [fresh.tokenizer.decode(r) for r in fresh.test.tokens.tolist()]
    assert run.references == [run.checkpoint.tokenizer.tokens(r) for r in run.data.test.tokens.tolist()]


def test_evaluate_oracle_run_reports_nll_oracle(oracle_run, capsys):
    records = cli_json_lines(["evaluate", str(oracle_run), "--temperatures", "0.5,2", "-n", "40", "--json"], capsys)
    assert all("nll_oracle" in r and "nll_test" in r for r in records)
    cold, hot = records
    # Cooler samples are likelier under the oracle (quality) and cover the test data worse.
    assert cold["nll_oracle"] < hot["nll_oracle"]


def test_evaluate_prompted_run_scores_the_replies(tmp_path, dialogue_corpus, capsys):
    cfg = tiny_config(dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                          "tokenizer.max_length": 14, "train.epochs": 1, "data.test_fraction": 0.1})
    api.train(cfg, tmp_path / "run")
    run = load_run(tmp_path / "run", "cpu")
    assert bool((run.data.test.prompt_lengths > 0).all())
    assert {" ".join(r) for r in run.references} <= {"fine thanks .", "my name is bot .", "i live here ."}
    (record,) = cli_json_lines(["evaluate", str(tmp_path / "run"), "-n", "6", "--json"], capsys)
    assert record["num_hypotheses"] == 6
    generator = run.checkpoint.generator
    assert record["nll_test"] == pytest.approx(reply_nll_by_hand(generator, run.data.test), rel=1e-5)
    whole_rows = nll(generator, run.data.test.tokens, split="test", prompt_lengths=run.data.test.prompt_lengths,
                     include_prompt=True)
    assert whole_rows == pytest.approx(reply_nll_by_hand(generator, run.data.test, include_prompt=True), rel=1e-5)
    assert whole_rows != pytest.approx(record["nll_test"], rel=1e-3)


# ------------------------------------------------------------------------- compare


def test_compare_writes_report_and_plots(tmp_path, text_run, oracle_run, capsys, caplog):
    from matplotlib.image import imread

    out = tmp_path / "report"
    assert main(["compare", str(text_run), str(oracle_run), "--out", str(out), "--temperatures", "0.5,2", "-n", "40"]) == 0
    assert "report.md" in capsys.readouterr().out
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Runs", "## Quality and diversity over temperature", "## Training metrics", "## Protocol"):
        assert heading in report
    # both runs are mle-lstm in folders named "run": their parent folders tell them apart
    assert f"mle-lstm ({text_run.parent.name}/run)" in report and f"mle-lstm ({oracle_run.parent.name}/run)" in report
    assert "NLL-oracle" in report and "val_nll" in report and "no MLE run" not in report
    # a text corpus and the oracle: BLEU on different tokens, said in the report and on stderr
    assert "> **Warning:** BLEU and Self-BLEU are not comparable" in report
    assert "not comparable" in caplog.text  # a logged warning: on stderr from the command line
    for name in ("learning_curves.png", "quality_diversity.png", "nll_tradeoff.png"):
        assert f"]({name})" in report
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.01  # something is drawn


def test_compare_reuses_stored_evaluations(tmp_path, text_run, capsys):
    args = ["compare", str(text_run), "--out", str(tmp_path / "a"), "--temperatures", "1.5", "-n", "9"]
    assert main(args) == 0
    stored = text_run / "eval" / "eval.jsonl"
    records = [json.loads(line) for line in stored.read_text().splitlines()]
    for r in records:
        if r["temperature"] == 1.5 and r["n"] == 9:
            r["bleu2"] = 0.123456  # a result compare can only show if it reads the stored record
    stored.write_text("".join(json.dumps(r) + "\n" for r in records))
    args[3] = str(tmp_path / "b")
    assert main(args) == 0
    report = (tmp_path / "b" / "report.md").read_text(encoding="utf-8")
    assert "| 0.1235 |" in report and "not comparable" not in report
    assert len(stored.read_text().splitlines()) == len(records)


def test_compare_bad_input(tmp_path, text_run, capsys):
    out = str(tmp_path / "report")
    assert "not found" in cli_error(["compare", str(tmp_path / "missing"), "--out", out], capsys)
    assert "given twice" in cli_error(["compare", str(text_run), str(text_run), "--out", out], capsys)
    assert "not a number" in cli_error(["compare", str(text_run), "--out", out, "--temperatures", "x"], capsys)
    assert "-n must be >= 1" in cli_error(["compare", str(text_run), "--out", out, "-n", "0"], capsys)
    assert "required" in cli_error(["compare", str(text_run)], capsys)
    (tmp_path / "file").write_text("keep me", encoding="utf-8")
    assert "is an existing file" in cli_error(["compare", str(text_run), "--out", str(tmp_path / "file")], capsys)
    assert (tmp_path / "file").read_text(encoding="utf-8") == "keep me"


def test_evaluate_shows_progress(text_run, capsys):
    """Off a terminal: one line per temperature while it works, not silence."""
    assert main(["evaluate", str(text_run), "--temperatures", "0.7,1.3", "-n", "6", "--json"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evaluating")]
    assert len(lines) == 2 and "1/2 temperatures" in lines[0] and "2/2 temperatures" in lines[1], lines


# ------------------------------------------------------------------------- distribution metrics

DISTRIBUTION_KEYS = {"reverse_lm_nll", "forward_lm_nll", "c2st_accuracy"}


def test_evaluate_files_distribution_metrics(tmp_path, capsys):
    hyps, refs = tmp_path / "hyps.txt", tmp_path / "refs.txt"
    refs.write_text("\n".join(tiny_lines(400, seed=1)) + "\n", encoding="utf-8")
    hyps.write_text("the cat sat on a mat\n" * 400, encoding="utf-8")  # one sentence: every mode dropped
    base = ["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--json", "--distribution",
            "--distribution-epochs", "5"]
    (record,) = cli_json_lines(base, capsys)
    assert DISTRIBUTION_KEYS <= set(record) and FILE_KEYS <= set(record)
    assert record["c2st_accuracy"] > 0.9
    assert record["reverse_lm_nll"] > 2 * record["forward_lm_nll"]
    assert cli_json_lines(base, capsys) == [record]  # seeded
    (other_seed,) = cli_json_lines(base + ["--seed", "1"], capsys)
    assert other_seed["reverse_lm_nll"] != record["reverse_lm_nll"]
    (plain,) = cli_json_lines(base[:6], capsys)
    assert not DISTRIBUTION_KEYS & set(plain)
    assert "pass both" in cli_error(base[:6] + ["--distribution-epochs", "2"], capsys)
    assert "--distribution" in cli_error(base[:6] + ["--seed", "1"], capsys)
    assert ">= 1" in cli_error(base[:7] + ["--distribution-epochs", "0"], capsys)


def test_evaluate_run_distribution_metrics(oracle_run, capsys):
    args = ["evaluate", str(oracle_run), "--temperatures", "0.5,1", "-n", "60", "--json", "--distribution",
            "--distribution-epochs", "1"]
    records = cli_json_lines(args, capsys)
    assert all(DISTRIBUTION_KEYS <= set(r) for r in records)
    assert all(0.0 <= r["c2st_accuracy"] <= 1.0 for r in records)
    assert cli_json_lines(args, capsys) == records


def test_evaluate_files_imports_no_torch(text_files):
    import subprocess
    import sys

    hyps, refs = text_files
    code = ("import sys; from textgan.cli import main; "
            f"assert main(['evaluate', '--hypotheses', {str(hyps)!r}, '--references', {str(refs)!r}, "
            "'--tokenize', 'nltk', '--self-bleu']) == 0; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------- one tokenisation, FD and MAUVE


def test_evaluate_run_with_nltk_tokens_scores_the_decoded_text(text_run, capsys):
    base = ["evaluate", str(text_run), "-n", "20", "--json"]
    (own,) = cli_json_lines(base, capsys)
    (nltk,) = cli_json_lines(base + ["--tokenize", "nltk"], capsys)
    assert own["tokenize"] is None and nltk["tokenize"] == "nltk"
    run = load_run(text_run, "cpu")
    samples = (text_run / "eval" / f"samples-{nltk['checkpoint']}-t1.txt").read_text(encoding="utf-8").splitlines()
    from textgan.metrics import sample_metrics, tokenize_lines

    expected = sample_metrics(tokenize_lines(samples, "nltk"), tokenize_lines(run.reference_lines, "nltk"), 5, 2, True)
    assert nltk["bleu2"] == pytest.approx(expected["bleu2"], abs=1e-12)
    stored = [json.loads(line) for line in (text_run / "eval" / "eval.jsonl").read_text().splitlines()]
    assert {r["tokenize"] for r in stored} >= {None, "nltk"}  # two evaluations, neither replaced the other


def test_evaluate_run_mauve_and_fd(text_run, capsys):
    pytest.importorskip("mauve")
    args = ["evaluate", str(text_run), "-n", "40", "--json", "--mauve"]
    (record,) = cli_json_lines(args, capsys)
    assert 0.0 < record["mauve"] <= 1.0 and record["frechet_distance"] >= 0.0
    assert record["features"].startswith("reference LM fitted on the training split")
    assert cli_json_lines(args, capsys) == [record]  # seeded, and the cached reference LM gives the same features
    (own_features,) = cli_json_lines(args + ["--features-from", str(text_run)], capsys)
    assert own_features["features"] == f"textgan run {text_run}"
    assert own_features["frechet_distance"] != record["frechet_distance"]
    assert "no such folder" in cli_error(args + ["--features-from", str(text_run / "missing")], capsys)


def test_evaluate_files_fd_with_a_hugging_face_feature_model(tmp_path, text_files, capsys):
    pytest.importorskip("mauve")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    hyps, refs = tmp_path / "hyps.txt", tmp_path / "refs.txt"
    refs.write_text("\n".join(tiny_lines(60, seed=1)) + "\n", encoding="utf-8")
    hyps.write_text("\n".join(tiny_lines(60, seed=2)) + "\n", encoding="utf-8")
    words = sorted({w for line in refs.read_text().split("\n") + hyps.read_text().split("\n") for w in line.split()})
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", "[PAD]", *words])}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "hf"
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(folder)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=len(words) + 2, n_embd=16, n_layer=1, n_head=2, n_positions=32)).save_pretrained(folder)
    base = ["evaluate", "--hypotheses", str(hyps), "--references", str(refs), "--json", "--mauve"]
    (record,) = cli_json_lines(base + ["--features-from", str(folder)], capsys)
    assert record["features"] == f"Hugging Face model {folder}" and record["frechet_distance"] > 0
    assert 0.0 < record["mauve"] <= 1.0
    (default,) = cli_json_lines(base, capsys)
    assert default["features"].startswith("reference LM fitted on the references")
    assert "reverse_lm_nll" not in default  # --mauve alone trains no LM scores' reverse LM
    (folder / "config.json").unlink()
    assert "not a loadable Hugging Face model folder" in cli_error(base + ["--features-from", str(folder)], capsys)


def test_compare_scores_every_run_alike(tmp_path, text_run, capsys):
    pytest.importorskip("mauve")
    out = tmp_path / "report"
    assert main(["compare", str(text_run), "--out", str(out), "--temperatures", "1", "-n", "30", "--tokenize", "nltk",
                 "--mauve"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "re-tokenised by `nltk`" in report
    stored = [json.loads(line) for line in (text_run / "eval" / "eval.jsonl").read_text().splitlines()]
    assert any(r["tokenize"] == "nltk" and r["n"] == 30 and "mauve" in r for r in stored)
    capsys.readouterr()
    assert "pass --mauve too" in cli_error(["compare", str(text_run), "--out", str(tmp_path / "r2"), "--features-from",
                                            str(text_run)], capsys)
