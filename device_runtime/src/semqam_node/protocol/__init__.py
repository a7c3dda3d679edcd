"""Node link protocol (docs/protocol.md): :mod:`.framing` (COBS, CRC-32, frames, the streaming
decoder; the pure-Python reference), :mod:`.cframing` (the same in C, what the node and the
host run) and :mod:`.messages` (message types, strict pack/unpack).

Callers use the flat namespace: ``from semqam_node import protocol as P; P.Info, P.Frame``.
"""

from . import cframing as _cframing
from .framing import *  # noqa: F403
from .framing import __all__ as _framing_all
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

# The C framing (csrc/link) replaces the reference's decoder and encoders in the flat namespace
# (assigned, not star-imported, so that no import order can undo it).
FRAMING_BACKEND = _cframing.FRAMING_BACKEND
FrameDecoder = _cframing.FrameDecoder  # type: ignore[misc]
encode_frame = _cframing.encode_frame
cobs_encode = _cframing.cobs_encode
cobs_decode = _cframing.cobs_decode

__all__ = sorted({*_framing_all, *_cframing.__all__, *_messages_all})
