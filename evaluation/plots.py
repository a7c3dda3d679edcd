"""PNG figures of an evaluation (paper Figs. 2-5, 7) and of a sweep over M (Figs. 3, 8).

Matplotlib's object API (``Figure``, Agg canvas): no pyplot state and no display is needed.
Every function takes the ``metrics.json`` dict (``docs/metrics.md``) and, where it needs them,
per-concept arrays, writes one PNG atomically and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from semqam_node.conventions import CONSTELLATIONS

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from channel_sim import ber_gray_square_qam_approx  # noqa: E402
from semqam.fileio import save_with  # noqa: E402

DPI = 130
COLORS = {"semantic": "tab:blue", "standard": "tab:orange", "fair": "tab:green"}
LABELS = {"semantic": "semantic M-QAM (learned)", "standard": "standard M-QAM (Gray grid)",
          "fair": "semantic, trained under the power sent (fair)"}
Q_SEM = r"$Q_{\mathrm{sem}}$"


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI), ".png")
    return path


def _tag(m: dict) -> str:
    return f"{m['dataset']}, M = {m['order']}, {m['n_test']} test samples"


def _snr_axis(ax, m: dict) -> None:
    ax.set_xlabel("SNR (dB)")
    ax.grid(True, alpha=0.3)
    snr = m["snr_db"]
    if len(snr) <= 16:
        ax.set_xticks(snr)
        ax.tick_params(axis="x", labelsize=8)


# ----------------------------------------------------------------------- SNR sweeps
def plot_q_sem_vs_snr(m: dict, path: str | Path) -> Path:
    """Fig. 3: Q_sem vs SNR (and task accuracy), semantic vs standard, ideal channel dotted."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    snr = m["snr_db"]
    for ax, key, ylabel, ref in (
        (axes[0], "q_sem", Q_SEM, "q_sem"),
        (axes[1], "accuracy", r"task accuracy $Q_{\mathrm{task}}$", "accuracy"),
    ):
        for name in CONSTELLATIONS:
            s = m["variants"][name]
            ax.plot(snr, s[key], marker="o" if name == "semantic" else "s", ms=4,
                    ls="-" if name == "semantic" else "--", color=COLORS[name],
                    label=LABELS[name])
        ax.plot(snr, m["no_channel"][ref], ls=":", color="gray",
                label="no channel errors, same K")
        if key == "accuracy":
            ax.axhline(m["clean_accuracy"], color="black", lw=0.8, ls="-.",
                       label=f"T on clean inputs ({m['clean_accuracy']:.3f})")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0.0, 1.02)
        _snr_axis(ax, m)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_title(f"Semantic quality {Q_SEM} vs SNR")
    axes[1].set_title("Task accuracy vs SNR")
    fig.suptitle(_tag(m))
    return save_figure(fig, path)


