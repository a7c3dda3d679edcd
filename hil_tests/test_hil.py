"""The HIL loop end to end: node (virtual pty or --port) -> link -> channel -> edge -> metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from semqam_node.conventions import CONSTELLATIONS

from hil.runner import HilConfig
from hil.session import hil, load_test_set

pytestmark = pytest.mark.hil

SNR = [-10.0, 0.0, 10.0, 20.0]
PNG = b"\x89PNG\r\n\x1a\n"


def _run(target, cfg, out, **kw):
    kw.setdefault("limit", target.limit)
    return hil(target.bundle, cfg, out, port=target.port, trust=target.trust, baud=target.baud,
               **kw)


def _policy(bundle):
    from trainer.svqvae.rate_control import RatePolicy

    return RatePolicy.from_dict(json.loads((bundle / "policy.json").read_text()))


@pytest.fixture(scope="module")
def awgn_report(hil_target, tmp_path_factory):
    out = tmp_path_factory.mktemp("hil") / "awgn"
    return _run(hil_target, HilConfig(snr_db=SNR), out), out


def test_hil_agrees_with_offline_int8(awgn_report, hil_target):
    """Issue 7: same samples, seed and channel -> HIL Q_sem and accuracy equal the offline
    int8 evaluation within 0.005 at every SNR. The reference is recomputed here with
    ``evaluate`` with the bundle's int8 transmitters, independently of the report."""
    from evaluation.evaluate import evaluate, int8_transmitters
    from trainer.scheme import load_run

    report, _ = awgn_report
    manifest = json.loads((hil_target.bundle / "manifest.json").read_text())
    ds = load_test_set(manifest, limit=hil_target.limit)
    run = load_run(manifest["run"]["path"])
    ev = evaluate(run, ds, SNR, seed=0, transmitters=int8_transmitters(run, hil_target.bundle))
    assert report["link"]["failed"] == 0
    assert report["n_test"] == len(ds.x_test)
    for name in ("semantic", "standard"):
        h, o = report["variants"][name], ev.metrics["variants"][name]
        assert h["snr_db"] == SNR
        np.testing.assert_allclose(h["q_sem"], o["q_sem"], atol=0.005, rtol=0)
        np.testing.assert_allclose(h["accuracy"], o["accuracy"], atol=0.005, rtol=0)
        # The same transmitted symbols and the same noise: the same decisions.
        assert h["ber"] == o["ber"]
    assert report["agreement"]["holds"]


def test_report_contents(awgn_report, hil_target):
    report, out = awgn_report
    policy = _policy(hil_target.bundle)
    assert sorted(p.name for p in out.iterdir()) == sorted(report["files"])
    assert json.loads((out / "hil_report.json").read_text()) == report
    for name in report["files"][1:]:
        assert (out / name).read_bytes()[:8] == PNG
    for name, s in report["variants"].items():
        for j, snr in enumerate(SNR):
            k = policy.k_for(snr)
            assert s["symbols_per_sample"][j] == k, (name, snr)
            assert s["k_histogram"][j] == {str(k): report["n_test"]}
            assert s["link"][j]["ok"] == report["n_test"]
            assert 0.0 <= s["ber"][j] <= 1.0
    lat = report["latency"]
    assert lat["node_stages_us"]["neural"]["median"] > 0
    assert lat["node_total_us"]["median"] >= lat["node_stages_us"]["neural"]["median"]
    # The round trip contains the node's own time.
    assert lat["link_rtt_ms"]["median"] * 1e3 >= lat["node_total_us"]["median"]
    assert report["bundle"]["signature_checked"] is True


def test_node_k_follows_snr_feedback(hil_target, node):
    """SNR_FEEDBACK before a block: the node uses its policy LUT's K for that SNR; and the
    edge's demap of the node's noiseless symbols is the index the node sent (CFG_INDICES)."""
    from semqam_node.conventions import sample_rows

    from edge.decoder import EdgeDecoder

    policy = _policy(hil_target.bundle)
    manifest = json.loads((hil_target.bundle / "manifest.json").read_text())
    x = load_test_set(manifest, limit=3).x_test
    c = node.client
    assert node.flash.bundle_id == manifest["bundle_id"]
    for snr in (-10.0, -3.3, 0.0, 7.77, 14.0, 20.0):
        ack = c.set_snr(snr)
        assert ack.k == policy.k_for(snr), snr
        assert [r.k for r in c.stream(sample_rows(x))] == [ack.k] * 3
    edge = EdgeDecoder(hil_target.bundle)
    for name in CONSTELLATIONS:
        c.configure(name, indices=True)
        for r in c.stream(sample_rows(x)):
            iq = r.iq_float
            sent = edge.demap(iq[:, 0] + 1j * iq[:, 1], name)
            np.testing.assert_array_equal(sent, r.symbols.indices)


