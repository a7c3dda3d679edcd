"""Edge decoder of a deployment bundle (the receiver side of Fig. 1).

For each sample the node sends K symbols in slot order together with their positional IDs
p_1..p_K. The edge

1. demaps every received symbol to the nearest point of the bundle's constellation
   (minimum distance, Section II.A.3): ``î = argmin_i |y − x_i|²``;
2. scatters the codewords ``e_î`` into a zero-filled N-slot grid at the positional IDs:
   ``Ẑ[p_k] = e_{î_k}``, ``Ẑ[j] = 0`` for slots not sent;
3. runs the ONNX decoder + frozen classifier T (``decoder_classifier.onnx``) on ``Ẑ``.

For evaluation the host also needs ``p = T(x)`` on the original samples (the reference
distribution of Q_sem); ``classifier.onnx`` provides it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from semqam_node.conventions import CONSTELLATIONS

from channel_sim import Constellation
from edge.onnx_runtime import OnnxClassifier, OnnxEdge
from semqam.errors import SemqamError
from semqam.units import bits_per_symbol
from trainer.scheme import Frame, Reception
from trainer.svqvae.pipeline import scatter_codewords


class MissingEdgeFile(SemqamError, FileNotFoundError):
    """The bundle lacks a host-side file (exported by an older semqam)."""


class EdgeDecoder:
    """Receiver for one bundle folder (checked against its manifest, and against ``trust``,
    an Ed25519 public key, when given).

    Attributes: ``order`` M, ``n_concepts`` N, ``codebook`` [M, D] float32,
    ``constellations`` name -> :class:`~channel_sim.Constellation`, ``manifest``.
    """

    def __init__(self, bundle: str | Path, trust: Any = None) -> None:
        from semqam_node.bundle import verify_bundle

        self.bundle = Path(bundle)
        self.manifest = verify_bundle(self.bundle, trust, require="all")
        for name in ("decoder_classifier.onnx", "classifier.onnx", "codebook.npy",
                     *(f"constellation_{c}.npy" for c in CONSTELLATIONS)):
            if name not in self.manifest["files"]:
                raise MissingEdgeFile(
                    f"{self.bundle}: no {name} in the bundle (exported by an older semqam); "
                    "re-export it with `semqam export --force`")
        self.order = int(self.manifest["order"])
        self.n_concepts = int(self.manifest["n_concepts"])
        self.codebook = np.load(self.bundle / "codebook.npy").astype(np.float32)
        self.constellations = {
            c: Constellation(np.load(self.bundle / f"constellation_{c}.npy"), c)
            for c in CONSTELLATIONS}
        self.power = float(self.manifest.get("run", {}).get("config", {}).get("power", 1.0))
        self.policy = json.loads((self.bundle / "policy.json").read_text())
        self._decoder = None
        self._classifier = None

    @property
    def bits_per_symbol(self) -> int:
        return bits_per_symbol(self.order)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["input"]["shape"])

    def constellation(self, name: str) -> Constellation:
        try:
            return self.constellations[name]
        except KeyError:
            raise ValueError(f"constellation {name!r}; use semantic or standard") from None

    def demap(self, y: np.ndarray, constellation: str) -> np.ndarray:
        """Minimum-distance indices of received symbols ``y`` [...] (int64 [...])."""
        return self.constellation(constellation).demap(y)

    def scatter(self, indices: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``Ẑ`` [n, N, D] float32: codeword ``e_{indices[n, k]}`` at slot ``positions[n, k]``,
        zeros elsewhere (:func:`~trainer.svqvae.pipeline.scatter_codewords`)."""
        return scatter_codewords(self.codebook, indices, positions, self.n_concepts)

    def decode_classify(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Ẑ`` -> (``x̂``, ``T(x̂)`` probabilities) with onnxruntime."""
        if self._decoder is None:
            self._decoder = OnnxEdge(self.bundle / "decoder_classifier.onnx")
        return self._decoder(z_hat)

    def classify(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        """``T(x)`` probabilities [n, C] of float samples ``x`` [n, *input_shape] in [0, 1]."""
        if self._classifier is None:
            self._classifier = OnnxClassifier(self.bundle / "classifier.onnx", self.input_shape)
        return self._classifier(x, batch)

    def receiver(self, constellation: str) -> EdgeReceiver:
        """This decoder as the :class:`~trainer.scheme.Receiver` of one constellation."""
        self.constellation(constellation)  # names a bad one now
        return EdgeReceiver(self, constellation)


class EdgeReceiver:
    """:class:`~trainer.scheme.Receiver` of the sweep loop: demap on the bundle's float points,
    scatter by positional ID, ONNX decoder + T. Accumulates its demap and decode seconds."""

    def __init__(self, edge: EdgeDecoder, constellation: str) -> None:
        self.edge = edge
        self.constellation = constellation
        self.demap_s = 0.0
        self.decode_s = 0.0

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        t = time.perf_counter()
        labels = self.edge.demap(y, self.constellation)
        self.demap_s += time.perf_counter() - t
        t = time.perf_counter()
        _, probs = self.edge.decode_classify(self.edge.scatter(labels, frame.side["positions"]))
        self.decode_s += time.perf_counter() - t
        return Reception(labels, probs)
