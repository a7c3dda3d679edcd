"""FSDD front-end ablation: the clean accuracy of the frozen classifier T on held-out speakers.

Trains only T, exactly as step 1 of :mod:`trainer.svqvae.train` does (same seed handling, same
validation hold-out, :func:`~trainer.svqvae.train.fit_classifier`), for each front-end variant
and seed, and prints a Markdown table (mean +- std over the seeds, wall time per run)::

    python -m trainer.svqvae.frontend_ablation --data ../shared/data/fsdd --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from semqam.seeding import set_global_seed
from trainer.data import AugmentConfig, SpectrogramConfig, load_dataset
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.train import _split_validation, fit_classifier

#: name -> (front end, augmentation or None); each adds one step to the previous one.
VARIANTS: dict[str, tuple[SpectrogramConfig, AugmentConfig | None]] = {
    "baseline (legacy front end)": (SpectrogramConfig.legacy(), None),
    "+ trim": (SpectrogramConfig.legacy(trim_db=40.0), None),
    "+ trim + centre": (SpectrogramConfig.legacy(trim_db=40.0, align="centre"), None),
    "+ utterance normalisation (default front end)": (SpectrogramConfig(), None),
    "+ augmentation (4 copies)": (SpectrogramConfig(), AugmentConfig()),
}


def classifier_accuracy(ds, cfg: TrainConfig) -> float:
    """Clean test accuracy of T trained on ``ds`` the way ``train.py`` step 1 trains it."""
    set_global_seed(cfg.seed)
    x_tr, y_tr, _, _ = _split_validation(ds, cfg.seed)
    clf, _ = fit_classifier(x_tr, y_tr, ds.n_classes, cfg)
    probs = clf.predict(ds.x_test, batch_size=500, verbose=0)
    return float(np.mean(probs.argmax(1) == ds.y_test))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder of FSDD recordings")
    ap.add_argument("--test-speakers", default="lucas")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="", help="comma-separated indices into VARIANTS")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = list(VARIANTS)
    if args.variants:
        names = [names[int(i)] for i in args.variants.split(",")]
    rows = []
    print("| front end | clean acc. on " + args.test_speakers + " | per seed | wall s / seed |")
    print("|---|---:|---|---:|")
    for name in names:
        spec, aug = VARIANTS[name]
        accs, walls = [], []
        for seed in seeds:
            t0 = time.perf_counter()
            ds = load_dataset(
                "fsdd", args.data, test_speakers=args.test_speakers.split(","), spectrogram=spec,
                augment=None if aug is None else replace(aug, seed=seed),
            )
            accs.append(classifier_accuracy(ds, TrainConfig.for_profile(args.profile, seed=seed)))
            walls.append(time.perf_counter() - t0)
        row = dict(variant=name, mean=float(np.mean(accs)), std=float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                   accs=accs, wall_s=float(np.mean(walls)), seeds=seeds)
        rows.append(row)
        print(f"| {name} | {row['mean']:.3f} ± {row['std']:.3f} | "
              f"{', '.join(f'{a:.3f}' for a in accs)} | {row['wall_s']:.0f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
