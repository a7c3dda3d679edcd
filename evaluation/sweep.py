"""Sweep over modulation orders: train (or reuse) one run per M, evaluate each, summarise.

For every M: the run folder ``{runs_dir}/{dataset}-{M}`` is reused when it is complete (every
file ``semqam train`` writes) and was trained on the same data (source and split), profile and
seed; a complete folder that differs is an error (delete it or use another ``--runs-dir``), an
incomplete one is retrained. Each evaluation goes to ``{out}/M{M}/`` (``metrics.json`` and the
figures of ``semqam evaluate``); the sweep writes ``summary.md``, ``summary.json``,
``ssv_spp_vs_order.png`` (paper Fig. 8) and ``q_sem_vs_snr_orders.png`` (Fig. 3) into ``out``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from semqam_node.conventions import CONSTELLATIONS

from evaluation.evaluate import evaluate, write_outputs
from semqam.fileio import write_json, write_text
from trainer.data import Dataset
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.run import load_run, missing_files

SUMMARY_FORMAT = 1
TABLE_SNR_DB = (-10.0, 0.0, 10.0, 20.0)


def parse_orders(spec: str) -> list[int]:
    """``"4,16,64"`` -> [4, 16, 64] (sorted, unique); ValueError (one line) otherwise."""
    cells = [c.strip() for c in str(spec).split(",")]
    if not cells or any(not c for c in cells):
        raise ValueError(f"--orders {spec!r}: give a comma list of M, e.g. 4,16,64,256,1024")
    try:
        orders = sorted({int(c) for c in cells})
    except ValueError:
        raise ValueError(f"--orders {spec!r}: every entry must be an integer M") from None
    for m in orders:
        TrainConfig(order=m)  # raises "order ... is not supported; choose one of ..."
    return orders


def _same_path(a, b) -> bool:
    """Both name the same existing file or folder (``../data/x.csv`` vs an absolute path)."""
    try:
        pa, pb = Path(str(a)), Path(str(b))
        return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()
    except (OSError, ValueError):
        return False


def _check_reusable(run_dir: Path, ds: Dataset, cfg: TrainConfig) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    d, c = info.get("dataset", {}), info.get("config", {})
    want = {"data set": ds.name, "data source": ds.source,
            "split": str(ds.meta.get("split", "")), "profile": cfg.profile, "seed": cfg.seed,
            "order": cfg.order}
    have = {"data set": d.get("name"), "data source": d.get("source"),
            "split": str((d.get("meta") or {}).get("split", "")), "profile": c.get("profile"),
            "seed": info.get("seed"), "order": c.get("order")}
    if _same_path(have["data source"], want["data source"]):
        have["data source"] = want["data source"]
    diff = [f"{k} {have[k]!r} (wanted {want[k]!r})" for k in want if have[k] != want[k]]
    if diff:
        raise ValueError(
            f"{run_dir} exists but differs: {'; '.join(diff)}; delete it or pass another "
            "--runs-dir"
        )


def _at(m: dict, key_path: tuple[str, ...], snr: float):
    if snr not in m["snr_db"]:
        return None
    value = m
    for k in key_path:
        value = value[k]
    return value[m["snr_db"].index(snr)]


def summary_row(m: dict, run, *, reused: bool, eval_s: float, results: Path) -> dict:
    """The summary numbers of one order (``summary.json`` -> ``orders[i]``)."""
    table_snr = [s for s in TABLE_SNR_DB if s in m["snr_db"]] or sorted(
        {m["snr_db"][0], m["snr_db"][-1]})
    raw = m["raw_symbols_per_sample"]
    k_low, k_high = run.policy.k_for(-10.0), run.policy.k_for(20.0)
    return {
        "order": m["order"],
        "run": str(run.path),
        "results": str(results),
        "reused": reused,
        "profile": run.config.get("profile"),
        "n_test": m["n_test"],
        "q_sem": {
            name: {f"{s:g}": _at(m, ("variants", name, "q_sem"), s) for s in table_snr}
            for name in CONSTELLATIONS
        },
        "ssv": m["ssv"],
        "spp": m["spp"],
        "symbols_per_sample": {"-10": k_low, "20": k_high},
        "compression_ratio_20db": raw / k_high,
        "raw_symbols_per_sample": raw,
        "train_s": run.info.get("timings_s", {}).get("total_s"),
        "eval_s": round(eval_s, 2),
    }


def _fmt(v, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def summary_markdown(summary: dict) -> str:
    """The ``summary.md`` table (one row per M)."""
    rows = summary["orders"]
    snrs = list(rows[0]["q_sem"]["semantic"]) if rows else []
    head = ["M", *(f"Q_sem sem / std @ {s} dB" for s in snrs), "SPP sem / std",
            "S_w sem / std", "symbols @ -10 dB", "symbols @ 20 dB", "compression @ 20 dB",
            "train s", "eval s"]
    lines = [
        f"# Sweep over M: {summary['dataset']}",
        "",
        f"Data: {summary['data_source']} ({summary['n_test']} test samples), profile "
        f"{summary['profile']}, seed {summary['seed']}, SNR "
        f"{', '.join(f'{s:g}' for s in summary['snr_db'])} dB.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" for _ in head) + "|",
    ]
    for r in rows:
        def pair(a, b, spec=".3f"):
            return f"{_fmt(a, spec)} / {_fmt(b, spec)}"
        spp = r["spp"]
        cells = [
            str(r["order"]),
            *(pair(r["q_sem"]["semantic"][s], r["q_sem"]["standard"][s]) for s in snrs),
            " / ".join("n/a" if spp[n] is None else f"{spp[n]:.0%}"
                       for n in CONSTELLATIONS),
            pair(r["ssv"]["semantic"], r["ssv"]["standard"], ".4g"),
            str(r["symbols_per_sample"]["-10"]),
            str(r["symbols_per_sample"]["20"]),
            f"{r['compression_ratio_20db']:.1f}x",
            _fmt(r["train_s"], ".0f") + (" (reused)" if r["reused"] else ""),
            _fmt(r["eval_s"], ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "sem = learned semantic constellation, std = rectangular Gray M-QAM; both with the same "
        "encoder, SCI, DQN policy and test samples. Q_sem, S_w (eq. 4), SPP (eq. 5): see "
        "docs/metrics.md. Symbols per sample = K chosen by the DQN policy at that SNR; "
        "compression = raw 8-bit input symbols (H*W*8/log2 M) / K. Per-order details: "
        "M{order}/metrics.json.",
        "",
    ]
    return "\n".join(lines)


def sweep(
    ds: Dataset,
    orders: list[int],
    out: str | Path,
    *,
    snr_db: list[float],
    profile: str = "quick",
    runs_dir: str | Path = "runs",
    seed: int = 0,
    overrides: dict | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train or reuse a run per M in ``orders`` on ``ds``, evaluate each, write the summary.

    ``overrides``: extra :class:`~trainer.svqvae.config.TrainConfig` fields for new runs (tests).
    """
    from evaluation import plots
    from trainer.svqvae.train import train

    out, runs_dir = Path(out), Path(runs_dir)
    cfgs = {m: TrainConfig.for_profile(profile, order=m, seed=seed, **(overrides or {}))
            for m in orders}
    rows, all_metrics = [], []
    for m in orders:
        cfg = cfgs[m]
        run_dir = runs_dir / f"{ds.name}-{m}"
        reused = run_dir.is_dir() and not missing_files(run_dir)
        if reused:
            _check_reusable(run_dir, ds, cfg)
            log(f"M = {m}: reusing {run_dir}")
        else:
            log(f"M = {m}: training {run_dir} (profile {profile})")
            train(ds, cfg, run_dir, force=run_dir.exists())
        run = load_run(run_dir)
        t0 = time.perf_counter()
        ev = evaluate(run, ds, snr_db, seed=seed)
        results = out / f"M{m}"
        write_outputs(ev, run, results)
        eval_s = time.perf_counter() - t0
        rows.append(summary_row(ev.metrics, run, reused=reused, eval_s=eval_s, results=results))
        all_metrics.append(ev.metrics)
        log(f"M = {m}: results in {results} ({eval_s:.0f} s)")

    summary = {
        "format": SUMMARY_FORMAT,
        "dataset": ds.name,
        "data_source": ds.source,
        "n_test": int(ds.n_test),
        "profile": profile,
        "seed": seed,
        "snr_db": [float(s) for s in snr_db],
        "orders": rows,
    }
    figures = [
        plots.plot_ssv_spp_vs_order(all_metrics, ds.name, out / "ssv_spp_vs_order.png"),
        plots.plot_q_sem_all_orders(all_metrics, ds.name, out / "q_sem_vs_snr_orders.png"),
    ]
    summary["files"] = ["summary.md", "summary.json", *(p.name for p in figures)]
    write_text(out / "summary.md", summary_markdown(summary))
    write_json(out / "summary.json", summary)
    return summary
