"""Channel simulation: constellations, AWGN and closed-form QAM references."""

from .awgn import AWGN
from .constellation import Constellation
from .theory import ber_gray_square_qam_approx, ser_square_qam

__all__ = ["AWGN", "Constellation", "ber_gray_square_qam_approx", "ser_square_qam"]
