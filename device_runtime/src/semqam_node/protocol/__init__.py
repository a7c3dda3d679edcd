"""Node link protocol (docs/protocol.md): :mod:`.framing` (COBS, CRC-32, frames, the streaming
decoder; the pure-Python reference), :mod:`.cframing` (the same in C, what the node and the
host run) and :mod:`.messages` (message types, strict pack/unpack).

Callers use the flat namespace: ``from semqam_node import protocol as P; P.Info, P.Frame``.
"""

# The C framing (csrc/link) replaces the reference's decoder and encoders in the flat namespace.
from .cframing import *  # noqa: F403, E402
from .cframing import __all__ as _cframing_all  # noqa: E402
from .framing import *  # noqa: F403
from .framing import __all__ as _framing_all
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

__all__ = sorted({*_framing_all, *_cframing_all, *_messages_all})
