"""semqam_node.Node on a synthetic bundle: symbols from the constellation tables, sample forms
and one-line errors, trust, tampering, compiled limits and the timing ring.

Bit-exactness against the exporter's int8 reference and the LiteRT backend are tested on an
exported bundle in the host suite (tests/test_node.py).
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from semqam_node.bundle import MANIFEST, BundleError, generate_keypair, key_id, load_public_key
from semqam_node.conventions import int8_input, sample_bytes
from semqam_node.node import Node, check_limits


@pytest.fixture(scope="module")
def ref(node_bundle):
    """200 samples (float ``x`` in [0, 1], their bytes ``u``, int8 ``q``) and the bundle's
    node model."""
    x = np.random.default_rng(7).integers(0, 256, (200, 784)).astype(np.float64) / 255.0
    u = sample_bytes(x)
    with np.load(node_bundle / "node_model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    return SimpleNamespace(x=x, q=int8_input(u), u=u, meta=meta, arrays=arrays)


def encode_all(node, samples, k):
    enc = [node.encode(s, k) for s in samples]
    return (np.stack([e.positions for e in enc]), np.stack([e.indices for e in enc]),
            np.stack([e.iq for e in enc]))


@pytest.mark.parametrize("constellation", ["semantic", "standard"])
def test_symbols_are_constellation_table_entries(node_bundle, ref, constellation):
    node = Node(node_bundle, constellation=constellation)
    table = ref.arrays[f"const_{constellation}_q"]
    pos, idx, iq = encode_all(node, ref.u[:100], 16)
    assert iq.dtype == np.int16 and iq.shape == (100, 16, 2)
    np.testing.assert_array_equal(iq, table[idx])
    assert all(len(set(p.tolist())) == 16 for p in pos)


def test_sample_forms_and_one_line_errors(node_bundle, ref):
    node = Node(node_bundle)
    u = ref.u[3]
    want = node.encode(u, 10)
    forms = [u.tobytes(), bytearray(u.tobytes()), memoryview(u.tobytes()), u.reshape(28, 28),
             ref.x[3].astype(np.float32), ref.x[3].astype(np.float64)]
    for form in forms:
        got = node.encode(form, 10)
        np.testing.assert_array_equal(got.iq, want.iq)
        np.testing.assert_array_equal(got.positions, want.positions)
    assert want.k == 10 and set(want.timings_ns) == {"neural", "select", "quantize", "map"}
    bad = np.zeros(784, np.float32)
    cases = [
        (u[:-1], "784 values"), (u.astype(np.int64), "dtype int64"), (list(u), "bytes"),
        (np.where(np.arange(784) == 5, np.nan, bad).astype(np.float32), "NaN"),
        (np.where(np.arange(784) == 5, np.inf, bad).astype(np.float32), "NaN or inf"),
        (bad + 1.5, r"\[0, 1\]"), (bad - 0.1, r"\[0, 1\]"),
    ]
    for sample, msg in cases:
        with pytest.raises(ValueError, match=msg) as e:
            node.encode(sample)
        assert "\n" not in str(e.value)
    for k in (0, node.n_concepts + 1, 2.5, True):
        with pytest.raises(ValueError, match=r"K must be an integer in \[1, 64\]"):
            node.encode(u, k)
    with pytest.raises(ValueError, match="K must"):
        node.k = 0
    with pytest.raises(ValueError, match="backend"):
        Node(node_bundle, backend="gpu")
    with pytest.raises(ValueError, match="constellation"):
        Node(node_bundle, constellation="qpsk")


def test_trust_requires_a_valid_signature(node_bundle, signing_keys, tmp_path):
    node = Node(node_bundle, trust=signing_keys[1])
    assert node.info()["trusted_key_id"] == key_id(load_public_key(signing_keys[1]))
    assert node.info()["signed"] is True
    _, other = generate_keypair()
    (tmp_path / "other.pub").write_bytes(other)
    with pytest.raises(BundleError, match="does not verify"):
        Node(node_bundle, trust=tmp_path / "other.pub")
    unsigned = tmp_path / "unsigned"
    shutil.copytree(node_bundle, unsigned)
    manifest = json.loads((unsigned / MANIFEST).read_text())
    manifest.pop("signature")
    (unsigned / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="unsigned"):
        Node(unsigned, trust=signing_keys[1])
    assert Node(unsigned).info()["signed"] is False


def test_tampered_node_model_is_refused(node_bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(node_bundle, bad)
    data = bytearray((bad / "node_model.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bad / "node_model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="node_model.npz"):
        Node(bad)


def test_dimensions_beyond_the_compiled_limits_are_refused(ref):
    limits = Node.__init__.__globals__["_c_limits"]()
    check_limits(ref.meta, ref.arrays, limits)  # the real bundle fits
    for key, value, name in (("n_concepts", 300, "SQ_MAX_N"), ("latent_dim", 1000, "SQ_MAX_D"),
                             ("input_size", 5000, "SQ_MAX_LAYER_WIDTH")):
        with pytest.raises(BundleError, match=name):
            check_limits({**ref.meta, key: value}, ref.arrays, limits)
    big = {**ref.arrays, "codebook_int8": np.zeros((2048, 64), np.int8)}
    with pytest.raises(BundleError, match="SQ_MAX_M"):
        check_limits(ref.meta, big, limits)


def test_timing_ring_stays_bounded(node_bundle, ref):
    node = Node(node_bundle, timing_window=8)
    for u in ref.u[:20]:
        node.encode(u, 4)
    node.record_stage("frame", 1500)
    summary = node.timing_summary()
    assert list(summary) == ["neural", "select", "quantize", "map", "frame"]
    assert summary["neural"]["count"] == 20 and summary["neural"]["window"] == 8
    assert summary["frame"] == {"count": 1, "window": 1, "median_us": 1.5, "p95_us": 1.5}
    assert 0 < summary["neural"]["median_us"] <= summary["neural"]["p95_us"]
    for name, ns in (("", 1), ("frame", -1), ("frame", 1.5)):
        with pytest.raises(ValueError):
            node.record_stage(name, ns)
