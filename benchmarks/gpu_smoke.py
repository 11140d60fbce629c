"""The GPU smoke test (run through benchmarks/gpu_smoke.sh): every trainer on the device in fp32,
bf16 and fp16, checked against the CPU run of the same seed; kill-and-resume of each; resumes
across precisions and device types; torchrun with 2 processes where 2 GPUs are visible; sample,
evaluate and chat on the device. Exit status 1 when any run fails or any check disagrees.

Tolerances (|a - b| <= tol * max(|a|, |b|, 1): relative, absolute below 1):
- RESUMED (0, equal): a run killed with SIGKILL after its first checkpoint and resumed on the same
  device and precision, against the uninterrupted run (train.deterministic is on).
- TIGHT (1e-2): device fp32 against the CPU run, on the numbers that draw nothing from the trainers'
  device-side random streams: val_nll and train_nll of MLE pretraining (the MLE trainer's every
  record). CPU and GPU sum in different orders, and cuDNN may use TF32.
- PRECISION (3e-2): bf16 and fp16 against fp32 on the device, on those same numbers.
- PROCESSES (1e-3): torchrun with 2 processes against 1 process on the device, on every number
  (docs/scaling.md: N processes repeat one, to floating-point tolerance).
- LOOSE (0.15): the last val_nll and nll_oracle of every run (the VAE: val_nll_bound; the GAN:
  bleu_2) against the device fp32 run (CPU runs, other precisions, cross-precision and
  cross-device resumes): the random streams differ, so only the outcome's size can agree.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fnmatch
import json
import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

RESUMED, TIGHT, PRECISION, PROCESSES, LOOSE = 0.0, 1e-2, 3e-2, 1e-3, 0.15
TIGHT_KEYS = ("val_nll", "train_nll")
OUTCOME_KEYS = ("val_nll", "nll_oracle", "val_nll_bound", "bleu_2")  # the VAE's bound; the GAN's BLEU-2
TIME_KEYS = ("elapsed_s",)  # wall-clock numbers: never compared
ROOT = Path(__file__).resolve().parents[1]

SMALL = ["--set", "model.embedding_dim=32", "--set", "model.hidden_dim=32", "--set", "sample.num_samples=4",
         "--set", "train.tensorboard=false", "--seed", "3"]
POEMS = ["--corpus", "poems", "--tokenizer", "word", "--set", "tokenizer.max_length=25", "--set", "data.max_examples=800"]
ORACLE = ["--corpus", "oracle", "--set", "data.oracle_vocab_size=200", "--set", "data.oracle_seq_len=12",
          "--set", "data.oracle_samples=640", "--set", "data.oracle_embedding_dim=16", "--set", "data.oracle_hidden_dim=16"]
SMALL_D = ["--set", "discriminator.embedding_dim=16", "--set", "discriminator.filter_sizes=[2, 3, 4]",
           "--set", "discriminator.num_filters=[16, 16, 16]"]
SEQGAN = [*ORACLE, "--epochs", "2", "--batch-size", "32", *SMALL_D, "--set", "seqgan.pretrain_d_steps=2",
          "--set", "seqgan.adversarial_rounds=3", "--set", "seqgan.d_samples=256", "--set", "seqgan.d_batch_size=32",
          "--set", "seqgan.rollout_count=4", "--set", "seqgan.nll_oracle_samples=256", "--set", "seqgan.eval_every=1"]
TRAINERS = {
    "mle": [*POEMS, "--epochs", "3", "--batch-size", "32"],
    "mle_transformer": [*POEMS, "--model", "transformer", "--epochs", "2", "--batch-size", "32",
                        "--set", "model.num_heads=2", "--set", "model.num_layers=2"],
    "seqgan": ["--trainer", "seqgan", *SEQGAN],
    "maligan": ["--trainer", "maligan", *SEQGAN],
    "rankgan": ["--trainer", "rankgan", *SEQGAN, "--set", "rankgan.reference_size=8", "--set", "rankgan.comparison_size=8"],
    "leakgan": ["--trainer", "leakgan", *SEQGAN, "--set", "leakgan.goal_size=4", "--set", "leakgan.step_size=3",
                "--set", "leakgan.mle_every=1", "--set", "leakgan.mle_batches=2"],
    "gumbel_rmc": ["--trainer", "gumbel", *ORACLE, "--epochs", "2", "--batch-size", "32", *SMALL_D,
                   "--set", "discriminator.representations=2", "--set", "model.kind=relational_memory",
                   "--set", "model.num_heads=2", "--set", "gumbel.adversarial_steps=6", "--set", "gumbel.d_steps=2",
                   "--set", "gumbel.eval_every=3", "--set", "gumbel.nll_oracle_samples=256"],
    "cot": ["--trainer", "cot", *POEMS, "--batch-size", "32", "--set", "cot.pretrain_epochs=2", "--set", "cot.steps=6",
            "--set", "cot.mediator_steps=2", "--set", "cot.eval_every=3"],
    "gan": ["--trainer", "gan", *POEMS, "--epochs", "2", "--batch-size", "32", *SMALL_D, "--set", "gan.objective=wgan_gp",
            "--set", "gan.noise_dim=16", "--set", "gan.hidden_dim=32", "--set", "gan.d_steps=2", "--set", "gan.eval_every=5"],
    "vae": ["--trainer", "vae", *POEMS, "--epochs", "3", "--batch-size", "32", "--set", "vae.latent_dim=8"],
}
# Smaller in --quick mode (the CPU test of this script): fewer rows and steps.
QUICK = ["--epochs", "1", "--set", "data.max_examples=200", "--set", "data.oracle_samples=160", "--set", "seqgan.adversarial_rounds=2",
         "--set", "seqgan.d_samples=64", "--set", "seqgan.nll_oracle_samples=64"]


class Smoke:
    """Runs the checks, prints one line each, remembers the failures."""

    def __init__(self, out: Path, device: str, only: str, quick: bool, gpus: int) -> None:
        self.out, self.device, self.only, self.quick, self.gpus = out, device, only, quick, gpus
        self.failed: list[str] = []
        self.ran = 0

    def wanted(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.only)

    def args(self, trainer: str, device: str, precision: str) -> list[str]:
        return [*TRAINERS[trainer], *SMALL, *(QUICK if self.quick else []), "--device", device, "--precision", precision]

    def check(self, name: str, ok: bool, detail: str) -> None:
        """Record one check's outcome and print it."""
        self.ran += 1
        print(f"{name:34s} {'ok    ' if ok else 'FAILED'} {detail}", flush=True)
        if not ok:
            self.failed.append(name)


