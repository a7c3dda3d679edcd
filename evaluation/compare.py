r"""``semqam compare``: every scheme trained and evaluated under one protocol (issue 14,
docs/compare.md).

The grid (systems x orders x seeds x losses x budgets) is cut into **jobs**; a job trains one
run folder (or reuses it) and evaluates it over the SNR grid on every channel, at every budget
the run serves. A scheme's run serves one (budget, loss, order) unless compare knows better:
the S-VQ-VAE run serves every budget (K = S is chosen at transmit time) and both loss settings
(its own loss is already the task-matched eq. 1); the MDJCM run serves every order (one model
for all orders, ``load_run(run_dir, order=M)``). A (budget, order) a scheme cannot be sized for
(ISFR: ``N B_f = S log2 M``) is a ``skipped`` entry of compare.json, not a run.

Protocol, once for every system:

* one frozen classifier T per data set (:func:`trainer.classifier.shared_classifier`, seed 0),
  cached in the runs folder and handed to every scheme;
* at SNR point ``j`` of compare seed ``s`` the channel is ``make_channel(name, s * 1000 + j)``
  (:func:`point_channel`), a fresh block for each (system, variant, budget), so every system
  sees the same noise stream at that SNR (the same samples where frames have one shape);
* every metric comes from :func:`trainer.sweep.run_point` (Q_sem, accuracy through T(x_hat),
  PSNR of x_hat, symbols per sample, measured power per sent symbol);
* the SNR needed for 90 % of T's clean accuracy is interpolated on each seed's curve
  (:func:`required_snr`).

Crash safety: a run folder is written atomically by its trainer; each evaluation record
(one per system, variant, loss, budget, channel) is one JSON file under ``records/`` written
atomically; a rerun skips every record that exists and every run folder that is complete, so a
crash or Ctrl-C loses at most the job in progress. ``compare.json``, the tables and the plots
are rebuilt from the records at the end.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from channel_sim import make_channel
from evaluation.compare_plots import line_name, plot_all
from semqam.fileio import write_json, write_text
from semqam.progress import make_progress
from trainer.scheme import SCHEMES

#: Bump when a key of compare.json changes meaning or disappears (docs/compare.md).
COMPARE_FORMAT = 1
LOSSES = ("paper", "task")
#: Fraction of T's clean accuracy that defines the required SNR.
TARGET_FRACTION = 0.9
#: SNRs (dB) shown in the tables (those of the grid).
TABLE_SNRS = (-10.0, 0.0, 10.0, 20.0)
#: Seed of the shared classifier T of every data set.
CLASSIFIER_SEED = 0
#: Stride of the channel seeds of consecutive compare seeds (SNR points per seed must be fewer).
SEED_STRIDE = 1000

#: Trainer of each scheme for compare ("module:function", the interface of docs/compare.md);
#: schemes not listed use ``trainer.<name>.train:train``.
TRAINERS: dict[str, str] = {"svqvae": "trainer.svqvae.compare:train"}
#: Loader of each scheme for compare taking ``(run_dir, budget)``; schemes not listed load
#: through :data:`trainer.scheme.SCHEMES` with ``(run_dir)``.
BUDGET_LOADERS: dict[str, str] = {"svqvae": "trainer.svqvae.compare:load_run"}
#: Schemes whose one run serves every budget / both loss settings, and their variants that
#: do not depend on the budget (recorded once per run with ``budget: null``).
SHARES_BUDGETS = {"svqvae"}
SHARES_LOSSES = {"svqvae"}
BUDGET_FREE_VARIANTS: dict[str, tuple[str, ...]] = {"svqvae": ("dqn",)}
#: Training profile per scheme in the quick compare (others: ``quick``).
PROFILES: dict[str, str] = {"svqvae": "compare"}
#: Schemes whose one run serves every order M of the grid (MDJCM: one model for all orders,
#: its paper's point); the run is trained once per (budget, loss, seed) and loaded at each
#: order with ``load_run(run_dir, order=M)``.
SHARES_ORDERS = {"mdjcm"}
#: ``--profile tiny`` (tests, smoke runs): each scheme's smallest profile with the overrides
#: that make it train in seconds; quality is not the point, the interface is.
TINY: dict[str, tuple[str, dict[str, Any]]] = {
    "svqvae": ("compare", dict(batch_size=32, phase1_epochs=1, phase2_epochs=1, phy_steps=50,
                               phy_snapshots=(0, 50), n_actions=4, dqn_steps=10, dqn_envs=4,
                               dqn_warmup=5, env_samples=50, env_snr_step_db=15.0)),
    "jcm": ("quick", dict(epochs=1, hidden=(128,), batch_size=64)),
    "mdjcm": ("quick", dict(hidden=64, batch_size=64, epochs_source=1, epochs_joint=1,
                            epochs_receiver=1)),
    "isfr": ("quick", dict(stage1_epochs=1, stage2_epochs=1, batch_size=64,
                           hidden_units=(128,))),
}
#: Checks of a (budget, order) a scheme cannot serve: ``check(budget, order, profile,
#: options)`` raises ValueError with the reason; compare records a skip instead of a run.
CHECKS: dict[str, str] = {"isfr": "trainer.isfr.config:check_compare_point"}
GRID_PROFILES = ("quick", "paper", "tiny")


# ----------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Grid:
    """What ``semqam compare`` was asked for."""

    systems: tuple[str, ...]
    dataset: str
    budgets: tuple[int, ...]
    orders: tuple[int, ...]
    channels: tuple[str, ...]
    seeds: tuple[int, ...]
    losses: tuple[str, ...]
    snr_db: tuple[float, ...]
    profile: str = "quick"
    n_test: int | None = None  # evaluate on the first n test samples (None: all)
    data: str | None = None  # file / folder of the data set (None: the embedded MNIST)
    n_train: int | None = None  # train T and every run on the first n training samples

    def __post_init__(self) -> None:
        for name in self.systems:
            if name not in SCHEMES:
                raise ValueError(
                    f"scheme {name!r} is not registered in trainer.scheme.SCHEMES (its package "
                    f"trainer/{name} has not landed); drop it from --systems or add it")
        for loss in self.losses:
            if loss not in LOSSES:
                raise ValueError(f"loss {loss!r} is unknown; --loss takes {', '.join(LOSSES)}")
        for ch in self.channels:
            make_channel(ch, 0)  # one-line ValueError naming the allowed channels
        if not (self.systems and self.budgets and self.orders and self.seeds and self.losses
                and self.snr_db and self.channels):
            raise ValueError("every one of --systems, --budget, --orders, --channel, --seeds, "
                             "--loss and --snr needs at least one value")
        if len(self.snr_db) >= SEED_STRIDE:
            raise ValueError(f"at most {SEED_STRIDE - 1} SNR points, got {len(self.snr_db)}")
        if self.profile not in GRID_PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown; --profile takes "
                             f"{', '.join(GRID_PROFILES)}")
        if self.n_train is not None and self.n_train < 1:
            raise ValueError(f"n_train = {self.n_train}: give at least 1 training sample")
        for b in self.budgets:
            if b < 1:
                raise ValueError(f"budget S = {b}: give S >= 1 payload symbols per sample")


@dataclass(frozen=True)
class Job:
    """One run folder to train (or reuse) and evaluate; picklable for a pool or Ray."""

    system: str
    dataset: str
    order: int
    seed: int
    budgets: tuple[int, ...]  # budgets this run is evaluated at
    losses: tuple[str, ...]  # loss labels this run stands for
    train_budget: int
    train_loss: str
    run_dir: str
    classifier: str
    channels: tuple[str, ...]
    snr_db: tuple[float, ...]
    records_dir: str
    train_ref: str
    load_ref: str
    load_takes_budget: bool
    budget_free: tuple[str, ...] = ()
    profile: str = "quick"
    options: dict = field(default_factory=dict)
    n_test: int | None = None
    data: str | None = None
    n_train: int | None = None
    eval_orders: tuple[int, ...] = ()  # orders this run is evaluated at (empty: ``order``)

    @property
    def label(self) -> str:
        parts = Path(self.run_dir).parts
        return "/".join(parts[-2:])

    @property
    def orders(self) -> tuple[int, ...]:
        return self.eval_orders or (self.order,)

    def record_keys(self, variants: Iterable[str]
                    ) -> list[tuple[str, str, int | None, str, int]]:
        """(variant, loss, budget, channel, order) of every record this job writes."""
        keys = []
        for m in self.orders:
            for v in variants:
                budgets: tuple[int | None, ...] = ((None,) if v in self.budget_free
                                                   else self.budgets)
                for b in budgets:
                    keys += [(v, loss, b, ch, m) for loss in self.losses
                             for ch in self.channels]
        return keys

    def record_path(self, variant: str, loss: str, budget: int | None, channel: str,
                    order: int | None = None) -> Path:
        b = "any" if budget is None else str(budget)
        m = self.order if order is None else order
        name = (f"{self.system}-{variant}-{loss}-{self.dataset}-{channel}-S{b}-M{m}"
                f"-seed{self.seed}.json")
        return Path(self.records_dir) / name


def _ref(target: str) -> Callable[..., Any]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def run_folder(runs: Path, system: str, dataset: str, order: int | None, seed: int,
               budget: int | None, loss: str | None) -> Path:
    """``runs/<dataset>/<system>/[<loss>-][S<budget>-]M<order>-seed<seed>`` (``Mall`` for a
    run that serves every order)."""
    parts = ([loss] if loss else []) + ([f"S{budget}"] if budget is not None else [])
    m = "Mall" if order is None else f"M{order}"
    return runs / dataset / system / "-".join([*parts, m, f"seed{seed}"])


def profile_and_options(system: str, grid: Grid, options: dict[str, dict] | None = None
                        ) -> tuple[str, dict[str, Any]]:
    """The training profile of ``system`` under ``grid.profile`` and its option overrides
    (``tiny``: :data:`TINY`; ``quick``: :data:`PROFILES`; user ``options`` on top)."""
    user = dict((options or {}).get(system, {}))
    if grid.profile == "tiny":
        profile, base = TINY.get(system, ("quick", {}))
        return profile, {**base, **user}
    if grid.profile == "quick":
        return PROFILES.get(system, "quick"), user
    return grid.profile, user


def skip_reason(system: str, budget: int, order: int, grid: Grid,
                options: dict[str, dict] | None = None) -> str | None:
    """Why ``system`` cannot serve (S, M) under this grid (None: it can); see :data:`CHECKS`."""
    if system not in CHECKS:
        return None
    profile, opts = profile_and_options(system, grid, options)
    try:
        _ref(CHECKS[system])(budget, order, profile, opts)
    except ValueError as exc:
        return str(exc)
    return None


def skips(grid: Grid, options: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """One skip record per (system, budget, order) the grid asks for and the system cannot
    serve (listed in compare.json under ``skipped``)."""
    out = []
    for system in grid.systems:
        for budget in grid.budgets:
            for order in grid.orders:
                why = skip_reason(system, budget, order, grid, options)
                if why is not None:
                    out.append({"system": system, "dataset": grid.dataset, "budget": budget,
                                "order": order, "reason": why})
    return out


def plan(grid: Grid, out: Path, runs: Path, classifier: Path,
         options: dict[str, dict] | None = None) -> list[Job]:
    """Cut the grid into jobs (one per run folder); (S, M) points a system cannot serve are
    left out (:func:`skips`)."""
    jobs = []
    for system in grid.systems:
        share_b, share_l = system in SHARES_BUDGETS, system in SHARES_LOSSES
        share_m = system in SHARES_ORDERS
        train_ref = TRAINERS.get(system, f"trainer.{system}.train:train")
        load_ref = BUDGET_LOADERS.get(system, SCHEMES[system])
        budget_sets = [grid.budgets] if share_b else [(b,) for b in grid.budgets]
        loss_sets = [grid.losses] if share_l else [(loss,) for loss in grid.losses]
        order_sets = [grid.orders] if share_m else [(m,) for m in grid.orders]
        profile, opts = profile_and_options(system, grid, options)
        for orders in order_sets:
            order = orders[0]
            for seed in grid.seeds:
                for budgets in budget_sets:
                    budgets = tuple(b for b in budgets if all(
                        skip_reason(system, b, m, grid, options) is None for m in orders))
                    if not budgets:
                        continue
                    for losses in loss_sets:
                        run_dir = run_folder(runs, system, grid.dataset,
                                             None if share_m else order, seed,
                                             None if share_b else budgets[0],
                                             None if share_l else losses[0])
                        jobs.append(Job(
                            system=system, dataset=grid.dataset, order=order, seed=seed,
                            budgets=tuple(budgets), losses=tuple(losses),
                            train_budget=max(budgets), train_loss=losses[0],
                            run_dir=str(run_dir), classifier=str(classifier),
                            channels=grid.channels, snr_db=grid.snr_db,
                            records_dir=str(out / "records"), train_ref=train_ref,
                            load_ref=load_ref, load_takes_budget=system in BUDGET_LOADERS,
                            budget_free=BUDGET_FREE_VARIANTS.get(system, ()),
                            profile=profile, options=dict(opts),
                            n_test=grid.n_test, data=grid.data, n_train=grid.n_train,
                            eval_orders=tuple(orders) if share_m else ()))
    return jobs


# ----------------------------------------------------------------------------- one job
def point_channel(name: str, seed: int, j: int):
    """The channel block of SNR point ``j`` for compare seed ``seed`` (unit signal power):
    every system, variant and budget gets a fresh block with this seed."""
    return make_channel(name, seed * SEED_STRIDE + j)


def required_snr(snr_db: list[float], accuracy: list[float], target: float) -> float | None:
    """The lowest SNR at which the accuracy curve reaches ``target``, linearly interpolated
    between the last point below and the first point at or above it; ``snr_db[0]`` if the
    first point already reaches it; None if no point does."""
    for j, (s, a) in enumerate(zip(snr_db, accuracy, strict=True)):
        if a is not None and a >= target:
            if j == 0:
                return float(s)
            s0, a0 = snr_db[j - 1], accuracy[j - 1]
            return float(s0 + (target - a0) * (s - s0) / (a - a0))
    return None


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data: str | None = None, n_train: int | None = None):
    """The data set with its fixed splits (``data``: its file or folder), its training split
    cut to the first ``n_train`` samples when given."""
    import dataclasses

    from trainer.data import load_dataset

    ds = load_dataset(name, Path(data) if data else None)
    if n_train is None or n_train >= len(ds.x_train):
        return ds
    return dataclasses.replace(ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train])


def _is_complete(run_dir: Path) -> bool:
    return (run_dir / "run.json").is_file()


def execute(job: Job, progress=None) -> dict[str, Any]:
    """Train (unless the run folder is complete) and evaluate ``job``; writes one record file
    per (variant, loss, budget, channel) not yet written. Returns a summary."""
    t_start = time.perf_counter()
    run_dir = Path(job.run_dir)
    ds = None
    trained = False
    if not _is_complete(run_dir):
        ds = _dataset(job.dataset, job.data, job.n_train)
        kwargs = dict(budget=job.train_budget, order=job.order, seed=job.seed,
                      loss=job.train_loss, classifier=Path(job.classifier),
                      profile=job.profile, **job.options)
        if progress is not None:
            kwargs["progress"] = _Nested(progress)
        _ref(job.train_ref)(ds, run_dir, **kwargs)
        trained = True
    info = json.loads((run_dir / "run.json").read_text())
    train_s = _train_seconds(info)

    def load(budget: int, order: int):
        if job.load_takes_budget:
            return _ref(job.load_ref)(run_dir, budget)
        if job.eval_orders:
            return _ref(job.load_ref)(run_dir, order=order)
        return _ref(job.load_ref)(run_dir)

    first = load(job.budgets[0], job.orders[0])
    todo = [k for k in job.record_keys(first.variants) if not job.record_path(*k).is_file()]
    if todo:
        ds = ds or _dataset(job.dataset, job.data, job.n_train)
        _evaluate_into(job, load, first, todo, ds, train_s, progress)
    return {"job": job.label, "trained": trained, "evaluated": len(todo),
            "seconds": time.perf_counter() - t_start}


class _Nested:
    """The grid's live progress display handed to a trainer that enters it with ``with``:
    entering gives the display, leaving does not stop it."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def __enter__(self):
        return self.progress

    def __exit__(self, *exc) -> None:
        return None


