"""semqam sensor-node runtime (no TensorFlow): bundle verification, the per-sample pipeline over a
portable C99 core, and the serial link protocol."""

__version__ = "0.1.0"
