"""JCM's learned probabilistic shaping as a figure (paper Figs. 6-7), and the issue-14 anchor.

:func:`plot_usage` draws, per variant, the fixed QAM points with marker areas proportional to
their usage (from :func:`trainer.jcm.run.usage_histogram`). :func:`main` is the anchor command

    python -m evaluation.jcm_shaping --out results/jcm-anchor

(MNIST, S = 16, M = 16, AWGN, -10..10 dB): trains T and a JCM run (with its uniform-usage
ablation), sweeps every variant through :func:`trainer.sweep.run_point` with the channel of
point ``j`` seeded ``seed + j`` (the same noise for every variant), writes ``anchor.json`` and
``usage.png`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evaluation.plots import save_figure
from semqam.fileio import write_json


def plot_usage(usage: dict[str, np.ndarray], order: int, path: str | Path,
               title: str = "") -> Path:
    """One panel per variant: point ``c_m`` of the QAM with area proportional to ``usage[m]``
    (label order of :func:`trainer.jcm.modulation.constellation`); writes a PNG atomically."""
    from matplotlib.figure import Figure

    from trainer.jcm.modulation import constellation

    pts = constellation(order).points
    fig = Figure(figsize=(3.4 * len(usage), 3.6))
    for i, (name, u) in enumerate(usage.items(), start=1):
        u = np.asarray(u, float)
        if u.shape != (order,):
            raise ValueError(f"usage of {name!r} has shape {u.shape}, expected ({order},)")
        ax = fig.add_subplot(1, len(usage), i)
        ax.scatter(pts.real, pts.imag, s=4000.0 * u / max(order / 16, 1), alpha=0.6)
        ax.scatter(pts.real, pts.imag, s=4, c="k")
        tv = 0.5 * float(np.abs(u - 1.0 / order).sum())
        ax.set_title(f"{name}\nTV from uniform = {tv:.2f}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("I")
        ax.set_ylabel("Q")
        lim = 1.25 * float(np.abs(pts.real).max())
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def usage_summary(usage: np.ndarray) -> dict[str, float]:
    r"""Numbers of a usage histogram ``u [M]``: total-variation distance from uniform
    :math:`\tfrac12\sum|u_m - 1/M|`, entropy :math:`-\sum u_m \log_2 u_m` (bits per symbol) and
    :math:`-10\log_{10}\sum_m u_m |c_m|^2` (dB): how much normalising over what is drawn scales
    the unit-power QAM up, i.e. the distance gain the shaping buys."""
    from trainer.jcm.modulation import constellation

    u = np.asarray(usage, float)
    power = float(u @ np.abs(constellation(len(u)).points) ** 2)
    nz = u[u > 0]
    return {"usage_tv_from_uniform": 0.5 * float(np.abs(u - 1.0 / len(u)).sum()),
            "usage_entropy_bits": float(-(nz * np.log2(nz)).sum()),
            "usage_power_gain_db": -10.0 * float(np.log10(power))}


def mean_psnr(x: np.ndarray, tx, rx, channel, snr_db: float) -> float:
    r"""Mean over samples of :math:`10\log_{10}(1/\mathrm{MSE}_i)` (inputs in [0, 1]) of the
    receiver's ``x_hat`` after one pass of ``tx``'s frames through ``channel``."""
    vals = []
    for frame in tx.transmit(snr_db):
        x_hat = rx.receive(channel(frame.symbols, snr_db), frame).x_hat
        mse = np.mean((x_hat - x[frame.samples]).reshape(len(frame.samples), -1) ** 2, axis=1)
        vals.append(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12)))
    return float(np.mean(np.concatenate(vals)))


def write_usage_figure(run, x: np.ndarray, path: str | Path) -> Path:
    """:func:`plot_usage` of every variant of a JCM ``run`` on inputs ``x``."""
    from trainer.jcm.run import usage_histogram

    usage = {v: usage_histogram(run, x, v) for v in run.variants}
    title = f"JCM usage, {run.dataset_name}, S = {run.budget}, M = {run.order}"
    return plot_usage(usage, run.order, path, title)


def main(argv: list[str] | None = None) -> dict:
    """The issue-14 JCM anchor (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--order", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss", default="paper")
    ap.add_argument("--snr", default="-10:10:2", help="low:high:step in dB")
    ap.add_argument("--classifier-epochs", type=int, default=5)
    ap.add_argument("--option", action="append", default=[],
                    help="JCM option KEY=JSON (e.g. epochs=16), repeatable")
    args = ap.parse_args(argv)
    import keras

    from channel_sim import make_channel
    from trainer.data import load_dataset
    from trainer.jcm.run import load_run, usage_histogram
    from trainer.jcm.train import train
    from trainer.svqvae.models import build_classifier
    from trainer.sweep import run_point

    lo, hi, step = (float(v) for v in args.snr.split(":"))
    snrs = np.arange(lo, hi + step / 2, step)
    ds = load_dataset("mnist")
    args.out.mkdir(parents=True, exist_ok=True)
    clf_path = args.out / "classifier.keras"
    if not clf_path.is_file():
        keras.utils.set_random_seed(args.seed)
        clf = build_classifier(ds.input_shape, ds.n_classes, seed=args.seed)
        clf.compile("adam", "sparse_categorical_crossentropy")
        clf.fit(ds.x_train, ds.y_train, batch_size=64, epochs=args.classifier_epochs, verbose=0)
        clf.save(clf_path)
    opts = {"uniform_ablation": True,
            **{k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}}
    run_dir = args.out / "run"
    if not (run_dir / "run.json").is_file():  # a finished run is reused (rerun = evaluate only)
        train(ds, run_dir, budget=args.budget, order=args.order, seed=args.seed, loss=args.loss,
              classifier=clf_path, **opts)
    run = load_run(run_dir)
    p_clean = run.classifier.predict(ds.x_test, batch_size=500, verbose=0)
    result = {"snr_db": snrs.tolist(), "budget": run.budget, "order": run.order,
              "loss": args.loss, "timings": run.info["timings"],
              "clean_accuracy": run.info["classifier"]["clean_accuracy"], "variants": {}}
    for v in run.variants:
        tx, rx = run.transmitter(ds.x_test, v, seed=args.seed), run.receiver(v)
        recs = [run_point(tx, rx, make_channel("awgn", args.seed + j), s, p_clean, ds.y_test,
                          run.bits_per_symbol).record for j, s in enumerate(snrs)]
        psnr = [mean_psnr(ds.x_test, tx, rx, make_channel("awgn", args.seed + j), s)
                for j, s in enumerate(snrs)]  # the same noise draws as the records
        u = usage_histogram(run, ds.x_test, v)
        result["variants"][v] = {
            "accuracy": [r["accuracy"] for r in recs], "q_sem": [r["q_sem"] for r in recs],
            "ser": [r["ser"] for r in recs], "psnr_db": psnr,
            "tx_energy": [r["tx_energy"] for r in recs],
            "usage": u.tolist(), **usage_summary(u),
        }
    write_json(args.out / "anchor.json", result)
    write_usage_figure(run, ds.x_test, args.out / "usage.png")
    print("SNR dB  " + "  ".join(f"{s:6.0f}" for s in snrs))
    for v, r in result["variants"].items():
        print(f"{v:8s}" + "  ".join(f"{a:6.2f}" for a in r["psnr_db"]) + "   PSNR dB")
    for v, r in result["variants"].items():
        print(f"{v:8s}" + "  ".join(f"{a:6.3f}" for a in r["accuracy"])
              + f"   usage TV {r['usage_tv_from_uniform']:.3f}, H {r['usage_entropy_bits']:.2f}"
              f" bit, scale-up {r['usage_power_gain_db']:+.2f} dB")
    return result


if __name__ == "__main__":
    main()
