"""Sweep over modulation orders and training seeds: train (or reuse) one run per (M, seed),
evaluate each, summarise as mean ± std over the seeds.

For every M and seed: the run folder ``{runs_dir}/{dataset}-{M}`` (seed 0) or
``{runs_dir}/{dataset}-{M}-s{seed}`` is reused when it is complete (every file ``semqam train``
writes) and was trained on the same data (source and split), profile and seed; a complete
folder that differs is an error (delete it or use another ``--runs-dir``), an incomplete one is
retrained. Each evaluation goes to ``{out}/M{M}/`` (seed 0) or ``{out}/M{M}-s{seed}/``
(``metrics.json`` and the figures of ``semqam evaluate``; its noise seed is the training seed);
the sweep writes ``summary.md``, ``summary.json``, ``ssv_spp_vs_order.png`` (paper Fig. 8) and
``q_sem_vs_snr_orders.png`` (Fig. 3, of the first seed) into ``out``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from evaluation.evaluate import evaluate, write_outputs
from evaluation.sweep_layout import results_folder, run_folder
from semqam.fileio import write_json, write_text
from trainer.data import Dataset
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.run import load_run, missing_files

#: 2: per-(order, seed) rows in ``runs``; ``orders`` holds mean ± std over the seeds.
SUMMARY_FORMAT = 2
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


def parse_seeds(spec: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2] (distinct, in the order given); ValueError (one line)."""
    cells = [c.strip() for c in str(spec).split(",")]
    try:
        seeds = [int(c) for c in cells]
    except ValueError:
        raise ValueError(f"--seeds {spec!r}: give a comma list of integers, e.g. 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {spec!r}: seeds must be distinct and >= 0")
    return seeds


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
        "seed": run.info.get("seed"),
        "q_sem": {
            name: {f"{s:g}": _at(m, ("variants", name, "q_sem"), s) for s in table_snr}
            for name in m["variants"]
        },
        "q_sem_equal_energy": {
            name: {f"{s:g}": _at(m, ("variants", name, "q_sem_equal_energy"), s)
                   for s in table_snr}
            for name in m["variants"] if "q_sem_equal_energy" in m["variants"][name]
        },
        "tx_symbol_energy_db": {
            name: {f"{s:g}": _at(m, ("variants", name, "tx_symbol_energy_db"), s)
                   for s in table_snr}
            for name in m["variants"] if "tx_symbol_energy_db" in m["variants"][name]
        },
        "ber_uniform": {
            name: {f"{s:g}": _at(m, ("variants", name, "ber_uniform"), s) for s in table_snr}
            for name in m["variants"] if "ber_uniform" in m["variants"][name]
        },
        "ssv": m["ssv"],
        "spp": m["spp"],
        "ssv_all_slots": m.get("ssv_all_slots", {}),
        "spp_all_slots": m.get("spp_all_slots", {}),
        "symbols_per_sample": {"-10": k_low, "20": k_high},
        "compression_ratio_20db": raw / k_high,
        "raw_symbols_per_sample": raw,
        "train_s": run.info.get("timings_s", {}).get("total_s"),
        "eval_s": round(eval_s, 2),
    }


