"""The S-VQ-VAE system as a :mod:`scheme <trainer.scheme>`: its transmitters and receiver.

Transmit (Section II.A): encoder + SCI -> the K most important slots (K from the rate policy at
the fed-back SNR, or fixed) -> nearest codeword of the K selected embeddings -> the variant's
constellation point of each concept index; the positional IDs travel as side information.
Receive: minimum-distance demap -> codeword lookup scattered into the zero-filled N-slot grid
by positional ID -> decoder -> frozen classifier T.

The variants ``semantic`` (learned, eq. 3) and ``standard`` (Gray M-QAM) share every trained
part; only the symbol table differs. Two precisions of the node side: :class:`FloatTransmitter`
(the Keras model) and :class:`Int8Transmitter` (a bundle's int8 model on LiteRT's reference
kernels + the node's Q-format symbol tables: the offline twin of a node).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from channel_sim import Constellation
from trainer.scheme import Frame, Reception
from trainer.svqvae.int8 import NodeSets, bundle_node_sets, bundle_tx_points
from trainer.svqvae.pipeline import SemanticPipeline, select_top_k

NAME = "svqvae"
KPolicy = Callable[[float], int]


class _SetTransmitter(ABC):
    """Shared part: the (positions, indices) of a K -> one frame of symbols."""

    def __init__(self, variant: str, points: np.ndarray, k_for: KPolicy) -> None:
        self.variant = variant
        self.points = np.asarray(points)
        self.k_for = k_for

    @abstractmethod
    def sets(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions int64 [n, K], concept indices int64 [n, K]) of every sample."""

    def transmit(self, snr_db: float) -> list[Frame]:
        pos, idx = self.sets(int(self.k_for(snr_db)))
        return [Frame(symbols=self.points[idx], samples=np.arange(len(idx)), labels=idx,
                      side={"positions": pos})]


class FloatTransmitter(_SetTransmitter):
    """The float (Keras) node side of a run on samples ``x``; sets cached per K."""

    def __init__(self, pipeline: SemanticPipeline, constellation: Constellation, x: np.ndarray,
                 k_for: KPolicy, encoded: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        super().__init__(constellation.name, constellation.points, k_for)
        self.pipeline = pipeline
        self.z, self.sci = encoded if encoded is not None else pipeline.encode(x)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def sets(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k not in self._cache:
            pos = select_top_k(self.sci, k)
            self._cache[k] = (pos, self.pipeline.quantize(self.z, pos))
        return self._cache[k]


class Int8Transmitter(_SetTransmitter):
    """A bundle's int8 node side computed without the device runtime: sets from the LiteRT
    reference kernels + the NumPy search, symbols from the node's Q-format tables."""

    def __init__(self, variant: str, node_sets: NodeSets, points: np.ndarray,
                 k_for: KPolicy) -> None:
        super().__init__(variant, points, k_for)
        self.node_sets = node_sets

    @classmethod
    def for_bundle(cls, bundle: str | Path, x: np.ndarray, k_for: KPolicy,
                   variants: tuple[str, ...]) -> dict[str, Int8Transmitter]:
        """One transmitter per variant, sharing one interpreter pass over ``x``."""
        sets = bundle_node_sets(bundle, x)
        points = bundle_tx_points(bundle)
        return {v: cls(v, sets, points[v], k_for) for v in variants}

    def sets(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.node_sets(k)


class KerasReceiver:
    """Demap on ``constellation`` -> scatter by positional ID -> Keras decoder -> T."""

    def __init__(self, pipeline: SemanticPipeline, constellation: Constellation) -> None:
        self.pipeline = pipeline
        self.constellation = constellation

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        labels = self.constellation.demap(y)
        positions = frame.side["positions"]
        x_hat, probs = self.pipeline.decode_classify(
            self.pipeline.reconstruct(labels, positions))
        return Reception(labels, probs, x_hat)
