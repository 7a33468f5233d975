# syntax=docker/dockerfile:1
# ocrserve images; docs/deploy.md has the version matrix and why each pin is what it is.
#   docker build --target cpu -t ocrserve:0.2.0-cpu .
#   docker build --target gpu -t ocrserve:0.2.0-gpu .
#   docker build --target cpu --build-arg MODELS="ch_PP-OCRv2_det ch_PP-OCRv2_rec" ...  (baked in)
# No Docker engine exists on the build machines: this file is linted (hadolint), not built, in CI.

ARG CPU_BASE=python:3.12.8-slim-bookworm
ARG GPU_BASE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# HEALTHCHECK (Docker only; Kubernetes uses its own probes) asks $OCR_SERVER, default
# 127.0.0.1:50051: under TLS point it at the plaintext health port (-e OCR_SERVER=127.0.0.1:50052).

# ---- wheels: the two project packages, built once for both targets
FROM ${CPU_BASE} AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY client ./client
RUN pip wheel --no-cache-dir --no-deps -w /wheels ./client .

# ---- cpu: OpenVINO (the fastest CPU runtime measured) and onnxruntime
FROM ${CPU_BASE} AS cpu
# The ModelService is off: on 0.0.0.0 it needs OCR_ADMIN_TOKEN (docs/security.md).
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 \
    OCR_MODEL_REPOSITORY=/models OCR_CACHE_DIR=/tmp/cache HOME=/tmp \
    OCR_ADMIN_ENABLED=false
COPY --from=wheels /wheels /wheels
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir /wheels/*.whl "openvino==2026.4.1" "onnxruntime==1.32.0" \
    && rm -rf /wheels
# Models: baked in when MODELS names catalog models, else pulled at start into a volume.
ARG MODELS=""
RUN mkdir -p /models && for m in ${MODELS}; do ocr-models pull "$m"; done \
    && rm -rf /tmp/cache && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin ocr \
    && chown -R 10001:10001 /models
USER 10001:10001
EXPOSE 50051 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["ocr-client", "health", "--timeout", "4", "--retries", "0", "--no-progress"]
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="ocrserve" \
      org.opencontainers.image.description="gRPC OCR inference server (CPU: OpenVINO, onnxruntime)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
CMD ["ocr-server"]

# ---- gpu: CUDA 12.6 + cuDNN runtime; paddlepaddle-gpu from Paddle's index, onnxruntime-gpu, torch
FROM ${GPU_BASE} AS gpu
# The base tag pins the Ubuntu release, whose python3 is 3.12; its point releases come as-is.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libgl1 libglib2.0-0 \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
# The ModelService is off: on 0.0.0.0 it needs OCR_ADMIN_TOKEN (docs/security.md).
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 \
    OCR_MODEL_REPOSITORY=/models OCR_CACHE_DIR=/tmp/cache HOME=/tmp \
    OCR_ADMIN_ENABLED=false
COPY --from=wheels /wheels /wheels
# torch + onnx: the torch backend (it converts ONNX graphs itself; paddle2onnx exports
# Paddle-format models for it once, into /models/.exports). ocrserve depends on the CPU
# onnxruntime; onnxruntime-gpu (same import name) replaces it.
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir /wheels/*.whl "torch==2.13.0" "onnx==1.23.2" \
        "paddle2onnx==1.3.1" \
    && pip uninstall -y onnxruntime \
    && pip install --no-cache-dir "onnxruntime-gpu==1.31.1" \
    && pip install --no-cache-dir "paddlepaddle-gpu==3.3.1" \
        -i https://www.paddlepaddle.org.cn/packages/stable/cu126/ \
    && rm -rf /wheels
ARG MODELS=""
RUN mkdir -p /models && for m in ${MODELS}; do ocr-models pull "$m"; done \
    && rm -rf /tmp/cache && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin ocr \
    && chown -R 10001:10001 /models
USER 10001:10001
EXPOSE 50051 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["ocr-client", "health", "--timeout", "4", "--retries", "0", "--no-progress"]
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="ocrserve" \
      org.opencontainers.image.description="gRPC OCR inference server (NVIDIA GPU: Paddle, onnxruntime, torch)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
CMD ["ocr-server"]
