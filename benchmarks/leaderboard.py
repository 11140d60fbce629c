"""Every registered model on every setting at an equal wall-clock budget, several seeds, swept
over temperature, against MLE's curve: docs/results.md and frontier plots in docs/img/.

    python benchmarks/leaderboard.py --minutes 20 --seeds 3 --jobs 2        # the grid, then the report
    python benchmarks/leaderboard.py --report-only                          # the report from the run directories

The grid is cells (setting x model x seed). A model is a preset `examples/{setting}_{trainer}.yaml`
or a variant `examples/{setting}_{trainer}_{variant}.yaml` (e.g. poems_gan_wgan_gp.yaml) for each
trainer registered in textgan.training.TRAINERS; a trainer without a preset for a setting is
skipped with a printed line. Each cell is an ordinary run directory, OUT/{setting}/{model}/seed{S}:
trained with the preset, the setting's data keys, train.seed=S and train.time_limit_minutes
(`--minutes`, the same for every model), then evaluated with `textgan evaluate`'s functions at
every `--temperatures` value (BLEU, Self-BLEU, distinct-n, NLL-test, NLL-oracle, reverse/forward
LM NLL, two-sample accuracy). A cell is finished when OUT/.../seed{S}/leaderboard.json exists;
a killed leaderboard, run again with the same arguments, skips finished cells, resumes cells
with a checkpoint (`--resume`) and evaluates the temperatures a cell lacks. Every cell is scored
at its latest checkpoint, the model as the budget leaves it, MLE included (not its best
validation epoch: the GANs are not scored at their best round either). Cells run in
`--jobs` worker processes (one lock per cell, so two leaderboards never run the same cell).
A `gad` cell fine-tunes the MLE cell of its setting and seed (model.init_from, its best checkpoint)
for its own budget, so those cells run after every other cell.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from textgan.errors import TextGanError  # noqa: E402
from textgan.io import atomic_write_text  # noqa: E402
from textgan.provenance import OwnPhase, is_mle_start, own_phase, warnings_for, weights_digest  # noqa: E402
from textgan.report import (RunReport, markdown_table, plot_nll_oracle_curves, plot_nll_tradeoff,  # noqa: E402
                            plot_quality_diversity, read_jsonl, timed_series)

CELL_FILE = "leaderboard.json"  # written last: the cell is finished
COMMAND_FILE = "command.txt"  # every command line that trained cells of the grid, quoted in the report
ORDERS = (2, 3, 4, 5)
DEFAULT_TEMPERATURES = "0.5,0.7,0.85,1.0,1.2,1.5"
REFERENCE_MODEL = "mle"
# trainers that fine-tune the setting's MLE cell of the same seed (model.init_from): they run after it
STARTS_FROM_MLE = {"gad"}

# Samples behind each source's Self-BLEU (None: the source reports none); ours is --samples.
PUBLISHED_SAMPLES = {"texygen": 9984}

SOURCES = {
    "seqgan": "SeqGAN paper (Yu et al. 2017), Table 1",
    "relgan_t1": "RelGAN paper (Nie et al. 2019), Table 1 (RelGAN: mean ± sd of 6 seeds)",
    "texygen": "Texygen README (Zhu et al. 2018), all 9,984 samples vs all 10,000 references, nltk tokens",
    "relgan_t2": "RelGAN paper, Table 2 (RelGAN(100) and RelGAN(1000) means; scores the first 100 samples only)",
}


@dataclass(frozen=True)
class Setting:
    """A benchmark: the data keys every preset of it gets, and published figures to show beside ours."""

    name: str
    title: str
    data_keys: dict[str, str]  # values may hold {data_dir}
    published: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)  # model -> metric -> (value, source)
    note: str = ""
    eval_tokenize: str | None = None  # every cell's BLEU on its decoded text re-tokenised so (None: the model's tokens)

    def keys(self, data_dir: Path) -> dict[str, str]:
        return {key: value.format(data_dir=data_dir) for key, value in self.data_keys.items()}

    def missing_data(self, data_dir: Path) -> list[str]:
        """The benchmark files this setting reads that are not under data_dir."""
        return [value.format(data_dir=data_dir) for value in self.data_keys.values()
                if "{data_dir}" in value and not Path(value.format(data_dir=data_dir)).is_file()]


def _published(rows: dict[str, tuple[float, ...]], metrics: list[str], source: str) -> dict[str, dict[str, tuple[float, str]]]:
    return {model: {m: (v, source) for m, v in zip(metrics, values)} for model, values in rows.items()}


def _merge(*parts: dict[str, dict[str, tuple[float, str]]]) -> dict[str, dict[str, tuple[float, str]]]:
    merged: dict[str, dict[str, tuple[float, str]]] = {}
    for part in parts:
        for model, metrics in part.items():
            merged.setdefault(model, {}).update(metrics)
    return merged


BLEU_KEYS = [f"bleu{n}" for n in ORDERS]
SELF_BLEU_KEYS = [f"self_bleu{n}" for n in ORDERS]
SETTINGS = {
    "oracle": Setting(
        "oracle", "SeqGAN's synthetic oracle (vocabulary 5,000, length 20)",
        {"data.corpus": "oracle", "data.oracle_path": "{data_dir}/seqgan_oracle/oracle_lstm.npz",
         "data.oracle_seq_len": "20"},
        _merge(_published({"mle": (9.038,), "seqgan": (8.736,)}, ["nll_oracle"], "seqgan"),
               _published({"rankgan": (8.247,), "leakgan": (7.038,), "gumbel_relgan": (6.680,)}, ["nll_oracle"], "relgan_t1")),
        "The oracle's own samples score NLL-oracle 5.750 (LeakGAN paper; 5.7485 here): no model can beat it "
        "in expectation. Caccia et al. (2020) find MLE with logits x 2 (T = 0.5) at NLL-oracle 6.53.",
    ),
    "coco": Setting(
        "coco", "COCO image captions (Texygen's split: 10,000 train, 10,000 test)",
        {"data.corpus": "{data_dir}/coco/train.txt", "data.test_file": "{data_dir}/coco/test.txt"},
        _merge(_published({"mle": (0.731, 0.497, 0.305, 0.189), "seqgan": (0.745, 0.498, 0.294, 0.180),
                           "maligan": (0.673, 0.432, 0.257, 0.159), "rankgan": (0.743, 0.467, 0.264, 0.156),
                           "leakgan": (0.746, 0.528, 0.355, 0.230), "textgan": (0.593, 0.463, 0.277, 0.207)},
                          BLEU_KEYS, "texygen"),
               _published({"mle": (0.916, 0.769, 0.583, 0.408), "seqgan": (0.950, 0.840, 0.670, 0.489),
                           "maligan": (0.918, 0.781, 0.606, 0.437), "rankgan": (0.959, 0.882, 0.762, 0.618),
                           "leakgan": (0.966, 0.913, 0.848, 0.780), "textgan": (0.942, 0.931, 0.804, 0.746)},
                          SELF_BLEU_KEYS, "texygen"),
               _published({"gumbel_relgan": (0.849, 0.687, 0.502, 0.331),
                           "gumbel_relgan1000": (0.814, 0.634, 0.455, 0.303)}, BLEU_KEYS, "relgan_t2")),
        "Every cell is scored as Texygen's published rows are: BLEU and Self-BLEU on nltk word tokens of the "
        "decoded samples and references, whatever tokenizer the model trained with.",
        eval_tokenize="nltk",
    ),
    "poems": Setting("poems", "The bundled Chinese quatrains", {"data.corpus": "poems"}),
}


# ------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Cell:
    """One model on one setting with one seed: an ordinary run directory."""

    setting: str
    model: str
    seed: int
    preset: Path
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.setting}/{self.model}/seed{self.seed}"


def registered_trainers() -> list[str]:
    """Names in textgan.training.TRAINERS: models registered later are picked up by being there."""
    from textgan.training import TRAINERS

    return list(TRAINERS)


def preset_trainer(preset: Path) -> str | None:
    """train.trainer of a preset (None when it does not say)."""
    values = yaml.safe_load(preset.read_text(encoding="utf-8")) or {}
    return (values.get("train") or {}).get("trainer")


def models_of(setting: str, examples: Path, trainers: list[str]) -> tuple[list[tuple[str, Path]], list[str]]:
    """(model name, preset) of each trainer's presets for a setting, and a line per trainer without one."""
    found: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for trainer in trainers:
        candidates = [examples / f"{setting}_{trainer}.yaml", *sorted(examples.glob(f"{setting}_{trainer}_*.yaml"))]
        presets = [p for p in candidates if p.is_file() and preset_trainer(p) == trainer]
        if not presets:
            skipped.append(f"skipped: {trainer} on {setting} (no preset {examples / f'{setting}_{trainer}.yaml'})")
        found += [(p.stem[len(setting) + 1:], p) for p in presets]
    return found, skipped


