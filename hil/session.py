"""One ``semqam hil`` run end to end: bundle + test set + node -> ``hil_report.json`` + figures.

The offline reference is ``semqam evaluate --bundle`` of the *int8* model
(:func:`offline_int8`): the node side computed independently of the device runtime (LiteRT
reference kernels + NumPy search, :func:`firmware_export.validate.bundle_node_sets`; the
node's Q-format constellation tables, ``bundle_tx_points``), the edge side by the run's Keras
decoder, the same samples and the same ``AWGN(seed + j)`` noise. It needs the run folder the
bundle was exported from and an AWGN channel with nominal SNR feedback (otherwise the two do
not compute the same thing, and the report says why there is no reference).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from semqam_node.session import VIRTUAL, open_node

from edge.decoder import EdgeDecoder
from hil.report import build_report, form_name
from hil.runner import HilConfig, run_hil
from semqam.fileio import atomic_dir, write_json
from semqam.units import raw_symbols_per_sample

REPORT = "hil_report.json"
FIGURES = ("received_constellations.png", "q_sem_hil_vs_offline.png", "latency_breakdown.png")


def load_test_set(manifest: dict[str, Any], data: str | Path | None = None,
                  limit: int | None = None) -> Any:
    """The bundle's test split (``data``: all of that file/folder instead), first ``limit``."""
    from evaluation.evaluate import dataset_from_info
    from trainer.data import load_dataset

    info = manifest.get("run", {}).get("dataset")
    if info is None:
        raise ValueError("the bundle manifest has no run.dataset; re-export it with semqam export")
    ds = (load_dataset(info["name"], data, all_test=True) if data is not None
          else dataset_from_info(info))
    if tuple(ds.input_shape) != tuple(manifest["input"]["shape"]):
        raise ValueError(f"{ds.source}: inputs are {ds.input_shape} but the bundle expects "
                         f"{tuple(manifest['input']['shape'])}")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be >= 1, got {limit}")
        ds = dataclasses.replace(ds, x_test=ds.x_test[:limit], y_test=ds.y_test[:limit])
    if len(ds.x_test) == 0:
        raise ValueError(f"{ds.source}: the test split is empty")
    return ds


def offline_reason(cfg: HilConfig, run_dir: Path | None) -> str:
    """Why there is no offline reference ('' when there is one)."""
    if cfg.channel != "awgn" or cfg.channel_params.keys() - {"signal_power"}:
        return f"semqam evaluate models AWGN only, this run used {cfg.channel}"
    if cfg.feedback != "nominal":
        return "estimated SNR feedback changes K per block; semqam evaluate uses the policy K"
    if run_dir is None:
        return "the bundle's run folder is not here (pass --run)"
    return ""


def offline_int8(run_dir: Path, bundle: Path, ds: Any, snr_db: list[float], seed: int,
                 variants: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
    """``semqam evaluate --bundle`` of the bundle's int8 model on ``ds``: per variant Q_sem,
    accuracy, BER."""
    from evaluation.evaluate import evaluate, int8_transmitters
    from trainer.scheme import load_run

    run = load_run(run_dir)
    ev = evaluate(run, ds, snr_db, seed=seed, transmitters=int8_transmitters(run, bundle))
    return {n: {k: list(ev.metrics["variants"][n][k]) for k in ("q_sem", "accuracy", "ber")}
            for n in variants}


def _run_dir(manifest: dict[str, Any], run: str | Path | None) -> Path | None:
    if run is not None:
        if not (Path(run) / "run.json").is_file():
            raise ValueError(f"{run}: not a run folder (no run.json)")
        return Path(run)
    path = manifest.get("run", {}).get("path")
    return Path(path) if path and (Path(path) / "run.json").is_file() else None


def hil(bundle: str | Path, cfg: HilConfig, out: str | Path, *, port: str = VIRTUAL,
        trust: str | Path | None = None, baud: int = 115200, pace: bool = False,
        timeout: float = 2.0, backend: str = "c", data: str | Path | None = None,
        limit: int | None = None, run: str | Path | None = None, offline: bool = True,
        faults: Any = None, progress: Any = None,
        say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the HIL sweep and write ``out/hil_report.json`` and the figures (atomically)."""
    from semqam_node.bundle import load_public_key

    from hil import plots

    cfg.check()
    t0 = time.perf_counter()
    bundle = Path(bundle)
    key = load_public_key(trust) if trust else None
    edge = EdgeDecoder(bundle, key)
    ds = load_test_set(edge.manifest, data, limit)
    run_dir = _run_dir(edge.manifest, run)
    note = offline_reason(cfg, run_dir) if offline else "disabled (--no-offline)"
    scatter = plots.scatter_snrs(list(cfg.snr_db), cfg.scatter_snr_db)
    total = len(ds.x_test) * len(cfg.snr_db) * len(cfg.constellations)
    say(f"test set: {ds.source}, {len(ds.x_test)} samples x {len(cfg.snr_db)} SNRs x "
        f"{len(cfg.constellations)} constellations = {total} samples over the link")

    task = progress.add_task("hil: samples over the link", total=total,
                                                info="") if progress is not None else None

    def advance(n: int) -> None:
        if progress is not None:
            progress.advance(task, n)

    t_link = time.perf_counter()
    with open_node(port, bundle, trust=trust, baud=baud, pace=pace, timeout=timeout,
                   backend=backend, faults=faults) as session:
        flash = session.flash
        say(f"node {session.client.info.node_id}: bundle {flash.bundle_id} "
            + ("already active" if flash.skipped else
               f"flashed ({flash.total_bytes} bytes in {flash.elapsed_s:.1f} s)"))
        points = run_hil(session.client, edge, ds.x_test, ds.y_test, cfg, advance)
        node = session.describe()
    t_link = time.perf_counter() - t_link

    ref = None
    t_off = time.perf_counter()
    if not note:
        form = form_name(edge.manifest.get("activations"))
        say(f"offline {form} evaluation (same samples, seed and noise) for the agreement check")
        ref = offline_int8(run_dir, bundle, ds, list(cfg.snr_db), cfg.seed,
                           cfg.constellations)  # type: ignore[arg-type]
    t_off = time.perf_counter() - t_off

    m = edge.manifest
    report = build_report(
        points, cfg, node=node,
        bundle={"path": str(bundle), "bundle_id": m["bundle_id"], "dataset": m["dataset"],
                "scheme": m.get("scheme", "svqvae"),
                "order": edge.order, "n_concepts": edge.n_concepts,
                "signed": "signature" in m, "signature_checked": key is not None,
                "activations": m.get("activations", "int8")},
        n_test=len(ds.x_test), data_source=ds.source,
        raw_symbols=raw_symbols_per_sample(int(np.prod(ds.input_shape)), edge.order),
        offline=ref, offline_note=note,
        timing_s={"link_and_edge": round(t_link, 2), "offline": round(t_off, 2),
                  "total": round(time.perf_counter() - t0, 2)})
    with atomic_dir(out) as tmp:
        figs = [
            plots.plot_received(points, {n: edge.constellation(n).points
                                         for n in cfg.constellations}, report, scatter,
                                tmp / FIGURES[0]),
            plots.plot_q_sem_hil_vs_offline(report, tmp / FIGURES[1]),
            plots.plot_latency(report, tmp / FIGURES[2]),
        ]
        report["files"] = [REPORT, *(f.name for f in figs)]
        write_json(tmp / REPORT, report)
    return report

