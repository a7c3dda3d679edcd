"""The shared conventions (sample byte rule, names) and the one error base class."""

from __future__ import annotations

import numpy as np
import pytest
from semqam_node import conventions as C
from semqam_node import errors, node, server
from semqam_node import protocol as P


def test_sample_bytes_round_half_up_and_clip() -> None:
    x = np.array([0.0, 1.0, 0.5, 0.5 / 255, 0.4999 / 255, 1.5 / 255, -0.2, 1.3, 254.5 / 255])
    np.testing.assert_array_equal(C.sample_bytes(x), [0, 255, 128, 1, 0, 2, 0, 255, 255])
    assert C.sample_bytes(x).dtype == np.uint8
    assert C.sample_bytes(np.zeros((3, 28, 28), np.float32)).shape == (3, 28, 28)


def test_every_byte_survives_the_float_round_trip() -> None:
    u = np.arange(256, dtype=np.uint8)
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(C.sample_bytes((u / 255.0).astype(dtype)), u)


def test_int8_input_is_u_minus_128() -> None:
    u = np.arange(256, dtype=np.uint8)
    q = C.int8_input(u)
    assert q.dtype == np.int8 and q[0] == -128 and q[128] == 0 and q[255] == 127
    np.testing.assert_array_equal(q.astype(int), np.arange(256) - 128)
    # the byte rule and the bundle's input quantization describe the same mapping: a float
    # sample dequantized from its int8 input is within half a step of itself
    x = np.linspace(0.0, 1.0, 1001)
    back = (C.int8_input(C.sample_bytes(x)).astype(float) - C.INPUT_ZERO_POINT) * C.INPUT_SCALE
    assert np.max(np.abs(back - x)) <= 0.5 * C.INPUT_SCALE + 1e-12


def test_names_are_defined_once() -> None:
    assert C.CONSTELLATIONS == ("semantic", "standard")
    assert node.CONSTELLATIONS is C.CONSTELLATIONS and node.STAGES is C.ENCODE_STAGES
    assert P.TIMING_STAGES is C.TIMING_STAGES == (*C.ENCODE_STAGES, "frame")
    assert sorted(server.CONSTELLATIONS.values()) == sorted(C.CONSTELLATIONS)
    for code, name in server.CONSTELLATIONS.items():
        assert P.Constellation(code).name.lower() == name


@pytest.mark.parametrize("cls", [errors.BundleError, errors.BundleTooLarge, errors.SlotError,
                                 errors.LinkError, errors.LinkTimeout, errors.NodeError,
                                 errors.NodeStartError])
def test_every_user_error_is_a_semqam_error(cls: type[Exception]) -> None:
    assert issubclass(cls, errors.SemqamError)


def test_errors_are_the_same_classes_everywhere() -> None:
    from semqam_node import bundle, host, slots, virtual

    assert bundle.BundleError is errors.BundleError and slots.SlotError is errors.SlotError
    assert host.LinkError is errors.LinkError and host.NodeError is errors.NodeError
    assert host.NodeStartError is virtual.NodeStartError is errors.NodeStartError
    assert issubclass(errors.BundleTooLarge, ValueError)  # callers catching ValueError still do
    err = errors.NodeError(P.Error(P.ErrorCode.RANGE, P.MsgType.CONFIG, "bad"), "CONFIG")
    assert err.code == P.ErrorCode.RANGE and str(err) == "node refused CONFIG: RANGE: bad"