def plot_q_sem_equal_energy(m: dict, path: str | Path) -> Path:
    """Q_sem at the nominal SNR (solid) and at equal transmitted Es/N0 (dashed: the noise scaled
    to each variant's measured energy per sent symbol), and that energy in dB, per variant."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    snr = m["snr_db"]
    for name, s in m["variants"].items():
        color = COLORS.get(name)
        axes[0].plot(snr, s["q_sem"], ls="-", marker="o", ms=3, color=color,
                     label=f"{LABELS.get(name, name)}, nominal SNR")
        axes[0].plot(snr, s["q_sem_equal_energy"], ls="--", marker="x", ms=4, color=color,
                     label=f"{name}, equal transmitted energy")
        axes[1].plot(snr, s["tx_symbol_energy_db"], marker="o", ms=3, color=color,
                     label=LABELS.get(name, name))
    axes[0].set_ylabel(Q_SEM)
    axes[0].set_ylim(0.0, 1.02)
    axes[0].set_title(f"{Q_SEM}: paper's power convention vs equal transmitted energy")
    axes[1].set_ylabel("energy per sent symbol (dB re. P = 1)")
    axes[1].set_title("What each variant actually transmits")
    for ax in axes:
        _snr_axis(ax, m)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(_tag(m))
    return save_figure(fig, path)


def plot_ber_vs_snr(m: dict, path: str | Path) -> Path:
    """Fig. 4: BER over the log2(M) index bits vs SNR, with the Gray-QAM approximation."""
    fig = Figure(figsize=(6.5, 4.4), layout="constrained")
    ax = fig.subplots()
    snr = np.asarray(m["snr_db"])
    floor = []
    for name in CONSTELLATIONS:
        ber = np.asarray(m["variants"][name]["ber"])
        pos = ber > 0
        ax.semilogy(snr[pos], ber[pos], marker="o" if name == "semantic" else "s", ms=4,
                    ls="-" if name == "semantic" else "--", color=COLORS[name],
                    label=LABELS[name])
        if (~pos).any():
            floor.append(f"{name}: 0 at {', '.join(f'{v:g}' for v in snr[~pos])} dB")
    # Resolution of the measurement: one bit error in all bits sent at the smallest K.
    n_bits = m["n_test"] * min(m["k"]) * m["bits_per_symbol"]
    measured = [v for n in CONSTELLATIONS for v in m["variants"][n]["ber"] if v > 0]
    zeros = bool(floor)
    bottom = min([0.3 / n_bits, *measured]) if zeros or not measured else min(measured) / 3
    grid = np.linspace(snr.min(), snr.max(), 400) if len(snr) > 1 else snr
    theory = ber_gray_square_qam_approx(m["order"], grid)
    keep = theory >= bottom
    ax.semilogy(grid[keep], theory[keep], ls=":", color="gray",
                label=r"Gray $M$-QAM, $P_s/\log_2 M$ approx.")
    if zeros:
        ax.axhline(1.0 / n_bits, color="lightgray", lw=0.8, ls="-.",
                   label=f"1 bit error in {n_bits} (resolution)")
    ax.set_ylim(bottom, 1.0)
    ax.set_ylabel(f"BER (index bits, {m['bits_per_symbol']} per symbol)")
    ax.set_title(f"Bit error rate vs SNR ({_tag(m)})", fontsize=10)
    _snr_axis(ax, m)
    ax.grid(True, which="minor", alpha=0.1)
    if floor:
        ax.text(0.02, 0.02, "no bit errors (not drawn): " + "; ".join(floor),
                transform=ax.transAxes, fontsize=7, va="bottom")
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def plot_symbols_vs_snr(m: dict, path: str | Path) -> Path:
    """Fig. 5: symbols per sample (K from the DQN policy) vs SNR and the raw baseline."""
    fig = Figure(figsize=(6.5, 4.4), layout="constrained")
    ax = fig.subplots()
    snr = m["snr_db"]
    k = m["variants"]["semantic"]["symbols_per_sample"]
    raw = m["raw_symbols_per_sample"]
    ax.plot(snr, k, marker="o", color=COLORS["semantic"],
            label="semantic and standard M-QAM (same DQN policy)")
    ax.axhline(raw, color="black", ls="--",
               label=f"raw 8-bit input: {raw:g} symbols of {m['bits_per_symbol']} bits")
    for x, kk, r in zip(snr, k, m["compression_ratio"], strict=True):
        ax.annotate(f"{r:.0f}x", (x, kk), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=7, color=COLORS["semantic"])
    ax.set_yscale("log")
    ax.set_ylim(max(1.0, min(k) / 2), raw * 2)
    ax.set_ylabel(r"symbols per sample $\ell = K$ (log)")
    ax.set_title(f"Symbols transmitted vs SNR ({_tag(m)})\nlabels: compression ratio raw / K",
                 fontsize=10)
    _snr_axis(ax, m)
    ax.legend(fontsize=8, loc="center right")
    return save_figure(fig, path)


# ----------------------------------------------------------------- constellations
def _sci_norm(mean_sci: np.ndarray, used: np.ndarray) -> Normalize:
    """Colour range of the transmitted concepts' mean SCI (their spread is often tiny)."""
    vals = np.asarray(mean_sci)[used] if used.any() else np.asarray(mean_sci)
    lo, hi = float(vals.min()), float(vals.max())
    return Normalize(lo, hi if hi > lo else lo + 1e-12)


def _marker_size(order: int) -> float:
    return float(np.clip(5000.0 / order, 10.0, 160.0))


def _square_limits(axes, points: np.ndarray) -> None:
    r = 1.08 * float(np.max(np.abs(np.concatenate([points.real, points.imag]))))
    for ax in axes:
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.set_xlabel("in-phase I")
        ax.set_ylabel("quadrature Q")
        ax.grid(True, alpha=0.2)


