"""Training driver: classifier T, two-phase S-VQ-VAE, semantic constellation, DQN; one run folder.

Order (each stage consumes the previous one's output):

1. T on clean inputs (Section III.A), then frozen.
2. Phase 1, plain VQ-VAE with ``L_VQ``; phase 2, semantic activation with eq. (1) and the SCI
   soft top-K weighting whose temperature anneals ``tau_start -> tau_end`` (Section III.B);
   optionally phase 3 on the node's int8 weight grid (:mod:`.weight_grid`, our addition).
3. The (index, SCI) pairs the encoder selects on the training split -> per-concept mean SCI,
   usage, co-occurrence P(i, j) (Section IV.A) -> learned constellation, eq. (3) (Section III.D).
4. Q_task / BER tables on a held-out validation split -> DQN on eq. (2) (Section III.C) ->
   tabulated policy SNR -> K.

The run folder is written under a temporary name and renamed when complete, so a crash never
leaves a half-written run that later stages would trust.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from rich.progress import Progress

from channel_sim import Constellation
from metrics import concept_usage, cooccurrence, mean_sci_per_concept
from semqam.fileio import atomic_dir, save_npy, savez, write_json
from semqam.progress import make_progress, step_callback
from semqam.seeding import environment_info, set_global_seed
from trainer.classifier import fit_classifier as shared_fit_classifier
from trainer.classifier import load_frozen
from trainer.data import Dataset, split_validation
from trainer.progress import KerasProgress
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.constellation import sci_pair_weights, train_semantic_constellation
from trainer.svqvae.models import (
    SVQVAE,
    VectorQuantizerEMA,
    build_decoder,
    build_encoder_sci,
)
from trainer.svqvae.pipeline import SemanticPipeline, select_top_k
from trainer.svqvae.rate_control import build_environment, fit_policy
from trainer.svqvae.scheme import NAME as SCHEME
from trainer.svqvae.weight_grid import WeightGridSTE, node_kernels

RUN_FORMAT = 1


@dataclass
class TrainResult:
    path: Path
    summary: dict


class _TauSchedule(keras.callbacks.Callback):
    """Exponential anneal ``tau_e = tau_0 (tau_1/tau_0)^(e/(E-1))`` at each epoch start."""

    def __init__(self, tau_var, start: float, end: float, epochs: int) -> None:
        super().__init__()
        self.tau_var, self.start, self.end, self.epochs = tau_var, start, end, epochs

    def on_epoch_begin(self, epoch, logs=None) -> None:
        frac = epoch / max(1, self.epochs - 1)
        self.tau_var.assign(self.start * (self.end / self.start) ** frac)


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probs.argmax(1) == y))


def accuracy_no_channel(pipe: SemanticPipeline, x: np.ndarray, y: np.ndarray, ks) -> dict:
    """Task accuracy of encoder -> top-K -> VQ -> decoder -> T with an ideal channel."""
    z, sci = pipe.encode(x)
    out = {}
    for k in ks:
        pos = select_top_k(sci, k)
        _, probs = pipe.decode_classify(pipe.reconstruct(pipe.quantize(z, pos), pos))
        out[int(k)] = _accuracy(probs, y)
    return out


def selected_concepts(pipe: SemanticPipeline, x: np.ndarray, actions, seed: int):
    """Indices and SCI scores the encoder transmits, one K drawn from ``actions`` per sample.

    Returns ``(indices [n, K_max] with -1 padding, scores [n, K_max], mask [n, K_max])``.
    """
    z, sci = pipe.encode(x)
    n, n_slots = sci.shape
    rng = np.random.default_rng(seed + 31)
    ks = rng.choice(np.asarray(actions), size=n)
    pos = select_top_k(sci, n_slots)
    idx = pipe.quantize(z, pos)
    scores = np.take_along_axis(sci, pos, axis=1)
    mask = np.arange(n_slots)[None, :] < ks[:, None]
    return np.where(mask, idx, -1), np.where(mask, scores, 0.0), mask


def fit_classifier(
    x: np.ndarray, y: np.ndarray, n_classes: int, cfg: TrainConfig, callbacks=()
) -> tuple[keras.Model, dict]:
    """Step 1: T trained on clean ``x`` (Section III.A) with ``cfg``'s settings, then frozen;
    returns (T, history). The one definition is :func:`trainer.classifier.fit_classifier`."""
    return shared_fit_classifier(
        x, y, n_classes, hidden=cfg.classifier_hidden, dropout=cfg.classifier_dropout,
        epochs=cfg.classifier_epochs, batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, seed=cfg.seed, callbacks=callbacks)


def train(
    ds: Dataset,
    cfg: TrainConfig,
    out: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    classifier: str | Path | None = None,
) -> TrainResult:
    """Train every model of the system on ``ds`` and write the run folder ``out``.

    ``classifier``: a frozen T (``.keras``) to use instead of training one (the comparison's
    shared T, docs/compare.md); None (the default) trains T as step 1."""
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"run folder {out} already exists; pass --force to replace it")
    if len(ds.x_train) < 50:
        raise ValueError(f"data set {ds.source} has only {len(ds.x_train)} training samples")
    if len(ds.x_test) == 0:
        raise ValueError(f"data set {ds.source} has no test samples; training measures T and "
                         "the pass-through accuracy on them: give data with a test split")
    with atomic_dir(out) as work, progress or make_progress() as prog:
        summary = _train_into(ds, cfg, work, prog, classifier)
    return TrainResult(out, summary)


def _train_into(ds: Dataset, cfg: TrainConfig, work: Path, prog: Progress,
                classifier: str | Path | None = None) -> dict:
    set_global_seed(cfg.seed)
    timings: dict[str, float] = {}
    history: dict[str, dict] = {}
    x_tr, y_tr, x_val, y_val = split_validation(ds, cfg.seed)
    bs = cfg.batch_size
    batches = math.ceil(len(x_tr) / bs)
    shape = ds.input_shape

    # 1. Task classifier T (Section III.A).
    t0 = time.perf_counter()
    if classifier is None:
        cb = KerasProgress(prog, "classifier T", batches * cfg.classifier_epochs)
        clf, history["classifier"] = fit_classifier(x_tr, y_tr, ds.n_classes, cfg,
                                                    callbacks=[cb])
    else:
        clf = load_frozen(classifier)
    clean_acc = _accuracy(clf.predict(ds.x_test, batch_size=500, verbose=0), ds.y_test)
    timings["classifier_s"] = time.perf_counter() - t0

    # 2. S-VQ-VAE, two phases (Section III.B).
    t0 = time.perf_counter()
    enc = build_encoder_sci(shape, cfg.n_concepts, cfg.latent_dim, cfg.hidden_units, cfg.sci_hidden)
    dec = build_decoder(shape, cfg.n_concepts, cfg.latent_dim, cfg.hidden_units)
    vq = VectorQuantizerEMA(cfg.order, cfg.latent_dim, cfg.ema_decay, cfg.ema_epsilon,
                            cfg.dead_code_threshold, seed=cfg.seed)
    model = SVQVAE(enc, dec, clf, vq, cfg.actions, cfg.beta, seed=cfg.seed,
                   weighting=cfg.sci_weighting)
    model(x_tr[:2])
    # Data-dependent codebook initialisation: M distinct encoder outputs of a random batch.
    rng = np.random.default_rng(cfg.seed)
    z0, _ = enc.predict(x_tr[rng.permutation(len(x_tr))[:256]], verbose=0)
    z0 = z0.reshape(-1, cfg.latent_dim)
    vq.set_codebook(z0[rng.choice(len(z0), cfg.order, replace=False)])

    def fit_phase(name: str, epochs: int, lambda_sem: float, extra=()) -> None:
        model.compile(
            keras.optimizers.Adam(cfg.learning_rate),
            loss={"x_hat": "mse", "probs": "sparse_categorical_crossentropy"},
            loss_weights={"x_hat": 1.0, "probs": lambda_sem},
            metrics={"probs": "accuracy"},
        )
        cbk = KerasProgress(prog, name, batches * epochs)
        hh = model.fit(x_tr, {"x_hat": x_tr, "probs": y_tr}, batch_size=bs, epochs=epochs,
                       verbose=0, callbacks=[cbk, *extra])
        history[name] = hh.history

    vq.restart_enabled.assign(1.0)
    model.semantic.assign(0.0)
    fit_phase("phase 1 (VQ-VAE)", cfg.phase1_epochs, 0.0)
    timings["phase1_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vq.restart_enabled.assign(0.0)
    model.semantic.assign(1.0)
    tau = _TauSchedule(model.tau, cfg.tau_start, cfg.tau_end, cfg.phase2_epochs)
    fit_phase("phase 2 (semantic)", cfg.phase2_epochs, cfg.lambda_sem, (tau,))
    timings["phase2_s"] = time.perf_counter() - t0
    if cfg.weight_grid_epochs:
        t0 = time.perf_counter()
        fit_phase("phase 3 (int8 weight grid)", cfg.weight_grid_epochs, cfg.lambda_sem,
                  (WeightGridSTE(node_kernels(enc)),))
        timings["phase3_s"] = time.perf_counter() - t0

    codebook = keras.ops.convert_to_numpy(vq.codebook).astype(np.float32)
    pipe = SemanticPipeline(enc, dec, clf, codebook)
    acc_k = accuracy_no_channel(pipe, ds.x_test, ds.y_test, (*cfg.actions, cfg.n_concepts))
    passthrough = acc_k[cfg.n_concepts]

    # 3. Concept statistics and the learned constellation (Sections III.D, IV.A).
    t0 = time.perf_counter()
    idx, scores, mask = selected_concepts(pipe, x_tr, cfg.actions, cfg.seed)
    mean_sci = mean_sci_per_concept(idx[mask], scores[mask], cfg.order)
    usage = concept_usage(idx[mask], cfg.order)
    cooc = cooccurrence(idx, mask, cfg.order)
    advance = step_callback(prog, "semantic constellation", cfg.phy_steps)
    phy = dict(steps=cfg.phy_steps, batch=cfg.phy_batch, learning_rate=cfg.phy_learning_rate,
               power=cfg.power, snr_range_db=(cfg.snr_min_db, cfg.snr_max_db), seed=cfg.seed,
               kkt_zeta=cfg.phy_kkt_zeta)
    weights = sci_pair_weights(scores, mask, cfg.phy_weighting, cfg.phy_weight_tau)[mask]
    semantic, snaps, phy_info = train_semantic_constellation(
        idx[mask], weights, cfg.order,
        snapshot_steps=tuple(s for s in cfg.phy_snapshots if s <= cfg.phy_steps),
        on_step=advance, **phy)
    fair = None
    if cfg.phy_fair:
        advance = step_callback(prog, "fair constellation", cfg.phy_steps)
        fair, _, fair_info = train_semantic_constellation(
            idx[mask], weights, cfg.order, on_step=advance, usage_power=True, name="fair",
            snapshot_steps=(), **phy)
        phy_info["fair"] = fair_info
    standard = Constellation.rectangular_gray(cfg.order, cfg.power)
    timings["constellation_s"] = time.perf_counter() - t0

    # 4. DQN rate controller (Section III.C).
    t0 = time.perf_counter()
    passthrough_val = accuracy_no_channel(pipe, x_val, y_val, (cfg.n_concepts,))[cfg.n_concepts]
    q0 = cfg.q0_fraction * passthrough_val
    params = cfg.reward_params(q0)
    n_grid = int(round((cfg.snr_max_db - cfg.snr_min_db) / cfg.env_snr_step_db)) + 1
    grid = np.linspace(cfg.snr_min_db, cfg.snr_max_db, n_grid)
    xe, ye = x_val[: cfg.env_samples], y_val[: cfg.env_samples]
    cell = step_callback(prog, "DQN environment table",
                         n_grid * len(cfg.actions) * cfg.env_draws)
    env = build_environment(pipe, semantic, xe, ye, grid, cfg.actions, params, cfg.seed, cell,
                            cfg.env_draws, cfg.env_monotone)
    qnet, policy, dqn_info = fit_policy(env, cfg, prog)
    timings["dqn_s"] = time.perf_counter() - t0

    # 5. Write the run folder.
    clf.save(work / "classifier.keras")
    enc.save(work / "encoder_sci.keras")
    dec.save(work / "decoder.keras")
    qnet.save(work / "dqn.keras")
    save_npy(work / "codebook.npy", codebook)
    semantic.save(work / "constellation_semantic.npy")
    standard.save(work / "constellation_standard.npy")
    if fair is not None:
        fair.save(work / "constellation_fair.npy")
    steps = sorted(snaps)
    savez(work / "constellation_history.npz", steps=np.array(steps),
          points=np.stack([snaps[s] for s in steps]))
    savez(work / "concept_stats.npz", mean_sci=mean_sci, usage=usage, cooccurrence=cooc)
    env.save(work / "rate_env.npz")
    policy.save(work / "policy.json")
    write_json(work / "history.json", _jsonable(history))
    summary = {
        "format": RUN_FORMAT,
        "scheme": SCHEME,
        "dataset": {
            "name": ds.name, "source": ds.source, "input_shape": list(shape),
            "n_classes": ds.n_classes, "class_names": list(ds.class_names),
            "n_train": int(len(x_tr)), "n_validation": int(len(x_val)),
            "n_test": int(len(ds.x_test)), "meta": _jsonable(ds.meta),
        },
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "classifier": str(classifier) if classifier is not None else "trained",
        "environment": environment_info(),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "metrics": {
            "clean_accuracy": clean_acc,
            "passthrough_accuracy": passthrough,
            "accuracy_vs_k_no_channel": {str(k): v for k, v in acc_k.items()},
            "codebook_used": int(np.count_nonzero(usage)),
            "passthrough_accuracy_validation": passthrough_val,
            "q0": q0,
        },
        "constellation": {**phy_info, "average_power": semantic.average_power},
        "dqn": dqn_info,
    }
    summary["timings_s"]["total_s"] = round(sum(timings.values()), 2)
    write_json(work / "run.json", summary)
    return summary


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
