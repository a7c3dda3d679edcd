"""Energy model (hil/energy.py): formulas against hand-computed values, the raw baseline, the
presets, and the powercap/RAPL reader on fake powercap trees."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hil.energy import (
    PRESETS,
    NodePower,
    Radio,
    Rapl,
    compare,
    node_power,
    position_side_info,
    raw_energy,
    sample_energy,
)

# ------------------------------------------------------------------------------ formulas


def test_radio_energy_by_hand():
    r = Radio(symbol_rate_hz=1e6, tx_power_w=0.1)
    assert r.joules_per_symbol == pytest.approx(1e-7)
    assert r.airtime_s(43) == pytest.approx(43e-6)
    assert r.energy_j(43) == pytest.approx(4.3e-6)
    slow = Radio(symbol_rate_hz=1e3, tx_power_w=0.025)
    assert slow.energy_j(627.2) == pytest.approx(627.2 * 0.025 / 1e3)
    for bad in ({"symbol_rate_hz": 0}, {"symbol_rate_hz": float("nan")}, {"tx_power_w": -1}):
        with pytest.raises(ValueError):
            Radio(**bad)


def test_radio_custom_names_user_values():
    assert Radio.custom() == Radio()
    r = Radio.custom(symbol_rate_hz=2e5)
    assert (r.symbol_rate_hz, r.tx_power_w) == (2e5, Radio().tx_power_w)
    assert "symbol rate user" in r.source and "tx power default" in r.source


def test_sample_energy_components_and_sources():
    p = NodePower("test", 2.0, 0.5, "a test board", "made up for the test")
    r = Radio(symbol_rate_hz=5e5, tx_power_w=0.2)
    e = sample_energy(300e-6, 32, p, r, cpu_source="stage timings")
    assert e["cpu_j"] == pytest.approx(300e-6 * 2.0)  # 0.6 mJ
    assert e["radio_j"] == pytest.approx(32 / 5e5 * 0.2)  # 12.8 µJ
    assert e["total_j"] == pytest.approx(6e-4 + 1.28e-5)
    assert e["airtime_s"] == pytest.approx(64e-6)
    assert e["sources"]["cpu_time"] == "stage timings"
    assert "test" in e["sources"]["power"] and "made up" in e["sources"]["power"]
    assert e["sources"]["radio"] == r.source
    with pytest.raises(ValueError):
        sample_energy(-1.0, 3, p, r, cpu_source="x")


def test_raw_energy_is_radio_only():
    r = Radio()
    e = raw_energy(784, 1024, r)
    assert e["cpu_j"] == 0 and e["cpu_s"] == 0
    assert e["symbols"] == pytest.approx(627.2)
    assert e["radio_j"] == e["total_j"] == pytest.approx(627.2e-7)
    assert "assumption" in e["sources"]["cpu_time"]


def test_compare_ratios_and_break_even():
    p = NodePower("t", 1.0, 0.0, "", "")
    r = Radio(symbol_rate_hz=1e6, tx_power_w=0.1)
    sem = sample_energy(100e-6, 43, p, r, cpu_source="x")  # 100 µJ + 4.3 µJ
    raw = raw_energy(784, 1024, r)  # 62.72 µJ
    c = compare(sem, raw, r)
    assert c["symbols_ratio"] == pytest.approx(43 / 627.2)
    assert c["radio_ratio"] == pytest.approx(43 / 627.2)
    assert c["total_ratio"] == pytest.approx(104.3e-6 / 62.72e-6)
    assert c["semantic_saves_j"] == pytest.approx(62.72e-6 - 104.3e-6)
    e_even = 100e-6 / (627.2 - 43)
    assert c["break_even_j_per_symbol"] == pytest.approx(e_even)
    assert c["break_even_symbol_rate_hz"] == pytest.approx(0.1 / e_even)
    # at the break-even radio cost both schemes spend the same
    r_even = Radio(symbol_rate_hz=c["break_even_symbol_rate_hz"], tx_power_w=0.1)
    sem2 = sample_energy(100e-6, 43, p, r_even, cpu_source="x")
    assert sem2["total_j"] == pytest.approx(raw_energy(784, 1024, r_even)["total_j"])


def test_position_side_info():
    s = position_side_info(43, 64, 1024, Radio())
    assert s["bits"] == 43 * 6 and s["symbols"] == pytest.approx(25.8)
    assert s["included"] is False


# ------------------------------------------------------------------------------ presets


def test_presets_sane():
    assert {"pi4", "pi5", "cortex-m7", "cortex-m4"} <= set(PRESETS)
    for name, p in PRESETS.items():
        assert p.name == name and p.nominal
        assert 0 <= p.idle_w < p.active_w < 20, name
        assert p.source and p.description
    # boards draw watts, microcontrollers a fraction of a watt
    assert PRESETS["pi4"].active_w > 1 and PRESETS["pi5"].active_w > 1
    assert PRESETS["cortex-m7"].active_w < 1 and PRESETS["cortex-m4"].active_w < 1
    assert PRESETS["cortex-m7"].active_w == pytest.approx(120e-6 * 280 * 3.3, rel=1e-3)


def test_node_power_override_and_errors():
    assert node_power("PI4") is PRESETS["pi4"]
    p = node_power("pi5", 3.5)
    assert p.active_w == 3.5 and p.idle_w == PRESETS["pi5"].idle_w and not p.nominal
    assert "--active-power" in p.source
    with pytest.raises(ValueError, match="pi4"):
        node_power("pi6")
    with pytest.raises(ValueError):
        node_power("pi4", 0.0)
    with pytest.raises(ValueError):
        NodePower("x", float("inf"), 0, "", "")


# ------------------------------------------------------------------------------ RAPL


def _zone(root: Path, key: str, energy: str | None, name: str = "package-0",
          max_range: int | None = 262_143_328_850) -> Path:
    z = root / key
    z.mkdir(parents=True)
    (z / "name").write_text(name + "\n")
    if energy is not None:
        (z / "energy_uj").write_text(energy + "\n")
    if max_range is not None:
        (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    return z


def test_rapl_absent(tmp_path):
    r = Rapl(tmp_path / "nope")
    assert not r.available
    assert r.reason.startswith("not available:") and "does not exist" in r.reason
    assert r.describe() == {"available": False, "reason": r.reason}
    assert r.read() == {}
    assert Rapl(tmp_path).reason.startswith("not available: no */energy_uj")


def test_rapl_deltas_subzones_and_wraparound(tmp_path):
    root = tmp_path / "powercap"
    p0 = _zone(root, "intel-rapl:0", "1000000")
    _zone(root, "intel-rapl:0:0", "400000", name="core")
    p1 = _zone(root, "intel-rapl:1", "999000", name="package-1", max_range=1_000_000)
    (root / "intel-rapl").mkdir()  # the control type folder has no energy_uj
    r = Rapl(root)
    assert r.available and r.reason == ""
    assert [d.key for d in r.domains] == ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1"]
    assert [d.top_level for d in r.domains] == [True, False, True]
    assert r.source.startswith("rapl: ") and str(p0) in r.source
    before = r.read()
    (p0 / "energy_uj").write_text("3500000\n")  # +2.5 J
    (root / "intel-rapl:0:0" / "energy_uj").write_text("1400000\n")  # +1 J (inside package 0)
    (p1 / "energy_uj").write_text("1000\n")  # wrapped: 1000 + 1e6 - 999000 = 2000 µJ
    d = r.delta_j(before, r.read())
    assert d == {"intel-rapl:0": pytest.approx(2.5), "intel-rapl:0:0": pytest.approx(1.0),
                 "intel-rapl:1": pytest.approx(0.002)}
    assert r.total_j(d) == pytest.approx(2.502)  # subzone not counted twice


def test_rapl_wrap_without_range_is_unknown(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "500", max_range=None)
    r = Rapl(tmp_path)
    before = r.read()
    (z / "energy_uj").write_text("100\n")
    d = r.delta_j(before, r.read())
    assert d == {"intel-rapl:0": None}
    assert r.total_j(d) is None


def test_rapl_unreadable(tmp_path, monkeypatch):
    z = _zone(tmp_path, "intel-rapl:0", None)
    (z / "energy_uj").mkdir()  # reading it fails with IsADirectoryError (we may run as root)
    _zone(tmp_path, "intel-rapl:1", "not a number", name="package-1")
    r = Rapl(tmp_path)
    assert not r.available
    assert r.reason.startswith("not available: no readable energy_uj")
    assert "not an integer" in r.reason

    # the usual case on a modern kernel: root-only counters
    other = tmp_path / "other"
    _zone(other, "intel-rapl:0", "123")
    real_read_text = Path.read_text

    def denied(self: Path, *a, **kw):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", denied)
    r2 = Rapl(other)
    assert not r2.available and "permission denied" in r2.reason
    assert "CVE-2020-8694" in r2.reason


def test_rapl_on_this_machine_never_fails():
    r = Rapl()
    d = r.describe()
    if r.available:
        snap = r.read()
        assert set(r.delta_j(snap, r.read())) <= {x.key for x in r.domains}
        assert all(v is None or (math.isfinite(v) and v >= 0)
                   for v in r.delta_j(snap, r.read()).values())
    else:
        assert d["reason"].startswith("not available:")