def run_dir_records(run: Path) -> list[dict]:
    """metrics.jsonl of a run, [] if absent."""
    file = run / "metrics.jsonl"
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()] if file.is_file() else []


def close(a: float, b: float, tol: float) -> bool:
    """Whether two numbers agree to relative tolerance `tol` (NaN or infinity never does)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tol * max(abs(a), abs(b), 1.0)


def compare_records(a: list[dict], b: list[dict], tol: float, keys: tuple[str, ...] | None = None,
                    phases: Callable[[dict], bool] = lambda r: True) -> str | None:
    """None when the records of `phases` pair up (same steps and phases) and their numbers
    (`keys`, or all but TIME_KEYS) agree within `tol`; otherwise what differs first."""
    a, b = [r for r in a if phases(r)], [r for r in b if phases(r)]
    if len(a) != len(b):
        return f"{len(a)} records against {len(b)}"
    for x, y in zip(a, b):
        if (x.get("step"), x.get("phase")) != (y.get("step"), y.get("phase")):
            return f"step/phase {x.get('step')}/{x.get('phase')} against {y.get('step')}/{y.get('phase')}"
        for key in keys or sorted(set(x) | set(y)):
            if key in TIME_KEYS or (keys and key not in x and key not in y):
                continue
            u, v = x.get(key), y.get(key)
            numbers = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (u, v))
            if (numbers and not close(float(u), float(v), tol)) or (not numbers and u != v and tol == 0.0):
                return f"step {x.get('step')} {x.get('phase')} {key}: {u} against {v}"
    return None


def deterministic_phase(trainer: str) -> Callable[[dict], bool]:
    """Records that draw nothing from the trainer's device-side streams: the MLE trainer's all,
    the others' MLE pretraining (none for gan and vae, which draw noise from the start)."""
    if trainer.startswith("mle"):
        return lambda r: True
    if trainer in ("gan", "vae"):
        return lambda r: False
    return lambda r: r.get("phase") in ("pretrain_g", "pretrain", "mle")


