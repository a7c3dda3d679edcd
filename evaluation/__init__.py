"""Evaluation metrics: BER, Q_sem (Section V) and the SSV/SPP analysis (Section IV.A)."""

from . import metrics
from .metrics import *  # noqa: F403 (the names listed in metrics.__all__)

__all__ = list(metrics.__all__)
