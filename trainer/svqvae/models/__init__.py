"""Keras 3 models of the S-VQ-VAE system, written with backend-neutral ``keras.ops``."""

from trainer.svqvae.models.classifier import build_classifier
from trainer.svqvae.models.sci import soft_topk_mask
from trainer.svqvae.models.svqvae import SVQVAE, build_decoder, build_encoder_sci
from trainer.svqvae.models.vq import VectorQuantizerEMA

__all__ = [
    "SVQVAE",
    "VectorQuantizerEMA",
    "build_classifier",
    "build_decoder",
    "build_encoder_sci",
    "soft_topk_mask",
]
