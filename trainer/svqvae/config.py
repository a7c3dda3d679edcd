"""Training configuration: Table I of the paper plus the choices it leaves open.

Three profiles: ``paper`` uses Table I's settings with epoch counts long enough to converge on a
GPU; ``quick`` keeps every architectural number of Table I and only shortens the schedules so a
2-core CPU finishes in minutes; ``compare`` shortens them further for `semqam compare`
(docs/compare.md). Every field is recorded in ``run.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

ORDERS = (4, 16, 64, 256, 1024)
PROFILES = ("quick", "paper", "compare")
#: How the SCI scores become the weights I_j of eq. (3) (constellation.sci_pair_weights).
PAIR_WEIGHTINGS = ("mean", "sample_softmax")


@dataclass(frozen=True)
class TrainConfig:
    """All hyperparameters of one training run (Table I unless marked as our choice)."""

    order: int = 256  # M = |C|: codebook size = constellation order
    profile: str = "quick"
    seed: int = 0

    # S-VQ-VAE & SCI network (Table I)
    n_concepts: int = 64  # N
    latent_dim: int = 64  # D
    hidden_units: tuple[int, ...] = (512, 256)
    batch_size: int = 128
    beta: float = 0.25  # commitment weight
    tau_start: float = 1.0
    tau_end: float = 0.1
    lambda_sem: float = 1.0
    learning_rate: float = 1e-3
    # our choices (docs/models.md)
    classifier_hidden: tuple[int, ...] = (512, 256)
    classifier_dropout: float = 0.2
    sci_hidden: int = 128
    sci_weighting: str = "softmax_cap"  # or "sigmoid_rank" (trainer/svqvae/models/sci.py)
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    dead_code_threshold: float = 0.03  # EMA count under which a code is restarted (phase 1)
    classifier_epochs: int = 8
    phase1_epochs: int = 10
    phase2_epochs: int = 15
    # our choice (docs/models.md "Weight grid"): phase-3 epochs on the node's int8 weight grid
    # (trainer/svqvae/weight_grid.py); 0 = off
    weight_grid_epochs: int = 0

    # DQN rate controller (Table I)
    k_min: int = 5
    k_max: int = 64
    n_actions: int = 12
    dqn_hidden: tuple[int, ...] = (64, 64)
    dqn_gamma: float = 0.0  # Table I: 0.99 (docs/models.md: the SNR walk ignores the action)
    dqn_buffer: int = 10_000
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    comp_alpha: float = 0.2  # alpha in B_comp = alpha ln(N/K)
    # our choices for eq. (2) (docs/models.md)
    q0_fraction: float = 0.97  # Q_0 = q0_fraction * pass-through accuracy at K = N
    comp_gate_width: float = 0.01  # logistic gate of B_comp; 0 = the paper's step
    adapt_alpha: float = 0.1  # scale of B_a
    adapt_shape: str = "bump"  # or "linear" (trainer/svqvae/rate_control.py)
    adapt_k_high: float = 36.0  # bump target K at SNR_min
    adapt_k_low: float = 8.0  # bump target K at SNR_max
    adapt_width: float = 8.0  # bump width in K
    ber_lambda: float = 0.5  # lambda in eq. (2)
    extreme_penalty: float = 0.05  # P(K) for K in {K_min, K_max}
    dqn_steps: int = 2000  # vectorised steps; each advances dqn_envs channels
    dqn_envs: int = 32
    dqn_batch: int = 128
    dqn_warmup: int = 20
    dqn_target_sync: int = 100
    dqn_lr: float = 1e-3
    episode_length: int = 16
    snr_walk_std_db: float = 2.0
    env_snr_step_db: float = 2.5
    env_samples: int = 500
    env_draws: int = 2  # noise draws averaged per (SNR, K) cell
    env_monotone: bool = True  # isotonic fit in SNR of the environment table (rate_control)
    policy_snr_step_db: float = 0.5
    policy_monotone: bool = True  # tabulate the best non-increasing K (rate_control)

    # Semantic PHY & channel (Table I)
    snr_min_db: float = -10.0
    snr_max_db: float = 20.0
    power: float = 1.0  # P
    phy_steps: int = 4000
    phy_learning_rate: float = 1e-2  # Table I: 1e-3 (docs/models.md: the points barely move)
    phy_kkt_zeta: float = 0.1  # power term of the KKT condition (7) in the loss
    phy_weighting: str = "mean"  # or "sample_softmax" (constellation.sci_pair_weights)
    phy_weight_tau: float = 0.1  # temperature of "sample_softmax"
    phy_fair: bool = True  # also train the "fair" variant (power of what is sent)
    phy_batch: int = 512  # N_sym per step (our choice)
    phy_snapshots: tuple[int, ...] = (0, 250, 1000, 2000, 4000)

    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order {self.order} is not supported; choose one of {ORDERS}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown; choose one of {PROFILES}")
        if not 1 <= self.k_min < self.k_max <= self.n_concepts:
            raise ValueError(
                f"need 1 <= k_min < k_max <= N, got k_min={self.k_min}, k_max={self.k_max}, "
                f"N={self.n_concepts}"
            )
        if self.phy_weighting not in PAIR_WEIGHTINGS:
            raise ValueError(f"phy_weighting {self.phy_weighting!r} is unknown; choose one of "
                             f"{PAIR_WEIGHTINGS}")
        if self.weight_grid_epochs < 0:
            raise ValueError(f"weight_grid_epochs must be >= 0, got {self.weight_grid_epochs}")
        if self.n_actions < 2:
            raise ValueError(f"n_actions must be >= 2, got {self.n_actions}")

    @property
    def actions(self) -> tuple[int, ...]:
        """|A| values of K uniformly spaced over [K_min, K_max], rounded to integers."""
        ks = np.rint(np.linspace(self.k_min, self.k_max, self.n_actions)).astype(int)
        return tuple(int(k) for k in ks)

    @classmethod
    def for_profile(cls, profile: str, **overrides) -> TrainConfig:
        """The ``quick`` (CPU minutes), ``paper`` (Table I, long schedules) or ``compare``
        (`semqam compare`'s short schedules) settings."""
        if profile == "paper":
            base = dict(
                classifier_epochs=20,
                phase1_epochs=40,
                phase2_epochs=60,
                dqn_steps=10_000,
                env_snr_step_db=1.0,
                env_samples=2000,
                phy_batch=1024,
            )
        elif profile == "quick":
            base = {}
        elif profile == "compare":
            # `semqam compare`'s quick profile (docs/compare.md): Table I's architecture, shorter
            # schedules, no "fair" constellation (compare normalises every frame itself), a
            # coarser DQN table; one run per (order, seed) serves every budget.
            base = dict(
                phase1_epochs=4,
                phase2_epochs=6,
                phy_steps=1000,
                phy_fair=False,
                phy_snapshots=(0, 1000),
                dqn_steps=250,
                dqn_envs=16,
                env_snr_step_db=5.0,
                env_samples=200,
                env_draws=1,
            )
        else:
            raise ValueError(f"profile {profile!r} is unknown; choose one of {PROFILES}")
        base.update(overrides)
        return cls(profile=profile, **base)

    def reward_params(self, q0: float):
        """The constants of eq. (2) (``trainer.svqvae.rate_control.RewardParams``)."""
        from trainer.svqvae.rate_control import RewardParams

        return RewardParams(
            self.n_concepts, self.k_min, self.k_max, q0, self.comp_alpha, self.adapt_alpha,
            self.ber_lambda, self.extreme_penalty, self.snr_min_db, self.snr_max_db,
            self.adapt_shape, self.adapt_k_high, self.adapt_k_low, self.adapt_width,
            self.comp_gate_width,
        )

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A configuration from ``run.json``'s ``config``; fields it lacks (runs written before
        they existed) take today's defaults, derived entries (``actions``) are recomputed."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            if k in names:
                kw[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def dqn_settings(self):
        """The DQN schedule of this configuration (``trainer.svqvae.rate_control.DQNSettings``)."""
        from trainer.svqvae.rate_control import DQNSettings

        return DQNSettings(
            steps=self.dqn_steps, n_envs=self.dqn_envs, batch=self.dqn_batch,
            buffer=self.dqn_buffer, gamma=self.dqn_gamma, epsilon_start=self.epsilon_start,
            epsilon_end=self.epsilon_end, warmup=self.dqn_warmup,
            target_sync=self.dqn_target_sync, lr=self.dqn_lr, hidden=self.dqn_hidden,
            episode_length=self.episode_length, walk_std_db=self.snr_walk_std_db,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["actions"] = list(self.actions)
        return d
