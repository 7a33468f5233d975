"""A model tarball in the official layout (``NAME_infer/inference.*``), served over
real HTTP on 127.0.0.1: what ``ocr-models pull`` and ``PullModel`` fetch in tests."""

from __future__ import annotations

import contextlib
import functools
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PADDLE_FILES = ("inference.pdmodel", "inference.pdiparams", "inference.pdiparams.info")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def served_tarball(model_dir: Path, name: str, www: Path) -> Iterator[str]:
    """Serve ``model_dir``'s Paddle files as ``NAME_infer.tar``; yields its URL."""
    www.mkdir(parents=True, exist_ok=True)
    with tarfile.open(www / f"{name}_infer.tar", "w") as tar:
        for filename in PADDLE_FILES:
            tar.add(model_dir / filename, arcname=f"{name}_infer/{filename}")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}_infer.tar"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