def outcome(records: list[dict]) -> dict[str, float]:
    """The last value of each OUTCOME_KEYS number in a run's records."""
    last: dict[str, float] = {}
    for record in records:
        last.update({k: float(record[k]) for k in OUTCOME_KEYS if isinstance(record.get(k), (int, float))})
    return last


def compare_outcomes(a: list[dict], b: list[dict], tol: float) -> str | None:
    """None when the last OUTCOME_KEYS numbers of two runs exist and agree within `tol`."""
    x, y = outcome(a), outcome(b)
    if not x or set(x) != set(y):
        return f"outcomes {sorted(x)} against {sorted(y)}"
    bad = [f"{k} {x[k]:.4g} against {y[k]:.4g}" for k in x if not close(x[k], y[k], tol)]
    return "; ".join(bad) or None


def textgan(args: list[str], log: Path, env: dict | None = None, stdin: str | None = None,
            launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    """`textgan ARGS` in a fresh process (or under `launcher`, e.g. torchrun), output to `log`."""
    command = [*(launcher or [sys.executable]), "-m", "textgan", *args]
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        return subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, input=stdin,
                              text=True, env={**os.environ, **(env or {})})


def train_killed(args: list[str], run: Path, log: Path) -> str | None:
    """Start a training with a checkpoint every step and SIGKILL it once its first checkpoint is
    complete; None when killed so, else what happened instead."""
    command = [sys.executable, "-m", "textgan", "train", *args, "--out", str(run),
               "--set", "train.checkpoint_every_steps=1"]
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        while process.poll() is None:
            if any((p / "trainer_state.pt").is_file() for p in (run / "checkpoints").glob("step-*")):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return None
            time.sleep(0.02)
    return f"exited with {process.returncode} before its first checkpoint (see {log})"


