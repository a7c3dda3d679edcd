"""`semqam compare` (docs/compare.md): PSNR, required SNR, same noise across systems, the record
schema, resume after an interrupted grid, the process pool and Ray agree, the S-VQ-VAE adapter."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from evaluation import compare as cmp
from metrics import psnr
from trainer.scheme import SCHEMES, Frame, Reception
from trainer.sweep import run_point

RECORD_KEYS = {"system", "variant", "dataset", "channel", "budget", "order", "seed", "loss",
               "snr_db", "accuracy", "q_sem", "psnr", "symbols_per_sample", "side_bits",
               "tx_power", "train_s"}


# ----------------------------------------------------------------------------- numbers only
def test_psnr_closed_form():
    x = np.zeros((2, 4, 4))
    x_hat = np.stack([np.full((4, 4), 0.1), np.full((4, 4), 0.01)])
    # per sample: 10 log10(1 / 0.01) = 20 dB and 10 log10(1 / 1e-4) = 40 dB -> mean 30 dB
    assert psnr(x, x_hat, 1.0) == pytest.approx(30.0)
    # data range 255, error 1 everywhere: 20 log10(255)
    assert psnr(np.zeros((1, 3)), np.ones((1, 3)), 255.0) == pytest.approx(20 * math.log10(255))
    assert psnr(x, x, 1.0) == pytest.approx(100.0)  # the floor of a perfect reconstruction
    with pytest.raises(ValueError, match="one shape"):
        psnr(x, x[:1], 1.0)


def test_required_snr_interpolates_a_hand_made_curve():
    snr = [-10.0, -5.0, 0.0, 5.0]
    acc = [0.1, 0.5, 0.8, 0.95]
    # crosses 0.9 between 0 dB (0.8) and 5 dB (0.95): 0 + 5 * 0.1 / 0.15
    assert cmp.required_snr(snr, acc, 0.9) == pytest.approx(10 / 3)
    assert cmp.required_snr(snr, acc, 0.05) == -10.0
    assert cmp.required_snr(snr, acc, 0.8) == 0.0
    assert cmp.required_snr(snr, acc, 0.99) is None


class _StubTx:
    variant = "v"

    def __init__(self, symbols: np.ndarray) -> None:
        self.symbols = symbols

    def transmit(self, snr_db: float) -> list[Frame]:
        return [Frame(self.symbols, np.arange(len(self.symbols)))]


class _StubRx:
    def __init__(self) -> None:
        self.y: list[np.ndarray] = []

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        self.y.append(np.array(y))
        return Reception(None, np.full((len(y), 2), 0.5))


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_same_noise_for_every_system_at_one_snr(channel, rng):
    """Two transmitters with different symbols see the same channel realisation at point j
    (fresh block per system), and another point or seed sees another one."""
    n, k = 50, 8
    a = np.exp(2j * np.pi * rng.random((n, k)))
    b = (rng.standard_normal((n, k)) + 1j * rng.standard_normal((n, k))) / np.sqrt(2)
    labels, p = np.zeros(n, int), np.full((n, 2), 0.5)

    def noise(x, seed, j):
        rx = _StubRx()
        run_point(_StubTx(x), rx, cmp.point_channel(channel, seed, j), 0.0, p, labels, 2)
        return rx.y[0] - x

    assert np.allclose(noise(a, 1, 3), noise(b, 1, 3), atol=1e-5)
    assert not np.allclose(noise(a, 1, 3), noise(a, 1, 4), atol=1e-3)
    assert not np.allclose(noise(a, 1, 3), noise(a, 2, 3), atol=1e-3)


def test_unregistered_system_is_a_one_line_error():
    with pytest.raises(ValueError, match="'nosuch' is not registered") as e:
        cmp.Grid(systems=("nosuch",), dataset="mnist", budgets=(16,), orders=(16,),
                 channels=("awgn",), seeds=(0,), losses=("paper",), snr_db=(0.0,))
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="loss 'other'"):
        cmp.Grid(systems=("svqvae",), dataset="mnist", budgets=(16,), orders=(16,),
                 channels=("awgn",), seeds=(0,), losses=("other",), snr_db=(0.0,))


def test_plan_shares_the_svqvae_run_across_budgets_and_losses(tmp_path):
    grid = cmp.Grid(systems=("svqvae",), dataset="mnist", budgets=(16, 32), orders=(16, 256),
                    channels=("awgn",), seeds=(0, 1), losses=("paper", "task"),
                    snr_db=(0.0, 10.0))
    jobs = cmp.plan(grid, tmp_path, tmp_path / "runs", tmp_path / "T.keras")
    assert len(jobs) == 4  # orders x seeds
    assert all(j.budgets == (16, 32) and j.losses == ("paper", "task") for j in jobs)
    keys = jobs[0].record_keys(["semantic", "dqn"])
    # semantic: 2 budgets x 2 losses; dqn: budget-free, 2 losses
    assert len(keys) == 6 and sum(k[2] is None for k in keys) == 2


# ----------------------------------------------------------------------------- whole grids
@pytest.fixture
def fake_scheme(monkeypatch):
    monkeypatch.setitem(SCHEMES, "fake", "compare_fake:load_run")
    monkeypatch.setitem(cmp.TRAINERS, "fake", "compare_fake:train")


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory) -> Path:
    """A one-epoch shared T in the layout compare caches it in (runs/mnist/classifier-seed0)."""
    from trainer.classifier import shared_classifier
    from trainer.data import load_dataset

    runs = tmp_path_factory.mktemp("cmp") / "runs"
    shared_classifier(load_dataset("mnist"), runs / "mnist" / "classifier-seed0", epochs=1,
                      hidden=(64,))
    return runs


def _grid(**kw) -> cmp.Grid:
    base = dict(systems=("fake",), dataset="mnist", budgets=(4, 8), orders=(16,),
                channels=("awgn", "rayleigh"), seeds=(0, 1), losses=("paper",),
                snr_db=(-10.0, 0.0, 10.0, 20.0), n_test=200)
    base.update(kw)
    return cmp.Grid(**base)


def _copy_runs(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src / "mnist" / "classifier-seed0", dst / "mnist" / "classifier-seed0")
    return dst


@pytest.mark.slow
def test_grid_record_schema_tables_and_plots(fake_scheme, tiny_classifier, tmp_path):
    runs = _copy_runs(tiny_classifier, tmp_path / "runs")
    doc = cmp.compare(_grid(), tmp_path / "out", runs=runs, progress=False)
    saved = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert saved["format"] == cmp.COMPARE_FORMAT and saved["records"] == doc["records"]
    recs = doc["records"]
    assert len(recs) == 2 * 2 * 2  # budgets x seeds x channels
    for r in recs:
        assert set(r) >= RECORD_KEYS
        n = len(r["snr_db"])
        for key in ("accuracy", "q_sem", "psnr", "symbols_per_sample", "side_bits",
                    "tx_power"):
            assert len(r[key]) == n
        assert r["symbols_per_sample"] == [float(r["budget"])] * n
        assert np.allclose(r["tx_power"], 1.0)  # measured per frame
        assert r["side_bits"] == [0.0] * n
        assert r["psnr"][-1] > r["psnr"][0]
    best = [r for r in recs if r["budget"] == 8 and r["channel"] == "awgn"]
    assert all(r["accuracy"][-1] > 0.5 for r in best)  # 10 classes: far above chance
    text = (tmp_path / "out" / "compare.md").read_text()
    assert "### mnist, awgn" in text and "fake/main (paper) S=8 M=16" in text
    for name in ("accuracy_vs_snr", "accuracy_vs_symbols", "required_snr_vs_budget"):
        assert (tmp_path / "out" / f"{name}_mnist_rayleigh.png").stat().st_size > 1000


@pytest.mark.slow
def test_interrupted_grid_resumes(fake_scheme, tiny_classifier, tmp_path, monkeypatch):
    runs = _copy_runs(tiny_classifier, tmp_path / "runs")
    out = tmp_path / "out"
    grid = _grid(channels=("awgn",), snr_db=(0.0, 20.0))
    log = tmp_path / "train.log"
    monkeypatch.setenv("FAKE_TRAIN_LOG", str(log))
    monkeypatch.setenv("FAKE_CRASH_SEED", "1")  # the grid dies on the first seed-1 run
    with pytest.raises(RuntimeError, match="fake crash"):
        cmp.compare(grid, out, runs=runs, progress=False)
    done = sorted(p.name for p in (out / "records").glob("*.json"))
    assert len(done) == 2 and all("seed0" in n for n in done)
    assert not (out / "compare.json").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")}
    assert not list((runs / "mnist" / "fake").glob(".*"))  # no half-written run folder

    monkeypatch.delenv("FAKE_CRASH_SEED")
    doc = cmp.compare(grid, out, runs=runs, progress=False)
    assert len(doc["records"]) == 4
    trained = log.read_text().split()
    assert trained == ["paper-S4-M16-seed0", "paper-S8-M16-seed0",
                       "paper-S4-M16-seed1", "paper-S8-M16-seed1"]  # seed 0 only once
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not re-evaluated


@pytest.mark.slow
def test_process_pool_and_ray_give_the_same_records(fake_scheme, tiny_classifier, tmp_path):
    ray = pytest.importorskip("ray", reason="the `cluster` extra (Ray) is not installed")
    grid = _grid(channels=("awgn",), seeds=(0,), snr_db=(0.0, 10.0))
    pool = cmp.compare(grid, tmp_path / "pool", runs=_copy_runs(tiny_classifier,
                       tmp_path / "r1"), workers=2, progress=False)
    try:
        on_ray = cmp.compare(grid, tmp_path / "ray", runs=_copy_runs(tiny_classifier,
                             tmp_path / "r2"), ray="auto", ray_cpus=2, progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()

    def strip(doc):
        return [{k: v for k, v in r.items() if k not in ("train_s", "run")}
                for r in doc["records"]]

    assert len(pool["records"]) == 2
    assert strip(pool) == strip(on_ray)


# ----------------------------------------------------------------------------- S-VQ-VAE
@pytest.mark.slow
def test_svqvae_adapter_budget_power_side_bits(tiny_run):
    from trainer.svqvae.compare import load_run

    run = load_run(tiny_run, 8)
    assert run.variants == ["semantic", "dqn"] and run.budget == 8
    from conftest import tiny_dataset

    x = tiny_dataset().x_test[:40]
    for variant in run.variants:
        (frame,) = run.transmitter(x, variant).transmit(5.0)
        assert np.mean(np.abs(frame.symbols) ** 2) == pytest.approx(1.0)
        assert frame.side_bits == 64.0  # positional bitmap of N = 64 slots
        raw = np.mean(np.abs(run.run.semantic.points[frame.labels]) ** 2)
        assert float(frame.side["raw_power"]) == pytest.approx(raw, rel=1e-6)
        got = run.receiver(variant).receive(frame.symbols, frame)  # noiseless channel
        assert np.array_equal(got.labels, frame.labels)
        assert got.x_hat.shape == x.shape
    assert run.transmitter(x, "semantic").transmit(5.0)[0].k == 8
    with pytest.raises(ValueError, match="choose S in 1..64"):
        load_run(tiny_run, 65)


@pytest.mark.slow
def test_svqvae_trains_with_a_given_frozen_classifier(tiny_run, tmp_path):
    import keras

    from conftest import TINY_OVERRIDES, tiny_dataset
    from trainer.svqvae.config import TrainConfig
    from trainer.svqvae.train import train

    given = tiny_run / "classifier.keras"
    cfg = TrainConfig.for_profile("quick", **{**TINY_OVERRIDES, "phase1_epochs": 1,
                                              "phase2_epochs": 1, "dqn_steps": 10})
    res = train(tiny_dataset(), cfg, tmp_path / "run", classifier=given)
    assert res.summary["classifier"] == str(given)
    a = keras.saving.load_model(given, compile=False).get_weights()
    b = keras.saving.load_model(tmp_path / "run" / "classifier.keras",
                                compile=False).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_table_from_hand_made_records(tmp_path):
    """Mean ± std over seeds, the interpolated required SNR and '> 20 dB' when a seed never
    reaches 90 % of T's clean accuracy (T clean = 1.0 here: target 0.9)."""
    snr = [-10.0, 0.0, 10.0, 20.0]

    def rec(seed, acc, budget=16):
        return {"system": "s", "variant": "v", "dataset": "mnist", "channel": "awgn",
                "budget": budget, "order": 16, "seed": seed, "loss": "paper", "snr_db": snr,
                "accuracy": acc, "q_sem": [0.5] * 4, "psnr": [10.0] * 4,
                "symbols_per_sample": [float(budget)] * 4, "side_bits": [64.0] * 4,
                "tx_power": [1.0] * 4, "bits_per_symbol": 4, "train_s": 10.0 + seed}

    doc = {"classifier": {"mnist": {"clean_accuracy": 1.0}}, "target_fraction": 0.9,
           "records": [rec(0, [0.1, 0.5, 0.9, 0.95]), rec(1, [0.1, 0.7, 0.95, 0.95]),
                       rec(0, [0.1, 0.2, 0.3, 0.4], 8), rec(1, [0.1, 0.2, 0.3, 0.95], 8)]}
    rows = {r["line"][3]: r for r in cmp.summarise(doc)[("mnist", "awgn")]}
    assert rows[16]["required_snr"] == [pytest.approx(10.0), pytest.approx(8.0)]
    assert rows[16]["effective"] == pytest.approx(16 + 64 / 4)
    table = cmp.markdown_table(doc, "mnist", "awgn", list(rows.values()))
    assert "9.0 ± 1.0 dB" in table  # mean and population std of 10 and 8
    assert "> 20 dB (1/2 seeds reach it)" in table
    assert "| 0.600 ± 0.100 |" in table  # accuracy at 0 dB of S = 16: 0.5 and 0.7
    written = cmp.write_outputs(doc, tmp_path)
    assert all(p.is_file() for p in written)


