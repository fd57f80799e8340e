"""Figures from raw samples, shared by both benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence


def summary_ms(samples: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean and nearest-rank percentiles of durations in seconds, as milliseconds."""
    if not samples:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 2)

    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered) * 1000, 2),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "p99.9": rank(99.9),
        "max": round(ordered[-1] * 1000, 2),
    }