def plot_constellation_importance(
    points: np.ndarray,
    mean_sci: np.ndarray,
    vulnerability: np.ndarray,
    usage: np.ndarray,
    m: dict,
    scheme: str,
    path: str | Path,
    top: int = 10,
) -> Path:
    """Fig. 7: the constellation coloured by (a) mean SCI and (b) S_i; the ``top`` concepts
    with the highest mean SCI ringed in cyan (R1 = highest). Never-transmitted concepts: grey x.
    """
    pts = np.asarray(points)
    used = np.asarray(usage) > 0
    order = len(pts)
    size = _marker_size(order)
    fig = Figure(figsize=(12.5, 6.2), layout="constrained")
    axes = fig.subplots(1, 2)
    ranked = [i for i in np.argsort(-np.asarray(mean_sci), kind="stable") if used[i]][:top]

    s_used = np.asarray(vulnerability)[used]
    positive = s_used[s_used > 0]
    if positive.size and positive.max() / positive.min() > 50:
        vmax = float(positive.max())
        s_norm = LogNorm(vmin=max(float(positive.min()), vmax * 1e-4), vmax=vmax)
        s_vals = np.clip(np.asarray(vulnerability), s_norm.vmin, None)
        s_label = r"$\mathcal{S}_i$ (log scale; dark = more exposed)"
    else:
        s_norm = Normalize(vmin=0.0, vmax=float(s_used.max()) if s_used.size else 1.0)
        s_vals = np.asarray(vulnerability)
        s_label = r"$\mathcal{S}_i$ (dark = more exposed)"
    panels = (
        (axes[0], np.asarray(mean_sci), _sci_norm(mean_sci, used), "viridis",
         r"mean SCI $\bar I_i$ (range of the transmitted concepts)",
         r"(a) mean SCI $\bar I_i$ of each concept"),
        (axes[1], s_vals, s_norm, "magma_r", s_label,
         r"(b) symbol vulnerability $\mathcal{S}_i$ (eq. 4)"),
    )
    for ax, values, norm, cmap, clabel, title in panels:
        if (~used).any():
            ax.scatter(pts.real[~used], pts.imag[~used], s=size * 0.6, marker="x", lw=0.7,
                       color="lightgray")
        sc = ax.scatter(pts.real[used], pts.imag[used], c=values[used], cmap=cmap, norm=norm,
                        s=size, edgecolors="black", linewidths=0.2)
        fig.colorbar(sc, ax=ax, label=clabel, shrink=0.85)
        for rank, i in enumerate(ranked, start=1):
            ax.scatter(pts.real[i], pts.imag[i], s=size * 4.5, facecolors="none",
                       edgecolors="cyan", linewidths=1.8)
            ax.annotate(f"R{rank}", (pts.real[i], pts.imag[i]), textcoords="offset points",
                        xytext=(5, 5), fontsize=7, color="darkcyan", fontweight="bold")
        ax.set_title(title, fontsize=10)
    _square_limits(axes, pts)
    name = "Learned semantic" if scheme == "semantic" else "Standard Gray"
    spp = m["spp"][scheme]
    spp_text = "n/a" if spp is None else f"{spp:.1%}"
    fig.suptitle(
        f"{name} {order}-QAM, {m['dataset']}: $\\mathcal{{S}}_w$ = {m['ssv'][scheme]:.4g}, "
        f"SPP = {spp_text}\ncyan rings: top-{len(ranked)} concepts by mean SCI (test split); "
        f"grey x: never transmitted ({int((~used).sum())} of {order})"
    )
    return save_figure(fig, path)


def plot_constellation_evolution(
    steps: np.ndarray,
    history: np.ndarray,
    mean_sci: np.ndarray,
    usage: np.ndarray,
    m: dict,
    path: str | Path,
) -> Path:
    """Fig. 2: snapshots of the semantic constellation during training, coloured by mean SCI."""
    steps = np.asarray(steps)
    history = np.asarray(history)
    n = len(steps)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.3 * cols + 1.0, 3.4 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).reshape(-1)
    used = np.asarray(usage) > 0
    norm = _sci_norm(mean_sci, used)
    size = _marker_size(history.shape[1]) * 0.5
    order = np.argsort(np.asarray(mean_sci))  # draw important concepts on top
    sc = None
    for ax, step, pts in zip(axes, steps, history, strict=False):
        pts = pts[order]
        u = used[order]
        ax.scatter(pts.real[~u], pts.imag[~u], s=size, marker="x", lw=0.5, color="lightgray")
        sc = ax.scatter(pts.real[u], pts.imag[u], c=np.asarray(mean_sci)[order][u],
                        cmap="viridis", norm=norm, s=size)
        ax.set_title(f"step {int(step)}", fontsize=10)
    for ax in axes[n:]:
        ax.set_visible(False)
    _square_limits(axes[:n], history.reshape(-1))
    for ax in axes[1:n]:
        ax.set_ylabel("")
    if sc is not None:
        fig.colorbar(sc, ax=list(axes[:n]), shrink=0.85,
                     label=r"mean SCI $\bar I_i$ (test split, transmitted range)")
    fig.suptitle(f"Evolution of the semantic {m['order']}-QAM constellation during training "
                 f"({m['dataset']}); grey x: never transmitted")
    return save_figure(fig, path)


