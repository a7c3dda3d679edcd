"""semqam: importance-aware semantic QAM, from training to a node on a serial link."""

__version__ = "0.1.0"
