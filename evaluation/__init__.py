"""Evaluation of trained runs: SNR sweeps, metrics.json, the paper's figures, the order sweep."""
