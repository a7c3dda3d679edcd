r"""A trained JCM run folder loaded back: transmitters and receivers for :mod:`trainer.sweep`.

Variants (the first is the system itself):

* ``"sample"``: the paper's test-time rule, each rail level drawn by Gumbel-max from the
  encoder's logits (eqs. 15-16), from ``np.random.default_rng(seed)``: the same seed gives the
  same symbols, at every SNR;
* ``"argmax"``: the labelled ablation, the most probable level of each rail;
* ``"uniform"`` (when trained): the uniform-usage ablation, a second model trained with its
  average point usage held uniform, sampled like ``"sample"`` (docs/schemes.md ## JCM).

Every frame is normalised per sample over the ``S`` symbols drawn (``mean |x|^2 = 1`` per
row, hence per frame); ``Frame.labels`` are the drawn points' Gray labels; no side information
(``side_bits = 0``). The receiver feeds the soft received symbols to the decoder (no demapper),
``x_hat`` to the frozen ``T``; its per-symbol decisions are a diagnostic for SER/BER only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from channel_sim import Constellation
from trainer.jcm.modulation import (
    amplitudes,
    constellation,
    expected_usage,
    gumbel_max,
    levels_to_symbols,
)
from trainer.jcm.train import NETWORKS
from trainer.scheme import Frame, Reception, RunInfo

VARIANTS = ("sample", "argmax", "uniform")


@dataclass
class Networks:
    encoder: Any
    decoder: Any


class JcmTransmitter:
    """Samples ``x`` bound at construction; ``transmit(snr_db)`` -> one :class:`Frame` of
    ``S`` symbols per sample (the encoder does not see the SNR, as in the paper)."""

    def __init__(self, run: JcmRun, x: np.ndarray, variant: str, seed: int = 0) -> None:
        self.variant, self.seed, self.order = variant, int(seed), run.order
        self.logits = run.logits(x, variant)

    def levels(self) -> np.ndarray:
        """int64 ``[n, S, 2]`` drawn (or argmax) level index of each rail."""
        if self.variant == "argmax":
            return np.argmax(self.logits, axis=-1)
        return gumbel_max(self.logits, np.random.default_rng(self.seed))

    def transmit(self, snr_db: float) -> list[Frame]:
        symbols, labels = levels_to_symbols(self.levels(), self.order)
        return [Frame(symbols=symbols, samples=np.arange(len(symbols), dtype=np.int64),
                      labels=labels, side={}, side_bits=0.0)]


class JcmReceiver:
    """Soft received symbols -> decoder -> ``x_hat`` -> ``T(x_hat)``; per-symbol decisions are
    the nearest point of the QAM scaled by the expected power of the training-split usage
    (a diagnostic for SER/BER; the decoder never sees them)."""

    def __init__(self, run: JcmRun, variant: str) -> None:
        self.decoder = run.networks(variant).decoder
        self.classifier = run.classifier
        usage = np.asarray(run.info["usage_train"]["uniform" if variant == "uniform"
                                                   else "sample"])
        pts = constellation(run.order).points
        self._const = Constellation(pts / np.sqrt(float(np.sum(usage * np.abs(pts) ** 2))),
                                    name="jcm-decision")

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        y = np.asarray(y)
        soft = np.stack([y.real, y.imag], axis=-1).astype(np.float32)
        x_hat = self.decoder.predict(soft, batch_size=500, verbose=0)
        probs = self.classifier.predict(x_hat, batch_size=500, verbose=0)
        return Reception(self._const.demap(y), probs, x_hat)


@dataclass
class JcmRun(RunInfo):
    """One trained JCM run (``run.json`` + networks)."""

    path: Path
    info: dict
    classifier: Any
    _nets: dict[str, Networks]
    name: str = "jcm"

    @property
    def variants(self) -> list[str]:
        return [v for v in VARIANTS if v != "uniform" or "uniform" in self._nets]

    @property
    def order(self) -> int:
        return int(self.info["order"])

    def _check(self, variant: str) -> None:
        if variant not in self.variants:
            raise ValueError(f"unknown JCM variant {variant!r}; this run has "
                             f"{', '.join(self.variants)}")

    def networks(self, variant: str) -> Networks:
        self._check(variant)
        return self._nets["uniform" if variant == "uniform" else "main"]

    def logits(self, x: np.ndarray, variant: str) -> np.ndarray:
        """Encoder logits ``[n, S, 2, sqrt(M)]`` of the model ``variant`` uses."""
        x = np.asarray(x, np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs of shape {x.shape[1:]} do not match the run's "
                             f"{self.input_shape}")
        return self.networks(variant).encoder.predict(x, batch_size=500, verbose=0)

    def transmitter(self, x: np.ndarray, variant: str, seed: int = 0) -> JcmTransmitter:
        self._check(variant)
        return JcmTransmitter(self, x, variant, seed)

    def receiver(self, variant: str) -> JcmReceiver:
        self._check(variant)
        return JcmReceiver(self, variant)


def usage_histogram(run: JcmRun, x: np.ndarray, variant: str = "sample") -> np.ndarray:
    r"""Learned symbol usage on ``x``: float64 ``[M]`` indexed by point label, summing to 1.

    ``"sample"`` / ``"uniform"``: the exact mean of the point probabilities
    :math:`q^I_r q^Q_s` (eq. 10) over samples and symbols (what Gumbel-max draws on average);
    ``"argmax"``: the frequencies of the argmax points.
    """
    logits = run.logits(x, variant)
    if variant != "argmax":
        return expected_usage(logits, run.order)
    _, labels = levels_to_symbols(np.argmax(logits, axis=-1), run.order)
    return np.bincount(labels.ravel(), minlength=run.order) / labels.size


def load_run(run_dir: str | Path) -> JcmRun:
    """Load a JCM run folder; FileNotFoundError / ValueError (one line) if it is incomplete."""
    run_dir = Path(run_dir)
    for name in ("run.json", "classifier.keras", *NETWORKS):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing from the JCM run folder; "
                                    "retrain it with trainer.jcm.train.train")
    info = json.loads((run_dir / "run.json").read_text())
    try:
        budget, order = int(info["budget"]), int(info["order"])
        amplitudes(order)
        _ = info["dataset"]["input_shape"], info["usage_train"]["sample"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{run_dir / 'run.json'}: unreadable JCM run description ({exc!r}); "
                         "retrain the run") from None
    import keras

    def nets(folder: Path) -> Networks:
        enc = keras.saving.load_model(folder / "encoder.keras", compile=False)
        dec = keras.saving.load_model(folder / "decoder.keras", compile=False)
        if tuple(enc.output_shape[1:3]) != (budget, 2):
            raise ValueError(f"{folder}: encoder sends {enc.output_shape[1]} symbols, "
                             f"run.json says S = {budget}; retrain the run")
        return Networks(enc, dec)

    found = {"main": nets(run_dir)}
    if all((run_dir / "uniform" / n).is_file() for n in NETWORKS):
        found["uniform"] = nets(run_dir / "uniform")
    clf = keras.saving.load_model(run_dir / "classifier.keras", compile=False)
    return JcmRun(run_dir, info, clf, found)
