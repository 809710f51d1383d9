"""Argument helpers shared by the benchmarks."""
from __future__ import annotations

import argparse

DEFAULT_SIZES = ("640x480", "1280x720")


def image_size(text: str, minimum: int = 16) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (width, height), an argparse error otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (e.g. 640x480), got {text!r}") from None
    if width < minimum or height < minimum:
        raise argparse.ArgumentTypeError(f"size must be at least {minimum}x{minimum}, got {text!r}")
    return width, height


def fractions(text: str) -> list[float]:
    """'0.15,0.25' -> [0.15, 0.25] (each in 0..1; '' -> []), an argparse error otherwise."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers (e.g. 0.15,0.25), got {text!r}") from None
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"every value must lie in 0..1, got {text!r}")
    return values
