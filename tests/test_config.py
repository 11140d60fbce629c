"""Config: YAML round trip, --set overrides, validation messages."""

from __future__ import annotations

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
