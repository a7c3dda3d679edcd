"""PNG figures of a HIL run: received constellations, Q_sem HIL vs offline, latency breakdown.

Same conventions as :mod:`evaluation.plots` (object API, Agg, atomic writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from semqam_node.conventions import TIMING_STAGES

from evaluation.plots import COLORS, DPI, LABELS, Q_SEM, save_figure  # noqa: F401 (DPI re-used)
from hil.report import quantized_form
from hil.runner import PointResult


def _tag(r: dict[str, Any]) -> str:
    b = r["bundle"]
    return (f"{b['dataset']}, M = {b['order']}, {r['n_test']} samples, {r['channel']['name']}, "
            f"node {'virtual (pty)' if r['node'].get('virtual') else r['node'].get('port')}")


def scatter_snrs(snr_db: list[float], wanted: tuple[float, ...] = ()) -> list[float]:
    """The two SNRs the scatter shows: ``wanted`` if given, else the lowest and the highest."""
    if wanted:
        missing = [s for s in wanted if s not in snr_db]
        if missing:
            raise ValueError(f"--scatter-snr {missing} is not in the SNR sweep {snr_db}")
        return list(wanted)
    return sorted({min(snr_db), max(snr_db)})


def plot_received(points: list[PointResult], ideal: dict[str, np.ndarray], report: dict,
                  snrs: list[float], path: str | Path) -> Path:
    """Received symbols after the channel (a subsample) over the ideal constellation points,
    one row per constellation, one column per SNR."""
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(p.constellation for p in points))
    fig = Figure(figsize=(4.2 * len(snrs), 4.0 * len(names)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(names), len(snrs), squeeze=False))
    by_key = {(p.constellation, p.snr_db): p for p in points}
    for r, name in enumerate(names):
        pts = ideal[name]
        lim = 1.35 * float(np.max(np.abs(np.concatenate([pts.real, pts.imag]))))
        for c, snr in enumerate(snrs):
            ax = axes[r, c]
            p = by_key.get((name, snr))
            if p is not None and p.received is not None and p.received.size:
                ax.scatter(p.received.real, p.received.imag, s=2, alpha=0.25,
                           color=COLORS[name], rasterized=True, label="received")
            ax.scatter(pts.real, pts.imag, s=6 if len(pts) > 64 else 18, color="black",
                       marker="x", linewidths=0.6, label="constellation")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.grid(True, alpha=0.3)
            k = p.metrics.get("symbols_per_sample") if p else None
            ax.set_title(f"{name}, {snr:g} dB" + (f", K = {k:.0f}" if k else ""), fontsize=10)
            ax.set_xlabel("I")
            ax.set_ylabel("Q")
    axes[0, 0].legend(loc="upper right", fontsize=7, markerscale=3)
    fig.suptitle(f"Received symbols at the edge ({_tag(report)})", fontsize=10)
    return save_figure(fig, path)


def plot_q_sem_hil_vs_offline(report: dict, path: str | Path) -> Path:
    """Q_sem and accuracy vs SNR: HIL (solid) vs the offline evaluation of the same quantized
    model (dashed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    off = report.get("offline_int8") or {}
    for ax, key, ylabel in ((axes[0], "q_sem", Q_SEM),
                            (axes[1], "accuracy", r"task accuracy $Q_{\mathrm{task}}$")):
        for name, s in report["variants"].items():
            ax.plot(s["snr_db"], s[key], marker="o", ms=4, color=COLORS[name],
                    label=f"HIL, {LABELS[name]}")
            if name in off:
                ax.plot(report["snr_db"], off[name][key], ls="--", marker="x", ms=6,
                        color=COLORS[name], alpha=0.7,
                        label=f"offline {quantized_form(report)}, {name}")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    note = "" if off else f" — no offline reference: {report.get('offline_note', '')}"
    fig.suptitle(f"HIL vs offline ({_tag(report)}){note}", fontsize=10)
    return save_figure(fig, path)


def plot_latency(report: dict, path: str | Path) -> Path:
    """Median time per sample: node stages, the link round trip beyond the node's own time,
    and the edge (demap, decode), as one stacked bar; p95 of the node stages as whiskers."""
    from matplotlib.figure import Figure

    lat = report["latency"]
    stages = lat["node_stages_us"]
    names, med, p95 = [], [], []
    for s in TIMING_STAGES:
        if stages[s]["median"] is not None:
            names.append(f"node: {s}")
            med.append(stages[s]["median"])
            p95.append(stages[s]["p95"])
    node_total = lat["node_total_us"]["median"] or 0.0
    rtt = lat["link_rtt_ms"]["median"]
    if rtt is not None:
        names.append(f"link + host (RTT − node, {report['channel']['window']} in flight)")
        med.append(max(rtt * 1e3 - node_total, 0.0))
        p95.append(None)
    for k in ("demap", "decode"):
        names.append(f"edge: {k}")
        med.append(lat["edge_per_sample_us"][k])
        p95.append(None)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax_bar, ax_stack = fig.subplots(1, 2, width_ratios=[3, 1])
    y = np.arange(len(names))
    colors = [f"C{i}" for i in range(len(names))]
    ax_bar.barh(y, med, color=colors)
    for i, p in enumerate(p95):
        if p is not None:
            ax_bar.plot([med[i], p], [i, i], color="black", lw=1)
            ax_bar.plot([p], [i], marker="|", color="black", ms=8)
    for i, v in enumerate(med):
        ax_bar.annotate(f"{v:.0f} µs", (max(v, 0.0), i), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)
    ax_bar.set_yticks(y, names, fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xscale("symlog", linthresh=10)
    ax_bar.set_xlabel("median µs per sample (whisker: node p95)")
    ax_bar.grid(True, axis="x", alpha=0.3)
    bottom = 0.0
    for i, v in enumerate(med):
        ax_stack.bar([0], [v], bottom=bottom, color=colors[i])
        bottom += v
    ax_stack.set_xticks([])
    ax_stack.set_ylabel("µs per sample, stacked")
    ax_stack.set_title(f"total {bottom / 1e3:.2f} ms", fontsize=9)
    fig.suptitle(f"Latency breakdown ({_tag(report)}; {report['node']['link']})", fontsize=10)
    return save_figure(fig, path)


def plot_profile(p: dict, path: str | Path) -> Path:
    """``semqam profile``: the round trip as stage medians plus the link/host rest, and the
    energy per sample (CPU, radio, total) of the semantic scheme vs the raw sample."""
    from matplotlib.figure import Figure

    stages = {n: st["median"] for n, st in p["stages_us"].items()}
    rest = max(p["e2e_us"]["median"] - sum(stages.values()), 0.0)
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    left = 0.0
    for name, v in [*stages.items(), ("link + host", rest)]:
        ax1.barh([0], [v], left=left, label=f"{name} {v:.0f} µs")
        left += v
    ax1.set_yticks([])
    ax1.set_xlabel("µs (medians)")
    ax1.set_title(f"round trip {p['e2e_us']['median']:.0f} µs ({p['link']['paced']})")
    ax1.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3)
    sem, raw = p["energy"]["semantic"], p["energy"]["raw"]
    parts = ["CPU", "radio", "total"]
    x = np.arange(len(parts))
    vals = {"semantic": [sem["cpu_j"], sem["radio_j"], sem["total_j"]],
            "raw": [raw["cpu_j"], raw["radio_j"], raw["total_j"]]}
    for i, (name, v) in enumerate(vals.items()):
        ax2.bar(x + (i - 0.5) * 0.38, v, width=0.38, label=name)
    positive = [v for vs in vals.values() for v in vs if v > 0]
    if positive and max(positive) > 30 * min(positive):
        ax2.set_yscale("log")
    ax2.set_xticks(x, parts)
    ax2.set_ylabel("J per sample")
    ax2.set_title(f"energy per sample ({p['power']['name']}, nominal)")
    ax2.legend(fontsize=7)
    return save_figure(fig, path)
