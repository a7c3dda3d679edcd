"""Node profiling (hil/profile.py, ``semqam profile``) against a real ``semqam-node`` process on a
pty (virtual node) running the exported tiny bundle; small windows so it takes seconds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from semqam_node.conventions import ENCODE_STAGES, sample_rows
from semqam_node.session import open_node
from typer.testing import CliRunner

from hil.energy import PRESETS, Radio, node_power
from hil.profile import SCHEMA, profile_node

pytestmark = pytest.mark.timeout(180, func_only=True)

SMALL = dict(warmup=3, windows=2, per_window=6, stream_window=2)


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    from trainer.data import load_dataset

    return sample_rows(load_dataset("mnist").x_test[:16])


def _check(p: dict, power, radio, k_expected: int) -> None:
    json.dumps(p)  # JSON-ready
    assert p["schema"] == SCHEMA
    s = p["settings"]
    n = SMALL["windows"] * SMALL["per_window"]
    assert p["samples"] == {"timed": n, "ok": n, "failed": 0, "retransmits": 0}
    # stage latencies: every stage reported, whole µs, the encoder's work takes time
    assert set(ENCODE_STAGES) <= set(p["stages_us"]) and "frame" in p["stages_us"]
    for st in p["stages_us"].values():
        assert st["n"] == n and 0 <= st["median"] <= st["p95"] <= st["max"]
        assert len(st["window_medians"]) == SMALL["windows"]
    assert p["stages_us"]["neural"]["median"] > 0
    assert p["compute_us"]["median"] > 0
    # the round trip contains every node stage
    stage_sum = sum(st["median"] for st in p["stages_us"].values())
    assert p["e2e_us"]["median"] >= stage_sum
    assert p["e2e_us"]["min"] >= p["node_total_us"]["min"]
    assert p["throughput"]["samples_per_s"] > 0
    # symbols per sample: the K the node chose
    assert p["symbols"]["k_values"] == [k_expected] and p["symbols"]["per_sample"] == k_expected
    assert s["k"] == k_expected
    assert p["symbols"]["raw_per_sample"] == pytest.approx(784 * 8 / math.log2(16))
    # energy = cpu x P + radio, from the reported CPU time
    e = p["energy"]["semantic"]
    cpu_s = p["cpu"]["stages_compute_s"]
    assert e["cpu_s"] == cpu_s > 0
    assert e["cpu_j"] == pytest.approx(cpu_s * power.active_w)
    assert e["radio_j"] == pytest.approx(k_expected * radio.tx_power_w / radio.symbol_rate_hz)
    assert e["total_j"] == pytest.approx(cpu_s * power.active_w + e["radio_j"])
    raw = p["energy"]["raw"]
    assert raw["total_j"] == pytest.approx(raw["symbols"] * radio.joules_per_symbol)
    assert p["energy"]["compare"]["total_ratio"] == pytest.approx(e["total_j"] / raw["total_j"])
    assert all(e["sources"][key] for key in ("cpu_time", "power", "radio"))
    # link bytes: INPUT carries the 784-byte sample, SYMBOLS 6 bytes per concept + timings
    lk = p["link"]
    assert lk["bytes_tx_per_sample"] > 784 and lk["bytes_rx_per_sample"] > 6 * k_expected
    assert lk["airtime_s"] == pytest.approx(
        10 * (lk["bytes_tx_per_sample"] + lk["bytes_rx_per_sample"]) / lk["baud"])
    rapl = p["rapl"]
    assert rapl["available"] or rapl["reason"].startswith("not available:")


def test_profile_virtual_node(tiny_bundle, signing_keys, samples):
    power = node_power("pi5")
    radio = Radio(symbol_rate_hz=2e5, tx_power_w=0.05)
    seen: list[tuple[str, int, int]] = []
    with open_node("virtual", tiny_bundle, trust=signing_keys[1]) as session:
        p = profile_node(session, samples, snr_db=10.0, power=power, radio=radio,
                         progress=lambda *a: seen.append(a), **SMALL)
        policy_k = p["settings"]["policy_k"]
        _check(p, power, radio, policy_k)
        assert p["node"]["virtual"] is True and p["node"]["bundle_id"]
        # virtual node: its process CPU time is measured and covers at least the stages
        assert p["cpu"]["process_s"] is not None and p["cpu"]["process_s"] > 0
        assert "not on pi5" in p["energy"]["semantic"]["sources"]["cpu_time"]
        total = SMALL["warmup"] + 2 * SMALL["windows"] * SMALL["per_window"]
        assert seen[-1] == ("throughput", total, total) and len(seen) == total

        # a bare client, a forced K, the standard constellation; the node pid is unknown
        forced = 3 if policy_k != 3 else 2
        q = profile_node(session.client, samples, k=forced, constellation="standard",
                         power=PRESETS["pi4"], radio=Radio(), **SMALL)
        _check(q, PRESETS["pi4"], Radio(), forced)
        assert q["cpu"]["process_s"] is None and "not measured" in q["cpu"]["process_note"]
        assert q["settings"]["constellation"] == "standard"

        with pytest.raises(ValueError, match="bundle takes 784"):
            profile_node(session, [b"\x00" * 10], **SMALL)
        with pytest.raises(ValueError, match="uint8"):
            profile_node(session, np.zeros((2, 28, 28)), **SMALL)
        with pytest.raises(ValueError, match="windows"):
            profile_node(session, samples, windows=0)


def _app() -> typer.Typer:
    from cli.errors import SemqamGroup
    from cli.profile import register

    app = typer.Typer(cls=SemqamGroup, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """Test app."""

    register(app)
    return app


def test_profile_cli(tiny_bundle, signing_keys, tmp_path):
    out = tmp_path / "prof"
    res = CliRunner().invoke(_app(), [
        "profile", "--bundle", str(tiny_bundle), "--trust", str(signing_keys[1]),
        "--snr", "5", "--preset", "cortex-m7", "--tx-power", "0.2", "--warmup", "2",
        "--windows", "2", "--per-window", "6", "--stream-window", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "energy semantic" in res.output and "semantic / raw" in res.output
    p = json.loads((out / "profile.json").read_text())
    assert p["power"]["name"] == "cortex-m7" and p["radio"]["tx_power_w"] == 0.2
    assert p["settings"]["snr_db"] == 5.0 and p["samples"]["ok"] == 12
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--preset", "pi9"], "unknown power preset"),
    (["--active-power", "-1"], "active power"),
    (["--symbol-rate", "0"], "symbol rate"),
    (["--constellation", "qpsk"], "constellation"),
])
def test_profile_cli_bad_options(tiny_bundle, args, message):
    res = CliRunner().invoke(_app(), ["profile", "--bundle", str(tiny_bundle), *args])
    assert res.exit_code == 2
    assert message in res.output and res.output.count("\n") == 1


def test_profile_cli_bad_bundle_and_k(tiny_bundle, signing_keys, tmp_path):
    res = CliRunner().invoke(_app(), ["profile", "--bundle", str(tmp_path)])
    assert res.exit_code == 2 and "no manifest.json" in res.output
    res = CliRunner().invoke(_app(), [
        "profile", "--bundle", str(tiny_bundle), "--trust", str(signing_keys[1]),
        "--k", "9999", "--warmup", "1", "--windows", "1", "--per-window", "1"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.count("error:") == 1 and "K override 9999" in res.output
