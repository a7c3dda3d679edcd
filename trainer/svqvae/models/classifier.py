"""Task classifier T (Section III.A): defined once in :mod:`trainer.classifier` (shared by every
scheme of the comparison); re-exported here for the S-VQ-VAE models."""

from trainer.classifier import build_classifier

__all__ = ["build_classifier"]
