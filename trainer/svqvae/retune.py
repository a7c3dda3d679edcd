"""Re-train only the rate controller of a run (stage 4) on its stored environment table.

The reward of eq. (2) is shaped by constants a deployment may want to change (Q_0, the B_comp
gate, the B_a bump, the DQN schedule). The environment table ``rate_env.npz`` stores what the
chain measured (``Q_task`` and ``P_e`` per SNR x K), which does not depend on those constants,
so the DQN can be re-trained in seconds without re-training the networks or the constellation.
The result equals what a full ``semqam train`` with the same settings writes for stage 4 (same
table, same seed). The run folder is replaced as a whole only when everything is written.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from semqam.fileio import atomic_dir, write_json
from semqam.progress import Progress, make_progress
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.rate_control import fit_policy, load_environment

#: Fields of :class:`TrainConfig` that a retune may change (reward and DQN only).
RETUNABLE = frozenset({
    "comp_alpha", "q0_fraction", "comp_gate_width", "adapt_alpha", "adapt_shape",
    "adapt_k_high", "adapt_k_low", "adapt_width", "ber_lambda", "extreme_penalty",
    "dqn_hidden", "dqn_gamma", "dqn_buffer", "epsilon_start", "epsilon_end", "dqn_steps",
    "dqn_envs", "dqn_batch", "dqn_warmup", "dqn_target_sync", "dqn_lr", "episode_length",
    "snr_walk_std_db", "policy_snr_step_db", "env_monotone",
    "policy_monotone",
})


def validation_passthrough(info: dict) -> float:
    """The pass-through accuracy (K = N, no channel) on the validation split that ``Q_0``
    scales; runs that did not record it recorded ``Q_0`` and its fraction."""
    m = info["metrics"]
    if "passthrough_accuracy_validation" in m:
        return float(m["passthrough_accuracy_validation"])
    return float(m["q0"]) / float(info["config"]["q0_fraction"])


def retune_policy(run_dir: str | Path, overrides: dict[str, Any] | None = None,
                  progress: Progress | None = None) -> dict:
    """Re-train the DQN of ``run_dir`` with its ``run.json`` configuration (fields it lacks take
    today's defaults) updated by ``overrides``; rewrite ``dqn.keras``, ``policy.json`` and
    ``run.json`` (``config``, ``dqn``, ``timings_s.dqn_retune_s``, ``retuned``).

    Returns the new ``dqn`` section. Bundles exported from the run before carry the old
    policy table: export again.
    """
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    env_path = run_dir / "rate_env.npz"
    for path in (info_path, env_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; retrain the run with `semqam train`")
    info = json.loads(info_path.read_text())
    overrides = dict(overrides or {})
    bad = sorted(set(overrides) - RETUNABLE)
    if bad:
        raise ValueError(f"cannot retune {', '.join(bad)}: only the reward and DQN settings "
                         f"({', '.join(sorted(RETUNABLE))})")
    cfg = dataclasses.replace(TrainConfig.from_dict(info["config"]), **overrides)
    q0 = cfg.q0_fraction * validation_passthrough(info)
    env = load_environment(env_path, cfg.reward_params(q0), cfg.env_monotone)
    t0 = time.perf_counter()
    with progress or make_progress() as prog:
        qnet, policy, dqn_info = fit_policy(env, cfg, prog)
    elapsed = time.perf_counter() - t0
    previous = info.get("dqn", {})
    info["config"] = cfg.to_dict()
    info["metrics"]["q0"] = q0
    info["dqn"] = dqn_info
    info.setdefault("timings_s", {})["dqn_retune_s"] = round(elapsed, 2)
    info["retuned"] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "overrides": overrides,
        "previous_mean_regret": previous.get("mean_regret"),
    }
    with atomic_dir(run_dir) as work:
        shutil.copytree(run_dir, work, dirs_exist_ok=True)
        qnet.save(work / "dqn.keras")
        policy.save(work / "policy.json")
        write_json(work / "run.json", info)
    return dqn_info
