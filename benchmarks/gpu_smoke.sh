#!/usr/bin/env bash
# GPU smoke test: each trainer for a few steps on CUDA (bf16, and fp16 for MLE), printing
# wall time and steps/s from metrics.jsonl. For a machine with an NVIDIA GPU and a CUDA build of
# PyTorch; needs no data beyond the bundled poems and benchmarks/data (the SeqGAN oracle).
#   bash benchmarks/gpu_smoke.sh [--device DEVICE] [--only GLOB] [OUT_DIR]
# --device: default cuda (`--device cpu` is a dry run of the script itself); --only: run only the
# runs whose name matches GLOB, e.g. 'mle-*'. Every run is attempted; the last line names the
# runs that failed, and the exit status is 1 if any did (2 for bad arguments or no GPU).
set -uo pipefail
device=cuda only='*' out=''
while [ $# -gt 0 ]; do
  case $1 in
    --device|--only)
      [ $# -ge 2 ] || { echo "gpu_smoke.sh: $1 needs a value" >&2; exit 2; }
      if [ "$1" = --device ]; then device=$2; else only=$2; fi
      shift 2;;
    -h|--help) sed -n '2,9p' "$0"; exit 0;;
    -*) echo "gpu_smoke.sh: unknown option $1 (see --help)" >&2; exit 2;;
    *) out=$1; shift;;
  esac
done
out=$(realpath -m "${out:-$(mktemp -d)/gpu-smoke}")
mkdir -p "$out" || exit 2
cd "$(dirname "$0")/.." || exit 2  # presets name files relative to the repository root
if [[ $device == cuda* ]]; then
  python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible'; print('GPU:', torch.cuda.get_device_name(0))" || exit 2
fi

failed=() ran=0
run() {  # name, then textgan train arguments; LAUNCH="torchrun ... -m textgan" for several GPUs
  local name=$1; shift
  [[ $name == $only ]] || return 0
  local start end
  ran=$((ran + 1))
  start=$(date +%s.%N)
  if ! ${LAUNCH:-textgan} train --device "$device" --out "$out/$name" "$@" >"$out/$name.log" 2>&1; then
    echo "$name: FAILED (see $out/$name.log)"; tail -3 "$out/$name.log"; failed+=("$name"); return 0
  fi
  end=$(date +%s.%N)
  python - "$out/$name" "$start" "$end" "$name" <<'PY' || { echo "$name: FAILED (no metrics)"; failed+=("$name"); }
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
gpus=1
if [[ $device == cuda ]]; then gpus=$(python -c "import torch; print(torch.cuda.device_count())") || gpus=1; fi
if [ "$gpus" -gt 1 ]; then  # every trainer also runs on all GPUs, one process each
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run mle-lstm-bf16-x$gpus $poems --model lstm --epochs 2 --precision bf16 --set model.hidden_dim=256
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run seqgan-oracle-bf16-x$gpus --config examples/oracle_seqgan.yaml --precision bf16 \
    --set data.oracle_samples=2000 --set train.epochs=1 --set seqgan.pretrain_d_steps=2 --set seqgan.adversarial_rounds=2 --set seqgan.nll_oracle_samples=1000
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run gan-wgan-gp-bf16-x$gpus --config examples/poems_gan_wgan_gp.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
  LAUNCH="torchrun --nproc_per_node $gpus -m textgan" run vae-bf16-x$gpus --config examples/poems_vae.yaml --precision bf16 --set data.max_examples=4000 --set train.epochs=1
fi
echo "logs and runs in $out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu_smoke: ${#failed[@]} of $ran runs FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "gpu_smoke: all $ran runs passed"
