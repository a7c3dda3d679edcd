"""evaluation.paper_targets on hand-made sweep folders: each claim holds or misses where the
numbers say, per seed, with the failing SNR points named."""

from __future__ import annotations

import json

import pytest

from evaluation.paper_targets import check_sweep, format_rows, load_sweep, main

SNR = [-10.0, 0.0, 10.0, 20.0]


def metrics(q_sem_sem, q_sem_std, *, spp=0.97, sw=(1.0, 2.0), ber_sem=(0.3, 0.3, 0.2, 0.1),
            ber_std=(0.3, 0.2, 0.1, 0.05), k=(37, 32, 16, 10), eq=(0.5, 0.3),
            compression=(10.0, 10.0, 30.0, 63.0)):
    def variant(q, ber, e0):
        return {"q_sem": list(q), "ber_uniform": list(ber),
                "q_sem_equal_energy": [0.0, e0, 0.0, 0.0]}
    return {"snr_db": SNR, "k": list(k), "compression_ratio": list(compression),
            "spp_all_slots": {"semantic": spp, "standard": 0.7},
            "ssv_all_slots": {"semantic": sw[0], "standard": sw[1]},
            "variants": {"semantic": variant(q_sem_sem, ber_sem, eq[0]),
                         "standard": variant(q_sem_std, ber_std, eq[1])}}


def write(tmp_path, name, m):
    (tmp_path / name).mkdir()
    (tmp_path / name / "metrics.json").write_text(json.dumps(m))


def row(rows, target, order):
    (r,) = [r for r in rows if r["target"] == target and r["order"] == order]
    return r


def test_claims_hold_and_miss_per_seed(tmp_path):
    good = metrics([0.40, 0.62, 0.90, 0.93], [0.30, 0.40, 0.80, 0.60])
    # seed 1: below the grid at -10 dB, SPP 0.9, K grows at 20 dB, no BER paradox at 20 dB
    bad = metrics([0.29, 0.62, 0.90, 0.93], [0.30, 0.40, 0.80, 0.60], spp=0.9,
                  k=(37, 32, 16, 20), ber_sem=(0.3, 0.3, 0.2, 0.01))
    write(tmp_path, "M1024", good)
    write(tmp_path, "M1024-s1", bad)
    write(tmp_path, "M4", metrics([0.5] * 4, [0.5] * 4, sw=(0.2, 0.1)))
    rows = check_sweep(load_sweep(tmp_path))

    low = row(rows, "sem > std at SNR <= 0", 1024)
    assert not low["holds"] and low["misses"] == {1: "-10 dB"} and low["seeds"] == [0, 1]
    assert not row(rows, "SPP all slots >= 0.95", 1024)["holds"]
    assert row(rows, "SPP all slots >= 0.95", 1024)["misses"] == {1: "0.90"}
    assert row(rows, "K non-increasing in SNR", 1024)["misses"].keys() == {1}
    assert row(rows, "BER paradox (uniform, >= 10 dB)", 1024)["misses"] == {1: "20 dB"}
    assert row(rows, "Q_sem(0 dB) >= 0.60", 1024)["holds"]
    assert row(rows, "equal-energy lead >= 0.15 at 0 dB", 1024)["holds"]  # 0.5 - 0.3
    assert row(rows, "symbols(-10 dB) <= 40", 1024)["holds"]
    assert row(rows, "Q_sem(20 dB) >= 0.92 at >= 21:1", 1024)["holds"]
    # M = 4: only the all-order claims apply; S_w 0.2 > 0.1 misses
    assert {r["target"] for r in rows if r["order"] == 4} == {
        "S_w sem < std (all slots)", "K non-increasing in SNR"}
    assert not row(rows, "S_w sem < std (all slots)", 4)["holds"]
    table = format_rows(rows)
    assert "| sem > std at SNR <= 0 | 1024 | misses on 1/2 | s0: ok; s1: -10 dB |" in table


def test_equal_energy_lead_below_threshold_misses(tmp_path):
    write(tmp_path, "M1024", metrics([0.4, 0.62, 0.9, 0.93], [0.3, 0.4, 0.8, 0.6], eq=(0.4, 0.3)))
    r = row(check_sweep(load_sweep(tmp_path)), "equal-energy lead >= 0.15 at 0 dB", 1024)
    assert not r["holds"] and r["misses"] == {0: "+0.100"}


def test_not_a_sweep_folder_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no M{order}"):
        main([str(tmp_path)])
