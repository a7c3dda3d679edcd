r"""Training driver of ISFR (Section III.C) and its importance weights (Section IV.A).

1. Stage 1: analog features with nested dropout (eqs. 13-15), loss eq. (16).
2. Stage 2: the learnable scalar quantiser (eq. 3, temperature :math:`T = \min(a\,e + 1,
   T_{max})` per epoch e) and the BER-matched binary symmetric channel (eqs. 11-12) added,
   nested dropout kept; same loss.
3. Importance weights (eqs. 17-18) on a validation split held out of the training split:
   :math:`\hat w_j = g_t(\text{all features}) - g_t(\text{feature } j \text{ zeroed})` with
   :math:`g_t` the accuracy (or Q_sem) of the frozen classifier T on the reconstruction.

``loss="task"`` adds :math:`\lambda_{sem}\,CE(T(\hat x), y)` to eq. (16) in both stages.
The run folder is written atomically (:func:`semqam.fileio.atomic_dir`).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from metrics import q_sem
from semqam.fileio import atomic_dir, save_npy, write_json
from semqam.progress import make_progress
from semqam.seeding import environment_info, set_global_seed
from trainer.data import Dataset, split_validation
from trainer.isfr.config import LOSSES, IsfrConfig, feature_geometry
from trainer.isfr.model import (
    IsfrTrainer,
    ScalarQuantizer,
    build_decoder,
    build_encoder,
    level_labels,
)
from trainer.isfr.pipeline import IsfrPipeline
from trainer.isfr.scheme import NAME
from trainer.progress import KerasProgress

RUN_FORMAT = 1


class _Temperature(keras.callbacks.Callback):
    """:math:`T = \\min(a\\,e + 1, T_{max})` at the start of epoch e (Section VI.A.2)."""

    def __init__(self, var, slope: float, t_max: float) -> None:
        super().__init__()
        self.var, self.slope, self.t_max = var, slope, t_max

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.var.assign(min(self.slope * epoch + 1.0, self.t_max))


def task_scores(probs: np.ndarray, p_clean: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """g_t of eq. (17) for each set of probabilities ``probs`` [m, n, C]: the accuracy (or
    Q_sem) of T on the reconstructions."""
    if metric == "accuracy":
        return np.mean(probs.argmax(-1) == y[None], axis=1)
    return np.array([q_sem(p_clean, p, y)["q_sem"] for p in probs])


def importance_weights(pipe: IsfrPipeline, x: np.ndarray, y: np.ndarray,
                       metric: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
    r"""Eqs. (17)-(18): (normalised w [N], raw :math:`\hat w` [N]). Negative :math:`\hat w_j`
    (masking helped) count as 0 before the L1 normalisation (our choice); all zero -> uniform."""
    n_feat = pipe.n_features
    keeps = np.vstack([np.ones(n_feat, bool), ~np.eye(n_feat, dtype=bool)])
    score = task_scores(pipe.scores(pipe.encode(x), keeps), pipe.classify(x), y, metric)
    raw = score[0] - score[1:]
    pos = np.maximum(raw, 0.0)
    w = pos / pos.sum() if pos.sum() > 0 else np.full(n_feat, 1.0 / n_feat)
    return w, raw


def train(ds: Dataset, out: Path, *, budget: int, order: int, seed: int, loss: str = "paper",
          classifier: Path, profile: str = "quick", progress=None, **options) -> Path:
    """Train ISFR for budget S and order M on ``ds`` and write the run folder ``out``.

    ``order`` M fixes the source bits (``S log2 M``, so equal protection at M sends all N
    features in S symbols) and caps OPHD's orders; ``options`` override :class:`IsfrConfig`.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    classifier = Path(classifier)
    if not classifier.is_file():
        raise FileNotFoundError(f"{classifier}: no such classifier file; pass the frozen task "
                                "classifier T (.keras) shared by every system")
    cfg = IsfrConfig.for_profile(profile, **options)
    length, bits_per_feature = feature_geometry(budget, order, cfg.n_features, cfg.quant_bits)
    if len(ds.x_train) < 50 or len(ds.x_test) == 0:
        raise ValueError(f"data set {ds.source} needs >= 50 training and some test samples")
    out = Path(out)
    with atomic_dir(out) as work, progress or make_progress() as prog:
        _train_into(ds, work, cfg, budget=int(budget), order=int(order), seed=int(seed),
                    loss=loss, classifier=classifier, length=length,
                    bits_per_feature=bits_per_feature, prog=prog)
    return out


