"""Phase 3 on the node's int8 weight grid (trainer/svqvae/weight_grid.py): the grid against hand
values, the straight-through update against its closed form, and a trained encoder whose float
kernels equal what the TFLite converter stores."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import train_tiny

keras = pytest.importorskip("keras")


def test_grid_matches_hand_values():
    from trainer.svqvae.weight_grid import int8_grid

    w = np.array([[1.0, 0.0, -2.0], [-0.5, 0.0, 0.0078], [0.26, 0.0, 1.0]])
    s = 1 / 127
    expected = np.array([[1.0, 0.0, -2.0],
                         [-64 * s, 0.0, 0.0],       # -63.5 rounds away from zero
                         [33 * s, 0.0, 64 * 2 * s]])  # 33.02 -> 33; 63.5 -> 64 (s = 2/127)
    np.testing.assert_allclose(int8_grid(w), expected, rtol=1e-6, atol=1e-7)
    # On the grid already: a fixed point.
    np.testing.assert_array_equal(int8_grid(int8_grid(w)), int8_grid(w))


def test_ste_applies_the_gradient_taken_on_the_grid_to_the_latent_weights():
    """y = x W, MSE, plain SGD, one batch: W' = W - lr * 2/(n o) x^T (x grid(W) - y); the
    variable then holds grid(W')."""
    from trainer.svqvae.weight_grid import WeightGridSTE, int8_grid, node_kernels

    rng = np.random.default_rng(3)
    n, d, o, lr = 16, 5, 3, 0.05
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.normal(size=(n, o)).astype(np.float32)
    inp = keras.Input(shape=(d,))
    out = keras.layers.Dense(o, use_bias=False, name="enc_dense0")(inp)
    model = keras.Model(inp, out)
    w0 = rng.normal(size=(d, o)).astype(np.float32)
    model.get_layer("enc_dense0").set_weights([w0])
    model.compile(keras.optimizers.SGD(lr), loss="mse")
    model.fit(x, y, batch_size=n, epochs=1, verbose=0,
              callbacks=[WeightGridSTE(node_kernels(model))])
    wq = int8_grid(w0).astype(np.float64)
    w1 = w0 - lr * 2.0 / (n * o) * x.T.astype(np.float64) @ (x @ wq - y)
    got = model.get_layer("enc_dense0").get_weights()[0]
    np.testing.assert_allclose(got, int8_grid(w1), rtol=1e-5, atol=1e-6)


def test_no_kernels_is_a_clear_error():
    from trainer.svqvae.weight_grid import WeightGridSTE

    with pytest.raises(ValueError, match="no kernels"):
        WeightGridSTE([])


def _stored_vs_float(run_dir) -> float:
    """Largest |dequantized int8 weight - float kernel| over the node's layers, relative to the
    layer's largest weight."""
    from ai_edge_litert.interpreter import Interpreter

    from conftest import tiny_dataset
    from firmware_export.convert import representative_samples, to_tflite
    from trainer.svqvae.run import load_run
    from trainer.svqvae.weight_grid import node_kernels

    enc = load_run(run_dir).pipeline.encoder_sci
    tfl = to_tflite(enc, representative_samples(tiny_dataset().x_train, 50, 0))
    it = Interpreter(model_content=tfl)
    stored = {}
    for t in it.get_tensor_details():
        scales = t["quantization_parameters"]["scales"]
        if len(t["shape"]) == 2 and t["dtype"] == np.int8 and len(scales) == t["shape"][0] > 1:
            stored[tuple(t["shape"])] = it.get_tensor(t["index"]) * scales[:, None]
    worst = 0.0
    kernels = node_kernels(enc)
    for k in kernels:
        w = keras.ops.convert_to_numpy(k).T
        deq = stored[w.shape]
        worst = max(worst, float(np.abs(deq - w).max() / np.abs(w).max()))
    assert len(kernels) == 5
    return worst


def test_phase_three_leaves_the_float_model_with_the_bundles_weights(tiny_run, tmp_path):
    pytest.importorskip("tensorflow", reason="the converter needs TensorFlow")
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
    run = train_tiny(tmp_path / "grid", weight_grid_epochs=1)
    assert "phase3_s" in run.summary["timings_s"]
    assert _stored_vs_float(tmp_path / "grid") < 1e-5
    # Without phase 3 the converter rounds: up to half a step, 1/254 of the channel maximum.
    assert _stored_vs_float(tiny_run) > 1e-3
