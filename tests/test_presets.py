"""examples/*.yaml: every preset loads, the leaderboard finds a model for every trainer of each
setting it runs (the grid it would train, listed without training), the SeqGAN family's presets
carry the values of docs/fidelity.md's tables, and every COCO preset tokenises alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from textgan.config import OBJECTIVE_NAMES, Config, load_config
from textgan.training import TRAINERS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "benchmarks"))

import leaderboard  # noqa: E402

PRESETS = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_loads(preset):
    cfg = load_config(preset)
    assert cfg.train.trainer in TRAINERS
    # the leaderboard reads the same key (a preset that names none is an MLE run it does not pick up)
    assert leaderboard.preset_trainer(preset) in (cfg.train.trainer, None)


def test_the_leaderboard_finds_every_trainer_on_every_setting():
    grid: dict[str, list[str]] = {}
    for setting in leaderboard.SETTINGS:
        models, skipped = leaderboard.models_of(setting, EXAMPLES, list(TRAINERS))
        grid[setting] = [name for name, _ in models]
        assert not skipped, skipped  # a trainer is a module, its config section and a preset per setting
        for name, preset in models:  # what the leaderboard trains: the preset with the setting's keys
            cfg = leaderboard.cell_config(
                leaderboard.Cell(setting, name, 0, preset, Path("unused")),
                {"data_dir": str(ROOT / "benchmarks" / "data"), "minutes": 1.0, "pretrain_fraction": 0.5,
                 "device": "cpu"})
            assert cfg.train.time_limit_minutes == 1.0
    continuous = {f"gan_{objective}" for objective in OBJECTIVE_NAMES} | {"vae"}
    relaxed = {"gumbel_relgan", "gumbel_gsgan", "cot"}
    for setting, names in grid.items():
        assert names[0] == "mle" or "mle" not in names
        assert continuous | relaxed | {"mle", "seqgan", "maligan", "rankgan", "leakgan"} <= set(names), (setting, sorted(names))


LEADERBOARD_PRESETS = sorted(preset for setting in leaderboard.SETTINGS
                             for _, preset in leaderboard.models_of(setting, EXAMPLES, list(TRAINERS))[0])


@pytest.mark.parametrize("preset", LEADERBOARD_PRESETS, ids=lambda p: p.stem)
def test_a_leaderboard_preset_outlasts_its_budget(preset):
    # The budget (train.time_limit_minutes), not the schedule, should end a leaderboard cell: the
    # continuous baselines are given far more passes than a budget of an hour can use.
    # MLE and the VAE may also stop early on the validation split (train.patience), and MLE may
    # follow a paper's fixed schedule (the oracle's 120 epochs): both use less budget, never more.
    cfg = load_config(preset)
    trainer = cfg.train.trainer
    if trainer == "gan":
        assert cfg.train.epochs >= 10_000
    if trainer == "vae" or (trainer == "mle" and cfg.train.patience > 0):
        assert cfg.train.epochs >= 1000
    if trainer == "mle" and cfg.train.patience == 0:
        assert cfg.train.epochs >= 100
    if trainer in ("seqgan", "maligan", "rankgan", "leakgan"):
        # the oracle and COCO presets run the papers' schedules (test_presets_carry_the_fidelity_tables_values):
        # 50 D updates of 3 epochs on 20,000 rows, then 100 to 800 rounds of 5 more, hours of CPU; the
        # others a schedule no budget reaches
        s = cfg.seqgan
        assert s.adversarial_rounds >= 10_000 or (s.adversarial_rounds >= 100 and s.pretrain_d_steps * s.d_samples >= 500_000)
    if trainer == "cot":
        assert cfg.cot.steps >= 100_000
    if trainer == "gumbel":
        # RelGAN's oracle and COCO presets run its 3,000 and 2,000 steps (about 17 and 11 hours of
        # one CPU thread, docs/fidelity.md); the others outlast any budget
        paper = {"oracle_gumbel_relgan": 3000, "coco_gumbel_relgan": 2000, "coco_gumbel_relgan1000": 2000}
        assert cfg.gumbel.adversarial_steps >= paper.get(preset.stem, 100_000)
        # beta_steps 0 would stretch the anneal over the whole (unreachable) schedule: beta would stay ~1
        assert cfg.gumbel.beta_steps > 0 or cfg.gumbel.beta_schedule == "constant"


FIDELITY = ROOT / "docs" / "fidelity.md"
FAMILY = ("seqgan", "maligan", "rankgan", "leakgan")


def fidelity_tables() -> dict[str, dict[str, dict[str, object]]]:
    """{model: {setting: {key: value}}} from docs/fidelity.md: each table's rows whose first cell is a
    backticked config key, with the value of its oracle and COCO columns ("—" = not in that preset)."""
    tables: dict[str, dict[str, dict[str, object]]] = {}
    model = None
    for line in FIDELITY.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            model = line[3:].strip().lower()
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if model not in FAMILY or len(cells) < 5 or not (cells[0].startswith("`") and cells[0].endswith("`")):
            continue
        for setting, cell in (("oracle", cells[3]), ("coco", cells[4])):
            if cell != "—":
                tables.setdefault(model, {}).setdefault(setting, {})[cells[0].strip("`")] = yaml.safe_load(cell)
    return tables


def expected_values(model: str, setting: str) -> dict[str, object]:
    """A model's table; MaliGAN and RankGAN are the SeqGAN benchmark but for their own rows."""
    tables = fidelity_tables()
    inherited = tables["seqgan"][setting] if model in ("maligan", "rankgan") else {}
    return {**inherited, **tables[model][setting]}


def preset_value(cfg: Config, key: str) -> object:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


@pytest.mark.parametrize("setting", ["oracle", "coco"])
@pytest.mark.parametrize("model", FAMILY)
def test_presets_carry_the_fidelity_tables_values(model: str, setting: str):
    expected = expected_values(model, setting)
    assert len(expected) >= 15  # the table was read: every family table lists the schedule and both networks
    cfg = load_config(EXAMPLES / f"{setting}_{model}.yaml")
    wrong = {key: (preset_value(cfg, key), value) for key, value in expected.items() if preset_value(cfg, key) != value}
    assert not wrong, f"examples/{setting}_{model}.yaml disagrees with docs/fidelity.md (preset, table): {wrong}"


def test_the_seqgan_paper_schedule_is_what_issue_20_quotes():
    # D pretraining 50 x 3 epochs on 10,000 + 10,000; 5 x 3 a round; 16 rollouts (Yu et al. 2017)
    for model in ("seqgan", "maligan", "rankgan"):
        s = load_config(EXAMPLES / f"oracle_{model}.yaml").seqgan
        assert (s.pretrain_d_steps, s.d_epochs, s.d_samples, s.d_steps, s.rollout_count) == (50, 3, 10000, 5, 16)
    assert load_config(EXAMPLES / "oracle_maligan.yaml").seqgan.g_steps == 50  # Texygen's MaliGAN on the oracle


COCO_PRESETS = sorted(EXAMPLES.glob("coco_*.yaml"))


@pytest.mark.parametrize("preset", COCO_PRESETS, ids=[p.stem for p in COCO_PRESETS])
def test_every_coco_preset_tokenises_as_texygen(preset: Path):
    tok = load_config(preset).tokenizer
    assert (tok.kind, tok.word_split, tok.lowercase, tok.max_length) == ("word", "nltk", True, 38)
