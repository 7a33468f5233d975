"""Safe tar extraction and resumable, checksummed downloads (real local HTTP server)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from ocrserve.errors import ChecksumMismatch, InvalidInput, NotFound
from ocrserve.models.download import ArchiveLimits, download, find_model_dir, safe_extract_tar

if TYPE_CHECKING:
    from conftest import FileServer

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def build_tar(path: Path, members: list[tarfile.TarInfo], mode: Literal["w", "w:gz"] = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for member in members:
            data = b"x" * member.size if member.isfile() else None
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, size: int = 4) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = size
    return member


def link_member(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = target
    return member


def infer_members(folder: str = "det_infer") -> list[tarfile.TarInfo]:
    suffixes = (".pdmodel", ".pdiparams", ".pdiparams.info")
    return [file_member(f"{folder}/inference{suffix}") for suffix in suffixes]


# -- extraction -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_official_layout_extracts_to_its_infer_folder(
    tmp_path: Path, mode: Literal["w", "w:gz"]
) -> None:
    archive = build_tar(tmp_path / "det_infer.tar", infer_members(), mode)
    found = safe_extract_tar(archive, tmp_path / "out")
    assert found == (tmp_path / "out" / "det_infer").resolve()
    assert sorted(p.name for p in found.iterdir()) == [
        "inference.pdiparams", "inference.pdiparams.info", "inference.pdmodel"
    ]


def special_member(name: str, kind: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    return member


@pytest.mark.parametrize(
    "bad",
    [
        file_member("../x"),
        file_member("det_infer/../../x"),
        file_member("/tmp/absolute-x"),
        link_member("det_infer/link", "../../x", tarfile.SYMTYPE),
        link_member("det_infer/link", "/etc/passwd", tarfile.SYMTYPE),
        link_member("det_infer/hard", "../x", tarfile.LNKTYPE),
        special_member("det_infer/fifo", tarfile.FIFOTYPE),
        special_member("det_infer/dev", tarfile.CHRTYPE),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-up", "symlink-abs", "hardlink-up",
         "fifo", "chardev"],
)
def test_unsafe_members_are_rejected_before_anything_is_written(
    tmp_path: Path, bad: tarfile.TarInfo
) -> None:
    archive = build_tar(tmp_path / "evil.tar", [*infer_members(), bad])
    work = tmp_path / "work"
    dest = work / "a" / "b"
    with pytest.raises(InvalidInput):
        safe_extract_tar(archive, dest)
    assert [p for p in work.rglob("*") if p.is_file() or p.is_symlink()] == []
    assert not (tmp_path / "x").exists()
    assert not Path("/tmp/absolute-x").exists()


def test_a_link_through_a_link_cannot_escape(tmp_path: Path) -> None:
    """Each link alone stays inside; followed on disk the second leaves: the
    extraction filter catches what a name-only check cannot."""
    archive = build_tar(tmp_path / "evil.tar", [
        *infer_members(),
        link_member("det_infer/up", "..", tarfile.SYMTYPE),  # -> the extraction root
        link_member("escape", "det_infer/up/..", tarfile.SYMTYPE),  # -> above it
        file_member("escape/x"),
    ])
    dest = tmp_path / "work" / "dest"
    with pytest.raises(InvalidInput):
        safe_extract_tar(archive, dest)
    assert not (tmp_path / "work" / "x").exists()


@pytest.mark.parametrize(
    "bad",
    [
        link_member("det_infer/alias", "inference.pdmodel", tarfile.SYMTYPE),
        link_member("det_infer/alias", "det_infer/inference.pdmodel", tarfile.LNKTYPE),
        special_member("det_infer/block", tarfile.BLKTYPE),
    ],
    ids=["symlink-inside", "hardlink-inside", "blockdev"],
)
def test_links_and_devices_are_refused_even_pointing_inside(
    tmp_path: Path, bad: tarfile.TarInfo
) -> None:
    archive = build_tar(tmp_path / "links.tar", [*infer_members(), bad])
    with pytest.raises(InvalidInput, match=r"link in archive|special file"):
        safe_extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "det_infer").exists()


def test_archives_over_the_size_or_member_bound_are_refused(tmp_path: Path) -> None:
    big = build_tar(tmp_path / "big.tar", [*infer_members(), file_member("det_infer/pad", 2000)])
    with pytest.raises(InvalidInput, match=r"unpacks to at least 2012 bytes.*max_model_mb"):
        safe_extract_tar(big, tmp_path / "a", ArchiveLimits(max_bytes=2000, max_members=10))
    many = build_tar(tmp_path / "many.tar",
                     [*infer_members(), *(file_member(f"det_infer/f{i}") for i in range(8))])
    with pytest.raises(InvalidInput, match=r"more than the 10 members.*max_archive_members"):
        safe_extract_tar(many, tmp_path / "b", ArchiveLimits(max_bytes=1 << 20, max_members=10))
    for out in ("a", "b"):
        assert list((tmp_path / out).iterdir()) == []
    found = safe_extract_tar(big, tmp_path / "c", ArchiveLimits(max_bytes=2012, max_members=4))
    assert (found / "pad").stat().st_size == 2000


def truncated_flood(path: Path) -> Path:
    """A gzipped tar of a model, 2000 bytes of padding and 5000 tiny members, cut in half:
    reading every header (``getmembers()``) hits the cut, so only a walk that stops at
    the limit can refuse it for the limit."""
    flood = [*infer_members(), file_member("det_infer/pad", 2000),
             *(file_member(f"det_infer/f{i}") for i in range(5000))]
    build_tar(path, flood, "w:gz")
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    return path


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ArchiveLimits(max_bytes=1 << 20, max_members=10),
         r"more than the 10 members allowed \(max_archive_members\)"),
        (ArchiveLimits(max_bytes=2000, max_members=100_000),
         r"unpacks to at least 2012 bytes, more than the 2000 allowed \(max_model_mb\)"),
    ],
    ids=["members", "bytes"],
)
def test_a_limit_stops_the_walk_at_the_first_member_past_it(
    tmp_path: Path, limits: ArchiveLimits, message: str
) -> None:
    archive = truncated_flood(tmp_path / "flood.tar.gz")
    with pytest.raises(InvalidInput, match=message):
        safe_extract_tar(archive, tmp_path / "out", limits)
    assert list((tmp_path / "out").iterdir()) == []
    # Read to the end, the same archive fails on its cut: the refusal above came first.
    with pytest.raises(InvalidInput, match="not a readable tar archive"):
        safe_extract_tar(archive, tmp_path / "all", ArchiveLimits(max_members=100_000))


def test_archives_without_exactly_one_model_folder_are_rejected(tmp_path: Path) -> None:
    empty = build_tar(tmp_path / "none.tar", [file_member("README")])
    with pytest.raises(InvalidInput, match="found none"):
        safe_extract_tar(empty, tmp_path / "a")
    two = build_tar(tmp_path / "two.tar", infer_members("a_infer") + infer_members("b_infer"))
    with pytest.raises(InvalidInput, match="a_infer"):
        safe_extract_tar(two, tmp_path / "b")
    (tmp_path / "garbage.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InvalidInput, match="not a readable tar"):
        safe_extract_tar(tmp_path / "garbage.tar", tmp_path / "c")


def test_model_at_the_top_of_a_folder_is_found(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"")
    assert find_model_dir(tmp_path) == tmp_path


# -- downloads --------------------------------------------------------------------


def test_download_verifies_and_renames(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/m.tar"] = PAYLOAD
    dest = tmp_path / "cache" / "m.tar"
    assert download(file_server.url("/m.tar"), dest, expected_sha256=PAYLOAD_SHA) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("m.tar.part").exists()
    assert file_server.range_headers == []


def test_checksum_mismatch_removes_the_part(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/m.tar"] = PAYLOAD
    dest = tmp_path / "m.tar"
    with pytest.raises(ChecksumMismatch, match=PAYLOAD_SHA):
        download(file_server.url("/m.tar"), dest, expected_sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_partial_download_resumes_with_a_range_request(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.files["/m.tar"] = PAYLOAD
    dest = tmp_path / "m.tar"
    dest.with_name("m.tar.part").write_bytes(PAYLOAD[:300_000])
    download(file_server.url("/m.tar"), dest, expected_sha256=PAYLOAD_SHA, progress=False)
    assert file_server.range_headers == ["bytes=300000-"]
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_ranges_restarts_the_download(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.files["/m.tar"] = PAYLOAD
    file_server.ranges = False
    dest = tmp_path / "m.tar"
    dest.with_name("m.tar.part").write_bytes(b"stale bytes that must not stay in front")
    download(file_server.url("/m.tar"), dest, expected_sha256=PAYLOAD_SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_part_longer_than_the_file_starts_over(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/m.tar"] = PAYLOAD[:1000]
    dest = tmp_path / "m.tar"
    dest.with_name("m.tar.part").write_bytes(b"y" * 5000)  # the server answers 416
    download(file_server.url("/m.tar"), dest, progress=False)
    assert file_server.range_headers == ["bytes=5000-"]
    assert dest.read_bytes() == PAYLOAD[:1000]


def test_a_complete_file_is_not_fetched_again(file_server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "m.tar"
    dest.write_bytes(PAYLOAD)  # the server has no such file: a request would 404
    assert download(file_server.url("/m.tar"), dest, expected_sha256=PAYLOAD_SHA) == dest


def test_missing_file_is_not_found(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="404"):
        download(file_server.url("/nothing.tar"), tmp_path / "n.tar", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "no-length"])
def test_a_download_over_the_bound_is_stopped_and_removed(
    file_server: FileServer, tmp_path: Path, announced: bool
) -> None:
    file_server.files["/m.tar"] = PAYLOAD
    file_server.content_length = announced
    with pytest.raises(InvalidInput, match="max_model_mb"):
        download(file_server.url("/m.tar"), tmp_path / "m.tar", progress=False,
                 max_bytes=len(PAYLOAD) - 1)
    assert list(tmp_path.iterdir()) == []
    download(file_server.url("/m.tar"), tmp_path / "m.tar", progress=False,
             max_bytes=len(PAYLOAD))
    assert (tmp_path / "m.tar").read_bytes() == PAYLOAD
