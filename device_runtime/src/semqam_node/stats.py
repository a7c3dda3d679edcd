"""The one latency summary, shared by the node (STATS, timing rings, benchmarks) and the host
(HIL report, ``semqam profile``): order statistics of a set of timings."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def summarize(values: Iterable[float], scale: float = 1.0, percentiles: Iterable[int] = (95,)
              ) -> dict[str, float | int | None]:
    """``n``, ``median``, ``p<q>`` for each of ``percentiles``, ``mean``, ``min``, ``max`` of
    ``values * scale`` (numpy's linear-interpolation percentiles); ``None`` everywhere but
    ``n = 0`` for no values."""
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                   np.float64).reshape(-1) * scale
    keys = ["median", *(f"p{q}" for q in percentiles), "mean", "min", "max"]
    if not a.size:
        return {"n": 0, **dict.fromkeys(keys)}
    out: dict[str, float | int | None] = {"n": int(a.size), "median": float(np.median(a))}
    for q in percentiles:
        out[f"p{q}"] = float(np.percentile(a, q))
    out.update(mean=float(a.mean()), min=float(a.min()), max=float(a.max()))
    return out