def _train_seconds(info: dict) -> float | None:
    t = info.get("timings") or {}
    if "train_s" in t:
        return float(t["train_s"])
    t = info.get("timings_s") or {}
    return float(t["total_s"]) if "total_s" in t else None


def _evaluate_into(job: Job, load, first, todo, ds, train_s, progress) -> None:
    from trainer.classifier import load_frozen
    from trainer.sweep import run_point

    x, y = ds.x_test[: job.n_test], ds.y_test[: job.n_test]
    clf = load_frozen(job.classifier)
    p_clean = np.asarray(clf.predict(x, batch_size=500, verbose=0))
    data_range = float(ds.x_train.max() - ds.x_train.min()) or 1.0
    by_point: dict[tuple[int | None, int], list] = defaultdict(list)
    for key in todo:
        by_point[(key[2], key[4])].append(key)
    task = None
    if progress is not None:
        task = progress.add_task(f"evaluate {job.label}", total=len(todo) * len(job.snr_db),
                                 info="")
    for (budget, order), keys in by_point.items():
        run = (first if budget in (None, job.budgets[0]) and order == job.orders[0]
               else load(job.budgets[0] if budget is None else budget, order))
        for variant, channel in sorted({(k[0], k[3]) for k in keys}):
            tx = run.transmitter(x, variant, seed=job.seed)
            rx = run.receiver(variant)
            cols: dict[str, list] = defaultdict(list)
            for j, snr in enumerate(job.snr_db):
                point = run_point(tx, rx, point_channel(channel, job.seed, j), snr, p_clean, y,
                                  run.bits_per_symbol, keep=True, reference=x,
                                  data_range=data_range)
                rec = point.record
                n = sum(len(f.samples) for f in point.frames) or 1
                cols["accuracy"].append(rec.get("accuracy"))
                cols["q_sem"].append(rec.get("q_sem"))
                cols["psnr"].append(rec.get("psnr"))
                cols["symbols_per_sample"].append(rec.get("symbols_per_sample"))
                cols["tx_power"].append(rec.get("tx_energy"))
                cols["side_bits"].append(
                    sum(f.side_bits * len(f.samples) for f in point.frames) / n)
                raw = [float(f.side["raw_power"]) for f in point.frames if "raw_power" in f.side]
                cols["constellation_power"].append(float(np.mean(raw)) if raw else None)
                if task is not None:
                    progress.update(task, advance=len([k for k in keys if k[0] == variant
                                                       and k[3] == channel]))
            for loss in job.losses:
                if (variant, loss, budget, channel, order) not in keys:
                    continue
                record = {
                    "system": job.system, "variant": variant, "dataset": job.dataset,
                    "channel": channel, "budget": budget, "order": order,
                    "seed": job.seed, "loss": loss, "snr_db": list(job.snr_db),
                    **cols,
                    "bits_per_symbol": int(run.bits_per_symbol),
                    "train_s": train_s, "run": job.run_dir, "n_test": int(len(x)),
                }
                if all(v is None for v in record["constellation_power"]):
                    del record["constellation_power"]
                write_json(job.record_path(variant, loss, budget, channel, order), record)