def cells_of(settings: list[str], seeds: int, examples: Path, out: Path, trainers: list[str],
             only: set[str] | None = None) -> tuple[list[Cell], list[str]]:
    """Every cell of the grid (settings in order, MLE first; only the models named in `only`
    when given), and the skip lines."""
    cells: list[Cell] = []
    lines: list[str] = []
    for setting in settings:
        models, skipped = models_of(setting, examples, trainers)
        if only is not None:
            models = [m for m in models if m[0] in only]
        lines += skipped
        models.sort(key=lambda m: (m[0] != REFERENCE_MODEL, m[0]))
        if models and models[0][0] != REFERENCE_MODEL:
            lines.append(f"warning: no {setting}_{REFERENCE_MODEL}.yaml: {setting} has no MLE curve to judge against")
        cells += [Cell(setting, model, seed, preset, out / setting / model / f"seed{seed}")
                  for model, preset in models for seed in range(seeds)]
    return cells, lines


def cell_done(cell: Cell, plan: dict[str, Any]) -> bool:
    """True when the cell's leaderboard.json says it was trained and evaluated as `plan` asks."""
    info_file = cell.run_dir / CELL_FILE
    if not info_file.is_file():
        return False
    info = json.loads(info_file.read_text(encoding="utf-8"))
    if info.get("minutes") != plan["minutes"]:
        raise TextGanError(f"{cell.run_dir} was trained with --minutes {info.get('minutes')}, not {plan['minutes']}; "
                           "pass that budget or another --out")
    return set(plan["temperatures"]) <= set(info.get("temperatures", [])) and info.get("samples") == plan["samples"]


# ------------------------------------------------------------------------- one cell (a worker process)


def cell_config(cell: Cell, plan: dict[str, Any]) -> Any:
    """The preset with the setting's data keys, the seed and the equal time budget."""
    from textgan.config import load_config

    keys = SETTINGS[cell.setting].keys(Path(plan["data_dir"])) if cell.setting in SETTINGS else {}
    if preset_trainer(cell.preset) in STARTS_FROM_MLE:  # the same seed's MLE cell, as its budget left it
        keys["model.init_from"] = str(cell.run_dir.parent.parent / REFERENCE_MODEL / cell.run_dir.name)
    keys.update({"train.seed": str(cell.seed), "train.time_limit_minutes": str(plan["minutes"]),
                 "train.checkpoint_every_minutes": str(max(plan["minutes"] / 10, 0.005)),
                 "train.pretrain_time_fraction": str(plan["pretrain_fraction"]),
                 "train.device": plan["device"]})
    return load_config(cell.preset, [f"{key}={value}" for key, value in keys.items()])


def setting_features(setting: str, plan: dict[str, Any]) -> Any:
    """The one sentence-feature model of a setting's FD and MAUVE: a reference LM fitted on the
    setting's training split as its MLE preset builds it (seed 0), cached; every cell's samples
    reach it as decoded text, so cells with other tokenizers are scored in the same space."""
    from textgan.config import load_config
    from textgan.data import build_data
    from textgan.data.mapped import default_cache_dir
    from textgan.evaluate import DistributionBudget
    from textgan.metrics.features import FeatureModel, reference_lm
    from textgan.metrics.lm_scores import Vocabulary

    preset = Path(plan["examples"]) / f"{setting}_{REFERENCE_MODEL}.yaml"
    if not preset.is_file():
        raise TextGanError(f"no {preset}: FD and MAUVE need the setting's MLE preset to fit their feature model; "
                           "add it or pass --no-mauve")
    keys = SETTINGS[setting].keys(Path(plan["data_dir"])) if setting in SETTINGS else {}
    cfg = load_config(preset, [f"{key}={value}" for key, value in {**keys, "train.seed": "0"}.items()])
    data = build_data(cfg)
    tokenizer = data.tokenizer
    vocabulary = Vocabulary(tokenizer.vocab_size, tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)
    budget = DistributionBudget(plan["distribution_epochs"])
    lm = reference_lm(data.train.tokens, vocabulary, budget.budgets()[0], 0, default_cache_dir(), plan["device"])
    return FeatureModel(f"reference LM fitted on the training split of {preset.name} ({budget.budgets()[0].epochs} "
                        "epochs, seed 0)", generator=lm, tokenizer=tokenizer)


