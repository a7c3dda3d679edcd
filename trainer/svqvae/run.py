"""A trained run folder (written by :func:`trainer.svqvae.train.train`) loaded back as one object.

The evaluator, the exporter and the edge side all read a run through :func:`load_run`, so the
checks that a folder is complete and self-consistent live in one place.

Files (see ``trainer/svqvae/train.py``):

* ``run.json``: data set, config, timings, training metrics;
* ``encoder_sci.keras``, ``decoder.keras``, ``classifier.keras`` and ``codebook.npy`` [M, D]:
  the :class:`~trainer.svqvae.pipeline.SemanticPipeline`;
* ``constellation_semantic.npy`` / ``constellation_standard.npy``: complex [M] point tables;
* ``policy.json``: the tabulated DQN policy SNR -> K
  (:class:`~trainer.svqvae.rate_control.RatePolicy`);
* optional for evaluation: ``constellation_history.npz`` (``steps`` [S], ``points`` [S, M]),
  ``concept_stats.npz`` (training-split ``mean_sci``, ``usage``, ``cooccurrence``),
  ``dqn.keras``, ``rate_env.npz``, ``history.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from channel_sim import Constellation
from trainer.scheme import RunInfo
from trainer.svqvae.pipeline import SemanticPipeline
from trainer.svqvae.rate_control import RatePolicy

#: Files a run must hold to be evaluated / deployed (what ``load_run`` reads).
REQUIRED_FILES = (
    "run.json",
    "encoder_sci.keras",
    "decoder.keras",
    "classifier.keras",
    "codebook.npy",
    "constellation_semantic.npy",
    "constellation_standard.npy",
    "policy.json",
)
#: Everything ``semqam train`` writes; a folder holding all of them is a complete run.
ALL_FILES = (
    *REQUIRED_FILES,
    "dqn.keras",
    "constellation_history.npz",
    "concept_stats.npz",
    "rate_env.npz",
    "history.json",
)


def _missing(run_dir: Path, name: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{run_dir / name}: missing from the run folder; re-run `semqam train --out {run_dir}`"
    )


def missing_files(run_dir: str | Path, names: tuple[str, ...] = ALL_FILES) -> list[str]:
    """Names in ``names`` that ``run_dir`` lacks (all of them if the folder does not exist)."""
    run_dir = Path(run_dir)
    return [n for n in names if not (run_dir / n).is_file()]


@dataclass
class Run(RunInfo):
    """One trained run: its metadata, inference chain, constellations and rate policy
    (``bits_per_symbol``, ``dataset_name``, ``input_shape`` from :class:`RunInfo`; this scheme
    has no fixed budget: K comes from the policy)."""

    path: Path
    info: dict  # run.json
    pipeline: SemanticPipeline
    semantic: Constellation
    standard: Constellation
    policy: RatePolicy
    fair: Constellation | None = None  # learned under the power of what is sent (optional)

    @property
    def constellations(self) -> dict[str, Constellation]:
        """The point tables a node carries, by name: ``semantic`` (learned), ``standard``."""
        return {"semantic": self.semantic, "standard": self.standard}

    @property
    def variants(self) -> dict[str, Constellation]:
        """Every variant to evaluate: the node's constellations, and ``fair`` when trained."""
        return {**self.constellations, **({"fair": self.fair} if self.fair is not None else {})}

    @property
    def order(self) -> int:
        """M: codebook size = constellation order."""
        return int(self.info["config"]["order"])

    @property
    def n_concepts(self) -> int:
        return self.pipeline.n_concepts

    @property
    def config(self) -> dict:
        return dict(self.info["config"])

    def constellation_history(self) -> tuple[np.ndarray, np.ndarray]:
        """Snapshots of the semantic constellation during training: (steps [S], points [S, M])."""
        path = self.path / "constellation_history.npz"
        if not path.is_file():
            raise _missing(self.path, path.name)
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["steps"]), np.asarray(z["points"])

    def concept_stats(self) -> dict[str, np.ndarray]:
        """Training-split concept statistics: ``mean_sci`` [M], ``usage`` [M], ``cooccurrence``."""
        path = self.path / "concept_stats.npz"
        if not path.is_file():
            raise _missing(self.path, path.name)
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}


def load_run(run_dir: str | Path) -> Run:
    """Load a run folder; FileNotFoundError / ValueError (one line) if it is incomplete or
    inconsistent."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"{run_dir}: no such run folder; train one with `semqam train --out {run_dir}`"
        )
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise _missing(run_dir, name)
    try:
        info = json.loads((run_dir / "run.json").read_text())
        order = int(info["config"]["order"])
        _ = info["dataset"]["name"], info["dataset"]["input_shape"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{run_dir / 'run.json'}: unreadable run description ({exc!r}); "
            f"re-run `semqam train --out {run_dir}`"
        ) from None

    import keras

    import trainer.svqvae.models  # noqa: F401  (registers the custom layers for deserialisation)

    def model(name: str):
        return keras.saving.load_model(run_dir / name, compile=False)

    codebook = np.load(run_dir / "codebook.npy", allow_pickle=False).astype(np.float32)
    pipeline = SemanticPipeline(
        model("encoder_sci.keras"), model("decoder.keras"), model("classifier.keras"), codebook
    )
    semantic = Constellation.load(run_dir / "constellation_semantic.npy")
    standard = Constellation.load(run_dir / "constellation_standard.npy")
    policy = RatePolicy.load(run_dir / "policy.json")

    problems = []
    if codebook.ndim != 2 or codebook.shape[0] != order:
        problems.append(f"codebook.npy has shape {codebook.shape}, expected [{order}, D]")
    for c in (semantic, standard):
        if c.order != order:
            problems.append(f"{c.name}.npy has {c.order} points, expected M = {order}")
    n = pipeline.n_concepts
    if not policy.k or not all(1 <= k <= n for k in policy.k):
        problems.append(f"policy.json holds K outside [1, {n}]")
    if problems:
        raise ValueError(f"{run_dir}: inconsistent run folder: {'; '.join(problems)}")
    fair_path = run_dir / "constellation_fair.npy"
    fair = Constellation.load(fair_path) if fair_path.is_file() else None
    if fair is not None and fair.order != order:
        raise ValueError(f"{run_dir}: inconsistent run folder: constellation_fair.npy has "
                         f"{fair.order} points, expected M = {order}")
    return Run(run_dir, info, pipeline, semantic, standard, policy, fair)
