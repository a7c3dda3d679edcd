"""An ISFR run folder (written by :func:`trainer.isfr.train.train`) loaded back as one object.

Files: ``run.json`` (data set, config, budget S, order M, seed, loss, timings, importance
weights, metrics), ``encoder.keras``, ``decoder.keras``, ``classifier.keras`` (a copy of the
frozen T), ``levels.npy`` [2^N_b] (quantisation levels), ``importance.npy`` [N] (eq. 18),
``history.json``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from semqam.units import bits_per_symbol, db_to_linear
from trainer.isfr.ophd import Allocation, equal_protection, ophd
from trainer.isfr.pipeline import IsfrPipeline
from trainer.isfr.scheme import NAME, VARIANTS, IsfrReceiver, IsfrTransmitter
from trainer.scheme import RunInfo

REQUIRED_FILES = ("run.json", "encoder.keras", "decoder.keras", "classifier.keras",
                  "levels.npy", "importance.npy")


def allowed_bits(bit_set: tuple[int, ...], order: int) -> tuple[int, ...]:
    """OPHD's bits per symbol for a run of order M: the configured set (C4) capped at
    log2 M, plus log2 M itself (so equal protection's point is always a candidate); square
    orders only (Gray square QAM)."""
    top = bits_per_symbol(int(order))
    return tuple(sorted({int(b) for b in bit_set if int(b) <= top and int(b) % 2 == 0} | {top}))


class Run(RunInfo):
    """One trained ISFR run: its models, importance weights and the OPHD allocator."""

    name = NAME
    variants = list(VARIANTS)

    def __init__(self, path: Path, info: dict, pipeline: IsfrPipeline,
                 importance: np.ndarray) -> None:
        self.path, self.info, self.pipeline, self.importance = path, info, pipeline, importance
        cfg = info["config"]
        self.bits_per_feature = int(cfg["bits_per_feature"])
        self.bit_set = allowed_bits(tuple(cfg["bit_set"]), self.order)
        self._allocate = lru_cache(maxsize=256)(self._allocate_uncached)

    #: run.json config keys of OPHD that may change after training (no retraining needed).
    OPHD_KEYS = ("discard_penalty", "ophd_search", "ophd_prune", "ber_model")

    def set_ophd(self, **settings) -> None:
        """Change OPHD's evaluation-time settings (``OPHD_KEYS``) of this loaded run."""
        unknown = sorted(set(settings) - set(self.OPHD_KEYS))
        if unknown:
            raise ValueError(f"unknown OPHD setting(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(self.OPHD_KEYS)}")
        self.info["config"].update(settings)
        self._allocate.cache_clear()

    @property
    def order(self) -> int:
        return int(self.info["order"])

    def allocation(self, variant: str, snr_db: float) -> Allocation:
        """What ``variant`` sends at the fed-back ``snr_db`` (cached per point)."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown ISFR variant {variant!r}; choose one of "
                             f"{', '.join(VARIANTS)}")
        return self._allocate(variant, float(snr_db))

    def _allocate_uncached(self, variant: str, snr_db: float) -> Allocation:
        cfg = self.info["config"]
        if variant == "equal_protection":
            return equal_protection(self.pipeline.n_features, self.bits_per_feature, self.budget,
                                    self.bits_per_symbol)
        return ophd(self.importance, db_to_linear(snr_db), bits_per_feature=self.bits_per_feature,
                    budget=self.budget, bit_set=self.bit_set,
                    discard_penalty=float(cfg["discard_penalty"]), model=cfg["ber_model"],
                    search=cfg["ophd_search"], prune=cfg["ophd_prune"])

    def transmitter(self, x: np.ndarray, variant: str, seed: int = 0) -> IsfrTransmitter:
        """Transmitter of ``variant`` on samples ``x`` (deterministic; ``seed`` is unused)."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown ISFR variant {variant!r}; choose one of "
                             f"{', '.join(VARIANTS)}")
        return IsfrTransmitter(self.pipeline, x, variant,
                               lambda snr: self.allocation(variant, snr),
                               len(self.bit_set), self.bits_per_symbol)

    def receiver(self, variant: str) -> IsfrReceiver:
        if variant not in VARIANTS:
            raise ValueError(f"unknown ISFR variant {variant!r}; choose one of "
                             f"{', '.join(VARIANTS)}")
        return IsfrReceiver(self.pipeline)


def load_run(run_dir: str | Path) -> Run:
    """Load an ISFR run folder; FileNotFoundError / ValueError (one line) when incomplete."""
    run_dir = Path(run_dir)
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing from the ISFR run folder; "
                                    "retrain it (trainer.isfr.train.train)")
    try:
        info = json.loads((run_dir / "run.json").read_text())
        cfg = info["config"]
        labels = np.asarray(cfg["level_labels_table"], np.int64)
        _ = info["budget"], info["order"], cfg["bits_per_feature"], info["dataset"]["name"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{run_dir / 'run.json'}: unreadable ISFR run description ({exc!r}); "
                         "retrain the run") from None
    import keras

    def model(name: str):
        return keras.saving.load_model(run_dir / name, compile=False)

    levels = np.load(run_dir / "levels.npy", allow_pickle=False).astype(np.float32)
    importance = np.load(run_dir / "importance.npy", allow_pickle=False).astype(np.float64)
    pipe = IsfrPipeline(model("encoder.keras"), model("decoder.keras"), model("classifier.keras"),
                        levels, labels)
    if len(levels) != len(labels) or len(importance) != pipe.n_features:
        raise ValueError(f"{run_dir}: inconsistent ISFR run folder (levels {len(levels)}, "
                         f"labels {len(labels)}, weights {len(importance)} for "
                         f"{pipe.n_features} features); retrain the run")
    return Run(run_dir, info, pipe, importance)
