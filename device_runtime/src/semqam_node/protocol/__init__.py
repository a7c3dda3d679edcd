"""Node link protocol (docs/protocol.md): :mod:`.framing` (COBS, CRC-32, frames, the streaming
decoder) and :mod:`.messages` (message types, strict pack/unpack).

Callers use the flat namespace: ``from semqam_node import protocol as P; P.Info, P.Frame``.
"""

from .framing import *  # noqa: F403
from .framing import __all__ as _framing_all
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

__all__ = [*_framing_all, *_messages_all]