def _fmt(v, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def _stats(values: list) -> dict | None:
    """``{"mean", "std", "n"}`` of the non-null values (population std); None if none."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
    return {"mean": mean, "std": std, "n": len(vals)}


def _aggregate(rows: list[dict]) -> dict:
    """Mean ± std over the seeds of one order's rows, key for key (nested dicts of numbers)."""
    def merge(items: list):
        first = items[0]
        if isinstance(first, dict):
            return {k: merge([it.get(k) for it in items]) for k in first}
        if isinstance(first, bool) or not isinstance(first, (int, float)) and first is not None:
            return first
        return _stats(items)

    keys = ("q_sem", "q_sem_equal_energy", "tx_symbol_energy_db", "ber_uniform", "ssv", "spp",
            "ssv_all_slots", "spp_all_slots", "symbols_per_sample", "compression_ratio_20db",
            "train_s", "eval_s")
    return {"order": rows[0]["order"], "seeds": [r["seed"] for r in rows],
            **{k: merge([r.get(k) for r in rows]) for k in keys if k in rows[0]}}


def _pm(st: dict | None, spec: str = ".3f") -> str:
    if st is None:
        return "n/a"
    return format(st["mean"], spec) if st["n"] == 1 else \
        f"{format(st['mean'], spec)} ± {format(st['std'], spec)}"


def summary_markdown(summary: dict) -> str:
    """The ``summary.md`` tables: one row per M, mean ± std over the seeds."""
    rows = summary["orders"]
    snrs = list(rows[0]["q_sem"]["semantic"]) if rows else []
    seeds = summary["seeds"]
    head = ["M", *(f"Q_sem sem / std @ {s} dB" for s in snrs), "SPP sem / std",
            "S_w sem / std", "symbols @ -10 dB", "symbols @ 20 dB", "compression @ 20 dB",
            "train s", "eval s"]
    lines = [
        f"# Sweep over M: {summary['dataset']}",
        "",
        f"Data: {summary['data_source']} ({summary['n_test']} test samples), profile "
        f"{summary['profile']}, training seeds {', '.join(map(str, seeds))} (mean ± std over "
        f"them where more than one), SNR {', '.join(f'{s:g}' for s in summary['snr_db'])} dB.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" for _ in head) + "|",
    ]
    for r in rows:
        def pair(key, spec=".3f", r=r, at=None):
            a, b = r[key]["semantic"], r[key]["standard"]
            if at is not None:
                a, b = a[at], b[at]
            return f"{_pm(a, spec)} / {_pm(b, spec)}"
        cells = [
            str(r["order"]),
            *(pair("q_sem", at=s) for s in snrs),
            pair("spp", ".2f"),
            pair("ssv", ".4g"),
            _pm(r["symbols_per_sample"]["-10"], ".1f"),
            _pm(r["symbols_per_sample"]["20"], ".1f"),
            _pm(r["compression_ratio_20db"], ".1f") + "x",
            _pm(r["train_s"], ".0f"),
            _pm(r["eval_s"], ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    variants = [v for v in ("semantic", "standard", "fair") if rows and v in rows[0]["q_sem"]]
    if rows and rows[0].get("spp_all_slots"):
        head2 = ["M", *(f"SPP all slots {v}" for v in variants),
                 *(f"S_w all slots {v}" for v in variants),
                 *(f"Q_sem equal energy {v} @ 0 / 20 dB" for v in variants),
                 *(f"Es sent {v} @ 0 dB (dB)" for v in variants),
                 *(f"BER uniform {v} @ 20 dB" for v in variants)]
        lines += ["", "Honest accounting (docs/metrics.md): policy-independent SPP / S_w (all N "
                  "slots of the test encodings), Q_sem at equal transmitted energy, the energy "
                  "actually sent per symbol, BER of uniformly random symbols.", "",
                  "| " + " | ".join(head2) + " |", "|" + "|".join("---:" for _ in head2) + "|"]
        for r in rows:
            def at(key, v, s, r=r):
                d = r.get(key, {}).get(v) or {}
                return d.get(s)
            cells = [str(r["order"]),
                     *(_pm(r["spp_all_slots"].get(v), ".2f") for v in variants),
                     *(_pm(r["ssv_all_slots"].get(v), ".4g") for v in variants),
                     *(f"{_pm(at('q_sem_equal_energy', v, '0'))} / "
                       f"{_pm(at('q_sem_equal_energy', v, '20'))}" for v in variants),
                     *(_pm(at("tx_symbol_energy_db", v, "0"), ".2f") for v in variants),
                     *(_pm(at("ber_uniform", v, "20"), ".3f") for v in variants)]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "sem = learned semantic constellation, std = rectangular Gray M-QAM, fair = learned "
        "under the power of what is sent; all with the same encoder, SCI, DQN policy and test "
        "samples. Q_sem, S_w (eq. 4), SPP (eq. 5): see docs/metrics.md. Symbols per sample = K "
        "chosen by the DQN policy at that SNR; compression = raw 8-bit input symbols "
        "(H*W*8/log2 M) / K. Per-run details: M{order}[-s{seed}]/metrics.json.",
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
    seeds: list[int] | None = None,
    overrides: dict | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train or reuse a run per M in ``orders`` and seed in ``seeds`` (default ``[seed]``) on
    ``ds``, evaluate each, write the summary (mean ± std over the seeds).

    ``overrides``: extra :class:`~trainer.svqvae.config.TrainConfig` fields for new runs (tests).
    """
    from evaluation import plots
    from trainer.svqvae.train import train

    out, runs_dir = Path(out), Path(runs_dir)
    seeds = [seed] if seeds is None else list(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds {seeds!r}: give distinct non-negative integers, e.g. 0,1,2")
    rows, all_metrics, first_seed_metrics = [], [], []
    for s, m in ((s, m) for s in seeds for m in orders):
        cfg = TrainConfig.for_profile(profile, order=m, seed=s, **(overrides or {}))
        run_dir = runs_dir / run_folder(ds.name, m, s)
        reused = run_dir.is_dir() and not missing_files(run_dir)
        if reused:
            _check_reusable(run_dir, ds, cfg)
            log(f"M = {m}, seed {s}: reusing {run_dir}")
        else:
            log(f"M = {m}, seed {s}: training {run_dir} (profile {profile})")
            train(ds, cfg, run_dir, force=run_dir.exists())
        run = load_run(run_dir)
        t0 = time.perf_counter()
        ev = evaluate(run, ds, snr_db, seed=s)
        results = out / results_folder(m, s)
        write_outputs(ev, run, results)
        eval_s = time.perf_counter() - t0
        rows.append(summary_row(ev.metrics, run, reused=reused, eval_s=eval_s, results=results))
        all_metrics.append(ev.metrics)
        if s == seeds[0]:
            first_seed_metrics.append(ev.metrics)
        log(f"M = {m}, seed {s}: results in {results} ({eval_s:.0f} s)")

    summary = {
        "format": SUMMARY_FORMAT,
        "dataset": ds.name,
        "data_source": ds.source,
        "n_test": int(ds.n_test),
        "profile": profile,
        "seeds": seeds,
        "snr_db": [float(s) for s in snr_db],
        "orders": [_aggregate([r for r in rows if r["order"] == m]) for m in orders],
        "runs": rows,
    }
    figures = [
        plots.plot_ssv_spp_vs_order(all_metrics, ds.name, out / "ssv_spp_vs_order.png"),
        plots.plot_q_sem_all_orders(first_seed_metrics, ds.name,
                                    out / "q_sem_vs_snr_orders.png"),
    ]
    summary["files"] = ["summary.md", "summary.json", *(p.name for p in figures)]
    write_text(out / "summary.md", summary_markdown(summary))
    write_json(out / "summary.json", summary)
    return summary