def evaluation_complete(record: dict[str, Any], plan: dict[str, Any], tokenize: str | None) -> bool:
    """Whether a stored evaluation record has every metric the plan asks for, scored its way."""
    from textgan.evaluate import DISTRIBUTION_KEYS, MAUVE_KEY

    wanted = set(DISTRIBUTION_KEYS) | ({MAUVE_KEY} if plan.get("mauve") else set())
    return record.get("tokenize") == tokenize and wanted <= set(record)


def run_cell(cell: Cell, plan: dict[str, Any]) -> None:
    """Train the cell (fresh, or resumed from its checkpoint) and evaluate what it lacks."""
    import torch

    from textgan import api
    from textgan.checkpoint import RunDirectory, read_state
    from textgan.evaluate import DistributionBudget, eval_file, evaluate_run, load_run

    torch.set_num_threads(plan["threads"])
    run = RunDirectory(cell.run_dir)
    latest = run.pointed("latest")
    finished = bool(latest and read_state(latest).get("finished"))
    if not finished:
        if latest is None and cell.run_dir.exists():  # killed before its first checkpoint: nothing to keep
            shutil.rmtree(cell.run_dir)
        print(f"{cell.name}: {'resuming' if latest else 'training'}", flush=True)
        api.train(cell_config(cell, plan), cell.run_dir, resume=latest is not None)
    latest = run.pointed("latest")
    state = read_state(latest)
    started = time.monotonic()
    loaded = load_run(latest, plan["device"])  # every model as the budget leaves it (not MLE's best epoch)
    tokenize = SETTINGS[cell.setting].eval_tokenize if cell.setting in SETTINGS else None
    wanted = (loaded.checkpoint.path.name, plan["samples"], plan["eval_seed"])
    have = {r["temperature"] for r in read_jsonl(eval_file(cell.run_dir))
            if (r.get("checkpoint"), r.get("n"), r.get("seed")) == wanted and evaluation_complete(r, plan, tokenize)}
    missing = [t for t in plan["temperatures"] if t not in have]
    if missing:
        print(f"{cell.name}: evaluating at T = {', '.join(map(str, missing))}", flush=True)
        evaluate_run(loaded, missing, plan["samples"], plan["eval_seed"], max(ORDERS),
                     DistributionBudget(plan["distribution_epochs"]), tokenize=tokenize,
                     features=setting_features(cell.setting, plan), mauve=plan.get("mauve", False))
    old = json.loads((cell.run_dir / CELL_FILE).read_text()) if (cell.run_dir / CELL_FILE).is_file() else {}
    if (old.get("samples"), old.get("checkpoint")) != (plan["samples"], loaded.checkpoint.path.name):
        old = {}  # evaluated with another sample count: its temperatures do not count
    info = {"setting": cell.setting, "model": cell.model, "seed": cell.seed, "preset": str(cell.preset),
            "minutes": plan["minutes"], "pretrain_fraction": plan["pretrain_fraction"], "temperatures": sorted(set(plan["temperatures"]) | set(old.get("temperatures", []))),
            "samples": plan["samples"], "eval_seed": plan["eval_seed"], "checkpoint": loaded.checkpoint.path.name,
            "updates": state.get("step"), "train_seconds": round(state.get("train_seconds", 0.0), 1),
            **phase_fields(own_phase(state)), "weights_digest": weights_digest(latest),
            "eval_seconds": round(old.get("eval_seconds", 0.0) + time.monotonic() - started, 1),
            "schedule_finished": bool(state.get("finished")), "tokenize": tokenize,
            "parameters": sum(p.numel() for p in loaded.checkpoint.generator.parameters())}
    atomic_write_text(cell.run_dir / CELL_FILE, json.dumps(info, indent=1) + "\n")


def phase_fields(phase: OwnPhase | None) -> dict[str, Any]:
    """leaderboard.json's record of the trainer's own phase in the scored checkpoint (none: no MLE start)."""
    return {"own_phase": [phase.name, phase.unit, phase.steps] if phase is not None else None}


def cell_phase(info: dict[str, Any], cell_dir: Path) -> OwnPhase | None:
    """The own phase of a cell's scored checkpoint: from leaderboard.json, or (cells written before
    it recorded one) from the checkpoint's trainer state."""
    if "own_phase" in info:
        return OwnPhase(*info["own_phase"]) if info["own_phase"] else None
    from textgan.checkpoint import read_state

    checkpoint = cell_dir / "checkpoints" / str(info.get("checkpoint"))
    return own_phase(read_state(checkpoint)) if checkpoint.is_dir() else None


def worker_main(spec: str) -> int:
    """`--cell JSON`: run one cell under its lock; exit 3 when another process holds it."""
    values = json.loads(spec)
    cell = Cell(values["setting"], values["model"], values["seed"], Path(values["preset"]), Path(values["run_dir"]))
    cell.run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(cell.run_dir.parent / f"seed{cell.seed}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{cell.name} is being run by another process; skipped", file=sys.stderr)
            return 3
        try:
            run_cell(cell, values["plan"])
        except TextGanError as exc:
            print(f"textgan: error: {exc}", file=sys.stderr)
            return 2
    return 0


# ------------------------------------------------------------------------- the leaderboard process


