"""The S-VQ-VAE transmitter at int8 precision, computed independently of the device runtime.

The int8 model of a bundle runs in the LiteRT interpreter with its *reference* kernels
(:func:`interpreter_outputs`); the node's per-sample steps after it (docs/bundle.md, steps 2-5:
top-K on the int8 SCI logit, integer nearest codeword on the K selected slots) are written here
in NumPy (:func:`node_indices`): the reference the device runtime must reproduce index for
index, and the offline twin that ``semqam hil`` compares the node against
(:class:`trainer.svqvae.scheme.Int8Transmitter`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from semqam_node.conventions import CONSTELLATIONS, int8_input, node_input, sample_rows
from semqam_node.model_file import codebook_key
from semqam_node.node import TFLITE_MODELS, load_interpreter


def top_k_slots(rank_scores: np.ndarray, k: int) -> np.ndarray:
    """The K slots with the largest int8 score, most important first, ties to the lower slot.
    ``rank_scores`` [n, N] -> int64 [n, K]."""
    n_slots = rank_scores.shape[-1]
    if not 1 <= k <= n_slots:
        raise ValueError(f"K must lie in [1, {n_slots}], got {k}")
    return np.argsort(-rank_scores.astype(np.int32), axis=-1, kind="stable")[:, :k]


def nearest_codewords_int8(z_q: np.ndarray, positions: np.ndarray, codebook_q: np.ndarray
                           ) -> np.ndarray:
    """``argmin_m Σ_d (z_q[p, d] − c_q[m, d])²`` for the selected slots only, integer arithmetic,
    ties to the lower ``m``. ``z_q`` [n, N, D] int8 (or int16 with an int16 codebook: a 16x8
    node; int64 sums), ``positions`` [n, K] -> int64 [n, K]."""
    acc = np.int64 if codebook_q.dtype == np.int16 else np.int32
    picked = np.take_along_axis(z_q, positions[..., None], axis=1).astype(acc)
    cb = codebook_q.astype(acc)
    out = np.empty(positions.shape, np.int64)
    for i in range(len(picked)):  # bounded memory: [K, M, D] per sample
        d = ((picked[i][:, None, :] - cb[None]) ** 2).sum(-1)
        out[i] = d.argmin(-1)
    return out


def node_indices(z_q: np.ndarray, logit_q: np.ndarray, codebook_q: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(positions [n, K], concept indices [n, K]) as the node computes them."""
    pos = top_k_slots(logit_q, k)
    return pos, nearest_codewords_int8(z_q, pos, codebook_q)


def interpreter_outputs(tflite: bytes, q: np.ndarray, meta: dict, kernels: str = "reference"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the full-integer model sample by sample in the LiteRT interpreter: (z_q, logit_q,
    s_q) in its activation type. ``q``: the model's input rows
    (:func:`semqam_node.conventions.node_input`).
    ``kernels``: ``reference`` (``BUILTIN_REF``) or ``default`` (XNNPACK)."""
    it = load_interpreter(tflite, kernels)
    inp = it.get_input_details()[0]["index"]
    by_name = {d["name"]: d["index"] for d in it.get_output_details()}
    dtype = it.get_output_details()[0]["dtype"]
    names = meta["output_names"]
    outs = [by_name[names[k]] for k in ("z", "sci_logit", "sci")]
    n, d = meta["n_concepts"], meta["latent_dim"]
    z = np.empty((len(q), n, d), dtype)
    lg = np.empty((len(q), n), dtype)
    s = np.empty((len(q), n), dtype)
    for i in range(len(q)):
        it.set_tensor(inp, q[i:i + 1].reshape(1, *meta["input_shape"]))
        it.invoke()
        z[i] = it.get_tensor(outs[0]).reshape(n, d)
        lg[i] = it.get_tensor(outs[1]).reshape(n)
        s[i] = it.get_tensor(outs[2]).reshape(n)
    return z, lg, s


def to_int8_input(x: np.ndarray) -> np.ndarray:
    """Float samples in [0, 1] -> the node's int8 input [n, size] (the byte rule of
    :mod:`semqam_node.conventions`)."""
    return int8_input(sample_rows(x))


NodeSets = Callable[[int], tuple[np.ndarray, np.ndarray]]


def cached_node_sets(z_q: np.ndarray, logit_q: np.ndarray, codebook_q: np.ndarray) -> NodeSets:
    """``K -> (positions [n, K], indices [n, K])`` of the int8 node for the int8 outputs
    ``z_q``, ``logit_q`` (:func:`node_indices`), cached per K."""
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def sets(k: int) -> tuple[np.ndarray, np.ndarray]:
        if k not in cache:
            cache[k] = node_indices(z_q, logit_q, codebook_q, k)
        return cache[k]

    return sets


def bundle_meta(bundle: str | Path) -> dict:
    """The ``meta`` record of a bundle's ``node_model.npz`` (docs/bundle.md)."""
    with np.load(Path(bundle) / "node_model.npz") as npz:
        return json.loads(str(npz["meta"]))


def bundle_node_sets(bundle: str | Path, x: np.ndarray) -> NodeSets:
    """The int8 node sets of a bundle's model on float samples ``x`` in [0, 1], computed
    independently of the device runtime: LiteRT reference kernels + the NumPy search."""
    bundle = Path(bundle)
    meta = bundle_meta(bundle)
    tflite = (bundle / TFLITE_MODELS[meta.get("activations", "int8")]).read_bytes()
    with np.load(bundle / "node_model.npz") as npz:
        codebook_q = npz[codebook_key(meta)]
        lut = npz["input_lut"] if "input_lut" in npz.files else None
    q = node_input(sample_rows(x), lut)
    z_q, logit_q, _ = interpreter_outputs(tflite, q, meta, "reference")
    return cached_node_sets(z_q, logit_q, codebook_q)


def bundle_tx_points(bundle: str | Path) -> dict[str, np.ndarray]:
    """The complex symbol the node transmits for each concept index, per constellation: its
    Q-format table ``const_<name>_q / 2^frac_bits`` (complex128 [M])."""
    meta = bundle_meta(bundle)
    with np.load(Path(bundle) / "node_model.npz") as npz:
        out = {}
        for name in CONSTELLATIONS:
            q = npz[f"const_{name}_q"].astype(np.float64)  # [M, 2] int16: I, Q
            out[name] = (q[:, 0] + 1j * q[:, 1]) / float(1 << meta[f"const_{name}_frac_bits"])
        return out
