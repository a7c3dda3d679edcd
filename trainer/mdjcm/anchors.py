"""Issue 14's MDJCM anchors on MNIST at S = 16 (AWGN), one small command:

* the single multi-order model vs per-order models (the ``per_order`` variant), every order;
* substitution training (process (10) + phase 3) vs plain straight-through training.

``python -m trainer.mdjcm.anchors --out results/mdjcm-anchors --classifier T.keras`` (the
classifier is trained there first when the file does not exist) writes ``anchors.json``,
``anchors.md`` and ``lengths.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from semqam.fileio import write_json, write_text

SNRS = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0)


def _classifier(path: Path, ds, seed: int) -> Path:
    if path.is_file():
        return path
    import keras

    from semqam.seeding import set_global_seed
    from trainer.svqvae.models import build_classifier

    set_global_seed(seed)
    clf = build_classifier(ds.input_shape, ds.n_classes, (256,), 0.2, seed=seed)
    clf.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    clf.fit(ds.x_train, ds.y_train, batch_size=64, epochs=8, verbose=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    clf.save(path)
    return path


def accuracy_curve(run, variant: str, x, y, p_clean, snrs=SNRS, seed: int = 1000) -> list[float]:
    """Task accuracy of T(x_hat) over AWGN at ``snrs`` (channel at point j seeded seed + j)."""
    from channel_sim import make_channel
    from trainer.sweep import run_point

    tx, rx = run.transmitter(x, variant), run.receiver(variant)
    return [run_point(tx, rx, make_channel("awgn", seed + j), s, p_clean, y,
                      run.bits_per_symbol).record["accuracy"] for j, s in enumerate(snrs)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--classifier", type=Path, required=True)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--profile", default="quick")
    args = ap.parse_args(argv)

    from trainer.data.load import load_dataset
    from trainer.mdjcm.plots import plot_length_distribution
    from trainer.mdjcm.run import load_run
    from trainer.mdjcm.train import train

    ds = load_dataset("mnist")
    clf_path = _classifier(args.classifier, ds, 0)
    x, y = ds.x_test, ds.y_test
    results: dict = {"snr_db": list(SNRS), "budget": args.budget, "seeds": {}}
    for seed in (int(s) for s in args.seeds.split(",")):
        per_seed: dict = {}
        sub = args.out / f"seed{seed}"
        runs = {}
        for name, opts in (("substitution", {"per_order": True}), ("ste", {"training": "ste"})):
            folder = sub / name
            if not (folder / "run.json").is_file():
                train(ds, folder, budget=args.budget, order=16, seed=seed, classifier=clf_path,
                      profile=args.profile, **opts)
            runs[name] = load_run(folder)
        p_clean = runs["substitution"].classifier.predict(x, verbose=0)
        for order in runs["substitution"].orders:
            main_run, ste = runs["substitution"].with_order(order), runs["ste"].with_order(order)
            per_seed[str(order)] = {
                "multi_order": accuracy_curve(main_run, "mdjcm", x, y, p_clean),
                "per_order": accuracy_curve(main_run, "per_order", x, y, p_clean),
                "ste": accuracy_curve(ste, "ste", x, y, p_clean),
            }
        per_seed["train_s"] = {k: r.info["timings"]["train_s"] for k, r in runs.items()}
        per_seed["lengths"] = runs["substitution"].info["lengths"]
        results["seeds"][str(seed)] = per_seed
        hist = runs["substitution"].length_distribution(x)
        plot_length_distribution(hist, args.out / "lengths.png",
                                 f"MDJCM lengths, MNIST test, S = {args.budget}")
    results["clean_accuracy"] = float(np.mean(p_clean.argmax(1) == y))
    write_json(args.out / "anchors.json", results)
    write_text(args.out / "anchors.md", table(results))
    print(table(results))


def table(results: dict) -> str:
    """Mean over seeds, one row per (order, system): accuracy at each SNR."""
    snrs = results["snr_db"]
    seeds = list(results["seeds"].values())
    head = "| M | system | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    lines = [head, "|" + "---|" * (len(snrs) + 2)]
    for order in (k for k in seeds[0] if k.isdigit()):
        for system in ("multi_order", "per_order", "ste"):
            acc = np.mean([s[order][system] for s in seeds], axis=0)
            lines.append(f"| {order} | {system} | " + " | ".join(f"{a:.3f}" for a in acc) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
