"""Train a JCM run (Section III; loss eq. 13) and write its run folder atomically.

``train(ds, out, budget=S, order=M, seed=s, loss=..., classifier=T.keras)`` trains the main
system and, with ``uniform_ablation=True``, the uniform-usage ablation (same networks, the
batch-average point usage pushed to uniform, docs/schemes.md ## JCM) into ``out``:

* ``run.json``: format, scheme, dataset, config, budget, order, seed, loss, timings, the
  training-split usage histograms and the classifier's source;
* ``encoder.keras``, ``decoder.keras``, ``semantic_head.keras``, ``classifier.keras`` (a copy of
  the frozen T); ``uniform/`` holds the ablation's three networks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from rich.progress import Progress

from semqam.fileio import atomic_dir, write_json
from semqam.progress import make_progress
from semqam.seeding import environment_info, set_global_seed
from trainer.data import Dataset
from trainer.jcm import NAME
from trainer.jcm.model import (
    JCM,
    build_decoder,
    build_encoder,
    build_semantic_head,
    sum_squared_error,
)
from trainer.jcm.modulation import expected_usage, rail_levels
from trainer.progress import KerasProgress

RUN_FORMAT = 1
LOSSES = ("paper", "task")
NETWORKS = ("encoder.keras", "decoder.keras", "semantic_head.keras")


@dataclass(frozen=True)
class JcmConfig:
    """Every setting of a JCM run (``**options`` of :func:`train` override these)."""

    hidden: tuple[int, ...] = (512, 256)  # encoder; the decoder mirrors it
    semantic_hidden: tuple[int, ...] = (256,)
    epochs: int = 16
    batch_size: int = 64
    learning_rate: float = 1e-3  # cosine-annealed to final_learning_rate (Section IV-A)
    final_learning_rate: float = 1e-5
    lambda_x: float = 1.0  # lambda of eq. (13), on the pixel-summed squared error
    lambda_sem: float = 1.0  # weight of CE(T(x_hat), y) for loss="task" (main paper eq. 1)
    temperature: float = 1.0  # softmax temperature of eq. (17); the paper's is 1
    snr_train_db: tuple[float, float] = (-10.0, 20.0)  # per-sample training SNR range
    uniform_ablation: bool = False  # also train the uniform-usage ablation (variant "uniform")
    uniform_weight: float = 10.0  # w of w * KL(mean usage || uniform) for the ablation

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


#: ``profile="paper"``: batch 32, Adam, cosine 5e-4 -> 1e-6 over 300 epochs (Section IV-A).
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {},
    "paper": {"epochs": 300, "batch_size": 32, "learning_rate": 5e-4,
              "final_learning_rate": 1e-6},
}


def make_config(profile: str, **options: Any) -> JcmConfig:
    """The profile's settings with ``options`` on top; ValueError (one line) for unknown keys."""
    if profile not in PROFILES:
        raise ValueError(f"unknown JCM profile {profile!r}; choose one of {', '.join(PROFILES)}")
    fields = {f.name for f in dataclasses.fields(JcmConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"JCM does not take option(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(fields))}")
    merged = {**PROFILES[profile], **options}
    for key in ("hidden", "semantic_hidden"):
        if key in merged:
            merged[key] = tuple(int(v) for v in merged[key])
    if "snr_train_db" in merged:
        snr = np.atleast_1d(np.asarray(merged["snr_train_db"], float))
        if snr.size not in (1, 2) or snr[0] > snr[-1]:
            raise ValueError(f"snr_train_db must be one SNR or (low, high) with low <= high, "
                             f"got {merged['snr_train_db']!r}")
        merged["snr_train_db"] = (float(snr[0]), float(snr[-1]))
    cfg = JcmConfig(**merged)
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.temperature <= 0:
        raise ValueError("JCM needs epochs >= 1, batch_size >= 1 and temperature > 0")
    return cfg


def _load_classifier(path: Path, ds: Dataset) -> keras.Model:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no classifier T; pass the frozen task classifier "
                                "(.keras) shared by every system of the comparison")
    clf = keras.saving.load_model(path, compile=False)
    if tuple(clf.input_shape[1:]) != tuple(ds.input_shape) or clf.output_shape[-1] != \
            ds.n_classes:
        raise ValueError(f"{path}: classifier takes {clf.input_shape[1:]} -> "
                         f"{clf.output_shape[-1]} classes, but data set {ds.name} has inputs "
                         f"{ds.input_shape} and {ds.n_classes} classes; train T on this data")
    clf.trainable = False
    return clf


