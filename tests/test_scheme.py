"""The scheme contract and the one sweep loop (trainer/scheme.py, trainer/sweep.py) on toy
transmitters and receivers whose every number is known by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.scheme import Frame, Receiver, Reception, Transmitter, load_run, scheme_name
from trainer.sweep import run_point, sweep

POINTS = np.array([1 + 0j, -1 + 0j])  # BPSK: label 0 -> +1, label 1 -> -1


class ToyTx:
    """Sample i sends label (i % 2) K times; samples listed in ``lost`` never arrive; the
    first half of the samples use K = 1, the second K = 2 (two frames, like a node whose K
    changes between blocks)."""

    variant = "toy"

    def __init__(self, n: int, lost: tuple[int, ...] = ()) -> None:
        self.n, self.lost = n, set(lost)

    def transmit(self, snr_db: float) -> list[Frame]:
        frames = []
        for k, rows in ((1, range(self.n // 2)), (2, range(self.n // 2, self.n))):
            rows = np.array([i for i in rows if i not in self.lost], np.int64)
            labels = np.repeat((rows % 2)[:, None], k, axis=1)
            frames.append(Frame(symbols=POINTS[labels], samples=rows, labels=labels,
                                side={"positions": np.zeros_like(labels)}))
        return frames


class ToyRx:
    """Hard decision on the sign; the 'classifier' outputs one-hot of the first decision."""

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        labels = (y.real < 0).astype(np.int64)
        return Reception(labels, np.eye(2)[labels[:, 0]])


def test_toys_satisfy_the_protocols():
    assert isinstance(ToyTx(4), Transmitter)
    assert isinstance(ToyRx(), Receiver)


def test_noiseless_point_by_hand():
    n = 6
    labels = np.arange(n) % 2
    p_clean = np.eye(2)[labels]
    point = run_point(ToyTx(n), ToyRx(), lambda x, snr: x, 10.0, p_clean, labels, 1, keep=True)
    r = point.record
    assert r["n"] == n
    assert r["accuracy"] == 1.0 and r["ber"] == 0.0 and r["ser"] == 0.0
    assert r["q_sem"] == pytest.approx(1.0)
    # 3 samples with K = 1, 3 with K = 2
    assert r["symbols_per_sample"] == pytest.approx(1.5)
    assert r["k_histogram"] == {"1": 3, "2": 3}
    assert [f.k for f in point.frames] == [1, 2]
    assert r["tx_energy"] == pytest.approx(1.0)  # BPSK points of unit energy


def test_errors_and_lost_samples_by_hand():
    """A channel that flips the sign of every symbol of the second frame: 2 of the 5 arriving
    samples (K = 2, rows 4 and 5; row 3 lost) decide wrongly -> accuracy 3/5, all 4 of their
    symbols in error out of 3 + 4 = 7 sent -> BER = SER = 4/7."""
    n = 6
    labels = np.arange(n) % 2
    p_clean = np.eye(2)[labels]
    calls = []

    def channel(x, snr):
        calls.append(x.shape)
        return -x if x.shape[1] == 2 else x

    point = run_point(ToyTx(n, lost=(3,)), ToyRx(), channel, 0.0, p_clean, labels, 1)
    r = point.record
    assert calls == [(3, 1), (2, 2)]  # frames in the order the transmitter returned them
    assert r["n"] == 5
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["ber"] == pytest.approx(4 / 7) and r["ser"] == pytest.approx(4 / 7)
    assert r["k_histogram"] == {"1": 3, "2": 2}


def test_sweep_uses_one_channel_per_point():
    seen = []

    def channels(j):
        seen.append(j)
        return lambda x, snr: x

    labels = np.arange(4) % 2
    points = sweep(ToyTx(4), ToyRx(), channels, [-5.0, 0.0, 5.0], np.eye(2)[labels], labels, 1)
    assert seen == [0, 1, 2]
    assert [p.snr_db for p in points] == [-5.0, 0.0, 5.0]


def test_nothing_arrived_gives_an_empty_record():
    labels = np.arange(2) % 2
    point = run_point(ToyTx(2, lost=(0, 1)), ToyRx(), lambda x, s: x, 0.0, np.eye(2)[labels],
                      labels, 1)
    assert point.record == {"n": 0}


def test_frame_energy_is_what_was_sent():
    f = Frame(symbols=np.array([[1 + 1j, 0j]]), samples=np.array([0]))
    assert f.energy == pytest.approx(1.0)  # (2 + 0) / 2
    assert f.k == 2


def test_scheme_dispatch(tmp_path):
    assert scheme_name({}) == "svqvae"  # runs written before run.json named a scheme
    assert scheme_name({"scheme": "svqvae"}) == "svqvae"
    with pytest.raises(ValueError, match="unknown scheme 'nope'"):
        scheme_name({"scheme": "nope"})
    (tmp_path / "run.json").write_text(json.dumps({"scheme": "nope"}))
    with pytest.raises(ValueError, match="unknown scheme"):
        load_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(tmp_path / "absent")


def test_trained_run_names_its_scheme(tiny_run):
    info = json.loads((tiny_run / "run.json").read_text())
    assert info["scheme"] == "svqvae"
    run = load_run(tiny_run)
    assert run.order == 16


def test_equal_energy_channel_by_hand():
    """A transmitter sending +-2 (energy 4 per symbol): the record measures it; a channel built
    for equal transmitted Es/N0 (signal power = measured energy) has 4x the noise variance."""
    from channel_sim import make_channel

    class LoudTx(ToyTx):
        def transmit(self, snr_db):
            return [Frame(symbols=2 * f.symbols, samples=f.samples, labels=f.labels,
                          side=f.side) for f in super().transmit(snr_db)]

    labels = np.arange(4) % 2
    rec = run_point(LoudTx(4), ToyRx(), lambda x, s: x, 10.0, np.eye(2)[labels], labels,
                    1).record
    assert rec["tx_energy"] == pytest.approx(4.0)
    nominal = make_channel("awgn", 0, signal_power=1.0)
    equal = make_channel("awgn", 0, signal_power=rec["tx_energy"])
    assert equal.noise_variance(10.0) == pytest.approx(4 * nominal.noise_variance(10.0))
    assert equal.noise_variance(10.0) == pytest.approx(0.4)
