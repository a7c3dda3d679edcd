"""firmware_export: bundle integrity and signatures, generated C, ONNX, int8 agreement, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from semqam_node.bundle import BundleError, load_public_key, verify_bundle

from firmware_export import tables
from firmware_export.export import ExportError, export_bundle
from firmware_export.tflite_params import (
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
)
from trainer.svqvae.rate_control import RatePolicy

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------- fixed-point hand cases
@pytest.mark.parametrize(
    ("real", "expected"),
    [(0.5, (1 << 30, 0)), (0.25, (1 << 30, -1)), (0.75, (3 << 29, 0)), (1.0, (1 << 30, 1)),
     (0.0, (0, 0)), (2.0**-40, (0, 0))],
)
def test_quantize_multiplier_hand_cases(real, expected):
    assert quantize_multiplier(real) == expected


def test_single_rounding_matches_exact_rational_rounding():
    rng = np.random.default_rng(0)
    acc = rng.integers(-2**20, 2**20, 5000)
    m = rng.integers(2**30, 2**31 - 1, 5000)
    s = rng.integers(-12, 2, 5000)
    got = multiply_by_quantized_multiplier(acc, m, s)
    # floor(acc·m / 2^(31−s) + 1/2) with Python's exact integers
    want = [(int(a) * int(mm) + (1 << (30 - int(ss)))) >> (31 - int(ss))
            for a, mm, ss in zip(acc, m, s, strict=True)]
    np.testing.assert_array_equal(got, want)
    assert multiply_by_quantized_multiplier(3, 1 << 30, -1) == 1  # 0.75 rounds to 1
    assert multiply_by_quantized_multiplier(-3, 1 << 30, 0) == -1  # -1.5 rounds half up to -1


def test_double_requantization_rounds_half_away_from_zero():
    from firmware_export.tflite_params import requantize_double

    got = requantize_double(np.array([3, -3, 5, -5, 7]), np.array([0.5, 0.5, 0.1, 0.1, 0.25]))
    np.testing.assert_array_equal(got, [2, -2, 1, -1, 2])


def test_activation_ranges():
    assert activation_range("NONE", 0.1, 3) == (-128, 127)
    assert activation_range("RELU", 0.1, -128) == (-128, 127)
    assert activation_range("RELU", 0.1, 5) == (5, 127)
    assert activation_range("RELU6", 0.1, -128) == (-128, -68)


def test_q_format_never_clips_and_is_tight():
    pts = np.array([1.9 + 0.1j, -0.5 - 1.2j, 0.01j])
    q, f = tables.constellation_q(pts)
    assert f == 14 and np.abs(q).max() <= 32767  # 1.9 · 2^14 = 31130; 2^15 would clip
    np.testing.assert_allclose(q[:, 0] / 2.0**f, pts.real, atol=2.0**-f)
    q_big, f_big = tables.constellation_q(np.array([3.2 + 0j]))
    assert f_big == 13 and q_big[0, 0] == round(3.2 * 2**13)


def test_policy_lut_matches_rate_policy_nearest_grid_point():
    grid = tuple(np.linspace(-10, 20, 61))
    policy = RatePolicy(grid, tuple(int(v) for v in np.arange(61) % 7 + 1))
    k, lo, step = tables.policy_lut(policy)
    snr_cdb = np.arange(-1500, 2600)
    idx = tables.policy_index(snr_cdb, len(k), lo, step)
    want = [policy.k_for(c / 100) for c in snr_cdb]
    np.testing.assert_array_equal(k[idx], want)


# --------------------------------------------------------------------------- the bundle
def test_bundle_files_hashes_and_signature(tiny_bundle, signing_keys):
    manifest = verify_bundle(tiny_bundle, load_public_key(signing_keys[1]), require="all")
    for name in ("encoder_sci_int8.tflite", "encoder_sci_float.tflite", "node_model.npz",
                 "decoder_classifier.onnx", "c/semqam_model.h", "c/semqam_model.c",
                 "codebook.npy", "constellation_semantic.npy", "constellation_standard.npy",
                 "policy.json", "validation.json"):
        assert name in manifest["files"], name
    assert manifest["order"] == 16 and manifest["input"]["zero_point"] == -128
    assert manifest["signature"]["algorithm"] == "ed25519"


def test_tampered_file_and_wrong_key_are_refused(tiny_bundle, signing_keys, tmp_path):
    from semqam_node.bundle import generate_keypair

    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    key = load_public_key(signing_keys[1])
    data = bytearray((copy / "node_model.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "node_model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="node_model.npz: SHA-256"):
        verify_bundle(copy, key)

    other_pub = tmp_path / "other.pub"
    other_pub.write_bytes(generate_keypair()[1])
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(tiny_bundle, load_public_key(other_pub))

    # A signed manifest edited after signing (e.g. claiming another order) fails.
    shutil.copytree(tiny_bundle, tmp_path / "c")
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    m["order"] = 1024
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(tmp_path / "c", key)

    # An unsigned bundle is refused by a node that holds a key.
    del m["signature"]
    m["order"] = 16
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="unsigned"):
        verify_bundle(tmp_path / "c", key)
    verify_bundle(tmp_path / "c")  # without a trusted key the hashes still hold


def test_generated_c_compiles_and_holds_the_tables(tiny_bundle, tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    main = tmp_path / "main.c"
    main.write_text("""
