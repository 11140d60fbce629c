"""The `textgan` command: demo, train, sample (evaluate and compare live in their own modules).

Errors a user can cause print one line `textgan: error: ...` and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from textgan.errors import TextGanError

log = logging.getLogger("textgan")

# Subcommands register here: name -> (add_arguments, run)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {}


class UsageError(TextGanError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see textgan {self.prog.split()[-1]} --help)")


def register_command(name: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                     run: Callable[[argparse.Namespace], int], help_text: str) -> None:
    """Add a subcommand: a function adding its arguments and one running it."""
    COMMANDS[name] = (add_arguments, run, help_text)


def config_from_args(args: argparse.Namespace, base: Path | None = None):
    """Defaults (or a saved run's config) < --config FILE < named flags < --set key=value."""
    from textgan import config as config_mod

    flags = []
    named = {
        "corpus": "data.corpus", "text_field": "data.text_field", "tokenizer": "tokenizer.kind",
        "model": "model.kind", "epochs": "train.epochs", "device": "train.device",
        "seed": "train.seed", "precision": "train.precision", "trainer": "train.trainer",
        "batch_size": "train.batch_size", "max_length": "tokenizer.max_length",
        "init_from": "model.init_from",
    }
    for attr, key in named.items():
        value = getattr(args, attr, None)
        if value is not None:
            flags.append((key, value))
    cfg = config_mod.new_config()
    if base is not None:
        config_mod.update(cfg, config_mod.load_yaml(base), where=str(base))
    if getattr(args, "config", None):
        config_mod.update(cfg, config_mod.load_yaml(args.config), where=str(args.config))
    for key, value in flags:
        config_mod.set_key(cfg, key, value)
    config_mod.apply_overrides(cfg, getattr(args, "set", None) or [])
    config_mod.validate(cfg)
    return cfg


def max_length_flag(text: str) -> int | str:
    """--max-length: a whole number, or auto."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number or auto, got {text!r}") from None


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", help="bundled corpus (poems, dialogues, dialogues_shakespeare), a .txt/.jsonl/.csv file, a saved dataset folder, or 'oracle'")
    p.add_argument("--text-field", help="field holding the text in .jsonl/.csv/dataset corpora")
    p.add_argument("--tokenizer", help="char | word | bpe")
    p.add_argument("--model", help="lstm | transformer")
    p.add_argument("--init-from", metavar="NAME_OR_FOLDER",
                   help="start from a Hugging Face causal LM (folder or Hub id) with its own tokenizer, "
                        "or from a textgan run folder (its best checkpoint)")
    p.add_argument("--trainer", help="mle or an adversarial trainer")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=max_length_flag,
                   help="tokens per example, end token included, or auto (from the corpus; the default)")
    p.add_argument("--out", help="run directory to create: new, empty, or with --resume an earlier run")
    p.add_argument("--config", help="YAML preset (see examples/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.learning_rate=0.005")
    p.add_argument("--device", help="auto | cpu | cuda | mps")
    p.add_argument("--precision", help="fp32 | bf16 | fp16")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                   help="continue the run in --out (or RUN: --resume RUN) from its latest checkpoint; "
                        "a finished run says which key trains it further and exits 0")
    p.add_argument("--dry-run", action="store_true",
                   help="print the run's plan (each phase's steps, measured time, what the budget reaches) and "
                        "stop, writing nothing into --out")


def run_train(args: argparse.Namespace) -> int:
    from textgan.api import train
    from textgan.io import refuse_file

    if isinstance(args.resume, str):  # --resume RUN
        if args.out is not None and Path(args.out) != Path(args.resume):
            raise UsageError(f"--resume {args.resume} and --out {args.out} name different runs; pass one of them")
        args.out = args.resume
    if args.out is None:
        raise UsageError("the following arguments are required: --out (see textgan train --help)")
    resume = bool(args.resume)
    saved = Path(args.out) / "config.yaml"
    if resume and not saved.is_file():
        refuse_file(Path(args.out))
        raise TextGanError(f"--resume {args.out}: no config.yaml there; pass the run directory of an earlier textgan train")
    cfg = config_from_args(args, saved if resume else None)
    result = train(cfg, args.out, resume=resume, dry_run=args.dry_run)
    if result.plan is not None:
        print("\n".join(result.plan))
        return 0
    if result.samples:
        print(f"run directory: {result.run_dir}")
        print("metrics:", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in result.metrics.items()))
        print("samples:")
        for line in result.samples:
            print(f"  {line}")
    if result.note:  # the last line: why nothing was resumed, or that the run ended before its own phase
        print(f"textgan: {result.note}", file=sys.stderr)
    return 0


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (best checkpoint, else latest) or checkpoint folder")
    p.add_argument("-n", type=int, help="number of samples (default: the run's sample.num_samples)")
    p.add_argument("--temperature", type=float, help="(default: the run's sample.temperature)")
    p.add_argument("--top-k", type=int, help="0 = off (default: the run's sample.top_k)")
    p.add_argument("--top-p", type=float, help="in (0, 1], 1 = off (default: the run's sample.top_p)")
    p.add_argument("--greedy", action="store_true", help="take the most likely token at every step (no sampling)")
    p.add_argument("--repetition-penalty", type=float, default=1.0,
                   help="> 1 discourages tokens already in the text (CTRL's penalty; 1 = none)")
    p.add_argument("--prompt", help="reply to this prompt (dialogue models: printed `prompt → reply`) or continue it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="write samples to this file instead of printing them")


def run_sample(args: argparse.Namespace) -> int:
    from textgan.api import check_sampling, sample
    from textgan.io import atomic_write_text

    check_sampling(args.n, args.temperature, args.top_k, args.top_p)
    lines = sample(args.run, n=args.n, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                   prompt=args.prompt, seed=args.seed, device=args.device, greedy=args.greedy,
                   repetition_penalty=args.repetition_penalty)
    if args.out:
        atomic_write_text(Path(args.out), "".join(line + "\n" for line in lines))
    else:
        for line in lines:
            print(line)
    return 0


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML preset to resolve")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


def run_config(args: argparse.Namespace) -> int:
    import yaml

    from textgan import config as config_mod

    print(yaml.safe_dump(config_mod.to_dict(config_from_args(args)), sort_keys=False, allow_unicode=True), end="")
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="textgan", description="Text GANs and their MLE baselines, compared honestly.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, required=True)
    for name, (add_arguments, _run, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


register_command("train", add_train_arguments, run_train, "train a generator on a corpus")
register_command("sample", add_sample_arguments, run_sample, "sample text from a trained run")
register_command("config", add_config_arguments, run_config, "print the resolved config (defaults, preset, --set)")


def _register_optional_commands() -> None:
    """Add the subcommands the command modules define (each module's `COMMANDS`); they import
    nothing from here, so no module imports back into the CLI."""
    from textgan import chat, demo, evaluate, export

    for module in (demo, evaluate, chat, export):
        for name, (add_arguments, run, help_text) in module.COMMANDS.items():
            register_command(name, add_arguments, run, help_text)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `textgan` console script."""
    _register_optional_commands()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        _add_arguments, run, _help = COMMANDS[args.command]
        return run(args)
    except TextGanError as exc:
        print(f"textgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("textgan: error: interrupted", file=sys.stderr)
        return 130
