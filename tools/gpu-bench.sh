#!/usr/bin/env bash
# The GPU check and benchmark, in one go, for the lent GPU machine (issue 13):
#   run there from the repository root:  bash tools/gpu-bench.sh [WHEELS_DIR]
# It installs the project without touching the machine's torch (2.11+cu130 there),
# adds the few wheels the machine lacks from WHEELS_DIR (default ./shared/wheels:
# pyclipper, prometheus-client, nvidia-ml-py), runs the torch backend's tests on
# CUDA, the bare batched-model ceiling (ocr-bench ceiling), then full OCR through gRPC
# with --devices cuda:0 --backend torch at rising concurrency and with streams, and ends
# with one table: every issue-13 target beside its figure.  Nothing needs the network.
# Written without a GPU to run it on: the GPU figures are still to be measured.
set -euo pipefail
WHEELS=${1:-shared/wheels}
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS"
python3 -m pip install -q --no-deps -e ./client -e .
python3 -m pip install -q pyclipper prometheus-client nvidia-ml-py 2>/dev/null || true
python3 - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0))
PY
# The machine has no network: carry ./models (make models, about 30 MB) or it installs
# the defaults from the wheels in WHEELS_DIR.
export OCR_MODEL_REPOSITORY=${OCR_MODEL_REPOSITORY:-$PWD/models}
ls "$OCR_MODEL_REPOSITORY"/*/*/manifest.json >/dev/null 2>&1 \
    || python3 -m ocrserve.models.cli install-defaults
# Every step keeps going when one fails and leaves its --json document in RESULTS; the
# last step prints the one table of issue 13's targets (ocrserve/bench/gpu_summary.py).
RESULTS=${OUT:-/tmp/gpu-bench}
mkdir -p "$RESULTS"
set +e
python3 -m pytest -q -p no:cacheprovider tests/integration/test_torch_runtime.py \
    tests/unit/server/test_memory.py
echo "{\"exit_code\": $?}" > "$RESULTS/tests.json"
# Fidelity: the pages read on CUDA (torch) and on the CPU (onnxruntime), in process; issue 13
# wants the same text on >= 99 % of lines. The images: 720p frames with ~10 lines, the
# class the targets are stated on (ocr-bench --image-set 720p; the machine has no fonts,
# so carry .cache/images-720p, which make test or any ocr-bench run here generates).
IMAGES=${OCR_BENCH_IMAGES:-.cache/images-720p}
python3 -m ocrserve.bench.cli core --model-set v2-onnx --repeat 1 --images "$IMAGES" \
    --server-flags "--devices cuda:0 --backend torch" --versus "--backend onnxruntime" \
    --json > "$RESULTS/fidelity.json"
# The bare batched-model ceiling at the batch sizes the server below is given.
python3 -m ocrserve.bench.cli ceiling --backend torch --device cuda:0 \
    --det-batch 8 --cls-batch 64 --rec-batch 64 --lines 10 --json > "$RESULTS/ceiling.json"
FLAGS="--devices cuda:0 --backend torch --workers 8 --rec-max-batch-size 64 --cls-max-batch-size 64 --det-max-batch-size 8"
# One connection and eight at each level: issue 13 wants one to reach >= 80 % of many.
python3 -m ocrserve.bench.cli load --spawn "$FLAGS" --images "$IMAGES" \
    --concurrency 1,8,64,256 --connections 1,8 --duration 10 --json > "$RESULTS/load.json"
python3 -m ocrserve.bench.cli streams --spawn "$FLAGS" --streams 8,32 --duration 10 \
    --policy latest --json > "$RESULTS/streams.json"
python3 -m ocrserve.bench.gpu_summary "$RESULTS"
