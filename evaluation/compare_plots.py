"""The figures of ``semqam compare`` (docs/compare.md), matplotlib's object API on Agg.

* ``accuracy_vs_snr_<dataset>_<channel>.png``: mean accuracy over seeds vs SNR, a panel per
  (loss setting, budget), one line per (system, variant, order), T's 90 % target dotted;
* ``accuracy_vs_symbols_<dataset>_<channel>.png``: accuracy at 0 and 10 dB vs the effective
  symbols per sample (payload + side bits / log2 M), one marker per line of the table;
* ``required_snr_vs_budget_<dataset>_<channel>.png``: the SNR for 90 % of T's clean accuracy
  vs the budget S, a panel per loss setting, one line per (system, variant, order); lines that
  never reach it are drawn at the top of the grid with open markers.

Colour is the system/variant in every figure, linestyle (or marker) the order.
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


#: One colour per (system, variant) across every figure; linestyle per order; in the symbol
#: plot, marker per order and filled = task-matched loss, open = paper loss.
_COLOURS = {("isfr", "equal_protection"): "tab:olive", ("isfr", "ophd"): "tab:green",
            ("jcm", "sample"): "tab:blue", ("jcm", "argmax"): "tab:cyan",
            ("jcm", "uniform"): "tab:purple", ("mdjcm", "mdjcm"): "tab:orange",
            ("svqvae", "semantic"): "tab:red", ("svqvae", "dqn"): "tab:pink"}
_DASHES = ("-", "--", ":", "-.")
_MARKERS = ("o", "^", "s", "D")


def _colour(system: str, variant: str) -> str:
    return _COLOURS.get((system, variant), "tab:gray")


def _order_style(order: int, orders: list[int], kinds: tuple[str, ...]) -> str:
    return kinds[orders.index(order) % len(kinds)] if order in orders else kinds[0]


def _legend(fig: Figure, systems: list[tuple[str, str]], orders: list[int], extra=()) -> None:
    """One legend for the figure, right of the panels: colour = system/variant,
    linestyle = order (and ``extra`` handles)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], c=_colour(*sv), lw=2, label=f"{sv[0]}/{sv[1]}") for sv in systems]
    handles += [Line2D([], [], c="k", ls=_order_style(m, orders, _DASHES), label=f"M = {m}")
                for m in orders]
    handles += list(extra)
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.80, 0.5), fontsize=8,
               frameon=False)


