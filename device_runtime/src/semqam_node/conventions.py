"""The conventions node and host share, each written once: constellation names, the node's
timing stages and the sample byte rule.

A sample leaves the sensor as raw bytes ``u`` and enters the int8 encoder as ``q``:

.. math::

    u = \\operatorname{clip}(\\lfloor 255 x + 0.5 \\rfloor, 0, 255) \\ (\\text{uint8}),
    \\qquad q = u - 128 \\ (\\text{int8})

for float samples ``x`` in [0, 1] (the bundle's input quantization: scale 1/255, zero point
-128). The C core computes ``q`` from ``u`` with the same rule (``sq_input_from_u8``).
"""

from __future__ import annotations

import numpy as np

#: The constellations a node maps with (``Node(constellation=...)``, CONFIG, ``semqam hil``).
CONSTELLATIONS = ("semantic", "standard")

#: Per-sample stages the encoder times itself (``Node.encode(...).timings_ns``).
ENCODE_STAGES = ("neural", "select", "quantize", "map")
#: Stages a node reports per sample in SYMBOLS and STATS: the encoder's, then ``frame``
#: (COBS + CRC decoding of the INPUT frame until the encoder starts).
TIMING_STAGES = (*ENCODE_STAGES, "frame")

#: The input quantization every bundle must use: ``x ≈ (q + 128) / 255``.
INPUT_SCALE = 1 / 255
INPUT_ZERO_POINT = -128


def sample_bytes(x: np.ndarray) -> np.ndarray:
    """Float samples in [0, 1] -> raw bytes ``u = floor(255 x + 0.5)`` clipped to 0..255
    (uint8, same shape as ``x``)."""
    u = np.clip(np.floor(np.asarray(x, np.float64) * 255.0 + 0.5), 0, 255)
    return u.astype(np.uint8)


def sample_rows(x: np.ndarray) -> np.ndarray:
    """Float samples ``x`` [n, ...] -> :func:`sample_bytes`, one row per sample: uint8 [n, size]
    (what a host streams to a node)."""
    return sample_bytes(x).reshape(len(x), -1)


def int8_input(u: np.ndarray) -> np.ndarray:
    """Raw sample bytes ``u`` (uint8) -> the encoder's int8 input ``q = u - 128`` (same shape)."""
    return (np.asarray(u, np.uint8).astype(np.int16) - 128).astype(np.int8)


def node_input(u: np.ndarray, input_lut: np.ndarray | None = None) -> np.ndarray:
    """Raw sample bytes ``u`` -> the model's input: :func:`int8_input`, or ``input_lut[u]``
    (int16) for a 16x8 model, whose bundle carries the table (docs/bundle.md "16x8")."""
    if input_lut is None:
        return int8_input(u)
    return np.asarray(input_lut, np.int16)[np.asarray(u, np.uint8)]
