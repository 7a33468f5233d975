"""Getting model files into the repository: downloads, archives, local imports.

Network and archive failures are translated here, once, into ``ocrserve.errors``:
HTTP 404 -> NotFound, other HTTP and network failures -> Unavailable (a partial
download is kept for the next try to resume), a bad checksum -> ChecksumMismatch,
an unsafe or unreadable archive -> InvalidInput.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from tqdm import tqdm

from ocrserve.errors import ChecksumMismatch, InvalidInput, NotFound, Reason, Unavailable
from ocrserve.models.catalog import InputShape, get_entry
from ocrserve.models.repository import InstalledModel, ModelRepository, sha256_file

#: Called as bytes arrive: (bytes so far, total bytes or None when not known).
Progress = Callable[[int, int | None], None]

_CHUNK = 1 << 20
_TIMEOUT_S = 60
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_MODEL_SUFFIXES = (".pdmodel", ".onnx")


def default_cache_dir() -> Path:
    """``$OCR_CACHE_DIR``, else ``./.cache``: downloads and wheels are kept there."""
    return Path(os.environ.get("OCR_CACHE_DIR", ".cache"))


# -- downloads ------------------------------------------------------------------


def download(
    url: str, dest: Path, *, expected_sha256: str | None = None, progress: bool = True,
    on_progress: Progress | None = None, max_bytes: int | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` and return ``dest``.

    An existing ``dest`` is reused when it matches ``expected_sha256`` (or when no
    checksum is given: ``dest`` only ever appears complete).  Bytes arrive in
    ``dest.part``; an interrupted download resumes from it with an HTTP Range
    request, or starts over where the server ignores ranges.  On a checksum
    mismatch the part is deleted and ChecksumMismatch raised; so is it when the file
    is, or grows, larger than ``max_bytes`` (InvalidInput).  ``progress`` draws a bar
    on stderr; ``on_progress`` hears of every chunk."""
    expected = expected_sha256.lower() if expected_sha256 else None
    if dest.is_file():
        if expected is None or sha256_file(dest) == expected:
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        actual = _fetch_to_part(url, part, progress, on_progress, max_bytes).hexdigest()
    except _TooBig as exc:
        part.unlink(missing_ok=True)
        raise InvalidInput(f"{url}: {exc}, more than the {max_bytes} bytes allowed "
                           "(max_model_mb)") from None
    if expected is not None and actual != expected:
        part.unlink()
        raise ChecksumMismatch(f"{url}: sha256 is {actual}, expected {expected}")
    os.replace(part, dest)
    return dest


def _digest_of(part: Path, offset: int) -> hashlib._Hash:
    """The running sha256 to continue from: of the part's bytes when resuming."""
    if not offset:
        return hashlib.sha256()
    with part.open("rb") as f:
        return hashlib.file_digest(f, "sha256")


class _TooBig(Exception):
    """The download passed its size bound."""


class _RangeRefused(Exception):
    """HTTP 416: the part is complete or longer than the file now is."""


def _open(url: str, offset: int) -> HTTPResponse:
    """Open ``url``, asking for the bytes from ``offset`` on when it is not 0."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response: HTTPResponse = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _RangeRefused from None
        if exc.code == 404:
            raise NotFound(f"{url}: HTTP 404 not found", reason=Reason.MODEL_NOT_FOUND) from None
        raise Unavailable(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except ValueError as exc:
        raise InvalidInput(f"bad URL {url!r}: {exc}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"{url}: {exc}") from None
    return response


def _open_continuing(url: str, part: Path) -> tuple[HTTPResponse, int, int | None]:
    """Open ``url`` to complete ``part``.  Returns the response, the offset in the
    file where its body starts (0 when starting over) and the file size if known."""
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset)
    except _RangeRefused:
        response, offset = _open(url, 0), 0
    if offset and response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match and int(match[1]) == offset:
            return response, offset, None if match[2] == "*" else int(match[2])
        response.close()  # a range we did not ask for
        response = _open(url, 0)
    length = response.headers.get("Content-Length", "")
    return response, 0, int(length) if length.isdigit() else None


def _fetch_to_part(url: str, part: Path, progress: bool, on_progress: Progress | None,
                   max_bytes: int | None) -> hashlib._Hash:
    """Complete ``part`` from ``url``; return the sha256 of all its bytes.  A size
    bound is checked against the announced length first, then against what arrives
    (a server may announce none, or lie)."""
    limit = sys.maxsize if max_bytes is None else max_bytes
    response, offset, total = _open_continuing(url, part)
    if total is not None and total > limit:
        response.close()
        raise _TooBig(f"it is {total} bytes")
    digest = _digest_of(part, offset)
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name.removesuffix(".part"),
        file=sys.stderr,
        disable=not progress,
    )
    with response, bar, part.open("ab" if offset else "wb") as out:
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                if out.tell() > limit:
                    raise _TooBig(f"it is at least {out.tell()} bytes")
                digest.update(chunk)
                bar.update(len(chunk))
                if on_progress is not None:
                    on_progress(out.tell(), total)
        except (OSError, HTTPException) as exc:
            raise Unavailable(f"{url}: interrupted ({exc!r}); run again to resume") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise Unavailable(f"{url}: got {size} of {total} bytes; run again to resume")
    return digest


# -- archives -------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one pull may bring in, so a hostile or broken source cannot fill
    the disk: the download's bytes, the unpacked bytes and the archive's members.  The
    defaults match ``Settings.max_model_mb`` and ``Settings.max_archive_members``."""

    max_bytes: int = 1024 << 20
    max_members: int = 1000

    @classmethod
    def from_mb(cls, max_model_mb: int, max_members: int) -> ArchiveLimits:
        return cls(max_bytes=max_model_mb << 20, max_members=max_members)


