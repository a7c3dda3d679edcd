"""The figures of ``semqam compare`` (docs/compare.md), matplotlib's object API on Agg.

* ``accuracy_vs_snr_<dataset>_<channel>.png``: mean accuracy over seeds vs SNR, one line per
  (system, variant, loss, budget, order), T's 90 % target dashed;
* ``accuracy_vs_symbols_<dataset>_<channel>.png``: accuracy vs symbols per sample at 0 and
  10 dB (one marker per line of the table);
* ``required_snr_vs_budget_<dataset>_<channel>.png``: the SNR for 90 % of T's clean accuracy
  vs the budget S, one line per (system, variant, loss, order); lines that never reach it are
  drawn at the top of the grid with open markers.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from evaluation.plots import save_figure


def _mean_curve(doc: dict, dataset: str, channel: str) -> dict[tuple, tuple[list, np.ndarray]]:
    curves: dict[tuple, list] = defaultdict(list)
    snr = {}
    for r in doc["records"]:
        if r["dataset"] == dataset and r["channel"] == channel:
            key = (r["system"], r["variant"], r["loss"], r["budget"], r["order"])
            curves[key].append([np.nan if a is None else a for a in r["accuracy"]])
            snr[key] = r["snr_db"]
    return {k: (snr[k], np.nanmean(np.array(v, dtype=float), axis=0))
            for k, v in curves.items()}


def line_name(key: tuple) -> str:
    """Legend / table name of a line (system, variant, loss, budget, order)."""
    system, variant, loss, budget, order = key
    b = "K=DQN" if budget is None else f"S={budget}"
    return f"{system}/{variant} ({loss}) {b} M={order}"


def plot_all(doc: dict, tables: dict, out: Path) -> list[Path]:
    """Every figure of the module docstring for the table rows of each (dataset, channel)."""
    written = []
    for (dataset, channel), rows in tables.items():
        clean = doc["classifier"][dataset].get("clean_accuracy")
        target = doc["target_fraction"] * clean if clean else None
        tag = f"{dataset}_{channel}"

        fig = Figure(figsize=(8, 5.5))
        ax = fig.add_subplot()
        for key, (snr, acc) in sorted(_mean_curve(doc, dataset, channel).items(),
                                      key=lambda kv: str(kv[0])):
            ax.plot(snr, acc, marker="o", ms=3, label=line_name(key))
        if target:
            ax.axhline(target, ls="--", c="k", lw=1, label="90 % of T clean")
        ax.set(xlabel="SNR (dB)", ylabel="accuracy of T(x̂)",
               title=f"{dataset}, {channel}: accuracy vs SNR (mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        written.append(save_figure(fig, out / f"accuracy_vs_snr_{tag}.png"))

        fig = Figure(figsize=(8, 4))
        for i, s in enumerate((0.0, 10.0)):
            ax = fig.add_subplot(1, 2, i + 1)
            for r in rows:
                accs = r.get(f"acc@{s:g}")
                if accs:
                    ax.plot(r["symbols"], np.mean(accs), "o", label=r["name"])
            ax.set(xlabel="symbols per sample", ylabel="accuracy", title=f"{s:g} dB")
            ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
        fig.axes[0].legend(fontsize=5)
        fig.suptitle(f"{dataset}, {channel}: accuracy vs symbols per sample")
        written.append(save_figure(fig, out / f"accuracy_vs_symbols_{tag}.png"))

        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot()
        by_line: dict[tuple, list] = defaultdict(list)
        for r in rows:
            system, variant, loss, budget, order = r["line"]
            if budget is None:
                continue
            req = r["required_snr"]
            reached = bool(req) and all(v is not None for v in req)
            by_line[(system, variant, loss, order)].append(
                (budget, float(np.mean(req)) if reached else r["snr_max"], reached))
        for (system, variant, loss, order), pts in sorted(by_line.items(), key=str):
            pts.sort()
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "-",
                            label=f"{system}/{variant} ({loss}) M={order}")
            for b, v, ok in pts:
                ax.plot(b, v, "o", c=line.get_color(), mfc=line.get_color() if ok else "none")
        ax.set(xlabel="budget S (symbols per sample)", ylabel="SNR for 90 % of T clean (dB)",
               title=f"{dataset}, {channel}: required SNR vs budget (open: not reached)")
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
        written.append(save_figure(fig, out / f"required_snr_vs_budget_{tag}.png"))
    return written
