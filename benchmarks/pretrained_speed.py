"""MLE step time of GPT-2-shaped generators, and an estimate for the real gpt2 (124M) from it.

No weights are downloaded: the models are random GPT-2s with gpt2's width (768), heads (12) and
vocabulary (50,257) but 1 and 2 layers. Their step times give the cost of the embedding/output
layer and of one block; gpt2's 12 blocks are extrapolated linearly (an estimate, not a measurement).
The step is textgan's MLEStepper (fused loss, Adam). Usage:
    python benchmarks/pretrained_speed.py [--threads 1] [--batch-size 8] [--length 32] [--steps 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import GPT2Config

from textgan.data.encoding import EncodedSplit
from textgan.models.transformer import TransformerGenerator
from textgan.training.mle import MLEStepper
from textgan.training.runtime import Runtime

VOCAB, WIDTH, HEADS, GPT2_LAYERS = 50_257, 768, 12, 12


def step_seconds(layers: int, args: argparse.Namespace) -> tuple[float, int]:
    """Best seconds per MLE step and the parameter count of a `layers`-block GPT-2."""
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=1024, n_embd=WIDTH, n_layer=layers, n_head=HEADS,
                        bos_token_id=0, eos_token_id=0)
    generator = TransformerGenerator(VOCAB, args.length, 0, 0, 0, hf_config=config)
    rows = args.batch_size * (args.steps + 1)
    split = EncodedSplit(torch.randint(1, VOCAB, (rows, args.length)), torch.zeros(rows, dtype=torch.long))
    stepper = MLEStepper(generator, Runtime(torch.device("cpu"), args.precision), 1e-4, 0.0, 1.0)
    times = []
    for i in range(args.steps + 1):  # the first step warms up (allocations, Adam state)
        start = time.perf_counter()
        stepper.step(split, torch.arange(i * args.batch_size, (i + 1) * args.batch_size))
        times.append(time.perf_counter() - start)
    return min(times[1:]), sum(p.numel() for p in generator.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    one, params_one = step_seconds(1, args)
    two, params_two = step_seconds(2, args)
    per_block, per_block_params = two - one, params_two - params_one
    gpt2 = one + (GPT2_LAYERS - 1) * per_block
    gpt2_params = params_one + (GPT2_LAYERS - 1) * per_block_params
    tokens = args.batch_size * args.length
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, precision {args.precision}, "
          f"batch {args.batch_size} x {args.length} tokens")
    print(f"1 block: {params_one / 1e6:.1f}M parameters, {one:.2f} s/step; 2 blocks: {params_two / 1e6:.1f}M, "
          f"{two:.2f} s/step")
    print(f"estimate for gpt2 ({gpt2_params / 1e6:.1f}M parameters, 12 blocks): {gpt2:.2f} s/step, "
          f"{tokens / gpt2:,.0f} tokens/s")
    print(f"achieved {6 * params_two * tokens / two / 1e9:.1f} GFLOP/s (6 x parameters x tokens)")


if __name__ == "__main__":
    main()