def _train_into(ds: Dataset, work: Path, cfg: IsfrConfig, *, budget: int, order: int, seed: int,
                loss: str, classifier: Path, length: int, bits_per_feature: int, prog) -> None:
    t_start = time.perf_counter()
    set_global_seed(seed)
    x_tr, y_tr, x_val, y_val = split_validation(ds, seed)
    shape = ds.input_shape
    clf = keras.saving.load_model(classifier, compile=False)
    clf.trainable = False
    enc = build_encoder(shape, cfg.n_features, length, cfg.hidden_units)
    dec = build_decoder(shape, cfg.n_features, length, cfg.hidden_units)
    quant = ScalarQuantizer(cfg.quant_bits, name="quantizer")
    labels = level_labels(cfg.quant_bits, cfg.level_labels)
    model = IsfrTrainer(enc, dec, clf, quant, labels, cfg.ber_max, seed=seed)
    lambda_sem = cfg.lambda_sem if loss == "task" else 0.0
    batches = math.ceil(len(x_tr) / cfg.batch_size)
    history: dict[str, dict] = {}
    timings: dict[str, float] = {}

    def fit(name: str, epochs: int, lr: float, callbacks=()) -> None:
        if epochs <= 0:
            return
        model.compile(keras.optimizers.Adam(lr),
                      loss={"x_hat": "mse", "probs": "sparse_categorical_crossentropy"},
                      loss_weights={"x_hat": 1.0, "probs": lambda_sem})
        cb = KerasProgress(prog, name, batches * epochs)
        h = model.fit(x_tr, {"x_hat": x_tr, "probs": y_tr}, batch_size=cfg.batch_size,
                      epochs=epochs, verbose=0, shuffle=True, callbacks=[cb, *callbacks])
        history[name] = {k: [float(v) for v in vals] for k, vals in h.history.items()}

    t0 = time.perf_counter()
    model.digital = False
    quant.trainable = False  # no quantiser in stage 1
    fit("ISFR stage 1 (analog)", cfg.stage1_epochs, cfg.learning_rate)
    fit("ISFR stage 1 (fine-tune)", cfg.fine_tune_epochs, cfg.learning_rate / 10)
    timings["stage1_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # Data-dependent start of the levels (our choice): Delta_t at the t/Q quantile of the
    # stage-1 features (t >= 1), so the hard quantiser starts with equally used levels.
    y1 = np.asarray(enc(x_tr[:1000], training=False)).reshape(-1)
    q = 1 << cfg.quant_bits
    lv = np.quantile(y1, [0.5 / q, *[t / q for t in range(1, q)]])
    lv = np.maximum.accumulate(lv + np.arange(q) * 1e-3)
    quant.first.assign(float(lv[0]))
    quant.raw_steps.assign(np.log(np.expm1(np.diff(lv))).astype(np.float32))
    model.digital = True
    quant.trainable = True
    temp = _Temperature(model.temperature, cfg.temp_slope, cfg.temp_max)
    fit("ISFR stage 2 (digital, BSC)", cfg.stage2_epochs, cfg.learning_rate, (temp,))
    fit("ISFR stage 2 (fine-tune)", cfg.fine_tune_epochs, cfg.learning_rate / 10,
        (_Temperature(model.temperature, 0.0, cfg.temp_max),))
    timings["stage2_s"] = time.perf_counter() - t0

    levels = keras.ops.convert_to_numpy(quant.levels()).astype(np.float32)
    pipe = IsfrPipeline(enc, dec, clf, levels, labels)
    t0 = time.perf_counter()
    w, raw = importance_weights(pipe, x_val, y_val, cfg.importance_metric)
    timings["importance_s"] = time.perf_counter() - t0
    train_s = time.perf_counter() - t_start

    # Superposition and orderliness (Section III.D) on the test split, no channel.
    idx = pipe.encode(ds.x_test)
    p_test = pipe.classify(ds.x_test)
    n_feat = cfg.n_features
    first = np.arange(n_feat)[None, :] < np.arange(1, n_feat + 1)[:, None]
    acc_first = task_scores(pipe.scores(idx, first), p_test, ds.y_test, "accuracy").tolist()
    acc_masked = task_scores(pipe.scores(idx, ~np.eye(n_feat, dtype=bool)), p_test, ds.y_test,
                             "accuracy").tolist()
    clean = float(np.mean(p_test.argmax(1) == ds.y_test))

    enc.save(work / "encoder.keras")
    dec.save(work / "decoder.keras")
    shutil.copyfile(classifier, work / "classifier.keras")
    save_npy(work / "levels.npy", levels)
    save_npy(work / "importance.npy", w.astype(np.float64))
    write_json(work / "history.json", history)
    info = {
        "format": RUN_FORMAT,
        "scheme": NAME,
        "dataset": {
            "name": ds.name, "source": ds.source, "input_shape": list(shape),
            "n_classes": ds.n_classes, "class_names": list(ds.class_names),
            "n_train": int(len(x_tr)), "n_validation": int(len(x_val)),
            "n_test": int(len(ds.x_test)), "meta": json.loads(json.dumps(ds.meta, default=str)),
        },
        "config": {**cfg.to_dict(), "feature_length": length,
                   "bits_per_feature": bits_per_feature, "level_labels_table": labels.tolist()},
        "budget": budget,
        "order": order,
        "seed": seed,
        "loss": loss,
        "classifier": str(classifier),
        "environment": environment_info(),
        "timings": {"train_s": round(train_s, 2),
                    **{k: round(v, 2) for k, v in timings.items()}},
        "importance": {"weights": w.tolist(), "raw": raw.tolist(),
                       "metric": cfg.importance_metric},
        "metrics": {
            "clean_accuracy": clean,
            "accuracy_first_k_features": acc_first,
            "accuracy_feature_masked": acc_masked,
            "first_feature_fraction": acc_first[0] / acc_first[-1] if acc_first[-1] else 0.0,
            "levels": levels.tolist(),
        },
    }
    write_json(work / "run.json", info)
