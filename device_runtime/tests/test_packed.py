"""Weights packed at load for the active port's packed FC kernel (``sq_graph_pack``; AVX-512
VNNI): the whole graph gives the same integers under every port this CPU runs, packed or not,
as the portable reference kernels (the exact-match rule of the C core)."""

from __future__ import annotations

import numpy as np
import pytest
from semqam_node import _core
from semqam_node.testing import synthetic_node_model

PORTS = [name for name, why in _core.ports().items() if why is None]


@pytest.fixture
def restore_port():  # type: ignore[no-untyped-def]
    before = _core.active_port()
    yield
    _core.select_port(before)


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize(("n", "d", "size"), [(64, 8, 784), (24, 5, 37)])
@pytest.mark.parametrize("hidden_zero_point", [0, -128])
def test_graph_identical_under_every_port(port: str, n: int, d: int, size: int,
                                         hidden_zero_point: int, restore_port: None) -> None:
    arrays, meta = synthetic_node_model(n, d, 16, size, seed=n + d)
    # -128 (the exporter's): every layer's input offset is 128, so every layer is packed
    arrays["fc0.params"][1] = hidden_zero_point
    for name in ("fc1", "fc2"):
        arrays[f"{name}.params"][0] = -hidden_zero_point
    table = np.zeros((16, 2), np.int16)
    _core.select_port("reference")
    ref = _core.CoreModel(arrays, meta, table)
    assert ref.packed_bytes == 0  # the reference has no packed kernel
    _core.select_port(port)
    model = _core.CoreModel(arrays, meta, table)
    if port == "x86_avx512_vnni":
        assert model.packed_bytes > 0  # the exported layers have input zero point -128
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.integers(-128, 128, size, dtype=np.int8)
        for got, want in zip(model.neural(q), ref.neural(q), strict=True):
            np.testing.assert_array_equal(got, want)
        u = (q.astype(np.int16) + 128).astype(np.uint8)
        for got, want in zip(model.encode_sample(u, n // 2)[:3], ref.encode_sample(u, n // 2)[:3],
                             strict=True):
            np.testing.assert_array_equal(got, want)


def test_select_port_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        _core.select_port("no_such_port")