# ----------------------------------------------------------------------------- the driver
def run_jobs(jobs: list[Job], *, workers: int = 1, ray: str | None = None,
             cpus_per_run: float = 1.0, ray_cpus: int | None = None,
             progress_enabled: bool = True,
             on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every job: in this process (``workers == 1``, per-run progress bars), a local
    process pool (``workers > 1``) or Ray (``ray`` = ``"auto"``: a local instance with
    ``ray_cpus`` CPUs (None: all), or a cluster address), one Ray task per job."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    results = []
    with make_progress(progress_enabled) as prog:
        grid = prog.add_task("compare grid", total=len(jobs), info="")

        def done(res: dict) -> None:
            results.append(res)
            prog.update(grid, advance=1, info=f"{res['job']} {res['seconds']:.0f} s")
            if on_done is not None:
                on_done(res)

        if ray is not None:
            _run_ray(jobs, ray, cpus_per_run, ray_cpus, done)
        elif workers == 1:
            for job in jobs:
                done(execute(job, prog))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                futures = [pool.submit(execute, job) for job in jobs]
                for fut in as_completed(futures):
                    done(fut.result())
    return results


def _run_ray(jobs: list[Job], address: str, cpus_per_run: float, ray_cpus: int | None,
             done: Callable[[dict], None]) -> None:
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray: install the extra with `pip install -e .[cluster]`"
                          ) from None
    import os
    import sys

    started = False
    if not ray.is_initialized():
        # The workers import this checkout (and, in tests, their helper modules) as we do.
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        if address == "auto":
            ray.init(num_cpus=ray_cpus, runtime_env=env, include_dashboard=False,
                     log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=cpus_per_run)(execute)
        pending = [remote.remote(job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()


def load_records(out: Path) -> list[dict]:
    """Every record file under ``out/records`` (sorted by its grid key)."""
    recs = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    return sorted(recs, key=_record_key)


def _record_key(r: dict) -> tuple:
    return (r["system"], r["variant"], r["loss"], r["dataset"], r["channel"],
            -1 if r["budget"] is None else r["budget"], r["order"], r["seed"])


def compare(grid: Grid, out: str | Path, *, runs: str | Path | None = None,
            workers: int = 1, ray: str | None = None, cpus_per_run: float = 1.0,
            ray_cpus: int | None = None, progress: bool = True,
            options: dict[str, dict] | None = None) -> dict:
    """Train/evaluate the whole grid into ``out`` and write compare.json, tables, plots."""
    from trainer.classifier import classifier_info, shared_classifier

    out = Path(out)
    runs = Path(runs) if runs is not None else out / "runs"
    tag = "" if grid.n_train is None else f"-n{grid.n_train}"
    clf = shared_classifier(_dataset(grid.dataset, grid.data, grid.n_train),
                            runs / grid.dataset / f"classifier-seed{CLASSIFIER_SEED}{tag}",
                            seed=CLASSIFIER_SEED)
    jobs = plan(grid, out, runs, clf, options)
    t0 = time.perf_counter()
    run_jobs(jobs, workers=workers, ray=ray, cpus_per_run=cpus_per_run, ray_cpus=ray_cpus,
             progress_enabled=progress)
    wall = time.perf_counter() - t0
    wanted = {_record_key(r): r for r in load_records(out) if _in_grid(r, grid)}
    doc = {
        "format": COMPARE_FORMAT,
        "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(grid).items()},
        "classifier": {grid.dataset: {"path": str(clf), **classifier_info(clf)}},
        "target_fraction": TARGET_FRACTION,
        "wall_s": round(wall, 1),
        "skipped": skips(grid, options),
        "records": [wanted[k] for k in sorted(wanted)],
    }
    write_json(out / "compare.json", doc)
    write_outputs(doc, out)
    return doc


def _in_grid(r: dict, grid: Grid) -> bool:
    return (r["system"] in grid.systems and r["dataset"] == grid.dataset
            and r["channel"] in grid.channels and r["order"] in grid.orders
            and r["seed"] in grid.seeds and r["loss"] in grid.losses
            and (r["budget"] is None or r["budget"] in grid.budgets)
            and [float(s) for s in r["snr_db"]] == [float(s) for s in grid.snr_db])


# ----------------------------------------------------------------------------- reports
def _line_key(r: dict) -> tuple:
    return (r["system"], r["variant"], r["loss"], r["budget"], r["order"])


def _mean_std(values: list[float]) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "–"
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}"


def summarise(doc: dict) -> dict[tuple[str, str], list[dict]]:
    """Rows of the table of each (dataset, channel): one per line (system, variant, loss,
    budget, order), statistics over seeds."""
    clean = {d: c.get("clean_accuracy") for d, c in doc["classifier"].items()}
    groups: dict[tuple, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in doc["records"]:
        groups[(r["dataset"], r["channel"])][_line_key(r)].append(r)
    tables = {}
    for (dataset, channel), lines in sorted(groups.items()):
        target = TARGET_FRACTION * clean[dataset] if clean.get(dataset) else None
        rows = []
        for key, recs in sorted(lines.items(), key=lambda kv: str(kv[0])):
            snr = [float(s) for s in recs[0]["snr_db"]]
            row: dict[str, Any] = {"line": key, "name": line_name(key), "seeds": len(recs)}
            for s in TABLE_SNRS:
                if s in snr:
                    j = snr.index(s)
                    row[f"acc@{s:g}"] = [r["accuracy"][j] for r in recs]
                    row[f"q@{s:g}"] = [r["q_sem"][j] for r in recs]
            req = [required_snr(snr, r["accuracy"], target) if target else None for r in recs]
            row["required_snr"] = req
            row["symbols"] = float(np.mean([np.mean(r["symbols_per_sample"]) for r in recs]))
            row["side_bits"] = float(np.mean([np.mean(r["side_bits"]) for r in recs]))
            bits = recs[0].get("bits_per_symbol") or math.log2(key[4])
            row["effective"] = row["symbols"] + row["side_bits"] / bits
            row["train_s"] = [r["train_s"] for r in recs if r.get("train_s") is not None]
            row["snr_max"] = max(snr)
            rows.append(row)
        tables[(dataset, channel)] = rows
    return tables


def _required_text(req: list[float | None], snr_max: float) -> str:
    if not req or any(r is None for r in req):
        reached = sum(r is not None for r in req)
        return f"> {snr_max:g} dB" + (f" ({reached}/{len(req)} seeds reach it)" if reached
                                     else "")
    return f"{np.mean(req):.1f} ± {np.std(req):.1f} dB"


def markdown_table(doc: dict, dataset: str, channel: str, rows: list[dict]) -> str:
    """The Markdown table of one data set x channel (docs/compare.md)."""
    clean = doc["classifier"][dataset].get("clean_accuracy")
    snrs = [s for s in TABLE_SNRS if any(f"acc@{s:g}" in r for r in rows)]
    head = (["system / variant (loss) budget order", "seeds"]
            + [f"acc {s:g} dB" for s in snrs] + [f"Q_sem {s:g} dB" for s in snrs]
            + ["SNR for 90 % of T", "symbols + side bits", "effective S", "train s"])
    lines = [f"### {dataset}, {channel} (T clean accuracy {clean:.4f}; mean ± std over seeds)"
             if clean is not None else f"### {dataset}, {channel}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], str(r["seeds"])]
        cells += [_mean_std(r.get(f"acc@{s:g}", [])) for s in snrs]
        cells += [_mean_std(r.get(f"q@{s:g}", [])) for s in snrs]
        cells += [_required_text(r["required_snr"], r["snr_max"]),
                  f"{r['symbols']:.1f} + {r['side_bits']:.1f} b", f"{r['effective']:.1f}",
                  f"{np.mean(r['train_s']):.0f}" if r["train_s"] else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict, out: Path) -> list[Path]:
    """``compare.md`` (one table per data set x channel) and the plots under ``out``."""
    tables = summarise(doc)
    text = ["# semqam compare", ""]
    for (dataset, channel), rows in tables.items():
        text += [markdown_table(doc, dataset, channel, rows), ""]
    written = [out / "compare.md"]
    write_text(written[0], "\n".join(text))
    written += plot_all(doc, tables, out)
    return written
