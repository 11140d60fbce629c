"""`textgan chat RUN_DIR`: talk to a prompt -> reply model, several turns.

The recent turns (yours and the model's) are the prompt, as many as fit the model's length with
room for a reply. Lines starting with / are commands. Standard input that is not a terminal is
read line by line, so a conversation can be scripted: `printf 'hi\n/quit\n' | textgan chat RUN`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from textgan.errors import ConfigError, TextGanError

if TYPE_CHECKING:  # torch loads when a chat starts, not when `textgan` registers the command
    from textgan.api import Decoding
    from textgan.data import TextTokenizer

HELP = ("commands: /reset (forget the conversation), /temperature T, /top_p P, /top_k K, "
        "/repetition_penalty R, /greedy on|off, /quit")


def context_prefix(tokenizer: TextTokenizer, turns: list[str], max_length: int) -> list[int]:
    """Ids of the newest turns that fit, then <sep>: the prompt leaves at least a quarter of
    `max_length` (and 4 tokens) for the reply; a last turn too long keeps its end."""
    budget = max_length - max(4, max_length // 4) - 1
    best: list[int] = []
    for start in range(len(turns) - 1, -1, -1):
        ids = tokenizer.encode(" ".join(turns[start:]))
        if len(ids) > budget:
            break
        best = ids
    if not best and turns:
        best = tokenizer.encode(turns[-1])[-budget:]
    return best + ([tokenizer.sep_id] if tokenizer.sep_id is not None else [])


@dataclass
class Conversation:
    """A model, how it decodes, and the turns so far."""

    run: str
    decoding: Decoding
    seed: int = 0
    device: str = "auto"
    turns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from textgan.training.runtime import make_runtime

        from textgan.api import has_prompts, load

        checkpoint = load(self.run)
        if not has_prompts(checkpoint.config) or checkpoint.tokenizer.sep_id is None:
            raise TextGanError(
                f"{self.run} was trained on plain texts, not prompt -> reply pairs, so it cannot reply; "
                "train a dialogue model (textgan train --config examples/dialogues_mle.yaml --out runs/dialogues) "
                "and chat with that run"
            )
        self.generator = checkpoint.generator.to(make_runtime(self.device, "fp32").device).eval()
        self.tokenizer = checkpoint.tokenizer
        self.replies = 0

    def reply(self, text: str) -> str:
        """The model's reply to `text`, given the conversation so far (both are remembered)."""
        self.turns.append(text)
        prefix = context_prefix(self.tokenizer, self.turns, self.generator.max_length)
        from textgan.api import decode_rows

        row = decode_rows(self.generator, 1, prefix, self.decoding, self.seed + self.replies)[0]
        self.replies += 1
        answer = self.tokenizer.decode(row[len(prefix):].tolist())
        self.turns.append(answer)
        return answer

    def command(self, line: str) -> str | None:
        """Apply a /command; returns a line to show (None: quit)."""
        name, _, value = line[1:].strip().partition(" ")
        value = value.strip()
        if name in ("quit", "exit"):
            return None
        if name == "reset":
            self.turns.clear()
            return "(conversation forgotten)"
        if name == "help":
            return HELP
        numeric = {"temperature": float, "top_p": float, "top_k": int, "repetition_penalty": float}
        if name in numeric:
            try:
                parsed = numeric[name](value)
            except ValueError:
                raise ConfigError(f"/{name} expects a number, got {value!r}") from None
            changed = dataclasses.replace(self.decoding, **{name: parsed})
            changed.check()
            self.decoding = changed
            return f"({name} = {parsed})"
        if name == "greedy" and value in ("on", "off"):
            self.decoding = dataclasses.replace(self.decoding, greedy=value == "on")
            return f"(greedy {value})"
        raise ConfigError(f"unknown command {line.strip()!r}; {HELP}")


def chat(conversation: Conversation, source: TextIO, out: TextIO, err: TextIO) -> None:
    """The loop: read a line, answer it (or run a command), until /quit or the end of input."""
    interactive = source.isatty()
    if interactive:
        print(f"talking to {conversation.run}; {HELP}", file=err)
    while True:
        if interactive:
            print("you> ", end="", file=err, flush=True)
        line = source.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            try:
                shown = conversation.command(line)
            except TextGanError as exc:  # a bad command costs one line, not the conversation
                print(f"textgan: {exc}", file=err)
                continue
            if shown is None:
                return
            print(shown, file=err)
            continue
        print(conversation.reply(line), file=out, flush=True)


def add_chat_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory of a prompt -> reply model (best checkpoint, else latest)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--greedy", action="store_true", help="take the most likely token at every step")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeated tokens")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def run_chat(args: argparse.Namespace) -> int:
    from textgan.api import Decoding

    decoding = Decoding(args.temperature, args.top_k, args.top_p, args.greedy, args.repetition_penalty)
    decoding.check()
    chat(Conversation(args.run, decoding, args.seed, args.device), sys.stdin, sys.stdout, sys.stderr)
    return 0


# The subcommands this module adds to `textgan` (cli.py registers them): name -> (add_arguments, run, help).
COMMANDS = {
    "chat": (add_chat_arguments, run_chat,
             "talk to a prompt -> reply model (several turns; reads stdin when it is not a terminal)"),
}
