"""Throughput of the channel blocks on one process (complex64 symbols in).

Usage::

    python -c "from channel_sim.bench import run_channel_benchmark, format_table; \\
print(format_table(run_channel_benchmark()))"

Each block gets one untimed warm-up call on a short slice, then ``repeats`` timed calls on
all ``n_symbols``; the median is reported (MLPerf-Tiny style). Nothing global is changed:
the NumPy random generators and elementwise ufuncs used here run on one thread.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from .awgn import AWGN
from .constellation import Constellation
from .fading import RayleighBlockFading, RicianBlockFading
from .impairments import Chain, Clip, IQImbalance, PhaseNoise, PhaseOffset

__all__ = ["AWGN_TARGET_SYMBOLS_PER_S", "format_table", "run_channel_benchmark"]

AWGN_TARGET_SYMBOLS_PER_S = 1e7
_SNR_DB = 10.0
_WARMUP_SYMBOLS = 65536


def _blocks(seed: int) -> dict[str, tuple[str, Callable[..., np.ndarray]]]:
    """name -> (description, block); a fresh set so every run starts from the same seeds."""
    return {
        "awgn": ("AWGN(seed), complex128 out (the default stream)", AWGN(seed)),
        "awgn-c64": ("AWGN(seed, dtype=complex64)", AWGN(seed, dtype=np.complex64)),
        "rayleigh": ("RayleighBlockFading(block_length=1), ZF", RayleighBlockFading(seed)),
        "rayleigh-L64": (
            "RayleighBlockFading(block_length=64), ZF",
            RayleighBlockFading(seed, block_length=64),
        ),
        "rician": ("RicianBlockFading(k_factor=10), ZF", RicianBlockFading(seed)),
        "impairments": (
            "Chain: Clip(1.3), IQImbalance(0.05, 0.05), PhaseNoise(1e-4), PhaseOffset(0.1), "
            "AWGN c64",
            Chain(
                [
                    Clip(1.3),
                    IQImbalance(0.05, 0.05),
                    PhaseNoise(1e-4, seed=seed),
                    PhaseOffset(0.1),
                    AWGN(seed + 1, dtype=np.complex64),
                ]
            ),
        ),
    }


def run_channel_benchmark(n_symbols: int = 10**7, repeats: int = 5, seed: int = 0) -> dict:
    """Time each block on ``n_symbols`` random unit-power 16-QAM complex64 symbols at 10 dB.

    Parameters
    ----------
    n_symbols : int
        Symbols per timed call, ``>= 1``.
    repeats : int
        Timed calls per block, ``>= 1``; the median is reported.
    seed : int
        Seed of the symbols and of every block.

    Output
    ------
    dict with ``n_symbols``, ``repeats``, ``snr_db``, ``environment`` (Python, NumPy,
    machine, CPU count), ``blocks`` (name -> ``description``, ``out_dtype``, ``median_s``,
    ``min_s``, ``symbols_per_s`` from the median), ``awgn_target_symbols_per_s`` and
    ``awgn_meets_target``.
    """
    for name, value in (("n_symbols", n_symbols), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    n_symbols, repeats, seed = int(n_symbols), int(repeats), int(seed)
    rng = np.random.default_rng(seed)
    qam = Constellation.rectangular_gray(16)
    x = qam.map(rng.integers(0, qam.order, n_symbols)).astype(np.complex64)

    blocks: dict[str, dict] = {}
    for name, (description, block) in _blocks(seed).items():
        out = block(x[:_WARMUP_SYMBOLS], _SNR_DB)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = block(x, _SNR_DB)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        blocks[name] = {
            "description": description,
            "out_dtype": str(out.dtype),
            "median_s": median,
            "min_s": min(times),
            "symbols_per_s": n_symbols / median,
        }
        del out
    awgn_rate = blocks["awgn"]["symbols_per_s"]
    return {
        "n_symbols": n_symbols,
        "repeats": repeats,
        "snr_db": _SNR_DB,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "processor": platform.processor() or "unknown",
            "cpu_count": os.cpu_count(),
        },
        "blocks": blocks,
        "awgn_target_symbols_per_s": AWGN_TARGET_SYMBOLS_PER_S,
        "awgn_meets_target": awgn_rate >= AWGN_TARGET_SYMBOLS_PER_S,
    }


def format_table(result: dict) -> str:
    """Markdown table of :func:`run_channel_benchmark`'s result, with a one-line header."""
    env = result["environment"]
    lines = [
        f"{result['n_symbols']:,} complex64 symbols in, SNR {result['snr_db']:g} dB, median of "
        f"{result['repeats']} (one process; Python {env['python']}, NumPy {env['numpy']}, "
        f"{env['machine']}, {env['cpu_count']} CPUs visible)",
        "",
        "| block | what | out | median s | min s | Msymbols/s |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for name, row in result["blocks"].items():
        lines.append(
            f"| {name} | {row['description']} | {row['out_dtype']} | {row['median_s']:.4f} "
            f"| {row['min_s']:.4f} | {row['symbols_per_s'] / 1e6:.1f} |"
        )
    verdict = "meets" if result["awgn_meets_target"] else "misses"
    lines += [
        "",
        f"AWGN {verdict} the target of {result['awgn_target_symbols_per_s'] / 1e6:g} "
        f"Msymbols/s ({result['blocks']['awgn']['symbols_per_s'] / 1e6:.1f}).",
    ]
    return "\n".join(lines)
