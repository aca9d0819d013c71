"""Small helpers shared by the benchmarks: repeated runs, median and spread, ratio lines."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def ratio_line(label: str, ours: Sequence[float], floor: Sequence[float], unit: str) -> str:
    ours_median, ours_low, ours_high = summary(ours)
    floor_median, floor_low, floor_high = summary(floor)
    ratio = ours_median / floor_median
    return (
        f"{label:<34} ours {ours_median:9.3f} {unit} [{ours_low:.3f}-{ours_high:.3f}]"
        f"   floor {floor_median:9.3f} {unit} [{floor_low:.3f}-{floor_high:.3f}]"
        f"   ratio {ratio:5.2f}x"
    )
