"""A test-only scheme that obeys the compare interface (docs/compare.md): a linear (PCA)
encoder sends the first 2S principal components of x as S complex symbols, normalised per
frame; the receiver undoes the scale and projects back. Not registered outside the tests.

``FAKE_TRAIN_LOG`` (env): a file that gets one line per training call; ``FAKE_CRASH_SEED``
(env): training that seed raises (an interrupted grid).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from semqam.fileio import atomic_dir, save_npy, write_json
from trainer.scheme import Frame, Reception

NAME = "fake"


def train(ds, out: Path, *, budget: int, order: int, seed: int, loss: str = "paper",
          classifier: Path, profile: str = "quick", progress=None, **options) -> Path:
    if os.environ.get("FAKE_CRASH_SEED") == str(seed):
        raise RuntimeError(f"fake crash while training seed {seed}")
    log = os.environ.get("FAKE_TRAIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{Path(out).name}\n")
    t0 = time.perf_counter()
    x = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float64)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x[:1000] - mean, full_matrices=False)
    basis = vt[: 2 * budget]
    with atomic_dir(out) as work:
        save_npy(work / "mean.npy", mean)
        save_npy(work / "basis.npy", basis)
        write_json(work / "run.json", {
            "format": 1, "scheme": NAME,
            "dataset": {"name": ds.name, "input_shape": list(ds.input_shape)},
            "config": {}, "budget": budget, "order": order, "seed": seed, "loss": loss,
            "classifier": str(classifier),
            "timings": {"train_s": time.perf_counter() - t0}})
    return Path(out)


class Tx:
    def __init__(self, run: FakeRun, x: np.ndarray, variant: str) -> None:
        self.variant = variant
        flat = x.reshape(len(x), -1) - run.mean
        c = flat @ run.basis.T
        self.symbols = c[:, 0::2] + 1j * c[:, 1::2]

    def transmit(self, snr_db: float) -> list[Frame]:
        power = float(np.mean(np.abs(self.symbols) ** 2))
        return [Frame(symbols=self.symbols / np.sqrt(power),
                      samples=np.arange(len(self.symbols)), side={"scale": np.sqrt(power)},
                      side_bits=0.0)]


class Rx:
    def __init__(self, run: FakeRun) -> None:
        self.run = run
        self.seen: list[np.ndarray] = []  # channel outputs, for the same-noise test

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        self.seen.append(np.array(y))
        z = np.asarray(y) * float(frame.side["scale"])
        c = np.empty((len(z), 2 * z.shape[1]))
        c[:, 0::2], c[:, 1::2] = z.real, z.imag
        x_hat = np.clip(c @ self.run.basis + self.run.mean, 0, 1).reshape(
            len(z), *self.run.input_shape).astype(np.float32)
        probs = np.asarray(self.run.classifier.predict(x_hat, verbose=0))
        return Reception(None, probs, x_hat)


class FakeRun:
    name = NAME
    variants = ["main"]

    def __init__(self, run_dir: Path) -> None:
        from trainer.classifier import load_frozen

        self.info = json.loads((run_dir / "run.json").read_text())
        self.budget = int(self.info["budget"])
        self.order = int(self.info["order"])
        self.bits_per_symbol = int(np.log2(self.order))
        self.dataset_name = self.info["dataset"]["name"]
        self.input_shape = tuple(self.info["dataset"]["input_shape"])
        self.mean = np.load(run_dir / "mean.npy")
        self.basis = np.load(run_dir / "basis.npy")
        self.classifier = load_frozen(self.info["classifier"])

    def transmitter(self, x: np.ndarray, variant: str, seed: int = 0) -> Tx:
        return Tx(self, x, variant)

    def receiver(self, variant: str) -> Rx:
        return Rx(self)


def load_run(run_dir) -> FakeRun:
    return FakeRun(Path(run_dir))
