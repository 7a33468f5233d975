"""Generate the Python stubs for protos/ into client/ocrclient/proto.

The stubs are a public module of the client package (``ocrclient.proto``); the
server imports them from there, so there is exactly one copy.  ``--check``
regenerates into a temporary folder and fails when the committed stubs differ
(stale stubs are a test failure).

Run it with the generator venv of tools/protos-requirements.txt (``make
protos``): its old grpcio-tools is what lets the stubs work with old grpcio
and protobuf releases.  ``google/rpc/status.proto`` comes from
googleapis-common-protos, which ships the .proto files beside its modules.

protoc writes absolute imports (``from ocr.v1 import ocr_pb2``); they are
rewritten to the package path so the stubs work inside ``ocrclient``.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

import google.rpc
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "client" / "ocrclient" / "proto"
PACKAGE = "ocrclient.proto"
#: The folder holding google/rpc/*.proto (googleapis-common-protos).
GOOGLEAPIS_ROOT = Path(next(iter(google.rpc.__path__))).parent.parent
#: The well-known types (google/protobuf/*.proto) that grpcio-tools bundles.
WELL_KNOWN_ROOT = Path(next(iter(grpc_tools.__path__))) / "_proto"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{GOOGLEAPIS_ROOT}", f"-I{WELL_KNOWN_ROOT}",
            f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in out.rglob("*.py*"):
        text = re.sub(r"^from ocr\.", f"from {PACKAGE}.ocr.", path.read_text(), flags=re.M)
        path.write_text(text)
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


def differences(a: Path, b: Path) -> list[str]:
    def listing(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}

    files = listing(a) | listing(b)

    def same(f: Path) -> bool:
        return (a / f).exists() and (b / f).exists() and filecmp.cmp(a / f, b / f, False)

    return sorted(str(f) for f in files if not same(f))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the stubs are stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = differences(Path(tmp), OUT)
        if check:
            if stale:
                print("stale protobuf stubs (run `make protos`): " + ", ".join(stale),
                      file=sys.stderr)
                return 1
            return 0
        shutil.rmtree(OUT, ignore_errors=True)
        shutil.copytree(tmp, OUT)
    print(f"generated {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
