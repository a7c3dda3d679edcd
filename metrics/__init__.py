"""Metrics on numbers only (no models, no data): bit errors, semantic quality Q_sem
(Section V), concept statistics and the semantic vulnerability analysis (Section IV.A).
docs/metrics.md defines every one; this package is the only place they are computed."""

from metrics.bits import bit_error_rate, bit_errors
from metrics.concepts import concept_usage, cooccurrence, mean_sci_per_concept, pooled_concept_stats
from metrics.quality import psnr, q_sem
from metrics.vulnerability import (
    cooccurrence_asymmetry,
    critical_set,
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
    "pooled_concept_stats",
    "psnr",
    "q_sem",
    "sci_concentration",
    "semantic_vulnerability_report",
    "spp",
    "ssv_weighted",
    "symbol_vulnerability",
]
