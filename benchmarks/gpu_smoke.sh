#!/usr/bin/env bash
# GPU smoke test: each trainer for a few steps on CUDA (bf16, and fp16 for MLE), printing
# wall time and steps/s from metrics.jsonl. For a machine with an NVIDIA GPU and a CUDA build of
# PyTorch; needs no data beyond the bundled poems (and a random oracle).
#   bash benchmarks/gpu_smoke.sh [OUT_DIR]
set -euo pipefail
out=${1:-$(mktemp -d)/gpu-smoke}
mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible'; print('GPU:', torch.cuda.get_device_name(0))"

run() {  # name, then textgan train arguments; LAUNCH="torchrun ... -m textgan" for several GPUs
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  ${LAUNCH:-textgan} train --device cuda --out "$out/$name" "$@" >"$out/$name.log" 2>&1 || { echo "$name: FAILED (see $out/$name.log)"; tail -3 "$out/$name.log"; return 0; }
  end=$(date +%s.%N)
  python - "$out/$name" "$start" "$end" "$name" <<'PY'
import json, sys
run, start, end, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
steps = records[-1]["step"]
print(f"{name:28s} {steps:6d} steps in {end - start:7.1f} s  ({steps / (end - start):8.1f} steps/s incl. start-up)")
PY
}

poems="--corpus poems --tokenizer word --set tokenizer.max_length=25 --set data.max_examples=4000"
run mle-lstm-bf16        $poems --model lstm --epochs 2 --precision bf16 --set model.hidden_dim=256
run mle-lstm-fp16        $poems --model lstm --epochs 2 --precision fp16 --set model.hidden_dim=256
run mle-transformer-bf16 $poems --model transformer --epochs 2 --precision bf16 --set model.embedding_dim=256 --set model.num_layers=4
run seqgan-oracle-bf16   --config examples/oracle_seqgan.yaml --precision bf16 --set data.oracle_samples=2000 \
                         --set train.epochs=1 --set seqgan.pretrain_d_steps=2 --set seqgan.adversarial_rounds=2 --set seqgan.nll_oracle_samples=1000
run gan-wgan-gp-bf16     --config examples/poems_gan_wgan_gp.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
run vae-bf16             --config examples/poems_vae.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
run gan-wgan-gp-fp16     --config examples/poems_gan_wgan_gp.yaml --precision fp16 --set data.max_examples=4000 --set train.epochs=1
run vae-fp16             --config examples/poems_vae.yaml --precision fp16 --set data.max_examples=4000 --set train.epochs=1
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then  # every trainer also runs on all GPUs, one process each
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run mle-lstm-bf16-x$gpus $poems --model lstm --epochs 2 --precision bf16 --set model.hidden_dim=256
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run seqgan-oracle-bf16-x$gpus --config examples/oracle_seqgan.yaml --precision bf16 \
    --set data.oracle_samples=2000 --set train.epochs=1 --set seqgan.pretrain_d_steps=2 --set seqgan.adversarial_rounds=2 --set seqgan.nll_oracle_samples=1000
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run gan-wgan-gp-bf16-x$gpus --config examples/poems_gan_wgan_gp.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run vae-bf16-x$gpus --config examples/poems_vae.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
fi
echo "logs and runs in $out"
