#!/usr/bin/env bash
# GPU smoke test: every trainer (mle with LSTM and GPT-2, seqgan, maligan, rankgan, leakgan, gumbel
# with the relational-memory generator, cot, gan, vae) on the GPU in fp32, bf16 and fp16, each
# checked against the CPU run of the same seed; each killed (SIGKILL) after its first checkpoint
# and resumed; resumes across precisions and device types; torchrun with 2 processes where 2
# GPUs are visible; sample, evaluate and chat on the GPU. The tolerances are stated in
# benchmarks/gpu_smoke.py. For a machine with an NVIDIA GPU and a CUDA build of PyTorch; needs no
# data beyond the bundled corpora. Sized to finish within 8 minutes on one H100 (not yet timed on one).
#   bash benchmarks/gpu_smoke.sh [--device DEVICE] [--only GLOB] [--quick] [OUT_DIR]
# --device: default cuda (`--device cpu` is a dry run of the script itself); --only: run only the
# checks whose name matches GLOB, e.g. 'mle-*' or '*-resume'; --quick: smaller runs. Every check
# is attempted; the last line names the ones that failed, and the exit status is 1 if any did
# (2 for bad arguments or no GPU).
set -uo pipefail
device=cuda only='*' out='' quick=()
while [ $# -gt 0 ]; do
  case $1 in
    --device|--only)
      [ $# -ge 2 ] || { echo "gpu_smoke.sh: $1 needs a value" >&2; exit 2; }
      if [ "$1" = --device ]; then device=$2; else only=$2; fi
      shift 2;;
    --quick) quick=(--quick); shift;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    -*) echo "gpu_smoke.sh: unknown option $1 (see --help)" >&2; exit 2;;
    *) out=$1; shift;;
  esac
done
out=$(realpath -m "${out:-$(mktemp -d)/gpu-smoke}")
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" benchmarks/gpu_smoke.py "$out" --device "$device" --only "$only" "${quick[@]}"