def _check_member(member: tarfile.TarInfo) -> None:
    """Reject members that would write outside the extraction root or are anything
    but plain files and folders: no model archive needs links or special files, and
    refusing them outright leaves no link to reason about."""
    name = member.name
    if posixpath.isabs(name) or ".." in name.split("/"):
        raise InvalidInput(f"unsafe path in archive: {name!r}")
    if member.issym() or member.islnk():
        raise InvalidInput(f"link in archive: {name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir()):  # character, block, FIFO, ...
        raise InvalidInput(f"device, FIFO or other special file in archive: {name!r}")


def _checked_members(tar: tarfile.TarFile, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    """Read the members one header at a time, checking each and the running totals as
    it comes: an archive of millions of tiny members (or one member claiming a huge
    size) is refused at the first member past a limit, not after ``getmembers()`` has
    decompressed and indexed all of it."""
    members: list[tarfile.TarInfo] = []
    unpacked = 0
    for member in tar:
        _check_member(member)
        members.append(member)
        if len(members) > limits.max_members:
            raise InvalidInput(f"archive has more than the {limits.max_members} members "
                               "allowed (max_archive_members)")
        unpacked += member.size if member.isfile() else 0
        if unpacked > limits.max_bytes:
            raise InvalidInput(f"archive unpacks to at least {unpacked} bytes, more than the "
                               f"{limits.max_bytes} allowed (max_model_mb)")
    return members


def safe_extract_tar(tar_path: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()
                     ) -> Path:
    """Extract a (compressed) tar into ``dest``; return the one folder holding a model.

    Every member and the totals are checked before anything is written, reading no
    further than the first member past a limit; the ``data`` extraction filter
    (Python 3.11.4+) then checks again what is really written, so one missed case in
    either check alone does not open a hole."""
    dest.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    try:
        with tarfile.open(tar_path) as tar:
            members = _checked_members(tar, limits)
            tar.extractall(root, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise InvalidInput(f"{tar_path.name}: unsafe archive ({exc})") from None
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidInput(f"{tar_path.name}: not a readable tar archive ({exc})") from None
    return find_model_dir(Path(root))


def find_model_dir(root: Path) -> Path:
    """The one folder under ``root`` (itself included) holding model files, e.g. the
    ``NAME_infer/`` folder of an official tarball."""
    folders = {p.parent for p in root.rglob("*") if p.suffix in _MODEL_SUFFIXES and p.is_file()}
    if len(folders) != 1:
        found = sorted(str(f.relative_to(root)) for f in folders)
        raise InvalidInput(f"expected one folder with model files, found {found or 'none'}")
    return folders.pop()


# -- into the repository ----------------------------------------------------------


def _cache_name(url: str) -> str:
    """A cache file name unique to ``url`` that still shows the archive's name."""
    basename = posixpath.basename(urllib.parse.urlsplit(url).path)
    if not basename:
        raise InvalidInput(f"URL {url!r} names no file")
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{basename}"


def archive_path(url: str, cache_dir: Path | None = None) -> Path:
    """Where :func:`pull` keeps the archive it downloads from ``url``."""
    return (cache_dir or default_cache_dir()) / "downloads" / _cache_name(url)


def pull(
    repo: ModelRepository,
    name: str,
    url: str | None = None,
    *,
    sha256: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    on_progress: Progress | None = None,
    limits: ArchiveLimits = ArchiveLimits(),
) -> InstalledModel:
    """Download a catalog model's inference tarball (the official one unless ``url``
    is given), extract it safely within ``limits`` and install it as the next version
    of ``name``."""
    entry = get_entry(name)  # pull knows catalog names only; `import` takes the others
    url = url or entry.inference_url
    archive = download(
        url, archive_path(url, cache_dir), expected_sha256=sha256, progress=progress,
        on_progress=on_progress, max_bytes=limits.max_bytes,
    )
    with tempfile.TemporaryDirectory(prefix="ocr-models-") as tmp:
        model_dir = safe_extract_tar(archive, Path(tmp), limits)
        return repo.install_dir(name, model_dir, source=url)


def import_path(
    repo: ModelRepository,
    name: str,
    path: Path,
    *,
    kind: str | None = None,
    input_shape: InputShape | None = None,
    dictionary: Path | None = None,
) -> InstalledModel:
    """Install a local model: a folder, a .tar/.tar.gz or a single .onnx file."""
    if not path.exists():
        raise NotFound(f"{path} does not exist", reason=Reason.MODEL_NOT_FOUND)

    def install(model_dir: Path) -> InstalledModel:
        return repo.install_dir(
            name,
            model_dir,
            source=str(path.resolve()),
            kind=kind,
            input_shape=input_shape,
            dictionary=dictionary,
        )

    if path.is_dir():
        return install(path)
    with tempfile.TemporaryDirectory(prefix="ocr-models-") as tmp:
        if path.suffix == ".onnx":
            os.symlink(path.resolve(), Path(tmp) / path.name)
            return install(Path(tmp))
        if tarfile.is_tarfile(path):
            return install(safe_extract_tar(path, Path(tmp)))
    raise InvalidInput(f"{path}: expected a folder, a tar archive or an .onnx file")
