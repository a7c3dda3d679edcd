"""The task classifier T (main paper, Section III.A), shared by every scheme.

T is an MLP (two ReLU hidden layers with dropout, softmax output) trained on clean inputs with
``L_cls(y, p) = -log p_y`` and then frozen. The S-VQ-VAE system trains its own T by default;
the comparison of issue 14 (``semqam compare``, docs/compare.md) trains **one** T per data set
(seed 0) with :func:`shared_classifier`, caches it in the runs folder and hands the same frozen
file to every scheme, so every metric ``T(x_hat)`` uses one judge.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from semqam.fileio import atomic_dir, write_json

#: File name of the cached shared classifier inside its folder.
CLASSIFIER_FILE = "classifier.keras"


def build_classifier(
    input_shape: tuple[int, ...],
    n_classes: int,
    hidden: tuple[int, ...] = (512, 256),
    dropout: float = 0.2,
    seed: int | None = None,
):
    """``x`` [batch, *input_shape] in [0, 1] -> class probabilities [batch, n_classes]."""
    import keras

    x = keras.Input(shape=input_shape, name="x")
    h = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"t_dense{i}")(h)
        h = keras.layers.Dropout(dropout, seed=seed, name=f"t_dropout{i}")(h)
    p = keras.layers.Dense(n_classes, activation="softmax", name="t_probs")(h)
    return keras.Model(x, p, name="classifier")


def fit_classifier(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    hidden: tuple[int, ...] = (512, 256),
    dropout: float = 0.2,
    epochs: int = 8,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    callbacks=(),
):
    """T trained on clean ``x`` (Section III.A), then frozen; returns (T, Keras history dict)."""
    import keras

    shape = tuple(int(d) for d in x.shape[1:])
    clf = build_classifier(shape, n_classes, hidden, dropout, seed=seed)
    clf.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                metrics=["accuracy"])
    h = clf.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=list(callbacks))
    clf.trainable = False
    return clf, h.history


def load_frozen(path: str | Path):
    """Load a classifier file and freeze it (one-line error if it is not there)."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no classifier T there; train the shared one with "
                                "`semqam compare` (or trainer.classifier.shared_classifier)")
    clf = keras.saving.load_model(path, compile=False)
    clf.trainable = False
    return clf


def shared_classifier(ds, folder: str | Path, *, seed: int = 0, epochs: int = 8,
                      hidden: tuple[int, ...] = (512, 256), dropout: float = 0.2) -> Path:
    """The frozen T of data set ``ds`` cached in ``folder`` (trained once, on the whole training
    split, with ``seed``); returns the path of its ``.keras`` file.

    The folder holds ``classifier.keras`` and ``classifier.json`` (data set, seed, settings,
    clean test accuracy, training time); it is written atomically, and reused when present.
    """
    folder = Path(folder)
    path = folder / CLASSIFIER_FILE
    if path.is_file() and (folder / "classifier.json").is_file():
        return path
    from semqam.seeding import set_global_seed

    set_global_seed(seed)
    t0 = time.perf_counter()
    clf, _ = fit_classifier(ds.x_train, ds.y_train, ds.n_classes, hidden=hidden,
                            dropout=dropout, epochs=epochs, seed=seed)
    train_s = time.perf_counter() - t0
    probs = clf.predict(ds.x_test, batch_size=500, verbose=0)
    with atomic_dir(folder) as work:
        clf.save(work / CLASSIFIER_FILE)
        write_json(work / "classifier.json", {
            "format": 1, "dataset": ds.name, "source": ds.source, "seed": seed,
            "epochs": epochs, "hidden": list(hidden), "dropout": dropout,
            "n_train": int(len(ds.x_train)),
            "clean_accuracy": float(np.mean(probs.argmax(1) == ds.y_test)),
            "train_s": round(train_s, 2),
        })
    return path


def classifier_info(path: str | Path) -> dict:
    """The ``classifier.json`` beside a shared classifier file ({} if absent)."""
    meta = Path(path).with_name("classifier.json")
    return json.loads(meta.read_text()) if meta.is_file() else {}
