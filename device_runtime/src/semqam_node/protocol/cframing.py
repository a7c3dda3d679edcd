"""The link framing the node and the host run: the C link layer (``csrc/link/sq_link.c``, the
code the MCU firmware runs) through the ``_core`` extension, with the API of :mod:`.framing`.

:mod:`.framing` is the pure-Python reference; the tests hold the two byte- and counter-identical
(``tests/test_cframing.py``). Without the compiled extension (a source checkout that was never
built) the reference is used and :data:`FRAMING_BACKEND` says ``"python"``.
"""

from __future__ import annotations

from .framing import MAX_PAYLOAD, VERSION, CobsError, Frame, Rejected
from .framing import FrameDecoder as _RefFrameDecoder
from .framing import cobs_decode as _ref_cobs_decode
from .framing import cobs_encode as _ref_cobs_encode
from .framing import encode_frame as _ref_encode_frame

__all__ = ["FRAMING_BACKEND", "FrameDecoder", "cobs_decode", "cobs_encode", "encode_frame"]

try:
    from .. import _core
except ImportError:  # pragma: no cover - a build without the extension
    _core = None


if _core is not None:
    FRAMING_BACKEND = "c"

    class FrameDecoder(_core.LinkDecoder):
        """Streaming frame decoder (:class:`.framing.FrameDecoder` semantics) in C."""

        def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
            super().__init__(max_payload, Frame, Rejected)

    def encode_frame(msg_type: int, seq: int, payload: bytes = b"",
                     version: int = VERSION) -> bytes:
        """The wire bytes of one frame, delimiter included (``sql_frame_encode``)."""
        return _core.link_encode_frame(msg_type, seq, payload, version)

    def cobs_encode(data: bytes) -> bytes:
        """Minimal COBS encoding (``sql_cobs_encode``)."""
        return _core.link_cobs_encode(data)

    def cobs_decode(data: bytes) -> bytes:
        """Inverse of :func:`cobs_encode` for one frame without its delimiter."""
        out = _core.link_cobs_decode(data)
        if out is None:
            _ref_cobs_decode(data)  # raises CobsError saying where (the error path only)
            raise CobsError(f"malformed COBS frame of {len(data)} bytes")  # pragma: no cover
        return out
else:  # pragma: no cover
    FRAMING_BACKEND = "python"
    FrameDecoder = _RefFrameDecoder  # type: ignore[misc,assignment]
    encode_frame = _ref_encode_frame
    cobs_encode = _ref_cobs_encode
    cobs_decode = _ref_cobs_decode