def run_grid(cells: list[Cell], plan: dict[str, Any], jobs: int, logs: Path) -> list[str]:
    """Run the unfinished cells in `jobs` worker processes; returns a line per failed cell."""
    todo = [c for c in cells if not cell_done(c, plan)]
    print(f"{len(cells)} cells, {len(cells) - len(todo)} finished earlier, {len(todo)} to run with {jobs} "
          f"process(es): about {math.ceil(len(todo) / jobs) * plan['minutes']:.3g} min of training plus evaluation")
    if not todo:
        return []
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    failures: list[str] = []
    stopping: list[bool] = []  # set once interrupted: no new cell starts

    def one(cell: Cell) -> tuple[Cell, int]:
        if stopping:
            return cell, -1
        spec = json.dumps({"setting": cell.setting, "model": cell.model, "seed": cell.seed, "preset": str(cell.preset),
                           "run_dir": str(cell.run_dir), "plan": plan})
        log_path = logs / f"{cell.setting}_{cell.model}_seed{cell.seed}.log"
        with open(log_path, "a", encoding="utf-8") as log_file:
            process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--cell", spec],
                                       stdout=log_file, stderr=subprocess.STDOUT, cwd=os.getcwd(),
                                       env={**os.environ, "TQDM_DISABLE": "1"})  # quiets the bars that leave disable to tqdm
            running[cell.name] = process
            code = process.wait()
            running.pop(cell.name, None)
        return cell, code

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    progress = tqdm(total=len(todo), desc="leaderboard cells", unit="cell", disable=None)
    pool = ThreadPoolExecutor(max_workers=jobs)
    started = time.monotonic()
    try:
        later = [c for c in todo if preset_trainer(c.preset) in STARTS_FROM_MLE]
        waves = [[c for c in todo if c not in later], later]  # the MLE cells finish before their fine-tuners start
        results = (future for wave in waves for future in as_completed([pool.submit(one, cell) for cell in wave]))
        for done, future in enumerate(results, start=1):
            cell, code = future.result()
            if code:
                tail = (logs / f"{cell.setting}_{cell.model}_seed{cell.seed}.log").read_text(encoding="utf-8").strip()
                failures.append(f"{cell.name} failed (exit {code}): {tail.splitlines()[-1] if tail else 'no output'}")
            progress.update()
            elapsed = time.monotonic() - started
            tqdm.write(f"[{done}/{len(todo)}] {cell.name} {'FAILED' if code else 'done'}; {elapsed / 60:.1f} min so far, "
                       f"ETA {elapsed / done * (len(todo) - done) / 60:.1f} min")
    except KeyboardInterrupt:
        stopping.append(True)
        for process in list(running.values()):  # each saves a checkpoint on SIGTERM
            process.send_signal(signal.SIGTERM)
        pool.shutdown(wait=True, cancel_futures=True)
        raise TextGanError("interrupted; run the same command again to resume (finished cells are kept)") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
    pool.shutdown()
    return failures


# ------------------------------------------------------------------------- the report


MIN_SEEDS = 3  # a verdict needs at least this many complete seeds of the model and of MLE
# two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def half_width(values: list[float]) -> float:
    """Half-width of the 95% t interval of the mean over seeds (0 for one seed)."""
    if len(values) < 2:
        return 0.0
    return (T95[len(values) - 2] if len(values) - 1 <= len(T95) else 1.96) * statistics.stdev(values) / math.sqrt(len(values))


@dataclass
class ModelResults:
    """A model's complete cells on one setting: per temperature, each metric's values over seeds."""

    model: str
    cells: list[dict[str, Any]]  # leaderboard.json of each complete seed
    by_temperature: dict[float, dict[str, list[float]]]
    histories: list[list[dict[str, Any]]] = field(default_factory=list)  # metrics.jsonl of each seed
    incomplete: list[str] = field(default_factory=list)  # a line per cell left out of every mean
    phases: list[OwnPhase | None] = field(default_factory=list)  # own phase of each complete seed's scored checkpoint

    @property
    def label(self) -> str:
        """The name tables and legends show: a GAN whose scored checkpoints took no step of its own
        phase is marked as its MLE start (in how many seeds, when not all)."""
        starts = [p for p in self.phases if is_mle_start(p)]
        if not starts:
            return self.model
        which = "" if len(starts) == len(self.phases) else f" in {len(starts)} of {len(self.phases)} seeds"
        return f"{self.model} [MLE start{which}: 0 {starts[0].name} {starts[0].unit}]"

    def mean(self, temperature: float, key: str) -> float | None:
        values = self.by_temperature.get(temperature, {}).get(key, [])
        return statistics.fmean(values) if values else None

    def curve(self) -> list[dict[str, Any]]:
        """Mean over seeds at each temperature, as evaluation records (for textgan.report's plots)."""
        return [{"temperature": t, **{k: statistics.fmean(v) for k, v in metrics.items() if v}}
                for t, metrics in sorted(self.by_temperature.items())]

    def interval_curve(self, x_key: str, y_key: str) -> list[tuple[float, float, float, float]]:
        """(x, y, x half-width, y half-width) at each temperature with both metrics, in temperature order."""
        return [(statistics.fmean(m[x_key]), statistics.fmean(m[y_key]), half_width(m[x_key]), half_width(m[y_key]))
                for _, m in sorted(self.by_temperature.items()) if m.get(x_key) and m.get(y_key)]

    @property
    def parameters(self) -> int | None:
        """The generator's parameter count (the same for every seed)."""
        counts = {c.get("parameters") for c in self.cells} - {None}
        return counts.pop() if len(counts) == 1 else None


def cell_incomplete(info: dict[str, Any], run_dir: Path) -> str | None:
    """Why a cell with a leaderboard.json may not enter a mean (None when it may): its training did
    not end, by its budget or its schedule (a kill or an error left it), or it was scored on
    another tokenisation than its setting's."""
    from textgan.checkpoint import RunDirectory, read_state

    finished = info.get("schedule_finished")
    if finished is None:  # written before the key existed: read the checkpoint it was scored at
        latest = RunDirectory(run_dir).pointed("latest")
        finished = bool(latest and read_state(latest).get("finished"))
    if not finished:
        return f"training stopped after {info.get('train_seconds', 0) / 60:.1f} of {info.get('minutes')} min"
    wanted = SETTINGS[info["setting"]].eval_tokenize if info.get("setting") in SETTINGS else None
    if info.get("tokenize") != wanted:
        return f"scored on {info.get('tokenize') or 'its own'} tokens, not {wanted or 'its own'}"
    return None


