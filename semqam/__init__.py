"""semqam: importance-aware semantic QAM, from training to a node on a serial link.

This package is the shared base of the host packages: errors, crash-safe file writing, progress
bars, seeding, unit conversions, statistics. It imports nothing of the project but
``semqam_node`` (the node runtime, the bottom layer); the command line is :mod:`cli`.
"""

__version__ = "0.1.0"