def _fit(ds: Dataset, cfg: JcmConfig, clf: keras.Model, *, budget: int, order: int, seed: int,
         loss: str, uniform_weight: float, prog: Progress, label: str) -> tuple[dict, dict]:
    """Train one JCM; returns ({name: network}, history)."""
    shape = ds.input_shape
    nets = {
        "encoder": build_encoder(shape, budget, order, cfg.hidden),
        "decoder": build_decoder(shape, budget, cfg.hidden),
        "semantic_head": build_semantic_head(budget, ds.n_classes, cfg.semantic_hidden),
    }
    model = JCM(nets["encoder"], nets["decoder"], nets["semantic_head"], clf, order,
                cfg.snr_train_db, cfg.temperature, uniform_weight, task=loss == "task",
                seed=seed)
    batches = math.ceil(len(ds.x_train) / cfg.batch_size)
    lr = keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, batches * cfg.epochs, alpha=cfg.final_learning_rate / cfg.learning_rate)
    losses = {"x_hat": sum_squared_error, "probs": "sparse_categorical_crossentropy"}
    weights = {"x_hat": cfg.lambda_x, "probs": 1.0}
    targets = {"x_hat": ds.x_train, "probs": ds.y_train}
    if loss == "task":  # + lambda_sem CE(T(x_hat), y), the main paper's eq. (1)
        losses["t_probs"] = "sparse_categorical_crossentropy"
        weights["t_probs"] = cfg.lambda_sem
        targets["t_probs"] = ds.y_train
    model.compile(keras.optimizers.Adam(lr), loss=losses, loss_weights=weights,
                  metrics={"probs": "accuracy"})
    cb = KerasProgress(prog, label, batches * cfg.epochs)
    hist = model.fit(ds.x_train, targets, batch_size=cfg.batch_size, epochs=cfg.epochs,
                     verbose=0, callbacks=[cb])
    return nets, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def train(ds: Dataset, out: Path, *, budget: int, order: int, seed: int, loss: str = "paper",
          classifier: Path, profile: str = "quick", progress: Progress | None = None,
          **options: Any) -> Path:
    """Train JCM with ``S = budget`` channel uses per sample on ``M = order`` QAM; write the run
    folder ``out`` (replaced as a whole when complete) and return its path."""
    out, classifier = Path(out), Path(classifier)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget S must be an int >= 1 (symbols per sample), got {budget!r}")
    rail_levels(order)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    cfg = make_config(profile, **options)
    if len(ds.x_train) < 50 or len(ds.x_test) == 0:
        raise ValueError(f"data set {ds.source} needs >= 50 training and >= 1 test samples")
    set_global_seed(seed)
    clf = _load_classifier(classifier, ds)
    budget, order = int(budget), int(order)
    timings: dict[str, float] = {}
    history, usage = {}, {}
    with atomic_dir(out) as work, progress or make_progress() as prog:
        t0 = time.perf_counter()
        kw = dict(budget=budget, order=order, seed=seed, loss=loss, prog=prog)
        nets, history["jcm"] = _fit(ds, cfg, clf, uniform_weight=0.0, label="JCM", **kw)
        timings["train_s"] = time.perf_counter() - t0
        for name, net in nets.items():
            net.save(work / f"{name}.keras")
        logits = nets["encoder"].predict(ds.x_train, batch_size=500, verbose=0)
        usage["sample"] = expected_usage(logits, order).tolist()
        if cfg.uniform_ablation:
            t0 = time.perf_counter()
            nets, history["uniform"] = _fit(ds, cfg, clf, uniform_weight=cfg.uniform_weight,
                                            label="JCM uniform usage", **kw)
            timings["uniform_train_s"] = time.perf_counter() - t0
            (work / "uniform").mkdir()
            for name, net in nets.items():
                net.save(work / "uniform" / f"{name}.keras")
            logits = nets["encoder"].predict(ds.x_train, batch_size=500, verbose=0)
            usage["uniform"] = expected_usage(logits, order).tolist()
        shutil.copyfile(classifier, work / "classifier.keras")
        clean = float(np.mean(clf.predict(ds.x_test, batch_size=500, verbose=0).argmax(1)
                              == ds.y_test))
        info = {
            "format": RUN_FORMAT,
            "scheme": NAME,
            "dataset": {
                "name": ds.name, "source": ds.source, "input_shape": list(ds.input_shape),
                "n_classes": ds.n_classes, "class_names": list(ds.class_names),
                "n_train": int(len(ds.x_train)), "n_test": int(len(ds.x_test)),
            },
            "config": {**cfg.to_dict(), "profile": profile},
            "budget": budget, "order": order, "seed": int(seed), "loss": loss,
            "side_bits": 0,
            "classifier": {"source": str(classifier),
                           "sha256": hashlib.sha256(classifier.read_bytes()).hexdigest(),
                           "clean_accuracy": clean},
            "usage_train": usage,
            "timings": {k: round(v, 2) for k, v in timings.items()},
            "history": history,
            "environment": environment_info(),
        }
        write_json(work / "run.json", info)
    return out
