"""Evaluation metrics: BER, Q_sem (Section V) and the SSV/SPP analysis (Section IV.A)."""

from .metrics import (
    bit_error_rate,
    bit_errors,
    concept_usage,
    cooccurrence,
    cooccurrence_asymmetry,
    critical_set,
    mean_sci_per_concept,
    q_sem,
    sci_concentration,
    semantic_vulnerability_report,
    spp,
    ssv_weighted,
    symbol_vulnerability,
)

__all__ = [
    "bit_error_rate",
    "bit_errors",
    "concept_usage",
    "cooccurrence",
    "cooccurrence_asymmetry",
    "critical_set",
    "mean_sci_per_concept",
    "q_sem",
    "sci_concentration",
    "semantic_vulnerability_report",
    "spp",
    "ssv_weighted",
    "symbol_vulnerability",
]
