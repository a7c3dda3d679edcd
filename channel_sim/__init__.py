"""Channel simulation: constellations, AWGN, fading, radio impairments, SNR estimators and
closed-form QAM references."""

from .awgn import AWGN
from .constellation import Constellation
from .fading import CHANNEL_NAMES, RayleighBlockFading, RicianBlockFading, make_channel
from .impairments import Chain, Clip, IQImbalance, PhaseNoise, PhaseOffset
from .snr_estimation import (
    estimate_snr_decision_directed_db,
    estimate_snr_m2m4_db,
    estimate_snr_pilot_db,
    qam_kurtosis,
)
from .theory import ber_gray_square_qam_approx, ser_square_qam

__all__ = [
    "AWGN",
    "CHANNEL_NAMES",
    "Chain",
    "Clip",
    "Constellation",
    "IQImbalance",
    "PhaseNoise",
    "PhaseOffset",
    "RayleighBlockFading",
    "RicianBlockFading",
    "ber_gray_square_qam_approx",
    "estimate_snr_decision_directed_db",
    "estimate_snr_m2m4_db",
    "estimate_snr_pilot_db",
    "make_channel",
    "qam_kurtosis",
    "ser_square_qam",
]
