"""semqam_node.Node on a real exported bundle (the tiny run): bit-exact with the exporter's int8
reference for every test sample, both backends identical, the SNR policy against the trained
one, the LiteRT backend and the benchmark. What needs no exporter (sample forms, trust, limits,
timing, constellation tables) is in device_runtime/tests/test_node.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.slow

node_mod = pytest.importorskip("semqam_node.node",
                               reason="build the extension: pip install -e ./device_runtime")
Node = node_mod.Node
from semqam_node import _core  # noqa: E402
from semqam_node.bundle import MANIFEST  # noqa: E402


@pytest.fixture(scope="module")
def ref(tiny_run, tiny_bundle):
    """Every test sample of the run, as bytes, and the interpreter's reference-kernel outputs."""
    from evaluation.evaluate import run_dataset
    from trainer.svqvae.int8 import interpreter_outputs, to_int8_input
    from trainer.svqvae.run import load_run

    x = run_dataset(load_run(tiny_run)).x_test
    q = to_int8_input(x)
    with np.load(tiny_bundle / "node_model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    tfl = (tiny_bundle / "encoder_sci_int8.tflite").read_bytes()
    z, logit, sci = interpreter_outputs(tfl, q, meta, "reference")
    u = (q.astype(np.int16) + 128).astype(np.uint8)
    return SimpleNamespace(x=x, q=q, u=u, z=z, logit=logit, sci=sci, meta=meta, arrays=arrays)


def encode_all(node, samples, k):
    enc = [node.encode(s, k) for s in samples]
    return (np.stack([e.positions for e in enc]), np.stack([e.indices for e in enc]),
            np.stack([e.iq for e in enc]))


def test_c_graph_equals_litert_reference_kernels(tiny_bundle, ref):
    node = Node(tiny_bundle, backend="c")
    outs = [node.neural_int8(u) for u in ref.u]
    np.testing.assert_array_equal(np.stack([o.z for o in outs]), ref.z)
    np.testing.assert_array_equal(np.stack([o.logit for o in outs]), ref.logit)
    np.testing.assert_array_equal(np.stack([o.sci for o in outs]), ref.sci)


def test_integer_only_path_matches_a_q31_numpy_graph(tiny_bundle, ref):
    """The MCU path (Q31 multipliers, single rounding) against NumPy with Python-exact int64
    arithmetic; it may differ from the reference kernels only at rare near-ties."""
    from firmware_export.tflite_params import multiply_by_quantized_multiplier as mbqm

    a, meta = ref.arrays, ref.meta

    def fc(name, x):
        in_off, out_off, lo, hi = (int(v) for v in a[f"{name}.params"])
        acc = (x.astype(np.int64) + in_off) @ a[f"{name}.weights"].astype(np.int64).T
        acc += a[f"{name}.bias"]
        y = mbqm(acc, a[f"{name}.multiplier"], a[f"{name}.shift"])
        return np.clip(y + out_off, lo, hi).astype(np.int8)

    h = ref.q
    for name in meta["trunk"]:
        h = fc(name, h)
    z, logit = h, h
    for name in meta["z_head"]:
        z = fc(name, z)
    for name in meta["sci_head"]:
        logit = fc(name, logit)
    node = Node(tiny_bundle, integer_only=True)
    assert node.info()["requantization"] == "q31-single"
    outs = [node.neural_int8(u) for u in ref.u]
    got_z = np.stack([o.z for o in outs])
    np.testing.assert_array_equal(got_z.reshape(len(z), -1), z)
    np.testing.assert_array_equal(np.stack([o.logit for o in outs]), logit)
    assert np.mean(got_z != ref.z) < 1e-5  # near-ties only
    assert Node(tiny_bundle).info()["requantization"] == "double-scale"


@pytest.mark.parametrize("backend", ["c", "litert"])
def test_indices_match_the_exporter_reference_for_every_sample(tiny_bundle, ref, backend):
    from trainer.svqvae.int8 import node_indices

    node = Node(tiny_bundle, backend=backend)
    for k in sorted({1, 7, node.set_snr(0), node.n_concepts}):
        want_pos, want_idx = node_indices(ref.z, ref.logit, ref.arrays["codebook_int8"], k)
        pos, idx, _ = encode_all(node, ref.u, k)
        assert pos.dtype == np.uint16 and idx.dtype == np.uint16
        np.testing.assert_array_equal(pos, want_pos, err_msg=f"positions, K={k}")
        np.testing.assert_array_equal(idx, want_idx, err_msg=f"indices, K={k}")


def test_both_backends_give_identical_symbols(tiny_bundle, ref):
    c, lite = Node(tiny_bundle, backend="c"), Node(tiny_bundle, backend="litert")
    for k in (5, 32):
        for a, b in zip(encode_all(c, ref.u, k), encode_all(lite, ref.u, k), strict=True):
            np.testing.assert_array_equal(a, b)
    for u in ref.u[:20]:
        for a, b in zip(c.neural_int8(u), lite.neural_int8(u), strict=True):
            np.testing.assert_array_equal(a, b)


def test_rank_by_sci_for_bundles_without_rank_by(ref):
    """Older bundles (no ``rank_by``) rank on the logistic output, ties to the lower slot."""
    meta = {k: v for k, v in ref.meta.items() if k != "rank_by"}
    core = _core.CoreModel(ref.arrays, meta, ref.arrays["const_semantic_q"])
    assert core.rank_by == "sci"
    for i in range(20):
        pos, _, _, _ = core.encode_sample(ref.u[i], 9)
        np.testing.assert_array_equal(pos, np.argsort(-ref.sci[i].astype(np.int32),
                                                      kind="stable")[:9])


def test_set_snr_follows_the_policy_table(tiny_bundle, tiny_run):
    from firmware_export import tables
    from trainer.svqvae.rate_control import RatePolicy

    node = Node(tiny_bundle)
    policy = RatePolicy.load(tiny_run / "policy.json")
    k_lut, lo, step = tables.policy_lut(policy)
    for cdb in range(-1600, 3200, 7):
        idx = tables.policy_index(cdb, len(k_lut), lo, step)
        assert node.set_snr(cdb) == k_lut[idx] == node.k
        if (cdb - lo) % step != step // 2:  # away from the exact midpoints: the float lookup
            assert node.k == policy.k_for(cdb / 100)
    assert node.set_snr(-32768) == k_lut[0] and node.set_snr(32767) == k_lut[-1]
    for bad in (32768, -32769, 1.5, True, "0"):
        with pytest.raises(ValueError, match="snr_cdb"):
            node.set_snr(bad)


def test_info_describes_the_bundle(tiny_bundle):
    info = Node(tiny_bundle, backend="litert").info()
    manifest = json.loads((tiny_bundle / MANIFEST).read_text())
    assert info["bundle_id"] == manifest["bundle_id"]
    assert info["dims"] == {"n_concepts": manifest["n_concepts"],
                            "latent_dim": manifest["latent_dim"], "order": manifest["order"],
                            "input_size": 784}
    assert info["backend"] == "litert" and info["litert_kernels"] == "reference"
    assert info["limits"]["rounding"] == "single" and info["limits"]["sq_max_n"] == 256
    assert info["rank_by"] == "sci_logit" and len(info["manifest_sha256"]) == 64


def test_litert_backend_without_an_interpreter_says_what_to_install(tiny_bundle, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        Node(tiny_bundle, backend="litert")
    Node(tiny_bundle, backend="c")  # the C backend needs no interpreter


def test_benchmark_runs_and_formats(tiny_bundle, ref):
    from semqam_node.bench import format_table, run_node_benchmark

    r = run_node_benchmark(tiny_bundle, k=8, repeats=2, per_window=4, warmup=1,
                           samples=ref.u[:4])
    assert r["backends_identical"] and r["nearest"]["same_indices"]
    for key in ("node_c", "node_litert", "invoke_reference", "invoke_default"):
        assert r[key]["median_us"] > 0
    assert r["peak_rss_mib"] > 0
    table = format_table(r)
    assert "nearest codeword" in table and "Node.encode, backend c" in table
