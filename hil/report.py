"""``hil_report.json``: the HIL points gathered per constellation, latency summaries, the offline
int8 reference and the agreement with it (format in docs/hil.md; bump :data:`REPORT_FORMAT` when
it changes), plus the short table ``make hil`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np
from semqam_node.conventions import TIMING_STAGES
from semqam_node.stats import summarize

from hil.runner import HilConfig, PointResult
from semqam.units import linear_to_db

#: 2: "schemes" (the constellations) renamed "variants"; "scheme" names the system.
REPORT_FORMAT = 2
AGREEMENT_TOLERANCE = 0.005  # issue 7: HIL vs offline int8, Q_sem and accuracy, every SNR


def form_name(activations: str | None) -> str:
    """``16x8`` for a bundle's ``activations`` ``int16``, else ``int8`` (bundles and reports
    written before 2026-12-01 carry none: int8)."""
    return "16x8" if activations == "int16" else "int8"


def quantized_form(report: dict[str, Any]) -> str:
    """The form of the model the node ran and the offline twin evaluated (:func:`form_name`)."""
    return form_name(report["bundle"].get("activations"))


def _summary(values: list[float], scale: float = 1.0, ndigits: int = 1) -> dict[str, Any]:
    s = summarize(values, scale)
    if not s["n"]:
        return {"n": 0, "median": None, "p95": None}
    return {"n": s["n"], "median": round(s["median"], ndigits), "p95": round(s["p95"], ndigits)}


def latency_summary(points: list[PointResult]) -> dict[str, Any]:
    """Per node stage and end to end: median / p95 over every sample that arrived."""
    stages = {s: [v for p in points for v in p.stage_us.get(s, [])] for s in TIMING_STAGES}
    totals = [sum(vals) for p in points
              for vals in zip(*(p.stage_us.get(s, []) for s in TIMING_STAGES), strict=False)]
    n = sum(p.metrics.get("n", 0) for p in points) or 1
    edge = {k: sum(p.edge_s.get(k, 0.0) * p.metrics.get("n", 0) for p in points) / n
            for k in ("demap", "decode", "total")}
    return {
        "node_stages_us": {s: _summary(v) for s, v in stages.items()},
        "node_total_us": _summary(totals),
        "link_rtt_ms": _summary([r for p in points for r in p.rtt_s], 1e3, 3),
        "edge_per_sample_us": {k: round(v * 1e6, 1) for k, v in edge.items()},
        "note": ("node stages are measured on the node (perf_counter_ns) and sent in every "
                 "SYMBOLS frame; link_rtt is the host's request-to-reply time with several "
                 "requests in flight, so it includes queueing; edge is host time per sample"),
    }


def agreement(hil: dict[str, dict[str, list]], offline: dict[str, dict[str, list]]
              ) -> dict[str, Any]:
    """Max |HIL − offline| of Q_sem and accuracy over the sweep, per constellation."""
    out: dict[str, Any] = {"tolerance": AGREEMENT_TOLERANCE}
    holds = True
    for name, h in hil.items():
        o = offline[name]
        d = {m: float(np.max(np.abs(np.asarray(h[m], float) - np.asarray(o[m], float))))
             for m in ("q_sem", "accuracy")}
        d["holds"] = all(v <= AGREEMENT_TOLERANCE for v in d.values())
        holds &= d["holds"]
        out[name] = d
    out["holds"] = holds
    return out


def build_report(points: list[PointResult], cfg: HilConfig, *, node: dict[str, Any],
                 bundle: dict[str, Any], n_test: int, data_source: str,
                 raw_symbols: float, offline: dict[str, Any] | None, offline_note: str,
                 timing_s: dict[str, float]) -> dict[str, Any]:
    variants: dict[str, dict[str, list]] = {}
    for p in points:
        s = variants.setdefault(p.constellation, {k: [] for k in (
            "snr_db", "q_sem", "accuracy", "p_c", "kl_similarity", "ber", "ser",
            "symbols_per_sample", "k_histogram", "feedback", "tx_symbol_energy_db",
            "node_total_us_median", "link")})
        m = p.metrics
        s["snr_db"].append(p.snr_db)
        for key in ("q_sem", "accuracy", "p_c", "kl_similarity", "ber", "ser",
                    "symbols_per_sample", "k_histogram", "feedback"):
            s[key].append(m.get(key))
        e = m.get("tx_energy")
        s["tx_symbol_energy_db"].append(None if e is None else round(linear_to_db(e), 3))
        s["node_total_us_median"].append(latency_summary([p])["node_total_us"]["median"])
        s["link"].append(p.link)
    samples = sum(p.link["samples"] for p in points)
    elapsed = sum(p.link["elapsed_s"] for p in points)
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "bundle": bundle,
        "node": node,
        "channel": {"name": cfg.channel, "params": cfg.channel_params, "seed": cfg.seed,
                    "noise_seed": "seed + j at the j-th SNR point (as semqam evaluate)",
                    "feedback": cfg.feedback, "block": cfg.block,
                    "pilots": cfg.pilots if cfg.feedback == "estimated" else None,
                    "window": cfg.window},
        "n_test": n_test,
        "data_source": data_source,
        "snr_db": list(cfg.snr_db),
        "raw_symbols_per_sample": raw_symbols,
        "scheme": bundle.get("scheme", "svqvae"),
        "variants": variants,
        "link": {
            "samples": samples,
            "ok": sum(p.link["ok"] for p in points),
            "failed": sum(p.link["samples"] - p.link["ok"] for p in points),
            "retransmits": sum(p.link["retransmits"] for p in points),
            "bytes_tx_per_sample": round(sum(p.link["bytes_tx"] for p in points) / samples, 1)
            if samples else None,
            "bytes_rx_per_sample": round(sum(p.link["bytes_rx"] for p in points) / samples, 1)
            if samples else None,
            "samples_per_s": round(samples / elapsed, 1) if elapsed > 0 else None,
        },
        "latency": latency_summary(points),
        "offline_int8": offline,
        "offline_note": offline_note,
        "agreement": None,
        "timing_s": timing_s,
    }
    if offline is not None:
        report["agreement"] = agreement(
            {n: {"q_sem": s["q_sem"], "accuracy": s["accuracy"]} for n, s in variants.items()},
            offline)
    return report


def print_table(report: dict[str, Any], console: Any = None) -> None:
    """SNR | K = symbols/sample | Q_sem per constellation (and the offline twin) | node latency
    (median of the node's stage times per sample)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    variants = report["variants"]
    off = report.get("offline_int8") or {}
    names = list(variants)
    t = Table(title=f"HIL: {report['bundle']['path']} over {report['channel']['name']}, "
                    f"{report['n_test']} samples, node {report['node'].get('port')}",
              title_justify="left")
    t.add_column("SNR dB", justify="right")
    t.add_column("K", justify="right")
    for n in names:
        t.add_column(f"Q_sem {n[:3]}", justify="right")
        if n in off:
            t.add_column("offline", justify="right", style="dim")
    t.add_column("node µs", justify="right")
    first = variants[names[0]]
    for j, snr in enumerate(first["snr_db"]):
        k = first["symbols_per_sample"][j]
        row = [f"{snr:g}", "—" if k is None else f"{k:.1f}".removesuffix(".0")]
        for n in names:
            q = variants[n]["q_sem"][j]
            row.append("—" if q is None else f"{q:.4f}")
            if n in off:
                row.append(f"{off[n]['q_sem'][j]:.4f}")
        lat = first["node_total_us_median"][j]
        row.append("—" if lat is None else f"{lat:.0f}")
        t.add_row(*row)
    console.print(t)
    link = report["link"]
    raw = report["raw_symbols_per_sample"]
    console.print(f"raw transmission: {raw:.1f} symbols/sample; link: {link['ok']}/"
                  f"{link['samples']} samples ok, {link['retransmits']} retransmits, "
                  f"{link['samples_per_s']} samples/s ({report['node']['link']})")
    ag = report.get("agreement")
    if ag:
        worst = max(max(ag[n]["q_sem"], ag[n]["accuracy"]) for n in names)
        verdict = "holds" if ag["holds"] else "MISSES"
        console.print(f"HIL vs offline {quantized_form(report)}: max |Δ| = {worst:.4f} (tolerance "
                      f"{ag['tolerance']}): {verdict}")
    elif report.get("offline_note"):
        console.print(f"offline reference: {report['offline_note']}")