class CurrentStderr(logging.StreamHandler):
    """A log handler writing to whatever sys.stderr is at the time (each in-process run's log)."""

    @property
    def stream(self):
        """sys.stderr as it is now."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def in_process_train(args: list[str], run: Path, log: Path) -> int:
    """`textgan train` in this process (no start-up cost), its output written to `log`."""
    from textgan.cli import main

    with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        print("$ textgan train " + shlex.join([*args, "--out", str(run)]), flush=True)
        try:
            return main(["train", *args, "--out", str(run)])
        except SystemExit as exc:  # argparse
            return int(exc.code or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--only", default="*", help="run only the checks whose name matches this glob")
    parser.add_argument("--quick", action="store_true", help="smaller runs (the CPU test of this script)")
    parser.add_argument("--workers", type=int, default=4, help="subprocess runs at once (CPU references, kills)")
    opts = parser.parse_args(argv)
    gpus = 0
    if opts.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("gpu_smoke: no CUDA GPU visible; use --device cpu for a dry run", file=sys.stderr)
            return 2
        gpus = torch.cuda.device_count()
        print(f"GPU: {torch.cuda.get_device_name(0)} x{gpus}, torch {torch.__version__}", flush=True)
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, handlers=[CurrentStderr()])  # before the runs' own basicConfig
    smoke = Smoke(out, opts.device, opts.only, opts.quick, gpus)
    started = time.monotonic()
    dev = opts.device
    trainers = [t for t in TRAINERS if any(smoke.wanted(f"{t}-{what}") for what in
                                            ("fp32", "bf16", "fp16", "cpu", "resume", "fp16-resume", "cpu-to-device",
                                             "device-to-cpu", "x2", "x2-resume"))]
    pool = concurrent.futures.ThreadPoolExecutor(max(1, opts.workers))

    # CPU references and kill-and-resume legs run as subprocesses beside the in-process device runs.
    def cpu_reference(t: str) -> int:
        return textgan(["train", *smoke.args(t, "cpu", "fp32"), "--out", str(out / f"{t}-cpu")], out / f"{t}-cpu.log").returncode

    def killed_then_resumed(t: str, name: str, first: tuple[str, str], then: tuple[str, str],
                            launcher: list[str] | None = None) -> str | None:
        run, log = out / name, out / f"{name}.log"
        problem = train_killed(smoke.args(t, *first), run, log)
        if problem:
            return problem
        resumed = textgan(["train", *smoke.args(t, *then), "--out", str(run), "--resume",
                           "--set", "train.checkpoint_every_steps=1"], out / f"{name}.resume.log", launcher=launcher)
        return None if resumed.returncode == 0 else f"resume exited with {resumed.returncode} (see {out}/{name}.resume.log)"

    cpu_jobs = {t: pool.submit(cpu_reference, t) for t in trainers if smoke.wanted(f"{t}-cpu") or smoke.wanted(f"{t}-fp32")}
    resume_jobs: dict[str, tuple[str, concurrent.futures.Future]] = {}
    for t in trainers:
        legs = {f"{t}-resume": ((dev, "fp32"), (dev, "fp32"))}
        if t in ("mle", "seqgan", "vae"):  # cross-precision: the fp16 loss scaler starts afresh
            legs[f"{t}-fp16-resume"] = ((dev, "bf16" if t == "seqgan" else "fp32"), (dev, "fp16"))
        if t in ("seqgan", "gan", "vae", "cot"):  # cross-device: the trainers' random streams carried across
            legs[f"{t}-cpu-to-device"] = (("cpu", "fp32"), (dev, "fp32"))
        if t in ("gumbel_rmc",):
            legs[f"{t}-device-to-cpu"] = ((dev, "fp32"), ("cpu", "fp32"))
        for name, (first, then) in legs.items():
            if smoke.wanted(name):
                resume_jobs[name] = (t, pool.submit(killed_then_resumed, t, name, first, then))

    # the device runs, in this process, one after another
    for t in trainers:
        for precision in ("fp32", "bf16", "fp16"):
            name = f"{t}-{precision}"
            if not (smoke.wanted(name) or (precision == "fp32" and any(n.startswith(f"{t}-") for n in resume_jobs))):
                continue
            begin = time.monotonic()
            code = in_process_train(smoke.args(t, dev, precision), out / name, out / f"{name}.log")
            records = run_dir_records(out / name)
            if code or not records:
                smoke.check(name, False, f"exit {code} (see {out}/{name}.log)")
                continue
            reference = out / (f"{t}-fp32" if precision != "fp32" else f"{t}-cpu")
            if precision == "fp32":
                if t in cpu_jobs:
                    cpu_jobs[t].result()
                cpu = run_dir_records(reference)
                problem = (compare_records(records, cpu, TIGHT, TIGHT_KEYS, deterministic_phase(t))
                           or compare_outcomes(records, cpu, LOOSE)) if cpu else f"no CPU reference ({reference}.log)"
            else:
                fp32 = run_dir_records(reference)
                problem = (compare_records(records, fp32, PRECISION, TIGHT_KEYS, deterministic_phase(t))
                           or compare_outcomes(records, fp32, LOOSE))
            seconds = time.monotonic() - begin
            smoke.check(name, problem is None, problem or f"{records[-1]['step']} steps in {seconds:.1f} s; "
                        + ", ".join(f"{k} {v:.4g}" for k, v in outcome(records).items()))

    for name, (t, job) in resume_jobs.items():
        problem = job.result()
        if problem is None:
            resumed, straight = run_dir_records(out / name), run_dir_records(out / f"{t}-fp32")
            if name.endswith("-resume") and not name.endswith("fp16-resume"):
                problem = compare_records(resumed, straight, RESUMED)
            else:
                problem = compare_outcomes(resumed, straight, LOOSE)
        smoke.check(name, problem is None, problem or "killed after its first checkpoint, resumed, agrees")
    for t in cpu_jobs:
        if smoke.wanted(f"{t}-cpu"):
            code = cpu_jobs[t].result()
            smoke.check(f"{t}-cpu", code == 0, f"exit {code}" + (f" (see {out}/{t}-cpu.log)" if code else ""))

    # torchrun with 2 processes where 2 GPUs are visible
    if gpus > 1:
        launcher = ["torchrun", "--standalone", "--nproc_per_node", "2"]
        for t in trainers:
            name = f"{t}-x2"
            if smoke.wanted(name):
                result = textgan(["train", *smoke.args(t, dev, "fp32"), "--out", str(out / name)], out / f"{name}.log",
                                 launcher=launcher)
                problem = (f"exit {result.returncode} (see {out}/{name}.log)" if result.returncode else
                           compare_records(run_dir_records(out / name), run_dir_records(out / f"{t}-fp32"), PROCESSES))
                smoke.check(name, problem is None, problem or "2 processes repeat 1")
        if smoke.wanted("seqgan-x2-resume"):
            problem = killed_then_resumed("seqgan", "seqgan-x2-resume", (dev, "fp32"), (dev, "fp32"), launcher)
            problem = problem or compare_records(run_dir_records(out / "seqgan-x2-resume"),
                                                 run_dir_records(out / "seqgan-fp32"), PROCESSES)
            smoke.check("seqgan-x2-resume", problem is None, problem or "1 process killed, resumed on 2, agrees")

    # sample, evaluate and chat on the device
    for name, command, stdin in (
        ("sample", ["sample", str(out / "mle-fp32"), "-n", "8", "--device", dev], None),
        ("evaluate", ["evaluate", str(out / "seqgan-fp32"), "-n", "64", "--temperatures", "1.0", "--json", "--device", dev], None),
    ):
        if smoke.wanted(name) and (out / command[1]).is_dir():
            result = textgan(command, out / f"{name}.log", stdin=stdin)
            text = (out / f"{name}.log").read_text(encoding="utf-8")
            ok = result.returncode == 0 and len(text.splitlines()) > 2
            smoke.check(name, ok, f"exit {result.returncode}" + ("" if ok else f" (see {out}/{name}.log)"))
    if smoke.wanted("chat"):
        chat_run = out / "chat-mle"
        code = in_process_train(["--corpus", "dialogues", "--tokenizer", "word", "--epochs", "1", "--batch-size", "32",
                                 *SMALL, "--set", "data.max_examples=400", "--device", dev], chat_run, out / "chat-mle.log")
        result = textgan(["chat", str(chat_run), "--device", dev, "--seed", "1"], out / "chat.log",
                         stdin="hello there\nhow are you\n") if code == 0 else None
        ok = result is not None and result.returncode == 0
        smoke.check("chat", ok, "exit 0, two prompts answered" if ok else f"see {out}/chat-mle.log and chat.log")
    pool.shutdown()

    print(f"logs and runs in {out}; {time.monotonic() - started:.0f} s")
    if smoke.failed:
        print(f"gpu_smoke: {len(smoke.failed)} of {smoke.ran} checks FAILED: {' '.join(smoke.failed)}", file=sys.stderr)
        return 1
    print(f"gpu_smoke: all {smoke.ran} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
