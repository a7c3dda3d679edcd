"""The contract every semantic-communication scheme implements (docs/architecture.md).

A *scheme* is one seed system (the S-VQ-VAE system of the main paper is the first; JCM, MDJCM
and ISFR + OPHD follow). It

* trains into a run folder whose ``run.json`` names it (``"scheme": NAME``) and loads back from
  it (:func:`load_run` dispatches on that name);
* gives **transmitters**: samples bound at construction, then ``transmit(snr_db)`` turns the
  fed-back SNR into one or more :class:`Frame` (complex symbols, per-symbol labels for BER/SER
  where they are defined, side information such as positional IDs). The float model, its int8
  twin and a node over the serial link are all transmitters, so one sweep loop
  (:mod:`trainer.sweep`) serves ``semqam evaluate``, the DQN environment, the int8 offline twin
  and ``semqam hil``;
* gives **receivers**: received symbols of a frame plus its side information ->
  :class:`Reception` (per-symbol decisions, the classifier's probabilities ``T(x_hat)``);
* has *variants* (the S-VQ-VAE system: the ``semantic`` and ``standard`` constellations) that
  share one trained model and differ in what is sent.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Scheme name -> "module:attribute" of its loader; the loader is imported only when used.
SCHEMES: dict[str, str] = {
    "svqvae": "trainer.svqvae.run:load_run",
    "jcm": "trainer.jcm.run:load_run",
    "mdjcm": "trainer.mdjcm.run:load_run",
    "isfr": "trainer.isfr.run:load_run",
}
#: Runs written before run.json named its scheme are S-VQ-VAE runs.
DEFAULT_SCHEME = "svqvae"


@dataclass
class Frame:
    """What a transmitter sends for ``n`` samples at one fed-back SNR, with one K.

    Attributes
    ----------
    symbols : complex128 ``[n, K]`` as transmitted (before the channel).
    samples : int64 ``[n]``: which of the transmitter's samples these rows are.
    labels : int64 ``[n, K]`` index of each symbol (its Gray / concept label) for BER and SER,
        or None where a scheme has no per-symbol label.
    side : side information sent error-free beside the symbols, e.g.
        ``{"positions": int64 [n, K]}`` (the S-VQ-VAE system's positional IDs).
    side_bits : bits of side information per sample that ``side`` stands for (positional
        bitmap, lengths, orders), counted so that schemes compare at one budget.
    """

    symbols: np.ndarray
    samples: np.ndarray
    labels: np.ndarray | None = None
    side: dict[str, np.ndarray] = field(default_factory=dict)
    side_bits: float = 0.0

    @property
    def k(self) -> int:
        """Symbols per sample."""
        return int(self.symbols.shape[1])

    @property
    def energy(self) -> float:
        """Mean energy per transmitted symbol ``mean |x|^2`` (the power actually sent)."""
        return float(np.mean(np.abs(self.symbols) ** 2)) if self.symbols.size else 0.0


@dataclass
class Reception:
    """What a receiver made of one frame: per-symbol decisions (or None), ``T(x_hat)`` and,
    where the receiver reconstructs, ``x_hat`` itself (``[n, *input_shape]``, for PSNR)."""

    labels: np.ndarray | None
    probs: np.ndarray
    x_hat: np.ndarray | None = None


class RunInfo:
    """What a scheme's run object reads from its ``run.json`` (``self.info``) the same way for
    every scheme; the class provides ``order``."""

    info: dict[str, Any]
    order: int

    @property
    def budget(self) -> int:
        """S: complex payload symbols per sample the run was trained for."""
        return int(self.info["budget"])

    @property
    def bits_per_symbol(self) -> int:
        from semqam.units import bits_per_symbol

        return bits_per_symbol(self.order)

    @property
    def dataset_name(self) -> str:
        return str(self.info["dataset"]["name"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.info["dataset"]["input_shape"])


@runtime_checkable
class Transmitter(Protocol):
    """Samples bound at construction; ``transmit(snr_db)`` sends all of them."""

    variant: str

    def transmit(self, snr_db: float) -> list[Frame]:
        """Frames for the samples at the fed-back ``snr_db`` (several when K varies)."""
        ...


@runtime_checkable
class Receiver(Protocol):
    """Received symbols of a frame + its side information -> :class:`Reception`."""

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        ...


def scheme_name(info: dict[str, Any]) -> str:
    """The scheme a ``run.json`` / ``manifest.json`` dict names (older files: S-VQ-VAE)."""
    name = info.get("scheme", DEFAULT_SCHEME)
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; this semqam knows {', '.join(SCHEMES)}")
    return name


def load_run(run_dir: str | Path) -> Any:
    """Load a run folder with the loader of the scheme its ``run.json`` names."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path}: not a run folder; train one with `semqam train`")
    try:
        info = json.loads(info_path.read_text())
    except ValueError as exc:
        raise ValueError(f"{info_path}: not valid JSON ({exc}); retrain the run") from None
    module, attr = SCHEMES[scheme_name(info)].split(":")
    return getattr(importlib.import_module(module), attr)(run_dir)
