"""The one error base class of the project, :class:`SemqamError`.

It is defined at the bottom layer (``semqam_node.errors``: the node runtime and the host must
share it) and re-exported here for the host packages. Every error a user can fix (bad data, bad
option, missing file, refused bundle, dead link) derives from it; the command line prints its
message as one line and exits with status 2 (the traceback only with ``SEMQAM_DEBUG=1``).
Messages name the thing that was wrong and the fix.
"""

from __future__ import annotations

from semqam_node.errors import SemqamError

__all__ = ["SemqamError"]