#include <stdint.h>
#include <stdio.h>
#include "semqam_model.h"
int main(void) {
    long cb = 0, pol = 0;
    unsigned i;
    for (i = 0; i < SEMQAM_ORDER * SEMQAM_LATENT_DIM; ++i) cb += g_semqam_codebook_int8[i];
    for (i = 0; i < SEMQAM_POLICY_LEN; ++i) pol += g_semqam_policy_k[i];
    printf("%d %d %d %ld %ld %d %d\\n", SEMQAM_ORDER, SEMQAM_N_CONCEPTS, SEMQAM_LATENT_DIM, cb,
           pol, (int)((uintptr_t)g_semqam_model_tflite % 16), g_semqam_const_semantic_q[1]);
    return 0;
}
""")
    exe = tmp_path / "check"
    cmd = [gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I", str(tiny_bundle / "c"),
           str(main), str(tiny_bundle / "c" / "semqam_model.c"), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    with np.load(tiny_bundle / "node_model.npz") as z:
        meta = json.loads(str(z["meta"]))
        want = [16, meta["n_concepts"], meta["latent_dim"],
                int(z["codebook_int8"].astype(int).sum()),
                int(z["policy_k"].astype(int).sum()), 0, int(z["const_semantic_q"][0, 1])]
    assert [int(v) for v in out] == want


def test_onnx_edge_decoder_matches_keras(tiny_bundle, tiny_run):
    import onnx

    from edge.onnx_runtime import OnnxEdge
    from trainer.svqvae.run import load_run

    onnx.checker.check_model(str(tiny_bundle / "decoder_classifier.onnx"), full_check=True)
    run = load_run(tiny_run)
    d = run.pipeline.codebook.shape[1]
    z = np.random.default_rng(0).normal(size=(20, run.n_concepts, d)).astype(np.float32)
    x_o, p_o = OnnxEdge(tiny_bundle / "decoder_classifier.onnx")(z)
    x_k, p_k = run.pipeline.decode_classify(z)
    np.testing.assert_allclose(x_o, x_k, atol=1e-5)
    np.testing.assert_allclose(p_o, p_k, atol=1e-5)


def test_int8_agreement_on_the_tiny_model(tiny_bundle):
    v = json.loads((tiny_bundle / "validation.json").read_text())
    assert v["numpy_reference_matches_interpreter"] is True
    for a in v["agreement"]:
        assert a["set_overlap"] >= 0.95, a
        assert a["slot_codeword_agreement"] >= 0.95, a
        assert a["index_agreement"] >= 0.9, a
    assert v["sci_abs_error"]["max"] < 0.05
    for loss in v["q_sem"]["semantic"]["loss"]:
        assert abs(loss) <= 0.05
    assert v["onnx_vs_keras"]["probs_max_abs"] < 1e-5
    assert v["footprint"]["budgets"]["raspberry-pi-4"]["paths"]["c_kernels"]["fits"] is True


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_are_one_line_errors_and_leave_nothing(tiny_run, tiny_bundle, signing_keys,
                                                          tmp_path, monkeypatch):
    with pytest.raises(ExportError, match="unknown target 'esp32'"):
        export_bundle(tiny_run, tmp_path / "x", target="esp32")
    with pytest.raises(ExportError, match="not an Ed25519 private key|not an unencrypted PEM"):
        export_bundle(tiny_run, tmp_path / "x", key=signing_keys[1])
    broken = tmp_path / "run"
    shutil.copytree(tiny_run, broken)
    (broken / "codebook.npy").unlink()
    with pytest.raises(ExportError, match="codebook.npy: missing"):
        export_bundle(broken, tmp_path / "x")
    shutil.copyfile(tiny_run / "codebook.npy", broken / "codebook.npy")
    (broken / "decoder.keras").write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="decoder.keras: corrupt"):
        export_bundle(broken, tmp_path / "x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not a bundle"):
        export_bundle(tiny_run, other)

    # A failure half-way leaves no bundle and no temporary folder behind.
    import firmware_export.export as ex

    def boom(*_a, **_k):
        raise RuntimeError("simulated crash in the ONNX step")

    monkeypatch.setattr(ex, "export_decoder_classifier", boom)
    with pytest.raises(RuntimeError):
        export_bundle(tiny_run, tmp_path / "half")
    assert not (tmp_path / "half").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".half")]


def test_output_holding_a_different_bundle_is_refused(tiny_bundle, tmp_path):
    target = tmp_path / "b"
    shutil.copytree(tiny_bundle, target)
    m = json.loads((target / "manifest.json").read_text())
    m["bundle_id"] = "0000000000000000"
    (target / "manifest.json").write_text(json.dumps(m))
    run = Path(json.loads((tiny_bundle / "manifest.json").read_text())["run"]["path"])
    with pytest.raises(ExportError, match="holds a different bundle"):
        export_bundle(run, target)


def test_cli_export_and_keygen(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    keys = tmp_path / "keys" / "lab"
    res = runner.invoke(app, ["keygen", "--out", str(keys)])
    assert res.exit_code == 0, res.output
    assert (keys.with_suffix(".key").stat().st_mode & 0o777) == 0o600
    res = runner.invoke(app, ["export", "--run", str(tiny_run), "--out", str(tmp_path / "b"),
                              "--key", str(keys.with_suffix(".key"))])
    assert res.exit_code == 0, res.output
    assert "index agreement" in res.output and "signed" in res.output
    # no --activations: a Linux node's bundle is 16x8 (the cortex-m default, int8, below)
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["activations"] == "int16"
    res = runner.invoke(app, ["export", "--run", str(tiny_run), "--out", str(tmp_path / "c"),
                              "--target", "esp32"])
    assert res.exit_code == 2 and "unknown target 'esp32'" in res.output


def test_cortex_m_target_writes_the_firmware_sources_and_measures_them(tiny_run, tmp_path):
    """--target cortex-m: c/ holds exactly the firmware's model sources (the same text the
    firmware build generates from node_model.npz: one writer), no .tflite blob, and the
    exporter's footprint report builds and measures the image on both boards."""
    import io

    from rich.console import Console
    from semqam_node.mcu_model import write_model_sources

    from firmware_export.export import export_bundle
    from firmware_export.report import measure_mcu_footprint

    out = tmp_path / "mcu-16"
    export_bundle(tiny_run, out, target="cortex-m")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "cortex-m" and manifest["activations"] == "int8"
    assert sorted(p.name for p in (out / "c").iterdir()) == ["sqm_model.c", "sqm_model.h"]
    assert {"c/sqm_model.c", "c/sqm_model.h"} <= set(manifest["files"])
    source = (out / "c" / "sqm_model.c").read_text()
    assert "tflite" not in source and "0x1." in source  # hex-float scales, no model blob
    gen = write_model_sources(out, tmp_path / "gen")
    for name in ("sqm_model.c", "sqm_model.h"):
        assert (gen / name).read_text() == (out / "c" / name).read_text()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run `make mcu-tools` (the MCU tests do not skip)")
    text = io.StringIO()
    rows = measure_mcu_footprint(out, Console(file=text, width=200))
    assert [r["port"] for r in rows] == ["qemu-m4", "qemu-m7"]
    for r in rows:
        assert r["order"] == 16 and 0 < r["stack_bytes"] < r["stack_size"]
        assert r["ram"] <= r["ram_budget"] and r["flash"] == r["text"] + r["data"]
    assert "stack used / reserved" in text.getvalue() and "mps2-an500" in text.getvalue()