def test_run_point_reports_psnr_of_the_receivers_x_hat(rng):
    """``reference`` = the transmitter's inputs: psnr of x_hat over the rows that arrived."""
    x = rng.random((6, 3, 3))
    x_hat = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)

    class Rx:
        def receive(self, y, frame):
            return Reception(None, np.full((len(y), 2), 0.5), x_hat[frame.samples])

    class Tx:
        variant = "v"

        def transmit(self, snr_db):  # two frames, rows out of order
            return [Frame(np.ones((3, 2), complex), np.array([4, 0, 2])),
                    Frame(np.ones((3, 2), complex), np.array([1, 5, 3]))]

    rec = run_point(Tx(), Rx(), lambda s, _snr: s, 0.0, np.full((6, 2), 0.5), np.zeros(6, int),
                    1, reference=x, data_range=1.0).record
    assert rec["psnr"] == pytest.approx(psnr(x, x_hat, 1.0))
    plain = run_point(Tx(), Rx(), lambda s, _snr: s, 0.0, np.full((6, 2), 0.5),
                      np.zeros(6, int), 1).record
    assert "psnr" not in plain


# ----------------------------------------------------------------------------- four systems
def test_plan_shares_mdjcm_across_orders_and_skips_unsizable_isfr(tmp_path):
    """MDJCM: one run folder per (budget, loss, seed) evaluated at every order; ISFR at a
    (S, M) with S log2 M not a multiple of N N_b (8 x 2 = 16 bits): a skip, not a job."""
    grid = cmp.Grid(systems=("mdjcm", "isfr"), dataset="mnist", budgets=(6, 16),
                    orders=(16, 256), channels=("awgn",), seeds=(0,), losses=("paper",),
                    snr_db=(0.0,), profile="tiny")
    jobs = cmp.plan(grid, tmp_path, tmp_path / "runs", tmp_path / "T.keras")
    md = [j for j in jobs if j.system == "mdjcm"]
    assert len(md) == 2 and all(j.orders == (16, 256) for j in md)
    assert {Path(j.run_dir).name for j in md} == {"paper-S6-Mall-seed0", "paper-S16-Mall-seed0"}
    assert {k[4] for k in md[0].record_keys(["mdjcm"])} == {16, 256}
    isfr = {(j.budgets, j.order) for j in jobs if j.system == "isfr"}
    assert isfr == {((6,), 256), ((16,), 16), ((16,), 256)}  # 6 x log2 16 = 24 bits: skipped
    skipped = cmp.skips(grid)
    assert [(s["system"], s["budget"], s["order"]) for s in skipped] == [("isfr", 6, 16)]
    assert "multiple of 4" in skipped[0]["reason"] and "\n" not in skipped[0]["reason"]
    with pytest.raises(ValueError, match="profile 'huge'"):
        dataclasses.replace(grid, profile="huge")


