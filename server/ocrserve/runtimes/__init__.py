"""Inference backends, chosen by a string key and imported lazily so that a
server without Paddle (or OpenVINO) installed never imports it."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.runtimes.base import Runtime, RuntimeOptions

BACKENDS = {
    "paddle": "ocrserve.runtimes.paddle:load",
    "onnxruntime": "ocrserve.runtimes.onnxruntime:load",
    "openvino": "ocrserve.runtimes.openvino:load",
    "torch": "ocrserve.runtimes.torch:load",
}

#: The backend key that lets the server choose (see :func:`resolve_backend`).
AUTO = "auto"

# Which backend runs a model format when OpenVINO cannot.
DEFAULT_BACKEND_FOR_FORMAT = {"paddle": "paddle", "onnx": "onnxruntime"}


def resolve_backend(backend: str, model_format: str, device: str,
                    openvino_installed: bool | None = None) -> str:
    """The backend that runs a ``model_format`` model on ``device``.

    ``auto`` takes OpenVINO on a CPU when it is installed: it reads both formats and
    was the fastest on every model and both CPUs we measured (BENCHMARKS.md,
    "Runtimes on CPU"), with outputs within 4e-6 of the others.  Otherwise (a GPU, or
    no OpenVINO) the format's own runtime.
    """
    if backend != AUTO:
        return backend
    if openvino_installed is None:
        openvino_installed = importlib.util.find_spec("openvino") is not None
    if device == "cpu" and openvino_installed:
        return "openvino"
    return DEFAULT_BACKEND_FOR_FORMAT.get(model_format, backend)


def load_runtime(
    backend: str, model_dir: Path, model_format: str, options: RuntimeOptions
) -> Runtime:
    """Load ``model_dir`` with ``backend`` (``auto``: see :func:`resolve_backend`).

    Raises :class:`InvalidInput` for an unknown backend and :class:`ModelError`
    when the backend's library is not installed or the model does not load.
    """
    key = resolve_backend(backend, model_format, options.device)
    if key not in BACKENDS:
        raise InvalidInput(f"unknown runtime backend {key!r}; known: {AUTO}, {', '.join(BACKENDS)}")
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


__all__ = ["AUTO", "BACKENDS", "Runtime", "RuntimeOptions", "load_runtime", "resolve_backend"]
