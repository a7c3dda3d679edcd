"""The 16x8 node path (int16 activations, int8 weights) against independent references.

The tiny run's encoder + SCI is converted by the exporter's 16x8 conversion; LiteRT's reference
kernels (``BUILTIN_REF``) give z and the SCI logit for the int16 input ``input_lut[u]``; the
C core (``CoreModel16``) and the NumPy reference (``run_graph16``) must equal them byte for byte.
Top-K and the int16 codebook search are checked against NumPy's stable sort and a brute-force
int64 argmin, the one-call C entry against the staged one.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import tiny_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

core = pytest.importorskip("semqam_node._core", reason="build it: pip install -e ./device_runtime")
pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
pytest.importorskip("tensorflow", reason="the converter needs TensorFlow")


@pytest.fixture(scope="module")
def model16(tiny_run):
    from firmware_export.convert import representative_samples, to_tflite
    from firmware_export.tflite_params import extract_node_model
    from trainer.svqvae.run import load_run

    run = load_run(tiny_run)
    ds = tiny_dataset()
    tfl = to_tflite(run.pipeline.encoder_sci, representative_samples(ds.x_train, 200, 0),
                    activations="int16")
    arrays, meta = extract_node_model(tfl)
    return tfl, arrays, meta, ds, run


def brute_nearest(z: np.ndarray, pos: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    picked = z[pos].astype(np.int64)
    dist = ((picked[:, None, :] - codebook[None].astype(np.int64)) ** 2).sum(-1)
    return dist.argmin(-1)  # first minimum: ties to the lower index


def test_extracted_model_is_16x8(model16):
    _, arrays, meta, _, _ = model16
    assert meta["activations"] == "int16" and meta["sci_logistic"] is False
    assert "logistic_lut" not in arrays and arrays["input_lut"].dtype == np.int16
    names = [*meta["trunk"], *meta["z_head"], *meta["sci_head"]]
    assert all(arrays[f"{n}.bias"].dtype == np.int64 for n in names)
    assert all(arrays[f"{n}.params"][:2].tolist() == [0, 0] for n in names)
    lut = arrays["input_lut"]
    assert lut[0] == 0 and lut[255] == int(np.floor(1.0 / meta["input_scale"] + 0.5))
    assert np.all(np.diff(lut.astype(np.int32)) > 0)


def test_c_graph_equals_litert_reference_and_numpy(model16):
    from semqam_node.conventions import sample_rows
    from semqam_node.node import load_interpreter

    from firmware_export.tflite_params import run_graph16

    tfl, arrays, meta, ds, _ = model16
    n, d = meta["n_concepts"], meta["latent_dim"]
    arrays = dict(arrays, codebook_int16=np.zeros((4, d), np.int16))
    node = core.CoreModel16(arrays, meta, np.zeros((4, 2), np.int16))
    it = load_interpreter(tfl, "reference")
    inp = it.get_input_details()[0]
    outs = {o["name"]: o["index"] for o in it.get_output_details()}
    u = sample_rows(ds.x_test[:40])
    u = np.concatenate([u, np.zeros((1, u.shape[1]), np.uint8),
                        np.full((1, u.shape[1]), 255, np.uint8)])
    z_np, l_np = run_graph16(arrays, meta, u)
    for i, row in enumerate(u):
        it.set_tensor(inp["index"], arrays["input_lut"][row].reshape(inp["shape"]))
        it.invoke()
        z_ref = it.get_tensor(outs[meta["output_names"]["z"]]).reshape(n, d)
        l_ref = it.get_tensor(outs[meta["output_names"]["sci_logit"]]).reshape(n)
        z_c, l_c = node.neural(row)
        np.testing.assert_array_equal(z_c, z_ref)
        np.testing.assert_array_equal(l_c, l_ref)
        np.testing.assert_array_equal(z_np[i], z_ref)
        np.testing.assert_array_equal(l_np[i], l_ref)
    assert len(np.unique(z_np)) > 1000, "z must use the int16 grid, not a few levels"


def test_encode_sample_selects_and_quantizes_like_numpy(model16):
    from semqam_node.conventions import sample_rows

    from firmware_export.tables import codebook_int16, constellation_q

    _, arrays, meta, ds, run = model16
    cb, _ = codebook_int16(run.pipeline.codebook, meta["z_scale"])
    table, _ = constellation_q(run.constellations["semantic"].points)
    node = core.CoreModel16(dict(arrays, codebook_int16=cb), meta, table)
    assert node.order == len(cb) and node.port == core.active_port()
    for row in sample_rows(ds.x_test[:25]):
        z, logit = node.neural(row)
        for k in (1, 5, node.n_concepts):
            pos, idx, iq, t = node.encode_sample(row, k)
            want_pos = np.argsort(-logit.astype(np.int64), kind="stable")[:k]
            np.testing.assert_array_equal(pos, want_pos)
            np.testing.assert_array_equal(idx, brute_nearest(z, want_pos, cb))
            np.testing.assert_array_equal(iq, table[idx])
            assert len(t) == 4 and all(v >= 0 for v in t)
            for a, b in zip(node.encode_one_call(row, k), (pos, idx, iq), strict=True):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="k must be"):
        node.encode_sample(sample_rows(ds.x_test[:1])[0], node.n_concepts + 1)
    with pytest.raises(ValueError, match="sample must have"):
        node.neural(np.zeros(3, np.uint8))


@pytest.mark.parametrize("port", sorted(core.ports()))
def test_every_port_encodes_the_reference_ports_integers(model16, port):
    """The 16x8 FC, requantization and codeword search of each SIMD port give the reference
    C kernels' integers on the tiny run's encoder (the C suite checks them on random layers)."""
    from semqam_node.conventions import sample_rows

    from firmware_export.tables import codebook_int16, constellation_q

    why = core.ports()[port]
    if why is not None:
        pytest.skip(f"port {port}: {why}")
    _, arrays, meta, ds, run = model16
    cb, _ = codebook_int16(run.pipeline.codebook, meta["z_scale"])
    table, _ = constellation_q(run.constellations["semantic"].points)
    node = core.CoreModel16(dict(arrays, codebook_int16=cb), meta, table)
    rows = sample_rows(ds.x_test[:30])
    before = core.select_port("reference")
    try:
        want = [(node.neural(r), node.encode_one_call(r, 7)) for r in rows]
        core.select_port(port)
        assert node.port == port
        for r, ((z, logit), sent) in zip(rows, want, strict=True):
            z2, logit2 = node.neural(r)
            np.testing.assert_array_equal(z2, z)
            np.testing.assert_array_equal(logit2, logit)
            for a, b in zip(node.encode_one_call(r, 7), sent, strict=True):
                np.testing.assert_array_equal(a, b)
    finally:
        core.select_port(before)


def test_top_k16_is_a_stable_descending_sort():
    rng = np.random.default_rng(3)
    for n in (1, 7, 64, 256):
        scores = rng.integers(-3, 4, n).astype(np.int16)  # many ties
        scores[0] = -32768
        for k in sorted({1, max(1, n // 2), n}):
            np.testing.assert_array_equal(
                core.top_k16(scores, k), np.argsort(-scores.astype(np.int64), kind="stable")[:k])
    with pytest.raises(ValueError, match="k must be"):
        core.top_k16(np.zeros(4, np.int16), 5)


def test_nearest_codewords16_extremes_and_ties():
    d = 256
    z = np.array([np.full(d, 32767), np.full(d, -32768)], np.int16)
    # the farthest pair differs by 65535 per coordinate: 256 · 65535² = 1.1e12 needs int64
    codebook = np.array([np.full(d, -32768), np.full(d, 32767), np.full(d, 32767)], np.int16)
    np.testing.assert_array_equal(core.nearest_codewords16(z, np.array([0, 1], np.uint16),
                                                           codebook), [1, 0])
    # equal distances: the lower index wins
    tie = np.array([[0] * d], np.int16)
    book = np.array([[1] + [0] * (d - 1), [-1] + [0] * (d - 1)], np.int16)
    assert core.nearest_codewords16(tie, np.array([0], np.uint16), book).tolist() == [0]
    rng = np.random.default_rng(5)
    zr = rng.integers(-32768, 32768, (8, 16)).astype(np.int16)
    cr = rng.integers(-32768, 32768, (300, 16)).astype(np.int16)
    pos = np.array([7, 0, 3], np.uint16)
    np.testing.assert_array_equal(core.nearest_codewords16(zr, pos, cr), brute_nearest(zr, pos, cr))
    with pytest.raises(ValueError, match="positions must lie"):
        core.nearest_codewords16(zr, np.array([8], np.uint16), cr)


def test_bad_16x8_models_are_refused(model16):
    _, arrays, meta, _, _ = model16
    d = meta["latent_dim"]
    base = dict(arrays, codebook_int16=np.zeros((4, d), np.int16))
    table = np.zeros((4, 2), np.int16)
    with pytest.raises(ValueError, match="input_lut"):
        core.CoreModel16({k: v for k, v in base.items() if k != "input_lut"}, meta, table)
    first = meta["trunk"][0]
    bad = dict(base, **{f"{first}.params": np.array([1, 0, 0, 32767], np.int32)})
    with pytest.raises(ValueError, match="zero points must be 0"):
        core.CoreModel16(bad, meta, table)
    with pytest.raises(ValueError, match="codebook_int16"):
        core.CoreModel16(dict(base, codebook_int16=np.zeros((4, d + 1), np.int16)), meta, table)


# ---- a 16x8 bundle end to end: export, verify, the node's backends, the offline twin --------

@pytest.fixture(scope="module")
def bundle16(tiny_run, signing_keys, tmp_path_factory):
    from firmware_export.export import export_bundle

    out = tmp_path_factory.mktemp("build16") / "mnist-16-int16"
    report = export_bundle(tiny_run, out, key=signing_keys[0], activations="int16")
    return out, report


def test_int16_bundle_validates_better_than_int8(bundle16, tiny_bundle):
    import json

    out, report = bundle16
    v = json.loads((out / "validation.json").read_text())
    v8 = json.loads((tiny_bundle / "validation.json").read_text())
    assert v["activations"] == "int16" and v8["activations"] == "int8"
    assert v["numpy_reference_matches_interpreter"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["node_files"] == ["encoder_sci_int16.tflite", "node_model.npz"]
    assert manifest["activations"] == "int16"
    for a16, a8 in zip(v["agreement"], v8["agreement"], strict=True):
        assert a16["k"] == a8["k"]
        assert a16["index_agreement"] >= a8["index_agreement"] - 0.002, (a16, a8)
        assert a16["index_agreement"] >= 0.97, a16
    for loss in v["q_sem"]["semantic"]["loss"]:
        assert abs(loss) <= 0.05
    assert report["bundle_id"] == manifest["bundle_id"]


@pytest.mark.parametrize("backend", ["c", "litert"])
def test_node_backends_send_the_offline_twins_sets(bundle16, signing_keys, backend):
    from semqam_node.conventions import sample_rows
    from semqam_node.node import Node

    from trainer.svqvae.int8 import bundle_node_sets

    out, _ = bundle16
    x = tiny_dataset().x_test[:30]
    node = Node(out, backend=backend, trust=signing_keys[1])
    assert node.activations == "int16" and node.codebook.dtype == np.int16
    assert node.codebook_int8 is None
    for k in (1, 7):
        pos, idx = bundle_node_sets(out, x)(k)
        for i, row in enumerate(sample_rows(x)):
            e = node.encode(row, k=k)
            np.testing.assert_array_equal(e.positions, pos[i])
            np.testing.assert_array_equal(e.indices, idx[i])
    z, logit, sci = node.neural_int8(sample_rows(x[:1])[0])
    assert z.dtype == np.int16 and logit.dtype == np.int16
    assert (sci is None) == (backend == "c")


def test_int16_export_refuses_the_mcu_target(tiny_run, tmp_path):
    from firmware_export.export import ExportError, export_bundle

    with pytest.raises(ExportError, match="MCU firmware runs int8"):
        export_bundle(tiny_run, tmp_path / "x", target="cortex-m", activations="int16")
    with pytest.raises(ExportError, match="unknown activations"):
        export_bundle(tiny_run, tmp_path / "y", activations="int4")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_speed_benchmark_runs_16x8_beside_its_int8_twin(bundle16, tiny_bundle, signing_keys):
    """``make bench``'s ratios on a 16x8 bundle: the encode is measured against the XNNPACK
    ``invoke()`` of the int8 export of the same run, whose own node runs beside; both nodes
    give the same integers on their two backends and every port finds the same codewords."""
    from semqam_node.bench import format_speed, format_table, run_speed_benchmark

    out, _ = bundle16
    r = run_speed_benchmark(out, k=8, trust=signing_keys[1], repeats=3, per_window=4,
                            link_samples=40, int8_bundle=tiny_bundle)
    assert r["node"]["activations"] == "int16" and r["node_int8"]["activations"] == "int8"
    assert r["xnnpack_model"] == "int8"
    assert r["xnnpack_us"] == r["node_int8"]["invoke_default"]["median_us"]
    assert r["encode_ratio"] == pytest.approx(r["node"]["node_c"]["median_us"] / r["xnnpack_us"])
    for node in (r["node"], r["node_int8"]):
        assert node["backends_identical"] and node["nearest"]["same_indices"]
    assert r["nearest"]["codebook"] == "int16" and r["nearest_int8"]["codebook"] == "int8"
    for nn in (r["nearest"], r["nearest_int8"]):
        assert all(v["same_indices"] for v in nn["ports"].values())
    assert r["link"]["ok"] == 40
    text = format_speed(r)
    assert "whole encode, c backend, 16x8" in text and "whole encode, c backend, int8" in text
    assert "XNNPACK invoke() of the int8 model" in text
    assert "(16x8)" in format_table(r["node"]) and "no XNNPACK" in format_table(r["node"])
    with pytest.raises(ValueError, match="not an int8 bundle"):
        run_speed_benchmark(out, k=8, trust=signing_keys[1], int8_bundle=out)
