"""The benchmark sets shipped in benchmarks/data: intact, used by default, and the oracle is SeqGAN's."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import torch

from textgan.config import load_config
from textgan.models.oracle import load_oracle_npz

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data"
ROW = re.compile(r"^\| `([^`]+)` \|.*\| ([\d,]+) \| `([0-9a-f]{64})` \|")


def listed_files() -> dict[str, tuple[int, str]]:
    """File -> (bytes, sha256) from the table in benchmarks/data/README.md."""
    rows = {}
    for line in (DATA / "README.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = (int(match.group(2).replace(",", "")), match.group(3))
    return rows


def load_script(name: str) -> ModuleType:
    """A benchmark script as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shipped_file_is_listed_with_its_checksum():
    listed = listed_files()
    shipped = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file()}
    assert shipped - set(listed) == {"README.md", "LICENSE-texygen.txt"}
    for name, (size, digest) in listed.items():
        content = (DATA / name).read_bytes()
        assert (len(content), hashlib.sha256(content).hexdigest()) == (size, digest), name


def test_benchmark_data_stays_out_of_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["textgan*"]
    assert set(setuptools.get("package-data", {})) <= {"textgan"}


def test_canonical_oracle_scores_its_own_samples_about_5_75():
    oracle = load_oracle_npz(DATA / "seqgan_oracle" / "oracle_lstm.npz")
    assert oracle.vocab_size == 5000
    samples = oracle.sample(400, 20, generator=torch.Generator().manual_seed(0))
    assert oracle.nll(samples) == pytest.approx(5.75, abs=0.15)  # 10,000 samples: 5.7485


def test_presets_and_benchmarks_default_to_the_shipped_files():
    for preset in sorted((REPO / "examples").glob("*.yaml")):
        path = load_config(preset).data.oracle_path
        assert not path or (REPO / path).is_file(), preset.name
    assert load_config(REPO / "examples" / "oracle_seqgan.yaml").data.oracle_path
    assert load_script("oracle_seqgan").ORACLE.is_file()
    data = load_script("bleu_speed").DATA
    assert (data / "coco" / "test.txt").is_file() and (data / "texygen_samples" / "seq.txt").is_file()
