"""The one error base class of the project.

Every error a user can fix (bad data, bad option, missing file, refused bundle, dead link)
derives from :class:`SemqamError`; the command line prints its message as one line and exits
with status 2 (the traceback only with ``SEMQAM_DEBUG=1``). Messages name the thing that was
wrong and the fix.
"""

from __future__ import annotations


class SemqamError(Exception):
    """An error the user can fix; ``str(exc)`` is the one-line message."""
