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
from trainer.data import AugmentConfig, SpectrogramConfig, load_dataset, split_validation
from trainer.svqvae.config import TrainConfig
from trainer.svqvae.train import fit_classifier

_TC = dict(trim_db=40.0, align="centre")
_AUG = AugmentConfig()

#: name -> (front end, augmentation or None). The first rows add one step each; the rows marked
#: "instead" replace the previous step, the rows marked "aug:" remove one part of the final one.
VARIANTS: dict[str, tuple[SpectrogramConfig, AugmentConfig | None]] = {
    "baseline (legacy front end)": (SpectrogramConfig.legacy(), None),
    "+ trim 40 dB": (SpectrogramConfig.legacy(trim_db=40.0), None),
    "+ centre": (SpectrogramConfig.legacy(**_TC), None),
    "+ 60 dB floor (default front end)": (SpectrogramConfig(), None),
    "instead: utterance z-normalisation": (SpectrogramConfig(normalise="utterance"), None),
    "instead: band (CMN) normalisation": (SpectrogramConfig(normalise="band"), None),
    "instead: fit word to 32 frames": (SpectrogramConfig(align="fit"), None),
    "instead: lifter 20": (SpectrogramConfig(lifter=20), None),
    "+ augmentation (final)": (SpectrogramConfig(), _AUG),
    "aug: shift 0.05 s": (SpectrogramConfig(), replace(_AUG, shift_s=0.05)),
    "aug: no noise": (SpectrogramConfig(), replace(_AUG, snr_db=None)),
    "aug: no masks": (SpectrogramConfig(), replace(_AUG, freq_masks=0, time_masks=0)),
    "aug: no speed": (SpectrogramConfig(), replace(_AUG, speed=(1.0, 1.0))),
    "aug + utterance z-normalisation": (SpectrogramConfig(normalise="utterance"), _AUG),
}


def classifier_accuracy(ds, cfg: TrainConfig) -> float:
    """Clean test accuracy of T trained on ``ds`` the way ``train.py`` step 1 trains it."""
    set_global_seed(cfg.seed)
    x_tr, y_tr, _, _ = split_validation(ds, cfg.seed)
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
        std = float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0
        row = dict(variant=name, mean=float(np.mean(accs)), std=std,
                   accs=accs, wall_s=float(np.mean(walls)), seeds=seeds)
        rows.append(row)
        print(f"| {name} | {row['mean']:.3f} ± {row['std']:.3f} | "
              f"{', '.join(f'{a:.3f}' for a in accs)} | {row['wall_s']:.0f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