# ---------------------------------------------------------------------- sweep over M
def plot_ssv_spp_vs_order(rows: list[dict], dataset: str, path: str | Path) -> Path:
    """Fig. 8: S_w (a) and SPP (b) vs M for both schemes, mean ± std over the seeds in ``rows``
    (metrics dicts, any number per order). Solid: statistics of all N slots of the test
    encodings (policy-independent); dotted: of the sent top-K (the paper's pooling)."""
    orders = sorted({r["order"] for r in rows})
    by_order = {o: [r for r in rows if r["order"] == o] for o in orders}
    n_seeds = sorted({len(v) for v in by_order.values()})
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_s, ax_p = fig.subplots(1, 2)

    def stat(key: str, name: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        vals = [[np.nan if r[key][name] is None else scale * r[key][name] for r in by_order[o]]
                for o in orders]
        return (np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in vals]),
                np.array([np.nanstd(v, ddof=1) if np.isfinite(v).sum() > 1 else 0.0
                          for v in vals]))

    for name in CONSTELLATIONS:
        if any(name not in r["ssv_all_slots"] for r in rows):
            continue
        marker = "o" if name == "semantic" else "s"
        for key_s, key_p, ls, lw, suffix in (("ssv_all_slots", "spp_all_slots", "-", 1.8,
                                              "all slots"),
                                             ("ssv", "spp", ":", 1.0, "sent top-K")):
            style = dict(marker=marker, ls=ls, lw=lw, color=COLORS[name], capsize=3,
                         ms=5 if ls == "-" else 3, label=f"{LABELS[name]}, {suffix}")
            ax_s.errorbar(orders, *stat(key_s, name), **style)
            ax_p.errorbar(orders, *stat(key_p, name, 100.0), **style)
    ax_s.set_yscale("log")
    ax_s.set_ylabel(r"$\mathcal{S}_w$ (eq. 4, log)")
    ax_s.set_title(r"(a) SCI-weighted SSV $\mathcal{S}_w$ vs $M$")
    ax_p.set_ylabel(r"SPP $\mathcal{S}_p$ (eq. 5, %)")
    ax_p.set_ylim(0, 105)
    ax_p.set_title(r"(b) semantic protection probability $\mathcal{S}_p$ vs $M$")
    for ax in (ax_s, ax_p):
        ax.set_xscale("log", base=2)
        ax.set_xticks(orders, [str(o) for o in orders])
        ax.minorticks_off()
        ax.set_xlabel("modulation order M")
        ax.grid(True, alpha=0.3)
    ax_p.legend(fontsize=7, loc="lower left")
    seeds = "/".join(str(n) for n in n_seeds)
    fig.suptitle(f"SSV and SPP across modulation orders ({dataset}; mean ± std over {seeds} "
                 f"seed{'s' if n_seeds != [1] else ''})")
    return save_figure(fig, path)


def plot_q_sem_all_orders(rows: list[dict], dataset: str, path: str | Path) -> Path:
    """Fig. 3 / 6 over every M: Q_sem vs SNR, solid semantic, dashed standard."""
    rows = sorted(rows, key=lambda r: r["order"])
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"]
    for i, r in enumerate(rows):
        c = cmap(i / max(1, len(rows) - 1) * 0.9)
        ax.plot(r["snr_db"], r["variants"]["semantic"]["q_sem"], color=c, marker="o", ms=3,
                label=f"semantic {r['order']}-QAM")
        ax.plot(r["snr_db"], r["variants"]["standard"]["q_sem"], color=c, ls="--", marker="s",
                ms=3, label=f"standard {r['order']}-QAM")
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel(Q_SEM)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title(f"Semantic quality across M-QAM orders ({dataset})")
    return save_figure(fig, path)
