"""Where a sweep puts its runs and evaluations: one naming rule for writing and reading.

Seed 0 keeps the plain names (``{runs_dir}/{dataset}-{M}``, ``{out}/M{M}``); seed s > 0 adds
``-s{s}`` (``{dataset}-{M}-s{s}``, ``M{M}-s{s}``), so single-seed sweeps reuse older runs.
"""

from __future__ import annotations

import re

_RESULTS = re.compile(r"^M(\d+)(?:-s(\d+))?$")


def seed_suffix(seed: int) -> str:
    """``""`` for seed 0, else ``-s{seed}``."""
    return "" if seed == 0 else f"-s{seed}"


def run_folder(dataset: str, order: int, seed: int) -> str:
    return f"{dataset}-{order}{seed_suffix(seed)}"


def results_folder(order: int, seed: int) -> str:
    return f"M{order}{seed_suffix(seed)}"


def parse_results_folder(name: str) -> tuple[int, int] | None:
    """(order, seed) of a :func:`results_folder` name, None for any other name."""
    match = _RESULTS.match(name)
    return None if match is None else (int(match[1]), int(match[2] or 0))
