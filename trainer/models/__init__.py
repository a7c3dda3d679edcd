"""Keras 3 models of the S-VQ-VAE system, written with backend-neutral ``keras.ops``."""

from trainer.models.classifier import build_classifier
from trainer.models.sci import soft_topk_mask
from trainer.models.svqvae import SVQVAE, build_decoder, build_encoder_sci
from trainer.models.vq import VectorQuantizerEMA

__all__ = [
    "SVQVAE",
    "VectorQuantizerEMA",
    "build_classifier",
    "build_decoder",
    "build_encoder_sci",
    "soft_topk_mask",
]
