"""Edge decoder (demap, scatter by positional IDs, ONNX decode) and the HIL report helpers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from semqam_node.conventions import sample_rows

from edge.decoder import EdgeDecoder, MissingEdgeFile
from hil.report import agreement
from hil.runner import HilConfig
from semqam.fileio import atomic_dir


@pytest.fixture(scope="module")
def edge(tiny_bundle):
    return EdgeDecoder(tiny_bundle)


def test_scatter_hand_case(edge):
    cb = edge.codebook
    z = edge.scatter(np.array([[1, 2], [0, 0]]), np.array([[3, 0], [5, 6]]))
    assert z.shape == (2, edge.n_concepts, cb.shape[1]) and z.dtype == np.float32
    np.testing.assert_array_equal(z[0, 3], cb[1])
    np.testing.assert_array_equal(z[0, 0], cb[2])
    np.testing.assert_array_equal(z[1, 5], cb[0])
    np.testing.assert_array_equal(z[1, 6], cb[0])
    rows_sent = {(0, 3), (0, 0), (1, 5), (1, 6)}
    for n in range(2):
        for j in range(edge.n_concepts):
            if (n, j) not in rows_sent:
                assert not z[n, j].any(), (n, j)
    assert edge.scatter(np.zeros((2, 0), int), np.zeros((2, 0), int)).any() == 0  # K = 0


@pytest.mark.parametrize("idx, pos, says", [
    (np.array([[0, 1]]), np.array([[0]]), "must both be"),
    (np.array([[0]]), np.array([[64]]), "positional IDs"),
    (np.array([[16]]), np.array([[0]]), "concept indices"),
    (np.array([[-1]]), np.array([[0]]), "concept indices"),
])
def test_scatter_rejects_bad_input(edge, idx, pos, says):
    with pytest.raises(ValueError, match=says):
        edge.scatter(idx, pos)


def test_demap_recovers_indices_and_names_bad_constellation(edge, rng):
    idx = rng.integers(0, edge.order, (50, 7))
    for name in ("semantic", "standard"):
        pts = edge.constellation(name).points
        d = edge.constellation(name).min_distance
        y = pts[idx] + 0.2 * d * np.exp(2j * np.pi * rng.random(idx.shape))
        np.testing.assert_array_equal(edge.demap(y, name), idx)
    with pytest.raises(ValueError, match="semantic or standard"):
        edge.demap(np.zeros(3, complex), "gray")


def test_onnx_classifier_and_decoder_match_keras(edge, tiny_run):
    from conftest import tiny_dataset
    from trainer.svqvae.run import load_run

    pipe = load_run(tiny_run).pipeline
    x = tiny_dataset().x_test[:64]
    np.testing.assert_allclose(edge.classify(x), pipe.classify(x), atol=1e-5)
    rng = np.random.default_rng(0)
    pos = np.argsort(rng.random((64, edge.n_concepts)), axis=1)[:, :10]
    idx = rng.integers(0, edge.order, (64, 10))
    z = edge.scatter(idx, pos)
    np.testing.assert_array_equal(z, pipe.reconstruct(idx, pos))
    _, p_edge = edge.decode_classify(z)
    _, p_keras = pipe.decode_classify(z)
    np.testing.assert_allclose(p_edge, p_keras, atol=1e-5)


def test_bundle_without_classifier_is_named(tiny_bundle, tmp_path):
    from semqam_node.bundle import bundle_id

    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    m = json.loads((old / "manifest.json").read_text())
    del m["files"]["classifier.onnx"]
    (old / "classifier.onnx").unlink()
    m.pop("signature", None)
    m["bundle_id"] = bundle_id(m["files"])
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(MissingEdgeFile, match="semqam export --force"):
        EdgeDecoder(old)


def test_tampered_or_untrusted_bundle_refused(tiny_bundle, tmp_path, signing_keys):
    from semqam_node.bundle import BundleError, generate_keypair, load_public_key

    EdgeDecoder(tiny_bundle, load_public_key(signing_keys[1]))  # the right key verifies
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle, bad)
    cb = np.load(bad / "codebook.npy")
    cb[0, 0] += 1.0
    np.save(bad / "codebook.npy", cb)
    with pytest.raises(BundleError, match="codebook.npy"):
        EdgeDecoder(bad)
    _, pub = generate_keypair()
    (tmp_path / "other.pub").write_bytes(pub)
    with pytest.raises(BundleError, match="signature"):
        EdgeDecoder(tiny_bundle, load_public_key(tmp_path / "other.pub"))


def test_agreement_hand_case():
    hil = {"semantic": {"q_sem": [0.5, 0.7], "accuracy": [0.4, 0.6]}}
    off = {"semantic": {"q_sem": [0.503, 0.7], "accuracy": [0.4, 0.594]}}
    a = agreement(hil, off)
    assert a["semantic"]["q_sem"] == pytest.approx(0.003)
    assert a["semantic"]["accuracy"] == pytest.approx(0.006)
    assert not a["semantic"]["holds"] and not a["holds"]
    off["semantic"]["accuracy"][1] = 0.596
    assert agreement(hil, off)["holds"]


@pytest.mark.parametrize("kw, says", [
    ({"snr_db": []}, "no SNR"),
    ({"constellations": ("gray",)}, "constellation"),
    ({"feedback": "oracle"}, "feedback"),
    ({"block": 0}, "block"),
    ({"window": 1.5}, "window"),
    ({"channel": "awgm"}, "unknown channel"),
    ({"channel": "awgn", "channel_params": {"k_factor_db": 3}}, "does not take"),
])
def test_hil_config_rejects_bad_input(kw, says):
    cfg = HilConfig(**{"snr_db": [0.0], **kw})
    with pytest.raises(ValueError, match=says):
        cfg.check()


def test_samples_are_the_nodes_raw_bytes():
    x = np.array([[[0.0, 1.0], [0.5, 0.2]]])
    np.testing.assert_array_equal(sample_rows(x), [[0, 255, 128, 51]])


def test_atomic_dir_keeps_the_old_folder_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("crash mid-write")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no leftovers
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
