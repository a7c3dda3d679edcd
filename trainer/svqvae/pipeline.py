"""The deployed inference chain in NumPy around the trained Keras parts (Section II.A).

Node side: ``encode`` (encoder + SCI) -> ``select_top_k`` -> ``quantize`` (nearest codeword of
the K selected embeddings only). Edge side: ``reconstruct`` (codebook lookup, scatter into the
N-slot grid by positional ID, zero-fill) -> ``decoder`` -> frozen classifier T. The channel in
between is ``channel_sim``; the transmitters and receiver built on this chain are in
:mod:`trainer.svqvae.scheme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the receiver side (edge, HIL) must not load TensorFlow
    import keras


def select_top_k(sci: np.ndarray, k: int) -> np.ndarray:
    """Positions of the K largest SCI scores per sample, most important first.

    Ties are broken by the lower slot index (stable sort), as on the node.
    Input ``sci`` [n, N]; output int64 [n, K].
    """
    n_slots = sci.shape[-1]
    if not 1 <= k <= n_slots:
        raise ValueError(f"K must lie in [1, {n_slots}], got {k}")
    return np.argsort(-sci, axis=-1, kind="stable")[:, :k]


def nearest_codewords(vectors: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """``argmin_k ||v - e_k||^2`` for ``vectors`` [..., D] -> int64 [...]."""
    flat = vectors.reshape(-1, vectors.shape[-1]).astype(np.float32)
    cb = codebook.astype(np.float32)
    d = (flat * flat).sum(1, keepdims=True) - 2.0 * flat @ cb.T + (cb * cb).sum(1)[None, :]
    return d.argmin(1).reshape(vectors.shape[:-1])


def scatter_codewords(codebook: np.ndarray, indices: np.ndarray, positions: np.ndarray,
                      n_slots: int) -> np.ndarray:
    """The receiver's grid ``Ẑ`` [n, N, D] float32: codeword ``e_{indices[n, k]}`` at slot
    ``positions[n, k]``, zeros in the slots not sent. ``indices``, ``positions``: int [n, K]
    (K may be 0); ValueError on a shape mismatch or an ID / index out of range."""
    indices = np.asarray(indices)
    positions = np.asarray(positions)
    order = codebook.shape[0]
    if indices.shape != positions.shape or indices.ndim != 2:
        raise ValueError(f"indices {indices.shape} and positions {positions.shape} must "
                         "both be [n, K]")
    if positions.size and (positions.min() < 0 or positions.max() >= n_slots):
        raise ValueError(f"positional IDs must lie in 0..{n_slots - 1}")
    if indices.size and (indices.min() < 0 or indices.max() >= order):
        raise ValueError(f"concept indices must lie in 0..{order - 1}")
    z_hat = np.zeros((len(indices), n_slots, codebook.shape[1]), np.float32)
    z_hat[np.arange(len(indices))[:, None], positions] = codebook[indices]
    return z_hat


@dataclass
class SemanticPipeline:
    """Trained encoder + SCI, codebook, decoder and classifier of one run."""

    encoder_sci: keras.Model
    decoder: keras.Model
    classifier: keras.Model
    codebook: np.ndarray  # [M, D]
    batch_size: int = 500

    @property
    def n_concepts(self) -> int:
        return int(self.encoder_sci.outputs[1].shape[-1])

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x [n, H, W] -> (Z [n, N, D], SCI [n, N])."""
        z, sci = self.encoder_sci.predict(x, batch_size=self.batch_size, verbose=0)
        return np.asarray(z), np.asarray(sci)

    def quantize(self, z: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Concept indices of the selected slots: [n, K]."""
        picked = np.take_along_axis(z, positions[..., None], axis=1)
        return nearest_codewords(picked, self.codebook)

    def reconstruct(self, indices: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Zero-filled N-slot grid Z_hat [n, N, D] from received indices and positional IDs."""
        return scatter_codewords(self.codebook, indices, positions, self.n_concepts)

    def decode_classify(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Z_hat -> (x_hat, T(x_hat) probabilities)."""
        x_hat = self.decoder.predict(z_hat, batch_size=self.batch_size, verbose=0)
        return x_hat, self.classify(x_hat)

    def classify(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.classifier.predict(x, batch_size=self.batch_size, verbose=0))
