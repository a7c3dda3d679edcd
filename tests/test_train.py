"""End-to-end training on a few hundred real digits: accuracy, artefacts, determinism, safety."""

from __future__ import annotations

import json

import numpy as np
import pytest

import trainer.svqvae.train as train_mod
from channel_sim import Constellation
from conftest import train_tiny

EXPECTED_FILES = {
    "run.json", "history.json", "classifier.keras", "encoder_sci.keras", "decoder.keras",
    "dqn.keras", "codebook.npy", "constellation_semantic.npy", "constellation_standard.npy",
    "constellation_history.npz", "concept_stats.npz", "rate_env.npz", "policy.json",
}


def test_tiny_run_beats_chance_and_writes_every_artefact(tiny_run):
    assert {p.name for p in tiny_run.iterdir()} >= EXPECTED_FILES
    run = json.loads((tiny_run / "run.json").read_text())
    m = run["metrics"]
    assert m["clean_accuracy"] > 0.6  # chance is 0.1
    # 500 digits, 6 + 6 epochs: a smoke test that the chain learns (4x chance), not a target
    assert m["passthrough_accuracy"] > 0.4
    assert run["config"]["order"] == 16 and run["seed"] == 0
    assert set(run["timings_s"]) >= {"classifier_s", "phase1_s", "phase2_s", "total_s"}
    assert run["environment"]["tensorflow"].startswith("2.21")
    sem = Constellation.load(tiny_run / "constellation_semantic.npy")
    std = Constellation.load(tiny_run / "constellation_standard.npy")
    assert sem.order == std.order == 16
    assert sem.average_power <= 1.0 + 1e-5
    np.testing.assert_allclose(std.points, Constellation.rectangular_gray(16).points, atol=1e-6)
    stats = np.load(tiny_run / "concept_stats.npz")
    assert stats["cooccurrence"].shape == (16, 16)
    assert stats["cooccurrence"].sum() == pytest.approx(1.0)
    assert np.all((stats["mean_sci"] >= 0) & (stats["mean_sci"] < 1))
    policy = json.loads((tiny_run / "policy.json").read_text())
    assert len(policy["snr_db"]) == 61 and set(policy["k"]) <= set(run["config"]["actions"])
    assert np.load(tiny_run / "codebook.npy").shape == (16, 64)


def test_same_seed_same_numbers(tiny_run, tmp_path):
    again = train_tiny(tmp_path / "again").path
    for name in ("codebook.npy", "constellation_semantic.npy"):
        np.testing.assert_array_equal(np.load(tiny_run / name), np.load(again / name))
    a = json.loads((tiny_run / "run.json").read_text())["metrics"]
    b = json.loads((again / "run.json").read_text())["metrics"]
    assert a == b
    assert (tiny_run / "policy.json").read_text() == (again / "policy.json").read_text()


def test_failed_training_leaves_no_run_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash in the DQN stage")

    monkeypatch.setattr(train_mod, "fit_policy", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_tiny(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_existing_run_is_not_overwritten_without_force(tiny_run):
    from conftest import tiny_dataset
    from trainer.svqvae.config import TrainConfig

    with pytest.raises(FileExistsError, match="--force"):
        train_mod.train(tiny_dataset(), TrainConfig(order=16), tiny_run)


def test_an_empty_test_split_is_one_clear_error(tmp_path):
    """Issue 16, defect 8: training on data without test samples used to fail inside Keras."""
    import dataclasses

    from conftest import TINY_OVERRIDES, tiny_dataset
    from trainer.svqvae.config import TrainConfig

    ds = tiny_dataset()
    empty = dataclasses.replace(ds, x_test=ds.x_test[:0], y_test=ds.y_test[:0])
    cfg = TrainConfig.for_profile("quick", **TINY_OVERRIDES)
    with pytest.raises(ValueError, match="no test samples"):
        train_mod.train(empty, cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_validation_split_with_augmentation_holds_out_whole_recordings():
    """FSDD augmentation: the validation split is real recordings only, and no augmented copy
    of a validation recording is trained on; without augmentation the split is unchanged."""
    from trainer.data import Dataset, split_validation

    n, copies = 40, 3
    ids = np.arange(n, dtype=np.float32)
    x = np.tile(ids, 1 + copies)[:, None, None] * np.ones((1, 2, 2), np.float32)
    x[n:] += 0.5  # copies are distinguishable from the originals
    y = np.tile(np.arange(n) % 10, 1 + copies)
    empty = np.zeros((0, 2, 2), np.float32)
    ds = Dataset("fsdd", x, y, empty, np.zeros(0, np.int64), tuple("0123456789"), "synthetic",
                 meta={"augment": {"copies": copies, "n_original": n}})
    x_tr, y_tr, x_val, y_val = split_validation(ds, seed=3)
    val_ids = set(x_val[:, 0, 0].tolist())
    assert len(x_val) == 5 and all(float(v).is_integer() for v in val_ids)  # originals only
    train_ids = {int(v) for v in x_tr[:, 0, 0].tolist()}
    assert not val_ids & train_ids and len(x_tr) == (n - 5) * (1 + copies)
    plain = Dataset("fsdd", x[:n], y[:n], empty, np.zeros(0, np.int64), tuple("0123456789"), "s")
    p_tr, _, p_val, _ = split_validation(plain, seed=3)
    np.testing.assert_array_equal(p_val, x_val)  # same held-out recordings as without copies
    assert len(p_tr) == n - 5
