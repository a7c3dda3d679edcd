"""DQN rate controller (Section III.C, eq. 2): the SNR fed back by the edge picks K.

MDP. State ``s_t = [SNR_n, b/10]``: the SNR normalised to [0, 1] over [SNR_min, SNR_max] and,
as Table I's second state component (the paper does not name it), the spectral efficiency
``b = log2 M`` divided by 10. The second component is constant within a deployment, so the
trained policy tabulates to a 1-D lookup SNR -> K that an MCU can hold. Actions: the |A| = 12
values of K uniformly spaced over [K_min, K_max]. The channel SNR follows a clipped Gaussian
random walk between transmission intervals (episodes of ``episode_length`` steps).

Reward, eq. (2):

.. math::
    r_t = Q_{task} + B_{comp} + B_a - \\lambda P_e - P(K)

* ``Q_task(SNR, K)``: task accuracy of the whole chain at that SNR and K;
* ``B_comp = alpha ln(N/K) g(Q_task - Q_0)``, with ``Q_0`` a fraction of the pass-through
  accuracy at K = N (our choice). The paper's gate is the step ``g = 1(Q_task > Q_0)``
  (``comp_gate_width = 0``); the default is the logistic ``g(d) = 1 / (1 + exp(-d / w))`` with
  ``w = comp_gate_width = 0.01``: with the step, cells whose accuracy sits within noise of
  ``Q_0`` make the reward jump by ``alpha ln(N/K)`` (up to 0.5) between neighbouring SNRs and
  actions, the tabulated optimum is not monotone in SNR and the Q-network cannot fit the
  jumps (measured regret 0.013-0.017 at M = 1024; docs/models.md);
* ``B_a``, the channel-adaptive bonus ("incentivizes fewer concepts at high SNR and more at low
  SNR"; the paper gives no formula). ``bump`` (default): ``B_a = alpha_a exp(-(K - K_t)^2 /
  (2 w^2))`` around a target ``K_t = K_hi - (K_hi - K_lo) SNR_n`` that falls with SNR.
  ``linear``: ``B_a = alpha_a (1 - 2 SNR_n) k_n`` with ``k_n = (K - K_min)/(K_max - K_min)``,
  which grows linearly with K at low SNR, where Q_task is noise across K, so the reward's
  argmax sits at K_max there (measured: 59-64 at -10 dB; docs/models.md);
* ``P_e``: BER over the index bits of the transmitted symbols;
* ``P(K) = p_ext`` if ``K`` is ``K_min`` or ``K_max``, else 0 (our concrete extreme-K penalty).

``Q_task`` and ``P_e`` are precomputed on a grid of SNRs x actions with the real chain on
held-out training samples and interpolated linearly in SNR, so DQN training takes seconds. With
``monotone`` (default) each action's column is replaced by its isotonic fit in SNR (``Q_task``
non-decreasing, ``P_e`` non-increasing: what a fixed-K chain over AWGN does in expectation),
which removes the draw-to-draw noise that otherwise makes the tabulated optimum jump between
neighbouring SNRs (docs/models.md); the raw measurements are kept beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from channel_sim import AWGN, Constellation
from semqam.fileio import savez, write_json
from semqam.units import bits_per_symbol
from trainer.svqvae.pipeline import SemanticPipeline
from trainer.svqvae.scheme import FloatTransmitter, KerasReceiver
from trainer.sweep import sweep


@dataclass(frozen=True)
class RewardParams:
    """Constants of eq. (2)."""

    n_concepts: int
    k_min: int
    k_max: int
    q0: float
    comp_alpha: float = 0.2
    adapt_alpha: float = 0.1
    ber_lambda: float = 0.5
    extreme_penalty: float = 0.05
    snr_min_db: float = -10.0
    snr_max_db: float = 20.0
    adapt_shape: str = "bump"
    adapt_k_high: float = 36.0
    adapt_k_low: float = 8.0
    adapt_width: float = 8.0
    comp_gate_width: float = 0.01

    def snr_norm(self, snr_db):
        span = self.snr_max_db - self.snr_min_db
        return np.clip((np.asarray(snr_db, dtype=np.float64) - self.snr_min_db) / span, 0.0, 1.0)


def compression_gate(q_task: float, p: RewardParams) -> float:
    """``g(Q_task - Q_0)`` of ``B_comp``: the step (``comp_gate_width = 0``, the paper) or the
    logistic of width ``comp_gate_width``, written with tanh so it never overflows."""
    d = q_task - p.q0
    if p.comp_gate_width <= 0:
        return 1.0 if d > 0 else 0.0
    return 0.5 * (1.0 + math.tanh(0.5 * d / p.comp_gate_width))


def reward_terms(q_task: float, ber: float, k: int, snr_db: float, p: RewardParams) -> dict:
    """The terms of eq. (2) and their sum ``r``."""
    b_comp = p.comp_alpha * math.log(p.n_concepts / k) * compression_gate(q_task, p)
    sn = float(p.snr_norm(snr_db))
    if p.adapt_shape == "linear":
        k_n = (k - p.k_min) / (p.k_max - p.k_min)
        b_a = p.adapt_alpha * (1.0 - 2.0 * sn) * k_n
    else:
        k_t = p.adapt_k_high - (p.adapt_k_high - p.adapt_k_low) * sn
        b_a = p.adapt_alpha * math.exp(-0.5 * ((k - k_t) / p.adapt_width) ** 2)
    penalty = p.extreme_penalty if k in (p.k_min, p.k_max) else 0.0
    r = q_task + b_comp + b_a - p.ber_lambda * ber - penalty
    return {"q_task": q_task, "b_comp": b_comp, "b_a": b_a, "ber_term": p.ber_lambda * ber,
            "penalty": penalty, "r": r}


@dataclass
class RateEnvironment:
    """Precomputed ``Q_task`` and ``P_e`` over ``snr_db`` x ``actions``."""

    snr_db: np.ndarray  # [S]
    actions: tuple[int, ...]
    q_task: np.ndarray  # [S, A]
    ber: np.ndarray  # [S, A]
    params: RewardParams
    q_task_raw: np.ndarray | None = None  # measured, before the isotonic fit
    ber_raw: np.ndarray | None = None

    def interp(self, table: np.ndarray, snr_db: float, a: int) -> float:
        return float(np.interp(snr_db, self.snr_db, table[:, a]))

    def reward(self, snr_db: float, a: int) -> float:
        q = self.interp(self.q_task, snr_db, a)
        ber = self.interp(self.ber, snr_db, a)
        return reward_terms(q, ber, self.actions[a], snr_db, self.params)["r"]

    def reward_table(self) -> np.ndarray:
        """Eq. (2) at every grid SNR and action: [S, A]."""
        return np.array(
            [[self.reward(s, a) for a in range(len(self.actions))] for s in self.snr_db]
        )

    def save(self, path: Path) -> None:
        raw = {} if self.q_task_raw is None else {"q_task_raw": self.q_task_raw,
                                                  "ber_raw": self.ber_raw}
        savez(path, snr_db=self.snr_db, actions=np.array(self.actions),
              q_task=self.q_task, ber=self.ber, reward=self.reward_table(), **raw)


def monotone_in_snr(table: np.ndarray, increasing: bool = True) -> np.ndarray:
    """Each column's least-squares isotonic fit along the SNR axis (rows): ``[S, A]``."""
    from scipy.optimize import isotonic_regression

    return np.stack([isotonic_regression(table[:, a], increasing=increasing).x
                     for a in range(table.shape[1])], axis=1)