def collect(out: Path, setting: str) -> list[ModelResults]:
    """Every cell of a setting under OUT, from its run directory alone: complete ones in the means,
    the others (no leaderboard.json, training cut short, another tokenisation) listed."""
    models = []
    for model_dir in sorted(p for p in (out / setting).iterdir() if p.is_dir()) if (out / setting).is_dir() else []:
        cells, by_temperature, histories, incomplete, phases = [], {}, [], [], []
        for seed_dir in sorted(p for p in model_dir.glob("seed*") if p.is_dir()):
            info_file = seed_dir / CELL_FILE
            if not info_file.is_file():
                incomplete.append(f"{setting}/{model_dir.name}/{seed_dir.name}: not finished (no {CELL_FILE}: killed, "
                                  "failed or still running)")
                continue
            info = json.loads(info_file.read_text(encoding="utf-8"))
            why = cell_incomplete(info, seed_dir)
            if why:
                incomplete.append(f"{setting}/{model_dir.name}/{seed_dir.name}: {why}")
                continue
            cells.append(info)
            phases.append(cell_phase(info, info_file.parent))
            histories.append(read_jsonl(info_file.parent / "metrics.jsonl"))
            for record in read_jsonl(info_file.parent / "eval" / "eval.jsonl"):
                if (record.get("checkpoint"), record.get("n"), record.get("seed"), record.get("tokenize")) != (
                        info["checkpoint"], info["samples"], info["eval_seed"], info.get("tokenize")):
                    continue
                metrics = by_temperature.setdefault(record["temperature"], {})
                for key, value in record.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                        metrics.setdefault(key, []).append(float(value))
        if cells or incomplete:
            models.append(ModelResults(model_dir.name, cells, by_temperature, histories, incomplete, phases))
    models.sort(key=lambda m: (m.model != REFERENCE_MODEL, m.model))
    return models


