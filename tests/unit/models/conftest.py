"""Fixtures of the model tests: a real HTTP file server with Range support."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1; honours ``Range: bytes=N-``
    when ``ranges`` is true and records every Range header it receives.  With
    ``content_length`` false it announces no length (HTTP/1.0: the close ends the body)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.content_length = True
        self.range_headers: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _RangeHandler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        if requested:
            self.server.range_headers.append(requested)
        if not (requested and self.server.ranges):
            self._send(200, body, {})
            return
        start = int(requested.removeprefix("bytes=").removesuffix("-"))
        if start >= len(body):
            self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"})
            return
        content_range = f"bytes {start}-{len(body) - 1}/{len(body)}"
        self._send(206, body[start:], {"Content-Range": content_range})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        if self.server.content_length:
            headers = {**headers, "Content-Length": str(len(body))}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
