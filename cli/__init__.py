"""The ``semqam`` command line: :mod:`cli.main` wires one module per command group;
shared options are in :mod:`cli.options`, the error messages in :mod:`cli.errors`."""
