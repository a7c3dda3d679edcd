"""The ``semqam`` command line: one thin module that creates the app and wires the commands.

Each command lives in its own module (``cli/train.py``, ``cli/evaluate.py``, ...) with a
``register(app)``; shared options are in :mod:`cli.options`. Errors the user can fix become
one line on stderr and exit status 2 (:mod:`cli.errors`); set ``SEMQAM_DEBUG=1`` to see the
traceback.
"""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ start-up chatter hides the one-line messages users need.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

try:  # every command needs the node runtime's conventions (the bottom layer)
    import semqam_node  # noqa: E402, F401
except ImportError:  # an install without ./device_runtime (tests/test_cli.py)
    sys.stderr.write("error: the node runtime semqam_node is not installed; run `make venv` or "
                     "`pip install ./device_runtime`\n")
    sys.exit(2)

from cli import bench, compare, evaluate, export, hil, link, profile, train  # noqa: E402
from cli.errors import SemqamGroup, run  # noqa: E402

HELP = "Importance-aware semantic QAM: train, evaluate, export, run on a node."

app = typer.Typer(
    cls=SemqamGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Importance-aware semantic QAM: train, evaluate, export, run on a node."""


# The order of `semqam --help`: the pipeline first, then the node, then the benchmarks.
for module in (train, evaluate, compare, export, link, hil, profile, bench):
    module.register(app)


def main() -> None:
    """Console entry point."""
    run(app)


if __name__ == "__main__":
    main()
