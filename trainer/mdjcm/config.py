"""MDJCM hyper-parameters (docs/schemes.md, "MDJCM"): one dataclass, two profiles.

``quick`` fits the compare grid (<= 30 s on 2 CPU cores for 3,500 MNIST digits); ``paper``
keeps the paper's settings where it gives them (eta_1/eta_2 = 0.4/0.2, the order set, SNR drawn
from [0, 13] dB, learning rate 1e-4, batch 8) with MLP transforms scaled to 28x28 inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from trainer.mdjcm.modulation import ORDERS, check_order

TRAININGS = ("substitution", "ste")
LOSSES = ("paper", "task")


@dataclass
class Config:
    """Every choice the paper leaves open is a field here (docs/schemes.md)."""

    n_vectors: int = 8  # l latent vectors y_i
    latent_dim: int = 8  # C: reals per latent vector
    k_max: int = 0  # max symbols per vector; 0 -> ceil(4 S / l)
    hyper_dim: int = 8  # n_z of the hyperprior z
    hidden: int = 256
    eta_ratio: float = 2.0  # eta_1 / eta_2 of the two-step cut (paper: 0.4 / 0.2)
    lam: float = 16.0  # lambda of (13): R [bits/pixel] + lambda (D + D)
    lambda_sem: float = 1.0  # task loss weight
    orders: tuple[int, ...] = ORDERS  # trained orders (one model); a 1-tuple = per-order model
    training: str = "substitution"  # process (10) in phase 2, or "ste" (the plain STE anchor)
    snr_range: tuple[float, float] = (-5.0, 20.0)  # dB, drawn uniformly per batch
    batch_size: int = 128
    learning_rate: float = 3e-3
    finetune_learning_rate: float = 5e-4
    epochs_source: int = 4  # phase 1: source coder, R + lambda D (2)
    epochs_joint: int = 12  # phase 2: process (10) (or STE), loss (13)
    epochs_receiver: int = 4  # phase 3: receiver only, hard process (9) + STE
    denoiser_blocks: int = 2
    length_side_bits: int = 0  # 0 -> l ceil(log2(k_max + 1)) bits per sample
    gain_bits: int = 32  # one per-frame power-normalisation gain (a float32)
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.orders = tuple(check_order(int(m)) for m in self.orders)
        if not self.orders:
            raise ValueError("orders must name at least one of " + str(ORDERS))
        self.snr_range = tuple(float(v) for v in self.snr_range)
        if self.training not in TRAININGS:
            raise ValueError(f"training must be one of {TRAININGS}, got {self.training!r}")
        for f in ("n_vectors", "latent_dim", "hyper_dim", "hidden", "batch_size"):
            if int(getattr(self, f)) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")

    def resolved_k_max(self, budget: int) -> int:
        """k_max, defaulting to ceil(4 S / l) so the mean length S sits well inside the range."""
        return int(self.k_max) if self.k_max > 0 else max(2, -(-4 * budget // self.n_vectors))

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def profile_config(profile: str, **options) -> Config:
    """The ``quick`` or ``paper`` profile, with ``options`` (Config fields) replacing values."""
    if profile == "quick":
        base: dict = {}
    elif profile == "paper":
        base = dict(eta_ratio=0.4 / 0.2, snr_range=(0.0, 13.0), learning_rate=1e-4,
                    finetune_learning_rate=1e-5, batch_size=8, epochs_source=20,
                    epochs_joint=60, epochs_receiver=20)
    else:
        raise ValueError(f"profile must be 'quick' or 'paper', got {profile!r}")
    names = {f.name for f in fields(Config)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ValueError(f"unknown MDJCM option(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(sorted(names))}")
    return Config(**{**base, **options})
