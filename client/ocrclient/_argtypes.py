"""Value types for the command lines' flags: a bad value is a usage error (exit 2) with
the flag's name, not a traceback from deep in protobuf or gRPC."""

from __future__ import annotations

import argparse
import math

#: The largest value of a protobuf uint32 field (sizes, counts, versions).
UINT32_MAX = 0xFFFF_FFFF


def whole_number(text: str, *, least: int = 0, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(
            f"must be at least {least}, not {value}" if least else
            f"must not be negative, not {value}")
    if most is not None and value > most:
        raise argparse.ArgumentTypeError(f"must be at most {most}, not {value}")
    return value


def non_negative_int(text: str) -> int:
    return whole_number(text)


def positive_int(text: str) -> int:
    return whole_number(text, least=1)


def uint32(text: str) -> int:
    """A whole number that fits a protobuf uint32 field."""
    return whole_number(text, most=UINT32_MAX)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value
