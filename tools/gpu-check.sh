#!/usr/bin/env bash
# Check the CUDA image on a GPU machine (a few minutes at most):
#   docker run --rm --gpus all localhost/micro-attention:cuda gpu-check.sh
#   docker compose --profile gpu run --rm demo-gpu gpu-check.sh
# 1. `caffe device_query -gpu 0`: the GPU is seen (fails clearly without one);
# 2. tools/gpu_check.py: each of the three nets built on GPU 0, one forward +
#    backward, compared with CPU mode on the same weights and input: every
#    blob and learnable gradient within relative error 1e-3 (L2 norm);
# 3. `caffe time -gpu 0` of the three nets (microattention summary --gpu 0
#    --iterations 20; writes no file).
# It prints, step by step: the GPU's name, memory and compute capability, with
# the architectures this build has SASS and PTX for; one line per net, "NET GPU
# 0 vs CPU: N blobs and gradients, largest relative error E (what) ok" (or
# "ABOVE 1e-03", with the worst blobs listed); the table of forward/backward
# milliseconds per net on the GPU.
# Pass: exit status 0 and the last line "gpu-check: GPU 0 passed". Any step
# failing stops the script with exit status 1 and a "gpu-check: ..." line on
# stderr saying which (no GPU seen, GPU differs from CPU, caffe time failed).
# MA_GPU picks another GPU.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gpu=${MA_GPU:-0}
export GLOG_logtostderr=1

echo "== 1/3 caffe device_query -gpu $gpu"
if ! query=$(caffe device_query -gpu "$gpu" 2>&1); then
  # glog's fatal line (F<date> ... file:line] reason), without the stack trace
  reason=$(echo "$query" | grep -m 1 -E '^F[0-9]{4} ' | sed 's/^[^]]*\] //')
  echo "caffe: ${reason:-$(echo "$query" | tail -n 1)}" >&2
  cat >&2 <<EOF
gpu-check: Caffe sees no GPU $gpu. Run the CUDA image with the NVIDIA Container
Toolkit on a machine with an NVIDIA driver for CUDA 11.8 (520 or newer;
450.80.02 or newer through CUDA 11 minor-version compatibility), e.g.
  docker run --rm --gpus all localhost/micro-attention:cuda gpu-check.sh
  docker compose --profile gpu run --rm demo-gpu gpu-check.sh
(nvidia-smi on the host shows whether the driver sees the GPU.)
EOF
  exit 1
fi
echo "$query" | grep -E "Device id|Major revision|Minor revision|Name|Total global memory" \
  | sed 's/^.*\] //'
if [ -n "${MA_CAFFE_CUDA_ARCH_BIN:-}" ]; then
  major=$(echo "$query" | sed -n 's/.*Major revision number: *\([0-9]*\).*/\1/p' | head -n 1)
  minor=$(echo "$query" | sed -n 's/.*Minor revision number: *\([0-9]*\).*/\1/p' | head -n 1)
  echo "compute capability $major.$minor; this build has SASS for ${MA_CAFFE_CUDA_ARCH_BIN}" \
       "and PTX for ${MA_CAFFE_CUDA_ARCH_PTX:-none}"
fi

echo "== 2/3 GPU $gpu against CPU mode (three nets, forward + backward)"
python3 "$here/gpu_check.py" --gpu "$gpu" || { echo "gpu-check: FAILED (GPU differs from CPU)" >&2; exit 1; }

echo "== 3/3 caffe time -gpu $gpu (three nets, TRAIN phase, forward + backward)"
python3 -m microattention summary --gpu "$gpu" --iterations 20 \
  || { echo "gpu-check: FAILED (caffe time on GPU $gpu)" >&2; exit 1; }
echo "gpu-check: GPU $gpu passed"
