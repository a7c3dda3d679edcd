"""The errors a user of the node runtime (or of the host above it) can see and fix.

Every one derives from :class:`SemqamError`, so a command line catches that one class and
prints the message as one line; each message names what was wrong and what to do.

    SemqamError
    ├── BundleError       a bundle or key that cannot be trusted or used
    │   └── BundleTooLarge  its dimensions exceed the node's limits (also a ValueError)
    ├── SlotError         a refused flash operation on the node (carries the ERROR code)
    └── LinkError         the link failed: no reply, or the port is gone
        ├── LinkTimeout   no valid reply in time (says what was last received)
        ├── NodeError     the node refused a request with an ERROR reply
        └── NodeStartError  a virtual node's process exited before it served

Nothing here imports another module of the package: this is the bottom layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol.messages import Error, ErrorCode


class SemqamError(Exception):
    """Every error the user can fix; the CLI prints its message as one line."""


class BundleError(SemqamError):
    """A bundle or key that cannot be trusted or used; the message names the file and the fix."""


class BundleTooLarge(BundleError, ValueError):
    """A bundle whose dimensions exceed what the node reports it can hold."""


class SlotError(SemqamError):
    """A refused flash operation; ``code`` is the ERROR code the node answers with."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class LinkError(SemqamError):
    """The link failed: no reply, or the port is gone."""


class LinkTimeout(LinkError):
    """No valid reply in time; the message says what was last received."""


class NodeError(LinkError):
    """The node refused a request with an ERROR reply (``error``; its ``code``)."""

    def __init__(self, error: Error, request: str = "") -> None:
        super().__init__(f"node refused {request}: {error}" if request else str(error))
        self.error = error
        self.code = error.code


class NodeStartError(LinkError):
    """The node process exited before it started serving."""