@pytest.mark.slow
def test_four_real_systems_on_a_tiny_grid(tmp_path):
    """svqvae, jcm, mdjcm and isfr through the whole compare path (``--profile tiny``, 500
    training digits, 200 test digits, 2 SNR points, AWGN + Rayleigh): every record keeps the
    symbol budget, has measured power 1 per sent symbol, side bits and accuracies in [0, 1]."""
    systems = ("svqvae", "jcm", "mdjcm", "isfr")
    if not all(s in SCHEMES for s in systems):
        pytest.skip("a scheme is not registered in trainer.scheme.SCHEMES")
    budget = 16
    grid = cmp.Grid(systems=systems, dataset="mnist", budgets=(budget,), orders=(16,),
                    channels=("awgn", "rayleigh"), seeds=(0,), losses=("paper",),
                    snr_db=(0.0, 20.0), profile="tiny", n_test=200, n_train=500)
    doc = cmp.compare(grid, tmp_path / "out", progress=False)
    assert doc["skipped"] == []
    recs = doc["records"]
    variants = {(r["system"], r["variant"]) for r in recs}
    # every system's main line and its labelled ablation, on both channels
    assert {"svqvae", "jcm", "mdjcm", "isfr"} == {s for s, _ in variants}
    assert {("jcm", "sample"), ("jcm", "argmax"), ("isfr", "ophd"),
            ("isfr", "equal_protection"), ("svqvae", "semantic")} <= variants
    assert len(recs) == 2 * len(variants)
    for r in recs:
        assert set(r) >= RECORD_KEYS, r["system"]
        what = f"{r['system']}/{r['variant']} {r['channel']}"
        n = len(r["snr_db"])
        sps = np.asarray(r["symbols_per_sample"], float)
        assert sps.shape == (n,) and np.all(sps > 0), what
        if r["system"] == "isfr":
            assert np.all(sps <= budget + 1e-9), what  # OPHD may send fewer features
        elif r["system"] == "mdjcm":
            assert np.all(np.abs(sps - budget) <= 0.1 * budget), what  # eta: mean length S
        elif r["budget"] is not None:  # svqvae's DQN line picks K itself
            assert np.allclose(sps, budget), what
        assert np.allclose(r["tx_power"], 1.0, atol=1e-4), what
        side = np.asarray(r["side_bits"], float)
        assert side.shape == (n,) and np.all(side >= 0), what
        acc = np.asarray(r["accuracy"], float)
        assert acc.shape == (n,) and np.all((acc >= 0) & (acc <= 1)), what
        assert r["train_s"] is not None and r["train_s"] > 0, what
    side = {r["system"]: r["side_bits"][0] for r in recs if r["variant"] != "dqn"}
    assert side["jcm"] == 0.0  # fixed length, fixed order: nothing to tell the receiver
    assert side["mdjcm"] > 0  # the lengths k_i are counted
    assert side["svqvae"] > 0  # the positional bitmap
    assert (tmp_path / "out" / "compare.md").read_text().count("| isfr/ophd (paper) S=16") == 2