def mean_sd(values: list[float], digits: int = 4) -> str:
    """Mean ± sample sd (just the value for one seed; a dash for none)."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def mean_ci(values: list[float], digits: int = 4) -> str:
    """Mean ± half-width of its 95% t interval over seeds (just the value for one seed; a dash for none)."""
    if len(values) < 2:
        return mean_sd(values, digits)
    return f"{statistics.fmean(values):.{digits}f} ± {half_width(values):.{digits}f}"


def beyond(point: tuple[float, float], curve: list[tuple[float, float]], x_lower: bool, y_higher: bool) -> bool | None:
    """Whether a point lies beyond a reference curve (its points in temperature order, joined by
    segments): better in y than every point of the curve at least as good in x. None when no
    point of the curve is as good in x (the point is outside the curve's range: not judged)."""
    def at_least(a: float, b: float) -> bool:  # a at least as good an x as b
        return a <= b if x_lower else a >= b

    x, y = point
    rivals = [cy for cx, cy in curve if at_least(cx, x)]
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):  # where a segment crosses x
        if min(x0, x1) <= x <= max(x0, x1) and x0 != x1:
            rivals.append(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    if not rivals:
        return None
    return y > max(rivals) if y_higher else y < min(rivals)


PLANES = [(f"BLEU-{n} vs Self-BLEU-{n}", f"self_bleu{n}", f"bleu{n}", True, True) for n in ORDERS] + [
    ("NLL-oracle vs NLL-test", "nll_test", "nll_oracle", True, False)]


def crossings(curve: list[tuple[float, float]], x: float) -> list[float]:
    """y of a curve (points in temperature order, joined by segments) wherever it passes x (a
    curve that turns, like NLL-test over temperature, may pass it twice); none outside its range."""
    found = [y for cx, y in curve if cx == x]
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if min(x0, x1) < x < max(x0, x1):
            found.append(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return found


def equal_diversity_rows(models: list[ModelResults], reference: ModelResults) -> list[list[Any]]:
    """Each model at T = 1 beside MLE's best point at the same diversity: BLEU-n against MLE's
    highest BLEU-n at equal Self-BLEU-n, NLL-oracle against MLE's lowest at equal NLL-test (a
    dash: outside MLE's range)."""
    planes = [(f"self_bleu{n}", f"bleu{n}", max) for n in ORDERS] + [("nll_test", "nll_oracle", min)]
    curve = reference.curve()
    rows = []
    for m in models[1:]:
        row: list[Any] = [m.label]
        for x_key, y_key, best in planes:
            x, y = m.mean(1.0, x_key), m.mean(1.0, y_key)
            if x is None or y is None:
                row.append("–")
                continue
            found = crossings([(r[x_key], r[y_key]) for r in curve if x_key in r and y_key in r], x)
            row.append(f"{y:.3f} / {f'{best(found):.3f}' if found else '–'}")
        rows.append(row)
    return rows


def shifted(point: tuple[float, float, float, float], x_lower: bool, y_higher: bool, sign: int) -> tuple[float, float]:
    """A point moved to the edge of its intervals: sign +1 the best it may be (better x and y),
    -1 the worst."""
    x, y, hx, hy = point
    return (x - sign * hx if x_lower else x + sign * hx, y + sign * hy if y_higher else y - sign * hy)


def plane_verdicts(model: ModelResults, reference: ModelResults, x_key: str, y_key: str, x_lower: bool,
                   y_higher: bool) -> list[bool | None]:
    """Per temperature of the model: whether its point lies beyond MLE's curve by more than the
    intervals over seeds (the model's point at its worst against MLE's curve at its best; None:
    more diverse than any point of MLE's curve)."""
    best_reference = [shifted(p, x_lower, y_higher, +1) for p in reference.interval_curve(x_key, y_key)]
    if not best_reference:
        return []
    return [beyond(shifted(p, x_lower, y_higher, -1), best_reference, x_lower, y_higher)
            for p in model.interval_curve(x_key, y_key)]


def capacity_note(model: ModelResults, reference: ModelResults) -> str:
    """Where the model's generator differs in size from MLE's, a clause saying so."""
    mine, theirs = model.parameters, reference.parameters
    if mine is None or theirs is None or mine == theirs:
        return ""
    return f" (its generator has {mine:,} parameters, MLE's {theirs:,})"


def dominance_line(model: ModelResults, reference: ModelResults) -> str:
    """One line: on which planes some point of the model's curve lies beyond MLE's curve by more
    than the 95% intervals over seeds; no verdict below MIN_SEEDS complete seeds of either."""
    name = f"- **{model.label}**{capacity_note(model, reference)}"
    if min(len(model.cells), len(reference.cells)) < MIN_SEEDS:
        return (f"{name}: no verdict: {len(model.cells)} complete seed(s) of it and {len(reference.cells)} of MLE; "
                f"{MIN_SEEDS} of each are needed.")
    wins, outside = [], 0
    for title, x_key, y_key, x_lower, y_higher in PLANES:
        verdicts = plane_verdicts(model, reference, x_key, y_key, x_lower, y_higher)
        outside += verdicts.count(None)
        if any(verdicts):
            wins.append(f"{title} ({sum(bool(v) for v in verdicts)} of {len(verdicts)} temperatures)")
    note = f"; {outside} point(s) more diverse than any of MLE's, not judged" if outside else ""
    if wins:
        return f"{name}: beyond MLE's curve, by more than the intervals over seeds, on {', '.join(wins)}{note}."
    return f"{name}: no point of its curve lies beyond MLE's curve by more than the intervals over seeds{note}."


TABLE_METRICS = [("nll_oracle", "NLL-oracle"), ("nll_test", "NLL-test"),
                 *((k, f"BLEU-{n}") for k, n in zip(BLEU_KEYS, ORDERS)),
                 *((k, f"Self-BLEU-{n}") for k, n in zip(SELF_BLEU_KEYS, ORDERS)),
                 ("distinct1", "distinct-1"), ("distinct2", "distinct-2"), ("reverse_lm_nll", "reverse-LM NLL"),
                 ("forward_lm_nll", "forward-LM NLL"), ("c2st_accuracy", "C2ST accuracy"),
                 ("frechet_distance", "FD"), ("mauve", "MAUVE")]


def training_rows(models: list[ModelResults]) -> list[list[Any]]:
    """Per model with NLL-oracle records in its metrics.jsonl (T = 1, the trainer's own
    evaluation): the figure where MLE pretraining ended, at the end, the best one and when."""
    rows = []
    for m in models:
        for seed, history in enumerate(m.histories):
            timed = timed_series(history, "nll_oracle")
            if not timed:
                continue
            pretrained = [float(r["nll_oracle"]) for r in history
                          if r.get("phase") == "pretrain_g" and isinstance(r.get("nll_oracle"), (int, float))]
            own = [r for r in history if r.get("phase") not in ("pretrain_g", "pretrain_d") and "nll_oracle" in r]
            best_minute, best = min(timed, key=lambda point: point[1])
            rows.append([m.label, seed, pretrained[-1] if pretrained else None, timed[-1][1],
                         f"{best:.4f} at {best_minute:.1f} min", len(own), f"{timed[-1][0]:.1f}"])
    return rows


def provenance_warnings(models: list[ModelResults]) -> list[str]:
    """A line per cell that is its MLE start, and per seed's cells whose scored checkpoints hold
    identical generator weights."""
    cells = [(f"{m.model} seed {c['seed']}", c["seed"], p, c.get("weights_digest", ""))
             for m in models for c, p in zip(m.cells, m.phases)]
    lines = warnings_for([n for n, _, _, _ in cells], [p for _, _, p, _ in cells], ["" for _ in cells])
    for seed in sorted({s for _, s, _, _ in cells}):
        same = [(n, d) for n, s, _, d in cells if s == seed]
        lines += warnings_for([n for n, _ in same], [None for _ in same], [d for _, d in same])
    return lines


def setting_section(setting: str, models: list[ModelResults], img_dir: Path, results_file: Path) -> str:
    """Markdown of one setting: table at T = 1, budgets, dominance lines, frontier plots."""
    info = SETTINGS.get(setting)
    lines = [f"## {info.title if info else setting}\n"]
    incomplete = [line for m in models for line in m.incomplete]
    models = [m for m in models if m.cells]
    if incomplete:
        lines.append("Cells left out of every table and mean below (rerun the grid's command to finish them):\n")
        lines += [f"- {line}" for line in incomplete] + [""]
    if not models:
        return "\n".join(lines) + "\nNo complete cell.\n"
    lines += [f"> **Warning:** {line}\n" for line in provenance_warnings(models)]
    published = info.published if info else {}
    used_sources: list[str] = []
    keys = [(k, name) for k, name in TABLE_METRICS
            if any(k in metrics for m in models for metrics in m.by_temperature.values())]
    rows = []
    for m in models:
        row = [m.label, len(m.cells), f"{m.parameters:,}" if m.parameters else "–"]
        for key, _ in keys:
            cell = mean_ci(m.by_temperature.get(1.0, {}).get(key, []))
            figure = published.get(m.model, {}).get(key)
            if figure:
                if figure[1] not in used_sources:
                    used_sources.append(figure[1])
                cell += f" (pub. {figure[0]:g} [{used_sources.index(figure[1]) + 1}])"
            row.append(cell)
        rows.append(row)
    samples = sorted({c["samples"] for m in models for c in m.cells})
    tokens = (f"BLEU and Self-BLEU on `{info.eval_tokenize}` tokens of every cell's decoded text"
              if info and info.eval_tokenize else "BLEU and Self-BLEU on each model's own tokens")
    lines.append(f"At temperature 1, mean ± half-width of the 95% t interval over seeds "
                 f"({', '.join(map(str, samples))} samples a temperature; {tokens}; published figures in brackets; "
                 "parameters: the generator's):\n")
    lines.append(markdown_table(["model", "seeds", "parameters", *(name for _, name in keys)], rows))
    for i, source in enumerate(used_sources):
        count = PUBLISHED_SAMPLES.get(source)
        caveat = ""
        if count and any(k.startswith("self_bleu") for figures in published.values()
                         for k, (_, s) in figures.items() if s == source) and samples != [count]:
            caveat = (f" Its Self-BLEU scores {count:,} samples against each other, ours "
                      f"{', '.join(f'{n:,}' for n in samples)}: fewer samples give a lower Self-BLEU for the same model, "
                      f"so compare those columns only at `--samples {count}`.")
        lines.append(f"[{i + 1}] {SOURCES[source]}.{caveat}  ")
    missing = sorted(set(published) - {m.model for m in models})
    if missing:
        lines.append("\nPublished, no model here yet: " + "; ".join(
            f"{name} " + ", ".join(f"{k} {v:g}" for k, (v, _) in published[name].items()) for name in missing) + ".")
    if info and info.note:
        lines.append(f"\n{info.note}")
    budget_rows = [[m.label, f"{m.cells[0]['minutes']:g}",
                    mean_sd([float(c["updates"] or 0) for c in m.cells], 0),
                    ", ".join(p.describe() if p is not None else "–" for p in m.phases),
                    mean_sd([c["train_seconds"] for c in m.cells], 1), mean_sd([c["eval_seconds"] for c in m.cells], 1)]
                   for m in models]
    lines.append("\nBudget per cell (mean ± sd over seeds):\n")
    lines.append(markdown_table(["model", "budget (min)", "updates done", "own-phase steps (each seed)",
                                 "training wall time (s)",
                                 "evaluation wall time (s)"], budget_rows))
    reference = models[0] if models[0].model == REFERENCE_MODEL else None
    lines.append("\nAgainst MLE's temperature curve (a point lies beyond it when it is better in quality than every "
                 "point of MLE's curve, segments included, that is at least as diverse, with the model's point at the "
                 "worst edge of its 95% intervals over seeds and MLE's at their best; a verdict needs "
                 f"{MIN_SEEDS} complete seeds of each):\n")
    if reference is None:
        lines.append("No MLE cell: nothing to judge against.")
    else:
        lines += [dominance_line(m, reference) for m in models[1:]] or ["Only MLE was run."]
        rows = equal_diversity_rows(models, reference)
        if rows:
            lines.append("\nEach model at T = 1 / MLE at the same diversity (MLE's temperature curve read at the "
                         "model's Self-BLEU-n, or at its NLL-test for NLL-oracle, its best point where the curve "
                         "passes twice; a dash where MLE's curve does not reach it). Higher BLEU and lower "
                         "NLL-oracle are better:\n")
            lines.append(markdown_table(["model", *(f"BLEU-{n}" for n in ORDERS), "NLL-oracle"], rows))
    reports = [RunReport(m.label, m.model, Path(setting) / m.model, setting, "", [], m.curve()) for m in models]
    lines.append("")
    for name, title, draw in (
            (f"results_{setting}_bleu.png", "BLEU-n vs Self-BLEU-n over temperature",
             lambda path: plot_quality_diversity(reports, list(ORDERS), path)),
            (f"results_{setting}_nll.png", "NLL-oracle vs NLL-test over temperature",
             lambda path: plot_nll_tradeoff(reports, path))):
        if draw(img_dir / name):
            lines.append(f"![{title}]({os.path.relpath(img_dir / name, results_file.parent)})\n")
    curve_rows = training_rows(models)
    if curve_rows:
        lines.append("NLL-oracle during training, as each trainer evaluates it (T = 1; the number of samples is "
                     "the preset's `*.nll_oracle_samples`): before its own phase (after MLE pretraining, or untrained where there is none), at the end of "
                     "the budget, and the best evaluation (chosen on the test metric itself, so it flatters; "
                     "the table above scores the end):\n")
        lines.append(markdown_table(["model", "seed", "before its own phase", "at the end", "best (when)",
                                     "evaluations in its own phase", "minutes logged"], curve_rows))
        histories = [RunReport(label, label, Path(setting) / m.model, setting, "", history)
                     for m in models for cell, history in zip(m.cells, m.histories)
                     for label in [m.label if len(m.histories) == 1 else f"{m.label} seed {cell['seed']}"]]
        name = f"results_{setting}_training.png"
        if plot_nll_oracle_curves(histories, img_dir / name, against_time=True):
            lines.append(f"\n![NLL-oracle during training]({os.path.relpath(img_dir / name, results_file.parent)})\n")
    temperature_rows = [[m.label, f"{t:g}", *(m.mean(t, k) for k in ("bleu2", "self_bleu2", "nll_test", "nll_oracle",
                                                                      "reverse_lm_nll", "c2st_accuracy",
                                                                      "frechet_distance", "mauve"))]
                        for m in models for t in sorted(m.by_temperature)]
    lines.append("<details><summary>Every temperature (means over seeds)</summary>\n")
    lines.append(markdown_table(["model", "T", "BLEU-2", "Self-BLEU-2", "NLL-test", "NLL-oracle", "reverse-LM NLL",
                                 "C2ST accuracy", "FD", "MAUVE"], temperature_rows))
    lines.append("</details>\n")
    return "\n".join(lines)


MAX_TEMPERATURE = 4.0  # MLE's curve is extended hotter up to here to reach the most diverse points


def more_diverse_than_reference(models: list[ModelResults]) -> bool:
    """Whether some model's point is more diverse (lower Self-BLEU-n) than every point of MLE's
    curve, on any BLEU plane: such points cannot be judged until MLE is sampled hotter."""
    reference = models[0].curve()
    for m in models[1:]:
        for n in ORDERS:
            key = f"self_bleu{n}"
            ours = [r[key] for r in m.curve() if key in r]
            theirs = [r[key] for r in reference if key in r]
            if ours and theirs and min(ours) < min(theirs):
                return True
    return False


def extend_reference_curves(cells: list[Cell], plan: dict[str, Any], jobs: int, out: Path) -> list[str]:
    """Sample each setting's MLE cells ever hotter (x 1.25 a step, up to MAX_TEMPERATURE) until
    their curve is as diverse as every model's points; returns a line per failed cell."""
    failures: list[str] = []
    for setting in dict.fromkeys(c.setting for c in cells):
        reference_cells = [c for c in cells if c.setting == setting and c.model == REFERENCE_MODEL]
        temperatures = list(plan["temperatures"])
        while reference_cells and not failures:
            models = [m for m in collect(out, setting) if m.cells]
            if not models or models[0].model != REFERENCE_MODEL or not more_diverse_than_reference(models):
                break
            hotter = round(max(models[0].by_temperature) * 1.25, 3)
            if hotter > MAX_TEMPERATURE:
                print(f"{setting}: MLE's curve stops at T = {max(models[0].by_temperature):g}; points more diverse "
                      "than it stay unjudged")
                break
            temperatures.append(hotter)
            print(f"{setting}: sampling MLE at T = {hotter:g} so its curve reaches the most diverse points")
            failures += run_grid(reference_cells, {**plan, "temperatures": sorted(set(temperatures))}, jobs, out / "logs")
    return failures


def record_command(out: Path, command: str) -> None:
    """Add COMMAND to OUT's command list unless it is there: a grid grown by several invocations
    (other settings, models or seeds into the same OUT) keeps every one that trained its cells."""
    path = out / COMMAND_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if command not in lines:
        atomic_write_text(path, "\n".join([*lines, command]) + "\n")


def write_results(out: Path, settings: list[str], results_file: Path, img_dir: Path) -> Path:
    """docs/results.md and its plots, from the run directories under OUT alone."""
    img_dir.mkdir(parents=True, exist_ok=True)
    parts = ["# Results: every model at an equal budget, against MLE over temperature\n",
             "Written by `python benchmarks/leaderboard.py` from the run directories under "
             f"`{out}` (rebuild with `--report-only`). Each model trains for the same wall-clock budget "
             "(`train.time_limit_minutes`) from its preset `examples/{setting}_{model}.yaml`, once per seed, "
             "and is then sampled at every temperature: the sampling temperature is the one axis every model "
             "shares, so the relaxed GANs (RelGAN, GSGAN) are swept over it too, not over their training β. "
             "Metrics: [docs/metrics.md](metrics.md); protocol: [docs/evaluation.md](evaluation.md). "
             "A GAN is better than MLE only where its curve lies beyond MLE's (Caccia et al. 2020).\n"]
    if (out / COMMAND_FILE).is_file():
        parts.append("The grid was run with these commands, in order (rerun one to resume or extend it; "
                     "a larger `--minutes` needs another `--out`):\n\n"
                     f"```bash\n{(out / COMMAND_FILE).read_text(encoding='utf-8').strip()}\n```\n")
    parts += [setting_section(setting, collect(out, setting), img_dir, results_file) for setting in settings]
    atomic_write_text(results_file, "\n".join(parts))
    return results_file


# ------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module notes)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget per cell, every model alike (default 10)")
    ap.add_argument("--pretrain-fraction", type=float, default=0.5,
                    help="share of the budget a GAN may spend in MLE pretraining before its own phase "
                         "(train.pretrain_time_fraction; default 0.5; 0 = the preset's epochs, however long)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per model and setting (0..N-1; default 3)")
    ap.add_argument("--settings", default="oracle,coco,poems", help="comma-separated settings (default oracle,coco,poems)")
    ap.add_argument("--trainers", help="comma-separated trainers (default: every one in textgan.training.TRAINERS)")
    ap.add_argument("--models", help="comma-separated model names (e.g. mle,gumbel_relgan); default: every preset of --trainers")
    ap.add_argument("--temperatures", default=DEFAULT_TEMPERATURES, help=f"sampling temperatures (default {DEFAULT_TEMPERATURES}; 1 is always added)")
    ap.add_argument("--samples", type=int, default=1000, help="samples per temperature (default 1000)")
    ap.add_argument("--distribution-epochs", type=int, help="epochs of the reverse/forward LMs, the two-sample classifier "
                    "and the reference LM whose hidden states are FD's and MAUVE's sentence features")
    ap.add_argument("--no-mauve", dest="mauve", action="store_false",
                    help="leave MAUVE out (it needs the mauve-text package: pip install -e '.[bench]')")
    ap.add_argument("--jobs", type=int, default=1, help="cells run at once, each in its own process (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per cell (default 1)")
    ap.add_argument("--device", default="cpu", help="device of every cell (default cpu)")
    ap.add_argument("--out", default="runs/leaderboard", help="folder of the cells' run directories")
    ap.add_argument("--examples", default=str(ROOT / "examples"), help="folder of the presets")
    ap.add_argument("--data-dir", default=str(ROOT / "benchmarks" / "data"), help="benchmark data (coco/, seqgan_oracle/)")
    ap.add_argument("--results", default=str(ROOT / "docs" / "results.md"), help="the report to write")
    ap.add_argument("--img-dir", help="folder of its plots (default: img/ beside --results)")
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from the run directories; train nothing")
    ap.add_argument("--cell", help=argparse.SUPPRESS)  # a worker process: one cell
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the grid (unless --report-only), then write the report; 1 if a cell failed, 2 on bad input."""
    args = parse_args(argv)
    if args.cell:
        return worker_main(args.cell)
    try:
        from textgan.evaluate import parse_temperatures

        temperatures = parse_temperatures(args.temperatures)
        temperatures = sorted(set(temperatures) | {1.0})  # the table shows every model at its own distribution
        settings = [s.strip() for s in args.settings.split(",") if s.strip()]
        if not args.minutes > 0:
            raise TextGanError(f"--minutes must be > 0, got {args.minutes}")
        if not 0 <= args.pretrain_fraction <= 1:
            raise TextGanError(f"--pretrain-fraction must be in [0, 1], got {args.pretrain_fraction}")
        for name, value, low in (("--seeds", args.seeds, 1), ("--samples", args.samples, 2), ("--jobs", args.jobs, 1),
                                 ("--threads", args.threads, 1)):
            if value < low:
                raise TextGanError(f"{name} must be >= {low}, got {value}")
        out, results = Path(args.out), Path(args.results)
        img_dir = Path(args.img_dir) if args.img_dir else results.parent / "img"
        failures: list[str] = []
        if not args.report_only:
            runnable = []
            for name in settings:
                missing = SETTINGS[name].missing_data(Path(args.data_dir)) if name in SETTINGS else []
                if missing:
                    print(f"skipped: setting {name} ({', '.join(missing)} not found; pass --data-dir)")
                else:
                    runnable.append(name)
            trainers = [t.strip() for t in args.trainers.split(",")] if args.trainers else registered_trainers()
            only = {m.strip() for m in args.models.split(",") if m.strip()} if args.models else None
            cells, lines = cells_of(runnable, args.seeds, Path(args.examples), out, trainers, only)
            for line in lines:
                print(line)
            if args.mauve:
                try:
                    import mauve  # noqa: F401
                except ImportError:
                    raise TextGanError("MAUVE needs the mauve-text package: pip install -e '.[bench]', or pass "
                                       "--no-mauve") from None
            plan = {"minutes": args.minutes, "pretrain_fraction": args.pretrain_fraction, "temperatures": temperatures,
                    "samples": args.samples, "eval_seed": 0, "distribution_epochs": args.distribution_epochs,
                    "device": args.device, "threads": args.threads, "data_dir": str(Path(args.data_dir).resolve()),
                    "examples": str(Path(args.examples).resolve()), "mauve": args.mauve}
            out.mkdir(parents=True, exist_ok=True)
            record_command(out, shlex.join(["python", "benchmarks/leaderboard.py", *(sys.argv[1:] if argv is None else argv)]))
            failures = run_grid(cells, plan, args.jobs, out / "logs")
            if not failures:
                failures = extend_reference_curves(cells, plan, args.jobs, out)
            for line in failures:
                print(line)
        report = write_results(out, settings, results, img_dir)
        print(f"report: {report}")
        for setting in settings:
            for line in (line for m in collect(out, setting) for line in m.incomplete):
                print(f"incomplete, left out of the report (rerun the grid's command): {line}")
        return 1 if failures else 0
    except TextGanError as exc:
        print(f"leaderboard: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
