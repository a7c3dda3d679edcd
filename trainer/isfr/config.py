"""ISFR + OPHD configuration: the paper's settings (Section VI.A.2) plus the choices it leaves
open (docs/schemes.md, "ISFR"). Every field is recorded in ``run.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PROFILES = ("quick", "paper")
LOSSES = ("paper", "task")
LEVEL_LABELS = ("gray", "binary")


@dataclass(frozen=True)
class IsfrConfig:
    """Hyperparameters of one ISFR run (paper values unless marked as our choice)."""

    profile: str = "quick"
    n_features: int = 8  # N (Section VI.A.2)
    quant_bits: int = 2  # N_b (Section VI.A.2)
    ber_max: float = 0.2  # BER_max of eq. (11) (Section VI.A.2)
    temp_slope: float = 3.0  # T = min(slope * epoch + 1, temp_max) (Section VI.A.2)
    temp_max: float = 300.0
    discard_penalty: float = 0.22  # D_T (Section VI.A.2)
    bit_set: tuple[int, ...] = (2, 4, 6)  # (C4): 4-, 16-, 64-QAM; our runs add up to log2 M
    learning_rate: float = 1e-3
    batch_size: int = 64
    stage1_epochs: int = 100  # paper: 100 at 1e-3 then 100 at 1e-4, per stage
    stage2_epochs: int = 100
    fine_tune_epochs: int = 100  # at learning_rate / 10
    # our choices
    hidden_units: tuple[int, ...] = (512, 256)  # MLP of the S-VQ-VAE family (not the CNN)
    level_labels: str = "gray"  # g_ad: level index -> N_b bits (eq. 4)
    lambda_sem: float = 1.0  # weight of CE(T(x_hat), y) under loss="task"
    importance_metric: str = "accuracy"  # g_t of eq. (17): "accuracy" or "q_sem" through T
    ophd_search: str = "early_stop"  # Algorithm 1; or "exhaustive" over k
    ophd_prune: str = "full"  # eq. (26); or "none"
    ber_model: str = "awgn"  # eq. (19) at the fed-back SNR; or "rayleigh" (average over fading)
    validation_fraction: float = 0.125  # of the training split, for the importance weights

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; "
                             f"choose one of {', '.join(PROFILES)}")
        if self.level_labels not in LEVEL_LABELS:
            raise ValueError(f"level_labels must be one of {', '.join(LEVEL_LABELS)}, "
                             f"got {self.level_labels!r}")
        if self.importance_metric not in ("accuracy", "q_sem"):
            raise ValueError(f"importance_metric must be accuracy or q_sem, "
                             f"got {self.importance_metric!r}")
        if not 0.0 <= self.ber_max <= 0.5:
            raise ValueError(f"ber_max must lie in [0, 0.5], got {self.ber_max}")
        if self.n_features < 1 or self.quant_bits < 1:
            raise ValueError("n_features and quant_bits must be >= 1")

    @classmethod
    def for_profile(cls, profile: str = "quick", **overrides) -> IsfrConfig:
        """``paper``: Section VI.A.2's schedule; ``quick``: the same model with a schedule that
        trains in about 30 s on 2 CPU cores (the temperature reaches its maximum in stage 2)."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        base: dict = {"profile": profile}
        if profile == "quick":
            base.update(batch_size=128, stage1_epochs=8, stage2_epochs=8, fine_tune_epochs=0,
                        temp_slope=40.0)
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown ISFR option(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        base.update(overrides)
        for key in ("bit_set", "hidden_units"):
            if key in base:
                base[key] = tuple(int(v) for v in base[key])
        return cls(**base)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def feature_geometry(budget: int, order: int, n_features: int, quant_bits: int) -> tuple[int, int]:
    """(L elements per feature, B_f bits per feature) so that equal protection at order M sends
    all N features in exactly S symbols: N * B_f = S * log2 M and B_f = L * N_b."""
    from semqam.units import bits_per_symbol

    total = int(budget) * bits_per_symbol(int(order))
    if budget < 1 or total % (n_features * quant_bits):
        raise ValueError(
            f"ISFR needs S * log2 M = {total} bits to split into N = {n_features} features of "
            f"N_b = {quant_bits}-bit elements; choose a budget S that is a multiple of "
            f"{n_features * quant_bits // _gcd(n_features * quant_bits, bits_per_symbol(order))}"
            f" or change n_features / quant_bits")
    per = total // n_features
    return per // quant_bits, per


def _gcd(a: int, b: int) -> int:
    import math

    return math.gcd(a, b)


def check_compare_point(budget: int, order: int, profile: str = "quick",
                        options: dict | None = None) -> None:
    """ValueError (one line, with the fix) unless ISFR can be sized for budget S and order M
    under ``profile`` + ``options``: ``N * B_f = S * log2 M`` with ``B_f = L * N_b``
    (:func:`feature_geometry`). ``semqam compare`` calls it to record a skip instead of a run."""
    cfg = IsfrConfig.for_profile(profile, **(options or {}))
    feature_geometry(budget, order, cfg.n_features, cfg.quant_bits)
