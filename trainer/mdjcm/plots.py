"""The MDJCM variable-length distribution as a figure (the paper's Fig. 6, here per sample and
per latent vector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semqam.fileio import atomic_path


def plot_length_distribution(hist: dict, path: str | Path, title: str = "") -> Path:
    """Two bar charts from :meth:`trainer.mdjcm.run.Run.length_distribution`: symbols per
    sample (with the mean) and symbols per latent vector; written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total, vector = np.asarray(hist["total"]), np.asarray(hist["vector"])
    last = int(np.flatnonzero(total)[-1]) + 1 if total.any() else 1
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.bar(np.arange(last), total[:last] / max(total.sum(), 1), color="tab:blue")
    if "mean" in hist:
        a.axvline(hist["mean"], color="k", ls="--", label=f"mean {hist['mean']:.2f}")
        a.legend()
    a.set_xlabel("symbols per sample  $\\sum_i k_i$")
    a.set_ylabel("fraction of samples")
    b.bar(np.arange(len(vector)), vector / max(vector.sum(), 1), color="tab:orange")
    b.set_xlabel("symbols per latent vector $k_i$")
    b.set_ylabel("fraction of vectors")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