def make_environment(snr_db: np.ndarray, actions: tuple[int, ...], q_task: np.ndarray,
                     ber: np.ndarray, params: RewardParams, monotone: bool) -> RateEnvironment:
    """The environment of measured tables, isotonic in SNR when ``monotone``."""
    if not monotone:
        return RateEnvironment(snr_db, actions, q_task, ber, params)
    return RateEnvironment(snr_db, actions, monotone_in_snr(q_task),
                           monotone_in_snr(ber, increasing=False), params, q_task, ber)


def build_environment(
    pipeline: SemanticPipeline,
    constellation: Constellation,
    x: np.ndarray,
    y: np.ndarray,
    snr_grid_db: np.ndarray,
    actions: tuple[int, ...],
    params: RewardParams,
    seed: int = 0,
    on_cell: Callable[[], None] | None = None,
    draws: int = 1,
    monotone: bool = True,
) -> RateEnvironment:
    """Run the real chain (top-K, quantise, AWGN, demap, decode, T) at every (SNR, K) through
    the one sweep loop (:mod:`trainer.sweep`), K fixed per action; each cell is the mean of
    ``draws`` noise draws.

    The cells draw their noise from one continuing ``AWGN(seed)`` stream, draw by draw, action
    by action and SNR by SNR within an action.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    encoded = pipeline.encode(x)
    p_clean = pipeline.classify(x)
    channel = AWGN(seed)
    receiver = KerasReceiver(pipeline, constellation)
    grid = [float(s) for s in snr_grid_db]
    q = np.zeros((len(grid), len(actions)))
    ber = np.zeros_like(q)
    for _ in range(draws):
        for a, k in enumerate(actions):
            tx = FloatTransmitter(pipeline, constellation, x, lambda _snr, k=k: k, encoded)
            points = sweep(tx, receiver, lambda _j: channel, grid, p_clean, y,
                           constellation.bits_per_symbol,
                           on_point=None if on_cell is None else lambda _p: on_cell())
            q[:, a] += [p.record["accuracy"] / draws for p in points]
            ber[:, a] += [p.record["ber"] / draws for p in points]
    return make_environment(np.asarray(snr_grid_db, float), tuple(actions), q, ber, params,
                            monotone)


def build_q_network(n_actions: int, hidden: tuple[int, ...] = (64, 64), lr: float = 1e-3):
    """MLP [64, 64] Q-network: state [2] -> Q-values [|A|]."""
    s = keras.Input(shape=(2,), name="state")
    h = s
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"q_dense{i}")(h)
    out = keras.layers.Dense(n_actions, name="q_values")(h)
    model = keras.Model(s, out, name="dqn")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    return model


def state(snr_db, order: int, params: RewardParams) -> np.ndarray:
    """``[SNR_n, log2(M)/10]`` for scalar or array SNR -> [..., 2] float32."""
    sn = params.snr_norm(snr_db)
    b = np.full_like(sn, bits_per_symbol(order) / 10.0)
    return np.stack([sn, b], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class DQNSettings:
    """DQN schedule; built from ``TrainConfig.dqn_settings()``, which owns the numbers."""

    steps: int  # vectorised environment steps (each advances ``n_envs`` channels)
    n_envs: int
    batch: int
    buffer: int
    gamma: float
    epsilon_start: float
    epsilon_end: float
    warmup: int
    target_sync: int
    lr: float
    hidden: tuple[int, ...]
    episode_length: int
    walk_std_db: float


def train_dqn(
    env: RateEnvironment,
    order: int,
    settings: DQNSettings,
    seed: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> tuple[keras.Model, dict]:
    """DQN with epsilon-greedy exploration (linear decay over 80 % of the steps), experience
    replay and a target network synchronised every ``target_sync`` steps.

    ``n_envs`` independent channels advance in lock-step (one batched forward pass per step),
    which gives the replay buffer many transitions per second on a CPU.
    """
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    p = env.params
    n_a, n_e = len(env.actions), settings.n_envs
    qnet = build_q_network(n_a, settings.hidden, settings.lr)
    target = build_q_network(n_a, settings.hidden, settings.lr)
    target.set_weights(qnet.get_weights())
    cap = settings.buffer
    buf_s = np.zeros((cap, 2), np.float32)
    buf_a = np.zeros(cap, np.int64)
    buf_r = np.zeros(cap, np.float32)
    buf_s2 = np.zeros((cap, 2), np.float32)
    buf_done = np.zeros(cap, np.float32)
    losses, rewards = [], []
    snr = rng.uniform(p.snr_min_db, p.snr_max_db, size=n_e)
    decay_steps = max(1, int(0.8 * settings.steps))
    filled = 0
    for t in range(settings.steps):
        eps = settings.epsilon_start + (settings.epsilon_end - settings.epsilon_start) * min(
            1.0, t / decay_steps
        )
        s = state(snr, order, p)
        greedy = keras.ops.convert_to_numpy(qnet(s, training=False)).argmax(1)
        explore = rng.random(n_e) < eps
        a = np.where(explore, rng.integers(0, n_a, size=n_e), greedy)
        r = np.array([env.reward(float(sn), int(ai)) for sn, ai in zip(snr, a, strict=True)])
        done = (t + 1) % settings.episode_length == 0
        if done:
            snr2 = rng.uniform(p.snr_min_db, p.snr_max_db, size=n_e)
        else:
            snr2 = np.clip(snr + rng.normal(0.0, settings.walk_std_db, size=n_e),
                           p.snr_min_db, p.snr_max_db)
        i = (filled + np.arange(n_e)) % cap
        buf_s[i], buf_a[i], buf_r[i], buf_s2[i] = s, a, r, state(snr2, order, p)
        buf_done[i] = float(done)
        filled += n_e
        rewards.append(float(r.mean()))
        snr = snr2
        if t >= settings.warmup:
            j = rng.integers(0, min(filled, cap), size=settings.batch)
            q_next = keras.ops.convert_to_numpy(target(buf_s2[j], training=False)).max(1)
            y = keras.ops.convert_to_numpy(qnet(buf_s[j], training=False)).copy()
            y[np.arange(settings.batch), buf_a[j]] = (
                buf_r[j] + settings.gamma * (1.0 - buf_done[j]) * q_next
            )
            losses.append(float(qnet.train_on_batch(buf_s[j], y)))
        if (t + 1) % settings.target_sync == 0:
            target.set_weights(qnet.get_weights())
        if on_step is not None:
            on_step(t + 1)
    info = {"final_loss": float(np.mean(losses[-100:])) if losses else None,
            "mean_reward_last_100_steps": float(np.mean(rewards[-100:])),
            "transitions": int(filled)}
    return qnet, info


#: Mean regret of the tabulated policy against the reward's argmax that training should reach.
REGRET_TARGET = 0.01


def policy_regret(env: RateEnvironment, policy_actions: np.ndarray) -> dict:
    """How far the policy's K is from the reward-maximising K on the environment grid:
    ``mean/max_regret`` of eq. (2), ``agreement`` of the actions, and whether the mean regret
    meets :data:`REGRET_TARGET`."""
    table = env.reward_table()
    best = table.max(1)
    got = table[np.arange(len(table)), policy_actions]
    mean = float(np.mean(best - got))
    return {"mean_regret": mean, "max_regret": float(np.max(best - got)),
            "agreement": float(np.mean(policy_actions == table.argmax(1))),
            "regret_target": REGRET_TARGET, "regret_target_met": mean <= REGRET_TARGET}


def monotone_argmax(values: np.ndarray) -> np.ndarray:
    """The action sequence ``a_0 >= a_1 >= ...`` (rows = increasing SNR, actions sorted by K)
    maximising ``sum_g values[g, a_g]``: dynamic programming over ``best[g, a] = values[g, a] +
    max_{a' >= a} best[g-1, a']``, O(G A). Ties go to the larger action at each step."""
    values = np.asarray(values, dtype=np.float64)
    n_g, n_a = values.shape
    best = np.empty_like(values)
    arg = np.zeros((n_g, n_a), np.int64)  # the previous row's action chosen for (g, a)
    best[0] = values[0]
    for g in range(1, n_g):
        # suffix maximum of the previous row: max over a' >= a, preferring the larger a'
        suf_val = np.empty(n_a)
        suf_arg = np.empty(n_a, np.int64)
        run_val, run_arg = -np.inf, n_a - 1
        for a in range(n_a - 1, -1, -1):
            if best[g - 1, a] > run_val:
                run_val, run_arg = best[g - 1, a], a
            suf_val[a], suf_arg[a] = run_val, run_arg
        best[g] = values[g] + suf_val
        arg[g] = suf_arg
    out = np.empty(n_g, np.int64)
    last = best[-1]
    out[-1] = int(np.flatnonzero(last == last.max())[-1])
    for g in range(n_g - 1, 0, -1):
        out[g - 1] = arg[g, out[g]]
    return out


@dataclass(frozen=True)
class RatePolicy:
    """The DQN policy tabulated on quantised SNR feedback: nearest grid SNR -> K."""

    snr_db: tuple[float, ...]
    k: tuple[int, ...]

    def k_for(self, snr_db: float) -> int:
        grid = np.asarray(self.snr_db)
        i = int(np.argmin(np.abs(grid - float(snr_db))))
        return int(self.k[i])

    @classmethod
    def from_q_network(cls, qnet: keras.Model, order: int, params: RewardParams,
                       step_db: float = 0.5, monotone: bool = False) -> RatePolicy:
        """Tabulate the greedy actions on a ``step_db`` grid; with ``monotone``, the
        non-increasing action sequence of largest summed Q-value (:func:`monotone_argmax`)."""
        n = int(round((params.snr_max_db - params.snr_min_db) / step_db)) + 1
        grid = np.linspace(params.snr_min_db, params.snr_max_db, n)
        qv = keras.ops.convert_to_numpy(qnet(state(grid, order, params), training=False))
        acts = monotone_argmax(qv) if monotone else qv.argmax(1)
        return cls(tuple(float(g) for g in grid), tuple(int(a) for a in acts))

    def with_actions(self, actions: tuple[int, ...]) -> RatePolicy:
        """Translate action indices into K values."""
        return RatePolicy(self.snr_db, tuple(int(actions[a]) for a in self.k))

    def to_dict(self) -> dict:
        return {"snr_db": list(self.snr_db), "k": list(self.k),
                "lookup": "nearest grid SNR (dB) -> K"}

    @classmethod
    def from_dict(cls, d: dict) -> RatePolicy:
        return cls(tuple(float(s) for s in d["snr_db"]), tuple(int(k) for k in d["k"]))

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> RatePolicy:
        return cls.from_dict(json.loads(Path(path).read_text()))


def fit_policy(env: RateEnvironment, cfg, progress=None) -> tuple[keras.Model, RatePolicy, dict]:
    """Stage 4 of training on a built environment: train the DQN with ``cfg``'s schedule
    (a ``TrainConfig``), tabulate it on ``cfg.policy_snr_step_db`` (with
    ``cfg.policy_monotone``: the best non-increasing K under its Q-values) and measure the
    table's regret on the environment grid against the reward's argmax.

    Returns ``(qnet, policy, info)``; ``info`` is ``run.json``'s ``dqn`` section."""
    on_step = None
    if progress is not None:
        from semqam.progress import step_callback

        on_step = step_callback(progress, "DQN rate controller", cfg.dqn_steps)
    qnet, info = train_dqn(env, cfg.order, cfg.dqn_settings(), cfg.seed, on_step)
    policy = RatePolicy.from_q_network(qnet, cfg.order, env.params, cfg.policy_snr_step_db,
                                       cfg.policy_monotone)
    # the regret of the deployed table: its action at each environment grid SNR
    on_grid = np.array([policy.k_for(s) for s in env.snr_db])
    info.update(policy_regret(env, on_grid))
    oracle = env.reward_table().argmax(1)
    ks = policy.with_actions(env.actions).k
    info.update({
        "policy_monotone": bool(cfg.policy_monotone),
        "oracle_k_on_env_grid": [int(env.actions[a]) for a in oracle],
        "env_snr_db": [float(s) for s in env.snr_db],
        "k_non_increasing": bool(all(b <= a for a, b in zip(ks, ks[1:], strict=False))),
        "comp_gate_width": env.params.comp_gate_width,
    })
    return qnet, policy.with_actions(env.actions), info


def load_environment(path: Path, params: RewardParams, monotone: bool = True) -> RateEnvironment:
    """The environment a run stored (``rate_env.npz``, its raw measurements where kept) under
    reward ``params``."""
    with np.load(path) as d:
        raw = "q_task_raw" in d.files
        q = np.asarray(d["q_task_raw" if raw else "q_task"], float)
        ber = np.asarray(d["ber_raw" if raw else "ber"], float)
        return make_environment(np.asarray(d["snr_db"], float),
                                tuple(int(a) for a in d["actions"]), q, ber, params, monotone)
