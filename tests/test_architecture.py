"""The package's shape: no import loop, trainer metadata on the trainer class (and the tables
derived from it), the hook contract's ordering of records, checkpoints and the time budget."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

import textgan
from textgan import api
from textgan.cli import main
from textgan.config import Config, load_config
from textgan.models.memory import NETWORKS
from textgan.training import TRAINERS
from textgan.training.base import Trainer, config_value

from conftest import tiny_config
from test_policy_gradient import TINY_ORACLE, TINY_SEQGAN

PACKAGE = Path(textgan.__file__).parent


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package `root`."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_edges(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its body (function-level and
    TYPE_CHECKING imports included); `from a import b` counts a.b when b is a module, else a."""
    modules = module_names(root)
    package = root.name

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(anchor[: len(anchor) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = known(target) if target.split(".")[0] == package else None
                if resolved and resolved != name:
                    edges[name].add(resolved)
    return edges


def import_loops(root: Path) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    edges = import_edges(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return loops


def test_no_import_loop_among_the_package_modules():
    assert import_loops(PACKAGE) == []


def test_the_loop_finder_sees_function_level_and_relative_imports(tmp_path: Path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from ..a import f\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert import_loops(package) == [["pkg.a", "pkg.sub.b"]]


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for name, path in module_names(PACKAGE).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textgan"):
                offenders += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert offenders == []


# ------------------------------------------------------------------------- trainer metadata


@pytest.mark.parametrize("name", list(TRAINERS))
def test_each_trainer_describes_itself(name: str):
    trainer = TRAINERS[name]
    cfg = Config()
    assert trainer.name == name and Trainer.registry[name] is trainer
    sections = {f.name for f in dataclasses.fields(Config)}
    assert trainer.config_section is None or trainer.config_section in sections
    assert set(trainer.networks) <= set(NETWORKS)
    phases = trainer.phases(cfg)
    assert phases and len({p.name for p in phases}) == len(phases)
    for phase in phases:  # each phase's length is the value of the key said to set it
        assert phase.steps == config_value(cfg, phase.key) and phase.unit
    assert trainer.extend_key() == phases[-1].key
    assert trainer.extend_key() in api.RESUMABLE_KEYS and trainer.resumable_keys <= api.RESUMABLE_KEYS


def test_the_api_tables_come_from_the_trainers():
    assert api.EXTEND_KEYS == {name: t.phases(Config())[-1].key for name, t in TRAINERS.items()}
    assert api.EXTEND_KEYS["maligan"] == api.EXTEND_KEYS["leakgan"] == "seqgan.adversarial_rounds"
    assert api.WHOLE_ROW_TRAINERS == {"gan"}


FINISHED = {name: {**TINY_SEQGAN, **TINY_ORACLE, "train.trainer": name, "train.epochs": 1,
                   "seqgan.adversarial_rounds": 1, "rankgan.reference_size": 8, "rankgan.comparison_size": 8,
                   "leakgan.goal_size": 4} for name in ("seqgan", "maligan", "rankgan", "leakgan")}
FINISHED["gumbel"] = {**FINISHED["seqgan"], "train.trainer": "gumbel", "gumbel.adversarial_steps": 1}
FINISHED["cot"] = {**FINISHED["seqgan"], "train.trainer": "cot", "cot.steps": 1, "cot.eval_every": 1}


def config_of(settings: dict[str, object]) -> Config:
    return load_config(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in settings.items()])


@pytest.mark.parametrize("name", list(FINISHED))
def test_a_finished_run_resumed_names_the_key_that_trains_it_further(tmp_path: Path, capsys, name: str):
    """MaliGAN, RankGAN and LeakGAN were told to raise train.epochs, which trains nothing."""
    run = tmp_path / "run"
    api.train(config_of(FINISHED[name]), run)
    capsys.readouterr()
    key = TRAINERS[name].phases(Config())[-1].key
    assert main(["train", "--out", str(run), "--resume"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"textgan: {run} is finished") and f"--set {key}=N" in err, err
    steps_before = api.load(run, prefer="latest").state["step"]
    assert main(["train", "--out", str(run), "--resume", "--set", f"{key}=2"]) == 0  # the advice works
    assert api.load(run, prefer="latest").state["step"] > steps_before


# ------------------------------------------------------------------------- records, checkpoints, budget


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name, phase, counter", [("gumbel", "adversarial", "adversarial_step"),
                                                  ("cot", "cooperative", "cooperative_step")])
def test_a_step_record_carries_the_step_whose_work_it_holds(tmp_path: Path, name: str, phase: str, counter: str):
    """Written before its step was counted, a record was kept on resume from the checkpoint
    before its work and written again: a duplicate."""
    settings = {**FINISHED[name], "gumbel.adversarial_steps": 3, "cot.steps": 3}
    api.train(config_of(settings), tmp_path / "run")
    steps = [r for r in records(tmp_path / "run") if r["phase"] == phase]
    final = api.load(tmp_path / "run", prefer="latest").state["step"]
    assert [r[counter] for r in steps] == [1, 2, 3]
    assert [r["step"] for r in steps] == [final - 2, final - 1, final]


TIME_LIMITED = {"gan": {"train.trainer": "gan", "gan.noise_dim": 8, "gan.hidden_dim": 8, "gan.d_steps": 1,
                        "train.epochs": 50},
                "gumbel": {"train.trainer": "gumbel", "train.epochs": 1, "gumbel.adversarial_steps": 50},
                "cot": {"train.trainer": "cot", "cot.steps": 50}}


@pytest.mark.parametrize("name", list(TIME_LIMITED))
def test_the_step_that_spends_the_budget_is_recorded(tmp_path: Path, txt_corpus: Path, monkeypatch, name: str):
    """gan checkpointed, and stopped at the time limit, before it wrote the step's record."""
    monkeypatch.setattr(Trainer, "train_seconds", lambda self: 60.0 * self.step)  # a minute a step
    small_d = {"discriminator.embedding_dim": 8, "discriminator.filter_sizes": [2, 3],
               "discriminator.num_filters": [6, 6]}
    cfg = tiny_config(txt_corpus, **small_d, **TIME_LIMITED[name], **{"train.time_limit_minutes": 12})
    api.train(cfg, tmp_path / "run")
    state = api.load(tmp_path / "run", prefer="latest").state
    assert state["finished"] and state["step"] == 12
    loss = "g_kl" if name == "cot" else "g_loss"  # in the record of each step, not of evaluations
    stepped = [r["step"] for r in records(tmp_path / "run") if loss in r]
    assert stepped[-1] == 12 and stepped == sorted(set(stepped))
