"""Config: YAML round trip, --set overrides, validation messages."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from textgan import config as config_mod
from textgan.errors import ConfigError


def test_defaults_round_trip_through_yaml(tmp_path):
    cfg = config_mod.load_config(None, ["train.epochs=3", "model.kind=transformer"])
    config_mod.save_yaml(cfg, tmp_path / "c.yaml")
    again = config_mod.load_config(tmp_path / "c.yaml")
    assert config_mod.to_dict(again) == config_mod.to_dict(cfg)
    assert again.train.epochs == 3 and again.model.kind == "transformer"


def test_override_types_are_checked():
    assert config_mod.load_config(None, ["train.learning_rate=1"]).train.learning_rate == 1.0
    with pytest.raises(ConfigError, match="train.epochs expects a whole number"):
        config_mod.load_config(None, ["train.epochs=two"])
    with pytest.raises(ConfigError, match="unknown config key"):
        config_mod.load_config(None, ["train.epoch=2"])
    with pytest.raises(ConfigError, match="key=value"):
        config_mod.load_config(None, ["train.epochs"])


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "train.epochs must be >= 1"),
    ("sample.temperature=0", "sample.temperature must be > 0"),
    ("sample.top_p=1.5", "sample.top_p must be in"),
    ("model.kind=gru", "model.kind must be one of"),
    ("tokenizer.kind=sentencepiece", "tokenizer.kind must be one of"),
])
def test_ranges_and_choices(override, message):
    with pytest.raises(ConfigError, match=message):
        config_mod.load_config(None, [override])


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        config_mod.load_config(bad)


def _outside(annotation, check):
    """Values just outside a key's declared range (and NaN for floats), each of which must be refused."""
    is_list = typing.get_origin(annotation) is list
    numeric = typing.get_args(annotation)[0] if is_list else annotation
    if typing.get_origin(numeric) is not None:  # a union such as int | str ("auto" or a number)
        numeric = next(a for a in typing.get_args(numeric) if a in (int, float))
    wrap = (lambda v: [v]) if is_list else (lambda v: v)
    values = []
    if numeric in (int, float):
        step = 1 if numeric is int else 1e-3
        if check.low is not None:
            values.append(check.low if check.low_open else check.low - step)
        if check.high is not None:
            values.append(check.high if check.high_open else check.high + step)
        if numeric is float:
            values.append(float("nan"))
        values = [int(v) if numeric is int else float(v) for v in values]
    if check.choices is not None:
        values.append("no-such-choice")
    return [wrap(v) for v in values]


@pytest.mark.parametrize("key", sorted(config_mod.fields_with_checks()))
def test_every_key_is_checked(key):
    """Walk every key: its default passes, and every value just outside its declared range is refused."""
    annotation, check = config_mod.fields_with_checks()[key]
    assert check is not None
    config_mod.validate(config_mod.new_config())
    refused = _outside(annotation, check)
    if annotation is not bool and not check.free:
        assert refused, f"{key} declares nothing that can be refused"
    for value in refused:
        cfg = config_mod.new_config()
        config_mod.set_key(cfg, key, value)
        with pytest.raises(ConfigError, match=re.escape(key)):
            config_mod.validate(cfg)


@pytest.mark.parametrize("override, message", [
    ("train.eval_batches=-5", "train.eval_batches must be >= 0"),
    ("data.oracle_hidden_dim=-3", "data.oracle_hidden_dim must be in"),
    ("data.oracle_embedding_dim=0", "data.oracle_embedding_dim must be in"),
    ("train.trainer=nonsense", "train.trainer must be one of"),
    ("train.seed=-1", "train.seed must be in"),
    ("train.learning_rate=.nan", "train.learning_rate must be a finite number"),
    ("tokenizer.vocab_size=1000000000", "tokenizer.vocab_size must be in"),
])
def test_values_that_once_passed_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        config_mod.load_config(None, [override])


@dataclasses.dataclass
class UncheckedSection:
    size: int = 3


@dataclasses.dataclass
class UncheckedRoot:
    section: UncheckedSection = dataclasses.field(default_factory=UncheckedSection)


def test_a_key_declared_without_its_check_is_refused():
    with pytest.raises(TypeError, match="section.size"):
        config_mod.require_checks(UncheckedRoot)


def test_trainer_choices_are_the_registered_trainers():
    from textgan.training import TRAINERS

    assert set(config_mod.fields_with_checks()["train.trainer"][1].choices) == set(TRAINERS)


def test_docs_list_every_key():
    """docs/configuration.md carries the generated table of keys: regenerate it with keys_markdown()."""
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = docs.split("<!-- keys:begin -->\n", 1)[1].split("\n<!-- keys:end -->", 1)[0]
    assert table == config_mod.keys_markdown(), "run: python -c 'from textgan.config import keys_markdown; print(keys_markdown())'"


def test_exponent_floats_without_a_dot_are_numbers_in_yaml_files_and_sets(tmp_path):
    # YAML 1.1 resolves 1e-4 (no dot) to a string; a learning rate written so must still load
    preset = tmp_path / "preset.yaml"
    preset.write_text("train:\n  learning_rate: 1e-4\n", encoding="utf-8")
    assert config_mod.load_config(preset, []).train.learning_rate == pytest.approx(1e-4)
    assert config_mod.load_config(None, ["discriminator.learning_rate=5E-3"]).discriminator.learning_rate == pytest.approx(5e-3)
    with pytest.raises(ConfigError, match="expects a number"):
        config_mod.load_config(None, ["train.learning_rate=fast"])
