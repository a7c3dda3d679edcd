"""The S-VQ-VAE system of the main paper (semantic QAM): S-VQ-VAE + SCI, learned semantic
M-QAM (eq. 3), DQN rate control (eq. 2); its two constellations (``semantic``, ``standard``)
are variants of this one scheme."""
