"""`textgan export RUN_DIR --out FOLDER`: the best checkpoint as a Hugging Face model folder with
a model card, ready for `push_to_hub` or `AutoModelForCausalLM` + `AutoTokenizer`.

Only Hugging Face architectures are exported (model.kind=transformer and --init-from runs); an
LSTM, VAE or continuous-GAN run is refused with one line: no `transformers` class loads it, and
its checkpoint folder already loads with `textgan.load`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from textgan import config as config_mod
from textgan.errors import TextGanError
from textgan.io import atomic_dir

if TYPE_CHECKING:  # torch loads when an export runs, not when `textgan` registers the command
    from textgan.checkpoint import Checkpoint

SAMPLE_LINES = 10  # per samples/ file in the card


def _records(run: Path) -> list[dict[str, Any]]:
    file = run / "metrics.jsonl"
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def metrics_table(records: list[dict[str, Any]]) -> str:
    """The last record of each phase, in the order the phases ran, as a markdown table."""
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        last.pop(record.get("phase", ""), None)
        last[record.get("phase", "")] = record
    if not last:
        return "No metrics were recorded."
    names = [k for k in dict.fromkeys(k for r in last.values() for k in r) if k not in ("phase", "elapsed_s")]
    rows = ["| phase | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for phase, record in last.items():
        rows.append(f"| {phase} | " + " | ".join(_number(record[n]) if n in record else "" for n in names) + " |")
    return "\n".join(rows)


def model_card(run: Path, checkpoint: Checkpoint) -> str:
    """README.md of the exported folder: what was trained on what, how, how well, and samples."""
    cfg, tokenizer = checkpoint.config, checkpoint.tokenizer
    init_from = cfg.model.init_from
    front = {"library_name": "transformers", "pipeline_tag": "text-generation",
             "tags": ["textgan", "text-generation", cfg.train.trainer]}
    if init_from and not Path(init_from).expanduser().exists():
        front["base_model"] = init_from  # a Hub id
    generator = checkpoint.generator
    parameters = sum(p.numel() for p in generator.parameters())
    from textgan.api import has_prompts

    prompted = has_prompts(cfg)
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {run.name}", "",
             f"A {generator.config_dict()['model_type']} causal language model ({parameters / 1e6:.2f}M parameters) "
             f"trained with textgan by `{cfg.train.trainer}` "
             f"{'from ' + repr(init_from) + ' ' if init_from else ''}on the corpus `{cfg.data.corpus}`"
             f"{' (prompt -> reply pairs)' if prompted else ''}. This folder is checkpoint "
             f"`{checkpoint.path.name}` of the run (its best validation checkpoint).", "",
             "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
             'model = AutoModelForCausalLM.from_pretrained("PATH_OR_HUB_ID")',
             'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_HUB_ID")']
    if prompted:
        lines += ['# rows are <bos> prompt <sep> reply <eos>: give <bos> prompt <sep>, the model writes the reply',
                  'ids = [tokenizer.bos_token_id] + tokenizer("how are you?", add_special_tokens=False)["input_ids"]'
                  ' + [tokenizer.sep_token_id]']
    else:
        lines += ["# every text starts from <bos>", "ids = [tokenizer.bos_token_id]"]
    lines += ["import torch",
              f"out = model.generate(torch.tensor([ids]), do_sample=True, max_length={generator.max_length + 1})",
              "print(tokenizer.decode(out[0, len(ids):], skip_special_tokens=True))", "```", ""]
    if tokenizer.kind == "word" and tokenizer.word_split == "nltk":
        lines += ["The training text was split into words with nltk's `NLTKWordTokenizer` before this "
                  "word-level tokenizer saw it: split prompts the same way.", ""]
    lines += ["## Training", "",
              f"- corpus: `{cfg.data.corpus}`; tokenizer: "
              f"{'the one of ' + repr(init_from) if init_from else tokenizer.kind} ({tokenizer.vocab_size:,} tokens), "
              f"at most {generator.max_length} tokens per example",
              f"- trainer: `{cfg.train.trainer}`, {cfg.train.epochs} epochs, batch {cfg.train.batch_size}, "
              f"learning rate {cfg.train.learning_rate:g}, precision {cfg.train.precision}, seed {cfg.train.seed}",
              "", "Every setting (textgan's resolved config):", "", "<details><summary>config.yaml</summary>", "",
              "```yaml", yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False, allow_unicode=True).strip(), "```",
              "", "</details>", "",
              "## Metrics", "",
              "The last evaluation of each phase (from the run's metrics.jsonl; NLL in nats per token on the "
              "validation split):", "", metrics_table(_records(run)), ""]
    sample_files = sorted((run / "samples").glob("*.txt"), key=lambda p: (p.name != "final.txt", p.name))
    if sample_files:
        lines += ["## Samples", ""]
        for file in sample_files:
            texts = file.read_text(encoding="utf-8").splitlines()[:SAMPLE_LINES]
            lines += [f"`samples/{file.name}`:", "", "```", *texts, "```", ""]
    return "\n".join(lines)


def export_run(run: str | Path, out: str | Path) -> Path:
    """Write the best checkpoint of `run` to `out` in the Hugging Face layout with a model card."""
    run, out = Path(run), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TextGanError(f"{out} already exists; choose another --out or remove it")
    from textgan.checkpoint import find_checkpoint, load_checkpoint

    checkpoint = load_checkpoint(find_checkpoint(run, "best"))
    if not hasattr(checkpoint.generator, "hf_config"):
        model_type = checkpoint.generator.config_dict().get("model_type")
        raise TextGanError(
            f"{run} holds a {model_type} generator, which no transformers class loads; export takes "
            "model.kind=transformer or --init-from runs (load this one with textgan.load)"
        )
    run_dir = run if (run / "metrics.jsonl").is_file() else checkpoint.path.parent.parent
    from transformers import GenerationConfig

    generator, sample = checkpoint.generator, checkpoint.config.sample
    with atomic_dir(out) as tmp:
        generator.save_pretrained(tmp)
        checkpoint.tokenizer.save(tmp / "tokenizer.json")
        GenerationConfig(bos_token_id=generator.bos_id, eos_token_id=generator.eos_id, pad_token_id=generator.pad_id,
                         do_sample=True, temperature=sample.temperature, top_k=sample.top_k, top_p=sample.top_p,
                         max_length=generator.max_length + 1).save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(run_dir, checkpoint), encoding="utf-8")
    return out


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (its best checkpoint, else the latest) or checkpoint folder")
    p.add_argument("--out", required=True, help="folder to create: model, tokenizer, generation config, README.md")


def run_export(args: argparse.Namespace) -> int:
    print(f"exported to {export_run(args.run, args.out)}")
    return 0


# The subcommands this module adds to `textgan` (cli.py registers them): name -> (add_arguments, run, help).
COMMANDS = {
    "export": (add_export_arguments, run_export,
               "write a run's best checkpoint as a Hugging Face model folder with a model card"),
}
