"""Inference backends, chosen by a string key and imported lazily so that a
server without Paddle installed never imports it."""

from __future__ import annotations

import importlib
from pathlib import Path

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.runtimes.base import Runtime, RuntimeOptions

BACKENDS = {
    "paddle": "ocrserve.runtimes.paddle:load",
    "onnxruntime": "ocrserve.runtimes.onnxruntime:load",
}

# Which backend runs a model when the configuration does not say.
DEFAULT_BACKEND_FOR_FORMAT = {"paddle": "paddle", "onnx": "onnxruntime"}


def load_runtime(
    backend: str | None, model_dir: Path, model_format: str, options: RuntimeOptions
) -> Runtime:
    """Load ``model_dir`` with ``backend`` (or the format's default backend).

    Raises :class:`InvalidInput` for an unknown backend and :class:`ModelError`
    when the backend's library is not installed or the model does not load.
    """
    key = backend or DEFAULT_BACKEND_FOR_FORMAT.get(model_format)
    if key not in BACKENDS:
        raise InvalidInput(f"unknown runtime backend {key!r}; known: {', '.join(BACKENDS)}")
    module_name, attr = BACKENDS[key].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("ocrserve"):
            raise
        raise ModelError(f"the {key} backend needs the {exc.name!r} package: {exc}") from exc
    loader = getattr(module, attr)
    runtime: Runtime = loader(model_dir, model_format, options)
    return runtime


__all__ = ["BACKENDS", "Runtime", "RuntimeOptions", "load_runtime"]
