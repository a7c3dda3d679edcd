r"""The S-VQ-VAE system in the comparison of issue 14 (``semqam compare``, docs/compare.md).

One trained run (per order M and seed, trained with the data set's shared frozen T) serves every
symbol budget S: the adapter :class:`CompareRun` binds a budget and gives the compare interface
(``name``, ``variants``, ``budget``, ``order``, ``transmitter(x, variant, seed)``,
``receiver(variant)``).

Variants, both on the learned semantic constellation (eq. 3, the paper's power convention
:math:`\frac1M\sum_m |c_m|^2 = P`):

* ``"semantic"``: K = S fixed, the S most important slots by SCI (Section II.A);
* ``"dqn"``: K from the run's DQN policy at the fed-back SNR (Section III.C), whatever S is.

Power (issue 14 protocol): the constellation's average is over equally used points, but the
concepts are not equally used, so the power actually sent differs. Every frame is normalised
over the symbols it sends, :math:`x = c / \sqrt{\overline{|c|^2}}` with the mean over the
frame's ``n K`` symbols, so that the measured :math:`\mathbb E|x|^2 = 1`; the factor travels as
side information (one number per frame, not counted per sample) and the receiver divides it out
before the minimum-distance demap. The power before normalisation is reported
(``side["raw_power"]``, ``compare.json``'s ``constellation_power``).

Side information per sample: the positional bitmap of the N slots (``N`` bits; the receiver
scatters the S codewords in slot order), see docs/compare.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainer.scheme import Frame, Reception
from trainer.svqvae.run import Run
from trainer.svqvae.run import load_run as load_svqvae_run
from trainer.svqvae.scheme import NAME, FloatTransmitter

VARIANTS = ("semantic", "dqn")


def normalise_frame(symbols: np.ndarray) -> tuple[np.ndarray, float]:
    r"""``(x / sqrt(P), P)`` with :math:`P = \overline{|x|^2}` over every symbol of the frame
    (a frame of zeros is returned unchanged with ``P = 0``)."""
    power = float(np.mean(np.abs(symbols) ** 2)) if symbols.size else 0.0
    if power <= 0.0:
        return symbols, power
    return symbols / np.sqrt(power), power


class NormalisedTransmitter:
    """A :class:`FloatTransmitter` whose frames are scaled to measured unit power."""

    def __init__(self, inner: FloatTransmitter, variant: str, side_bits: float) -> None:
        self.inner = inner
        self.variant = variant
        self.side_bits = side_bits

    def transmit(self, snr_db: float) -> list[Frame]:
        frames = []
        for f in self.inner.transmit(snr_db):
            x, power = normalise_frame(f.symbols)
            frames.append(Frame(symbols=x, samples=f.samples, labels=f.labels,
                                side={**f.side, "raw_power": np.asarray(power)},
                                side_bits=self.side_bits))
        return frames


class NormalisedReceiver:
    """Undo the frame's power normalisation, then demap -> scatter -> decoder -> T."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        power = float(frame.side.get("raw_power", 1.0))
        y = y * np.sqrt(power) if power > 0 else y
        labels = self.run.semantic.demap(y)
        pipe = self.run.pipeline
        x_hat, probs = pipe.decode_classify(pipe.reconstruct(labels, frame.side["positions"]))
        return Reception(labels, probs, x_hat)


class CompareRun:
    """A trained S-VQ-VAE run bound to a symbol budget S (K = S), in the compare interface."""

    name = NAME
    variants = list(VARIANTS)

    def __init__(self, run: Run, budget: int) -> None:
        n = run.n_concepts
        if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= n:
            raise ValueError(f"budget S = {budget!r}: the S-VQ-VAE system sends K = S of its "
                             f"N = {n} concepts; choose S in 1..{n}")
        self.run = run
        self.budget = budget
        self._encoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def order(self) -> int:
        return self.run.order

    @property
    def bits_per_symbol(self) -> int:
        return self.run.bits_per_symbol

    @property
    def dataset_name(self) -> str:
        return self.run.dataset_name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.run.input_shape

    @property
    def info(self) -> dict[str, Any]:
        return self.run.info

    @property
    def side_bits(self) -> float:
        """Positional bitmap: one bit per concept slot, N per sample."""
        return float(self.run.n_concepts)

    def _check(self, variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"S-VQ-VAE variant {variant!r} is unknown; choose one of "
                             f"{', '.join(VARIANTS)}")

    def transmitter(self, x: np.ndarray, variant: str, seed: int = 0) -> NormalisedTransmitter:
        """Frames of unit measured power; ``seed`` is unused (the encoder is deterministic)."""
        self._check(variant)
        key = id(x)
        if key not in self._encoded:  # one encoder pass serves both variants
            self._encoded = {key: self.run.pipeline.encode(x)}
        k_for = (lambda _snr: self.budget) if variant == "semantic" else self.run.policy.k_for
        inner = FloatTransmitter(self.run.pipeline, self.run.semantic, x, k_for,
                                 self._encoded[key])
        return NormalisedTransmitter(inner, variant, self.side_bits)

    def receiver(self, variant: str) -> NormalisedReceiver:
        self._check(variant)
        return NormalisedReceiver(self.run)


def load_run(run_dir: str | Path, budget: int) -> CompareRun:
    """:class:`CompareRun` of the S-VQ-VAE run folder ``run_dir`` at budget S = ``budget``."""
    return CompareRun(load_svqvae_run(run_dir), budget)


def train(ds, out: Path, *, budget: int, order: int, seed: int, loss: str = "paper",
          classifier: Path, profile: str = "compare", progress=None, **options) -> Path:
    """Train the S-VQ-VAE run that :func:`load_run` serves at every budget.

    ``budget`` does not change the training (K = S is chosen at transmit time); ``loss``:
    the paper's own loss is already the task-matched eq. (1) (reconstruction + VQ +
    lambda_sem CE(T(x_hat), y)), so ``"paper"`` and ``"task"`` train the same run.
    ``profile``: a :class:`~trainer.svqvae.config.TrainConfig` profile (``"compare"`` by
    default, the compare's quick profile); ``options`` override config fields.
    """
    from trainer.svqvae.config import TrainConfig
    from trainer.svqvae.train import train as train_svqvae

    if loss not in ("paper", "task"):
        raise ValueError(f"loss {loss!r} is unknown; choose 'paper' or 'task'")
    cfg = TrainConfig.for_profile(profile, order=order, seed=seed, **options)
    return train_svqvae(ds, cfg, Path(out), force=True, progress=progress,
                        classifier=classifier).path