def plot_all(doc: dict, tables: dict, out: Path) -> list[Path]:
    """Every figure of the module docstring for the table rows of each (dataset, channel):
    panels per loss setting (rows) and budget (columns), colour per system/variant, linestyle
    per order, so that one figure stays readable with every line of the grid."""
    from matplotlib.lines import Line2D

    written = []
    for (dataset, channel), rows in tables.items():
        clean = doc["classifier"][dataset].get("clean_accuracy")
        target = doc["target_fraction"] * clean if clean else None
        tag = f"{dataset}_{channel}"
        curves = _mean_curve(doc, dataset, channel)
        losses = sorted({k[2] for k in curves})
        budgets = sorted({k[3] for k in curves if k[3] is not None})
        orders = sorted({k[4] for k in curves})
        systems = sorted({(k[0], k[1]) for k in curves})
        target_line = Line2D([], [], c="k", lw=1, ls=(0, (1, 1)), label="90 % of T clean")

        fig = Figure(figsize=(4.2 * max(1, len(budgets)) + 2.2, 3.2 * len(losses)))
        axes = fig.subplots(len(losses), max(1, len(budgets)), squeeze=False, sharex=True,
                            sharey=True)
        for (system, variant, loss, budget, order), (snr, acc) in sorted(curves.items(),
                                                                         key=str):
            cols = range(len(budgets)) if budget is None else [budgets.index(budget)]
            for c in cols:  # a line without a budget (the DQN's K) goes in every column
                axes[losses.index(loss)][c].plot(
                    snr, acc, c=_colour(system, variant), ls=_order_style(order, orders, _DASHES),
                    lw=1.4, marker="." if budget is None else None, ms=3)
        for i, loss in enumerate(losses):
            for j, b in enumerate(budgets or [None]):
                ax = axes[i][j]
                if target:
                    ax.axhline(target, c="k", lw=1, ls=(0, (1, 1)))
                ax.set_title(f"{loss} loss, S = {b}", fontsize=9)
                ax.grid(alpha=0.3)
                if i == len(losses) - 1:
                    ax.set_xlabel("SNR (dB)")
                if j == 0:
                    ax.set_ylabel("accuracy of T(x̂)")
        fig.suptitle(f"{dataset}, {channel}: accuracy vs SNR (mean over seeds; dotted "
                     "marked lines: S-VQ-VAE at its DQN's K)")
        fig.subplots_adjust(right=0.79)
        _legend(fig, systems, orders, [target_line])
        written.append(save_figure(fig, out / f"accuracy_vs_snr_{tag}.png"))

        fig = Figure(figsize=(10, 4))
        axes = fig.subplots(1, 2, sharey=True)
        for i, s in enumerate((0.0, 10.0)):
            ax = axes[i]
            for r in rows:
                accs = r.get(f"acc@{s:g}")
                if not accs:
                    continue
                system, variant, loss, _, order = r["line"]
                colour = _colour(system, variant)
                ax.plot(r["effective"], np.mean(accs), _order_style(order, orders, _MARKERS),
                        c=colour, mfc=colour if loss != "paper" else "none", ms=6)
            ax.set(xlabel="symbols per sample (payload + side bits / log2 M)",
                   title=f"{s:g} dB")
            ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy")
        fig.suptitle(f"{dataset}, {channel}: accuracy vs effective symbols per sample "
                     "(filled: task loss, open: paper loss)")
        fig.subplots_adjust(right=0.79, top=0.84)
        marks = [Line2D([], [], c="k", ls="", marker=_order_style(m, orders, _MARKERS),
                        label=f"M = {m}") for m in orders]
        handles = [Line2D([], [], c=_colour(*sv), lw=2, label=f"{sv[0]}/{sv[1]}")
                   for sv in systems]
        fig.legend(handles=handles + marks, loc="center left", bbox_to_anchor=(0.80, 0.5),
                   fontsize=8, frameon=False)
        written.append(save_figure(fig, out / f"accuracy_vs_symbols_{tag}.png"))

        by_line: dict[tuple, list] = defaultdict(list)
        for r in rows:
            system, variant, loss, budget, order = r["line"]
            if budget is None:
                continue
            req = r["required_snr"]
            reached = bool(req) and all(v is not None for v in req)
            by_line[(system, variant, loss, order)].append(
                (budget, float(np.mean(req)) if reached else r["snr_max"], reached))
        fig = Figure(figsize=(4.2 * len(losses) + 2.2, 4))
        axes = fig.subplots(1, len(losses), squeeze=False, sharey=True)[0]
        for (system, variant, loss, order), pts in sorted(by_line.items(), key=str):
            pts.sort()
            ax = axes[losses.index(loss)]
            colour = _colour(system, variant)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], c=colour,
                    ls=_order_style(order, orders, _DASHES), lw=1.4)
            for b, v, ok in pts:
                ax.plot(b, v, "o", c=colour, mfc=colour if ok else "none", ms=6)
        for ax, loss in zip(axes, losses, strict=True):
            ax.set(xlabel="budget S (symbols per sample)", title=f"{loss} loss")
            ax.set_xscale("log", base=2)
            ax.set_xticks(budgets, [str(b) for b in budgets])
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("SNR for 90 % of T clean (dB)")
        fig.suptitle(f"{dataset}, {channel}: required SNR vs budget (open: not reached by "
                     "the top of the grid)")
        fig.subplots_adjust(right=0.79, top=0.84)
        _legend(fig, sorted({(k[0], k[1]) for k in by_line}), orders)
        written.append(save_figure(fig, out / f"required_snr_vs_budget_{tag}.png"))
    return written