def test_link_faults_change_nothing(hil_target, tmp_path):
    """Corrupted, dropped and duplicated bytes cost retransmits, never a wrong symbol."""
    from semqam_node.virtual import FaultConfig

    hil_target.require_wire("fault injection on the wire")
    cfg = HilConfig(snr_db=[10.0], block=50)
    clean = _run(hil_target, cfg, tmp_path / "clean", limit=100, offline=False)
    faults = FaultConfig(flip=2e-5, drop=1e-5, dup=1e-5, seed=7)
    noisy = _run(hil_target, cfg, tmp_path / "noisy", limit=100, offline=False, faults=faults,
                 timeout=0.3)
    assert noisy["link"]["failed"] == 0
    assert noisy["link"]["retransmits"] > 0
    for name in ("semantic", "standard"):
        for key in ("q_sem", "accuracy", "ber", "symbols_per_sample"):
            assert noisy["variants"][name][key] == clean["variants"][name][key], (name, key)


def test_estimated_feedback_and_fading(hil_target, tmp_path):
    policy = _policy(hil_target.bundle)
    est = _run(hil_target, HilConfig(snr_db=[0.0, 20.0], feedback="estimated", block=25,
                                     constellations=("semantic",)), tmp_path / "est", limit=50)
    assert est["agreement"] is None and "estimated" in est["offline_note"]
    for j, snr in enumerate([0.0, 20.0]):
        fb = est["variants"]["semantic"]["feedback"][j]
        assert len(fb) == 2  # 50 samples in blocks of 25
        for b in fb:
            assert abs(b["snr_db"] - snr) < 1.5  # 256 pilots: std of the estimate ~0.3 dB
            assert b["k"] == policy.k_for(b["snr_db"])
    ray = _run(hil_target, HilConfig(snr_db=[20.0], channel="rayleigh",
                                     channel_params={"block_length": 4},
                                     constellations=("semantic",)), tmp_path / "ray", limit=50)
    assert "AWGN only" in ray["offline_note"]
    assert ray["channel"]["params"] == {"block_length": 4}
    assert ray["variants"]["semantic"]["link"][0]["ok"] == 50


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cli.main", "hil", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_cli_hil(hil_target, tmp_path):
    base = ["--bundle", hil_target.bundle, "--port", hil_target.port, "--baud", hil_target.baud]
    if hil_target.trust:
        base += ["--trust", hil_target.trust]
    out = tmp_path / "cli"
    p = _cli(*base, "--snr", "0,20", "--limit", 40, "--out", out)
    assert p.returncode == 0, p.stderr
    assert "Q_sem sem" in p.stdout and "HIL vs offline int8" in p.stdout  # the tiny bundle is int8
    report = json.loads((out / "hil_report.json").read_text())
    assert report["snr_db"] == [0.0, 20.0] and report["n_test"] == 40

    for bad, says in ((["--channel", "awgm"], "unknown channel"),
                      (["--constellation", "gray"], "--constellation"),
                      (["--snr", "20:0:5"], "snr"),
                      (["--k-factor-db", "3"], "rician only")):
        p = _cli(*base, *bad, "--out", tmp_path / "bad")
        assert p.returncode == 2, (bad, p.stderr)
        assert says.lower() in p.stderr.lower(), (bad, p.stderr)
        assert p.stderr.strip().count("\n") == 0, p.stderr  # one line
    assert not (tmp_path / "bad").exists()
    p = _cli("--bundle", tmp_path / "nothing", "--out", tmp_path / "bad")
    assert p.returncode == 2 and "manifest.json" in p.stderr


def test_untrusted_bundle_refused(hil_target, tmp_path):
    """A bundle not signed by the trusted key is refused before anything is streamed."""
    from semqam_node.bundle import generate_keypair

    _, public = generate_keypair()
    other = tmp_path / "other.pub"
    other.write_bytes(public)
    p = _cli("--bundle", hil_target.bundle, "--port", hil_target.port, "--trust", other,
             "--out", tmp_path / "out")
    assert p.returncode == 2
    assert "signature" in p.stderr.lower(), p.stderr
    assert not (tmp_path / "out").exists()
