"""Issue 14's ISFR anchors on a trained run: what the first feature alone carries
(superposition, Section III.D) and OPHD against equal protection over an SNR sweep (Fig. 7/11).

``python -m trainer.isfr.anchors RUN [--channel rayleigh] [--snr=-10,-6,0,10,20] [--n 1000]
[--discard-penalty 0.5] [--search exhaustive] [--ber-model rayleigh]``
prints one JSON object: the run's no-channel accuracies, and per variant and SNR the accuracy,
Q_sem, PSNR, symbols and side bits per sample, the measured energy per sent symbol and what
OPHD chose (k, orders, powers). The channel at point j is ``make_channel(name, seed + j)`` for
both variants (the same noise draws), as in :mod:`trainer.sweep`.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from channel_sim import make_channel
from trainer.data import load_dataset
from trainer.sweep import run_point


def psnr(x: np.ndarray, x_hat: np.ndarray) -> float:
    r"""Mean over samples of :math:`10\log_{10}(1/\mathrm{MSE})` (inputs in [0, 1])."""
    mse = np.mean((np.asarray(x, np.float64) - x_hat) ** 2, axis=tuple(range(1, x.ndim)))
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def measure(run_dir: str, channel: str = "rayleigh", snrs=(-10, -6, -2, 0, 4, 10, 20),
            n: int = 1000, seed: int = 0, ophd_settings: dict | None = None) -> dict:
    from trainer.isfr.run import load_run

    run = load_run(run_dir)
    run.set_ophd(**(ophd_settings or {}))
    ds = load_dataset(run.dataset_name)
    x, y = ds.x_test[:n], ds.y_test[:n]
    p_clean = run.pipeline.classify(x)
    cfg = run.info["config"]
    out = {"run": str(run_dir), "channel": channel, "n": int(len(x)),
           "ophd": {k: cfg[k] for k in run.OPHD_KEYS},
           "no_channel": run.info["metrics"], "importance": run.info["importance"]["weights"],
           "points": []}
    for variant in run.variants:
        tx = run.transmitter(x, variant, seed)
        rx = run.receiver(variant)
        for j, snr in enumerate(snrs):
            point = run_point(tx, rx, make_channel(channel, seed + j), snr, p_clean, y,
                              run.bits_per_symbol, keep=True)
            rec = point.record
            frame = point.frames[0]
            x_hat = rx.receive(point.received[0], frame).x_hat
            alloc = run.allocation(variant, snr)
            out["points"].append({
                "variant": variant, "snr_db": float(snr), "accuracy": rec["accuracy"],
                "q_sem": rec["q_sem"], "psnr": psnr(x[frame.samples], x_hat),
                "symbols_per_sample": rec["symbols_per_sample"], "side_bits": frame.side_bits,
                "tx_energy": rec["tx_energy"], "k": alloc.k, "orders": list(alloc.orders),
                "power": [round(p, 4) for p in alloc.power]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--channel", default="rayleigh")
    ap.add_argument("--snr", default="-10,-6,-2,0,4,10,20")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--discard-penalty", type=float, help="D_T (default: the run's)")
    ap.add_argument("--search", choices=("early_stop", "exhaustive"))
    ap.add_argument("--ber-model", choices=("awgn", "rayleigh"))
    a = ap.parse_args(argv)
    snrs = [float(v) for v in a.snr.split(",")]
    settings = {k: v for k, v in (("discard_penalty", a.discard_penalty),
                                  ("ophd_search", a.search), ("ber_model", a.ber_model))
                if v is not None}
    json.dump(measure(a.run, a.channel, snrs, a.n, a.seed, settings), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
