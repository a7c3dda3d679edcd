r"""ISFR's inference chain and its bit/symbol mapping (Section II.A, C; NumPy + the Keras models).

``x -> Y [n, N, L] -> level indices (hard eq. 3) -> N_b-bit labels (g_ad, eq. 4) -> per
feature, the bits cut into symbols of m bits -> Gray square 2^m-QAM index``; the receiver runs
the same steps backwards (eq. 10) and decodes the zero-filled feature grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.isfr.model import hard_indices


def to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers ``[...]`` -> bits ``[..., width]``, most significant first."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, np.int64)[..., None] >> shifts) & 1).astype(np.int64)


def from_bits(bits: np.ndarray) -> np.ndarray:
    """Bits ``[..., width]`` (most significant first) -> integers ``[...]``."""
    width = bits.shape[-1]
    return np.asarray(bits, np.int64) @ (1 << np.arange(width - 1, -1, -1, dtype=np.int64))


def feature_symbols(labels: np.ndarray, quant_bits: int, bits: int) -> np.ndarray:
    """One feature's level labels ``[n, L]`` -> QAM indices ``[n, ceil(L N_b / m)]``; the last
    symbol is zero-padded."""
    stream = to_bits(labels, quant_bits).reshape(len(labels), -1)
    pad = (-stream.shape[1]) % bits
    stream = np.pad(stream, ((0, 0), (0, pad)))
    return from_bits(stream.reshape(len(labels), -1, bits))


def feature_labels(indices: np.ndarray, quant_bits: int, bits: int, length: int) -> np.ndarray:
    """Inverse of :func:`feature_symbols`: QAM indices ``[n, s]`` -> level labels ``[n, L]``."""
    stream = to_bits(indices, bits).reshape(len(indices), -1)[:, : length * quant_bits]
    return from_bits(stream.reshape(len(indices), length, quant_bits))


def _apply(model, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``model(x)`` in inference mode, in chunks (cheaper than ``predict`` for small inputs)."""
    x = np.asarray(x, np.float32)
    out = [np.asarray(model(x[i:i + chunk], training=False)) for i in range(0, len(x), chunk)]
    return np.concatenate(out) if out else np.zeros((0, *model.output_shape[1:]), np.float32)


@dataclass
class IsfrPipeline:
    """Encoder, hard quantiser, decoder and the frozen classifier T of one run."""

    encoder: object
    decoder: object
    classifier: object
    levels: np.ndarray  # [2^N_b] quantisation levels Delta_t
    labels: np.ndarray  # [2^N_b] g_ad: level index -> label

    @property
    def n_features(self) -> int:
        return int(self.encoder.output_shape[1])

    @property
    def length(self) -> int:
        return int(self.encoder.output_shape[2])

    @property
    def quant_bits(self) -> int:
        return int(len(self.levels)).bit_length() - 1

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Level indices ``[n, N, L]`` of ``x`` (eq. 1, hard eq. 3)."""
        return hard_indices(_apply(self.encoder, x), self.levels)

    def features(self, idx: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """:math:`\\hat Z` [n, N, L]: the levels of ``idx``, zero where ``keep`` [n, N] or
        [N] is False (features not sent, or masked as in eq. 17)."""
        z = self.levels[idx].astype(np.float32)
        if keep is not None:
            z = z * np.broadcast_to(np.asarray(keep, bool), z.shape[:2])[..., None]
        return z

    def decode_classify(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x_hat, T(x_hat))."""
        x_hat = _apply(self.decoder, z)
        return x_hat, _apply(self.classifier, x_hat)

    def classify(self, x: np.ndarray) -> np.ndarray:
        """T(x)."""
        return _apply(self.classifier, x)

    def scores(self, idx: np.ndarray, keeps: np.ndarray) -> np.ndarray:
        """T's probabilities ``[m, n, C]`` for each keep-mask ``keeps[i]`` [N] in one pass."""
        keeps = np.asarray(keeps, bool)
        z = self.levels[idx].astype(np.float32)
        grid = z[None] * keeps[:, None, :, None]
        _, probs = self.decode_classify(grid.reshape(-1, *z.shape[1:]))
        return probs.reshape(len(keeps), len(idx), -1)

    def label_of(self, idx: np.ndarray) -> np.ndarray:
        return self.labels[idx]

    def index_of(self, label: np.ndarray) -> np.ndarray:
        return np.argsort(self.labels)[label]
