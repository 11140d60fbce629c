"""Tiny runs of every trainer, for tests/test_distributed.py: run this script plainly and under
`torchrun --nproc_per_node 2` and compare the run directories.

Usage: python tests/distributed_runs.py OUT_DIR CORPUS [NAME ...]

Batch sizes are odd so the two processes get unequal shares of each batch; dropout is off
(masks come from each process's own stream, the one thing that differs by design).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textgan.cli import main

SMALL = ["--device", "cpu", "--set", "model.embedding_dim=16", "--set", "model.hidden_dim=16",
         "--set", "sample.num_samples=3"]
SMALL_D = ["--set", "discriminator.embedding_dim=8", "--set", "discriminator.filter_sizes=[2, 3]",
           "--set", "discriminator.num_filters=[6, 6]", "--set", "discriminator.dropout=0.0"]


def corpus_args(corpus: str) -> list[str]:
    return ["--corpus", corpus, "--tokenizer", "word", "--max-length", "10"]


def runs(corpus: str) -> dict[str, list[str]]:
    """Arguments of `textgan train` for each run, by name."""
    gan = ["--trainer", "gan", *corpus_args(corpus), "--epochs", "2", "--batch-size", "15", *SMALL_D,
           "--set", "gan.noise_dim=8", "--set", "gan.hidden_dim=8", "--set", "gan.num_blocks=1",
           "--set", "gan.d_steps=2", "--set", "gan.eval_every=2", "--set", "gan.eval_samples=8",
           "--set", "gan.began_hidden_dim=8", "--set", "gan.instance_noise=0.1"]
    oracle = ["--corpus", "oracle", "--set", "data.oracle_vocab_size=20", "--set", "data.oracle_seq_len=8",
              "--set", "data.oracle_samples=150", "--set", "data.oracle_embedding_dim=8",
              "--set", "data.oracle_hidden_dim=8"]
    table = {
        "mle": [*corpus_args(corpus), "--epochs", "2", "--batch-size", "15"],
        "seqgan": ["--trainer", "seqgan", "--corpus", "oracle", "--epochs", "1", "--batch-size", "15", *SMALL_D,
                   "--set", "data.oracle_vocab_size=20", "--set", "data.oracle_seq_len=8",
                   "--set", "data.oracle_samples=150", "--set", "data.oracle_embedding_dim=8",
                   "--set", "data.oracle_hidden_dim=8", "--set", "seqgan.pretrain_d_steps=1",
                   "--set", "seqgan.adversarial_rounds=2", "--set", "seqgan.d_samples=33",
                   "--set", "seqgan.d_batch_size=11", "--set", "seqgan.rollout_count=3",
                   "--set", "seqgan.nll_oracle_samples=21", "--set", "seqgan.eval_every=1",
                   "--set", "seqgan.instance_noise=0.3", "--set", "seqgan.baseline=true",
                   "--set", "seqgan.label_smoothing=0.1"],
        "gan_wgan_gp": [*gan, "--set", "gan.objective=wgan_gp"],
        "gan_began": [*gan, "--set", "gan.objective=began"],
        "gan_rsgan": [*gan, "--set", "gan.objective=rsgan"],
        "vae": ["--trainer", "vae", *corpus_args(corpus), "--epochs", "2", "--batch-size", "15",
                "--set", "vae.latent_dim=4", "--set", "vae.kl_anneal_steps=5"],
        "gumbel": ["--trainer", "gumbel", *oracle, "--epochs", "1", "--batch-size", "15", *SMALL_D,
                   "--set", "discriminator.representations=2", "--set", "model.kind=relational_memory",
                   "--set", "model.num_heads=2", "--set", "gumbel.adversarial_steps=2", "--set", "gumbel.beta_steps=1",
                   "--set", "gumbel.d_steps=2", "--set", "gumbel.eval_every=1", "--set", "gumbel.nll_oracle_samples=21",
                   "--set", "gan.instance_noise=0.2", "--set", "gan.label_smoothing=0.1"],
        "gumbel_wgan_gp": ["--trainer", "gumbel", *corpus_args(corpus), "--epochs", "1", "--batch-size", "15", *SMALL_D,
                           "--set", "gumbel.objective=wgan_gp", "--set", "gumbel.adversarial_steps=2",
                           "--set", "gumbel.d_steps=2"],
        "cot": ["--trainer", "cot", *corpus_args(corpus), "--batch-size", "15", "--set", "cot.pretrain_epochs=1",
                "--set", "cot.steps=2", "--set", "cot.mediator_steps=2", "--set", "cot.eval_every=1",
                "--set", "cot.mediator_dropout=0.0"],
        "scratchgan": ["--trainer", "scratchgan", *corpus_args(corpus), "--batch-size", "15",
                       "--set", "scratchgan.steps=3", "--set", "scratchgan.eval_every=1",
                       "--set", "scratchgan.d_hidden_dim=8", "--set", "scratchgan.d_embedding_dim=8",
                       "--set", "scratchgan.d_embedding_dropout=0.0", "--set", "scratchgan.d_num_layers=2",
                       # Adam turns rounding in near-zero gradients into steps of about the learning rate
                       "--set", "scratchgan.d_learning_rate=0.001"],
        # groups of 3 over 2 processes: a group's samples are split between them
        "gad": ["--trainer", "gad", *oracle, "--epochs", "1", "--batch-size", "15", *SMALL_D,
                "--set", "gad.pretrain_epochs=1", "--set", "gad.group_size=3", "--set", "gad.steps=3",
                "--set", "gad.eval_every=1", "--set", "gad.inner_epochs=2", "--set", "gad.prefix_tokens=2",
                "--set", "gad.nll_oracle_samples=21"],
        "gad_recurrent": ["--trainer", "gad", *corpus_args(corpus), "--batch-size", "15", *SMALL_D,
                          "--set", "gad.pretrain_epochs=1", "--set", "gad.group_size=5", "--set", "gad.steps=2",
                          "--set", "gad.discriminator=recurrent", "--set", "gad.d_hidden_dim=8",
                          "--set", "gad.d_loss=binary", "--set", "gad.advantage=rloo"],
    }
    seqgan_knobs = table["seqgan"][2:]  # the kin share SeqGAN's machinery and its keys
    table["maligan"] = ["--trainer", "maligan", *seqgan_knobs]
    table["maligan_rollouts"] = ["--trainer", "maligan", *seqgan_knobs, "--set", "maligan.rollouts=true"]
    table["maligan_mixing"] = ["--trainer", "maligan", *seqgan_knobs, "--set", "maligan.mixing_tokens=4",
                               "--set", "maligan.mixing_decrease=2", "--set", "maligan.mixing_every=1"]
    table["rankgan"] = ["--trainer", "rankgan", *seqgan_knobs, "--set", "rankgan.reference_size=5",
                        "--set", "rankgan.comparison_size=7"]
    table["leakgan"] = ["--trainer", "leakgan", *seqgan_knobs, "--set", "leakgan.goal_size=4",
                        "--set", "leakgan.step_size=3", "--set", "leakgan.mle_every=1", "--set", "leakgan.mle_epochs=1",
                        # Adam turns rounding in near-zero gradients into steps of about the learning rate
                        "--set", "seqgan.pg_learning_rate=0.001"]
    return table


# Runs stopped early and resumed (under as many processes as the launch has): each must end
# like the uninterrupted run it is named after.
RESUMED = {"seqgan_resumed": ("seqgan", ["--set", "seqgan.adversarial_rounds=1"]),
           "rankgan_resumed": ("rankgan", ["--set", "seqgan.adversarial_rounds=1"]),
           "leakgan_resumed": ("leakgan", ["--set", "seqgan.adversarial_rounds=1"]),
           "vae_resumed": ("vae", ["--epochs", "1"]),
           "gan_wgan_gp_resumed": ("gan_wgan_gp", ["--epochs", "1"]),
           "gumbel_resumed": ("gumbel", ["--set", "gumbel.adversarial_steps=1"]),
           "cot_resumed": ("cot", ["--set", "cot.steps=1"]),
           "scratchgan_resumed": ("scratchgan", ["--set", "scratchgan.steps=1"]),
           "gad_resumed": ("gad", ["--set", "gad.steps=1"])}


def run_all(out: Path, corpus: str, names: list[str]) -> int:
    """Train each named run into out/<name>; the first failing exit code, or 0."""
    table = runs(corpus)
    for name in names or [*table, *RESUMED]:
        if name in RESUMED:
            base, first_leg = RESUMED[name]
            args = ["train", *table[base], *SMALL, "--out", str(out / name)]
            code = main([*args, *first_leg]) or main([*args, "--resume"])
        else:
            code = main(["train", *table[name], *SMALL, "--out", str(out / name)])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(run_all(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
