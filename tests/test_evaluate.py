"""Evaluation stage: SNR parsing, test-set checks, metrics.json, figures, sweep and CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from conftest import tiny_dataset
from evaluation.evaluate import evaluate, evaluate_run, resolve_test_set
from evaluation.snr import parse_snr
from evaluation.sweep import parse_orders, sweep
from metrics import concept_usage, cooccurrence, mean_sci_per_concept, pooled_concept_stats
from trainer.data import DataError, Dataset
from trainer.svqvae.run import load_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCHEME_KEYS = {"snr_db", "q_sem", "accuracy", "ber", "symbols_per_sample"}


@pytest.fixture(scope="module")
def run(tiny_run):
    return load_run(tiny_run)


@pytest.fixture(scope="module")
def small():
    return tiny_dataset()


def _comparable(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("timing_s", "files")}


# ---------------------------------------------------------------------------------- SNR option
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("-10:20:2", [float(v) for v in range(-10, 21, 2)]),
        ("-10:20:5", [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]),
        ("-10:20:7", [-10.0, -3.0, 4.0, 11.0, 18.0]),  # stop off the grid: not included
        ("0:1:0.1", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
        ("5:5:1", [5.0]),
        ("-10,0,10", [-10.0, 0.0, 10.0]),
        (" 20, -10 ,0,0 ", [-10.0, 0.0, 20.0]),  # sorted, repeats dropped
        ("7.5", [7.5]),
        ("-0", [0.0]),
    ],
)
def test_parse_snr(spec, expected):
    assert parse_snr(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("20:-10:2", "above stop"),
        ("0:10:0", "step must be > 0"),
        ("0:10:-1", "step must be > 0"),
        ("0:10", "start:stop:step"),
        ("0:10:2:1", "start:stop:step"),
        ("a:10:2", "not a number"),
        ("-10,,10", "empty entry"),
        ("-10;0", "not a number"),
        ("nan", "not finite"),
        ("0:1000:0.1", "at most"),
    ],
)
def test_parse_snr_rejects_bad_syntax(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_snr(spec)
    assert "\n" not in str(info.value)


def test_parse_orders():
    assert parse_orders("256, 4,16,4") == [4, 16, 256]
    for bad in ("", "4,,16", "four", "8"):
        with pytest.raises(ValueError):
            parse_orders(bad)


# ------------------------------------------------------------------------ concept statistics
def test_pooled_stats_equal_concatenation(rng):
    order = 12
    groups = [rng.integers(0, order, (7, k)) for k in (2, 5, 3)]
    scores = [rng.random(g.shape) for g in groups]
    weights = [1, 3, 2]
    mean_sci, usage, cooc = pooled_concept_stats(groups, scores, weights, order)

    width = max(g.shape[1] for g in groups)
    rows_i, rows_s, rows_m = [], [], []
    for g, s, w in zip(groups, scores, weights, strict=True):
        pad = width - g.shape[1]
        for _ in range(w):
            rows_i.append(np.pad(g, ((0, 0), (0, pad)), constant_values=-1))
            rows_s.append(np.pad(s, ((0, 0), (0, pad))))
            rows_m.append(np.pad(np.ones_like(g, bool), ((0, 0), (0, pad))))
    idx, sc, mask = np.concatenate(rows_i), np.concatenate(rows_s), np.concatenate(rows_m)
    np.testing.assert_allclose(mean_sci, mean_sci_per_concept(idx[mask], sc[mask], order))
    np.testing.assert_array_equal(usage, concept_usage(idx[mask], order))
    np.testing.assert_allclose(cooc, cooccurrence(idx, mask, order), atol=1e-15)


# --------------------------------------------------------------------------- run and test set
def test_missing_run_file_is_one_clear_error(tiny_run, tmp_path):
    broken = tmp_path / "mnist-16"
    shutil.copytree(tiny_run, broken)
    (broken / "policy.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"policy\.json.*semqam train") as info:
        load_run(broken)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        load_run(tmp_path / "nowhere")


def test_mismatched_data_kind_or_shape_is_an_error(run, small):
    with pytest.raises(ValueError, match="trained on mnist, not fashion-mnist"):
        resolve_test_set(run, dataset="fashion-mnist")
    with pytest.raises(DataError, match="unknown data set"):
        resolve_test_set(run, dataset="cifar")
    wrong_shape = Dataset("mnist", small.x_train[:, :20, :20], small.y_train,
                          small.x_test[:, :20, :20], small.y_test, small.class_names, "cropped")
    with pytest.raises(ValueError, match="inputs are 20x20 but run .* expects 28x28"):
        evaluate(run, wrong_shape, [0.0])
    fsdd_like = Dataset("fsdd", small.x_train, small.y_train, small.x_test, small.y_test,
                        small.class_names, "wavs")
    with pytest.raises(ValueError, match="fsdd data, but run .* was trained on mnist"):
        evaluate(run, fsdd_like, [0.0])


def test_data_option_makes_every_sample_a_test_sample(run, small, tmp_path):
    x = np.rint(small.x_test[:30].reshape(30, -1) * 255).astype(int)
    table = np.column_stack([small.y_test[:30], x])
    csv = tmp_path / "digits.csv"
    np.savetxt(csv, table, fmt="%d", delimiter=",")
    ds = resolve_test_set(run, dataset="mnist", data=csv)
    assert ds.n_test == 30 and len(ds.x_train) == 0


# ------------------------------------------------------------------------------- evaluation
@pytest.fixture(scope="module")
def evaluated(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "mnist-16"
    ev = evaluate_run(tiny_run, [-10.0, 5.0, 100.0], seed=3, out=out)
    assert ev.written[0] == out / "metrics.json"
    return ev.metrics, out


def test_metrics_json_has_the_documented_shape(evaluated, run):
    metrics, out = evaluated
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics
    for key in ("dataset", "order", "n_test", "clean_accuracy", "passthrough_accuracy",
                "raw_symbols_per_sample", "variants", "ssv", "spp"):
        assert key in metrics
    assert metrics["format"] == 2 and metrics["scheme"] == "svqvae"
    assert metrics["dataset"] == "mnist" and metrics["order"] == 16
    assert metrics["raw_symbols_per_sample"] == pytest.approx(28 * 28 * 8 / 4)
    sem, std = metrics["variants"]["semantic"], metrics["variants"]["standard"]
    for scheme in (sem, std):
        assert set(scheme) >= SCHEME_KEYS
        for key in SCHEME_KEYS:
            assert len(scheme[key]) == 3
        assert all(0.0 <= q <= 1.0 for q in scheme["q_sem"])
        assert all(0.0 <= b <= 1.0 for b in scheme["ber"])
    # Same DQN and samples for both schemes: same symbols per sample, K from the policy.
    policy = run.policy
    assert sem["symbols_per_sample"] == std["symbols_per_sample"]
    assert sem["symbols_per_sample"] == [float(policy.k_for(s)) for s in (-10, 5, 100)]
    assert metrics["compression_ratio"] == pytest.approx(
        [metrics["raw_symbols_per_sample"] / k for k in sem["symbols_per_sample"]])
    variants = {"semantic", "standard", "fair"}  # the tiny run trains the fair variant too
    assert set(metrics["variants"]) == variants
    for key in ("ssv", "spp", "ssv_all_slots", "spp_all_slots"):
        assert set(metrics[key]) == variants, key
    assert metrics["ssv"]["semantic"] > 0 and metrics["ssv"]["standard"] > 0
    for name in variants:
        v = metrics["variants"][name]
        for key in ("tx_symbol_energy_db", "q_sem_equal_energy", "ber_uniform"):
            assert len(v[key]) == 3, key
        assert all(0.0 <= b <= 1.0 for b in v["ber_uniform"])
        assert all(0.0 <= q <= 1.0 for q in v["q_sem_equal_energy"])
    # the Gray grid sends about its average power; 10 log10 of the measured mean |x|^2
    assert all(abs(e) < 1.5 for e in metrics["variants"]["standard"]["tx_symbol_energy_db"])
    assert "every one of the N slots" in metrics["concept_stats"]["pooled_all_slots"]
    assert 0 < metrics["concept_stats"]["concepts_used"] <= 16
    assert metrics["concept_stats"]["n_sets"] == 3 * metrics["n_test"]


def test_error_free_channel_matches_no_channel_accuracy(evaluated):
    metrics, _ = evaluated
    for name in ("semantic", "standard"):
        s = metrics["variants"][name]
        assert s["ber"][-1] == 0.0  # 100 dB
        assert s["accuracy"][-1] == metrics["no_channel"]["accuracy"][-1]
        assert s["q_sem"][-1] == pytest.approx(metrics["no_channel"]["q_sem"][-1])
        assert s["q_sem_equal_energy"][-1] == pytest.approx(s["q_sem"][-1])
    # At -10 dB the channel does corrupt 16-QAM symbols.
    assert metrics["variants"]["standard"]["ber"][0] > 0.01


def test_figures_are_written(evaluated):
    metrics, out = evaluated
    pngs = [f for f in metrics["files"] if f.endswith(".png")]
    assert {"q_sem_vs_snr.png", "q_sem_equal_energy.png", "ber_vs_snr.png", "symbols_vs_snr.png",
            "constellation_semantic_sci.png", "constellation_evolution.png"} <= set(pngs)
    for name in pngs:
        data = (out / name).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    concepts = np.load(out / "concepts.npz")
    assert concepts["mean_sci"].shape == (16,) and concepts["cooccurrence"].shape == (16, 16)


def test_progress_ends_at_its_total(run, small):
    """The evaluate bar counts the encoding, each K and each (constellation, SNR) point: it ends
    full, not past its total (it once said 54/38 with three constellations)."""
    from rich.progress import Progress

    with Progress(disable=True) as prog:
        evaluate(run, small, [-10.0, 5.0], seed=3, progress=prog)
        (task,) = prog.tasks
        assert task.total is not None and task.completed == task.total


def test_same_seed_same_metrics(run, small):
    first = evaluate(run, small, [-10.0, 5.0], seed=3).metrics
    again = evaluate(run, small, [-10.0, 5.0], seed=3).metrics
    assert _comparable(again) == _comparable(first)
    other = evaluate(run, small, [-10.0], seed=4).metrics
    assert other["variants"]["standard"]["ber"][0] != first["variants"]["standard"]["ber"][0]


# ------------------------------------------------------------------------------------ sweep
def test_sweep_reuses_a_complete_run_and_summarises(tiny_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(tiny_run, runs / "mnist-16")
    out = tmp_path / "sweep"
    lines = []
    summary = sweep(tiny_dataset(), [16], out, snr_db=[-10.0, 20.0], runs_dir=runs,
                    log=lines.append)
    assert any("reusing" in line for line in lines)
    assert summary["format"] == 2 and summary["seeds"] == [0]
    run_row = summary["runs"][0]
    assert run_row["order"] == 16 and run_row["reused"] is True and run_row["seed"] == 0
    row = summary["orders"][0]
    assert row["order"] == 16 and row["seeds"] == [0]
    assert set(row["q_sem"]["semantic"]) == {"-10", "20"}
    assert row["q_sem"]["semantic"]["20"] == {"mean": run_row["q_sem"]["semantic"]["20"],
                                              "std": 0.0, "n": 1}
    assert set(row["symbols_per_sample"]) == {"-10", "20"}
    table = (out / "summary.md").read_text()
    assert "| 16 |" in table and "S_w" in table and "SPP" in table
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "ssv_spp_vs_order.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "M16" / "metrics.json").is_file()
    with pytest.raises(ValueError, match="differs: profile 'quick'"):
        sweep(tiny_dataset(), [16], out, snr_db=[0.0], runs_dir=runs, profile="paper",
              log=lines.append)


def test_sweep_over_seeds_gives_mean_and_std(tiny_run, tmp_path):
    """Two seeds of one order: the summary's numbers are the mean and (population) standard
    deviation of the two runs' numbers, by hand."""
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(tiny_run, runs / "mnist-16")
    shutil.copytree(tiny_run, runs / "mnist-16-s1")  # the same model, relabelled as seed 1
    info = json.loads((runs / "mnist-16-s1" / "run.json").read_text())
    info["seed"] = info["config"]["seed"] = 1
    (runs / "mnist-16-s1" / "run.json").write_text(json.dumps(info))
    out = tmp_path / "sweep"
    summary = sweep(tiny_dataset(), [16], out, snr_db=[-10.0, 0.0], runs_dir=runs,
                    seeds=[0, 1], log=lambda line: None)
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    assert (out / "M16" / "metrics.json").is_file() and (out / "M16-s1" / "metrics.json").is_file()
    a, b = (r["q_sem"]["standard"]["-10"] for r in summary["runs"])
    got = summary["orders"][0]["q_sem"]["standard"]["-10"]
    assert got["n"] == 2 and got["mean"] == pytest.approx((a + b) / 2)
    assert got["std"] == pytest.approx(abs(a - b) / 2)
    assert "±" in (out / "summary.md").read_text()
    with pytest.raises(ValueError, match="distinct non-negative"):
        sweep(tiny_dataset(), [16], out, snr_db=[0.0], runs_dir=runs, seeds=[0, 0])


# -------------------------------------------------------------------------------------- CLI
def test_cli_evaluate_prints_the_table(tiny_run, tmp_path, monkeypatch):
    import evaluation.evaluate as ev_mod
    from semqam.fileio import write_json

    def metrics_only(ev, run, out):  # the figures are tested above; here only the CLI
        write_json(out / "metrics.json", ev.metrics)
        return [out / "metrics.json"]

    monkeypatch.setattr(ev_mod, "write_outputs", metrics_only)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["evaluate", "--run", str(tiny_run), "--snr", "-10,20",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Q_sem" in result.output and "S_w (eq. 4)" in result.output
    assert "SPP (eq. 5)" in result.output
    assert (out / "metrics.json").is_file()
    shown = CliRunner().invoke(app, ["report", str(out)])
    assert shown.exit_code == 0 and "Q_sem" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snr", "20:-10:2"], "above stop"),
        (["--snr", "-10:20"], "start:stop:step"),
        (["--dataset", "fsdd"], "trained on mnist, not fsdd"),
        (["--data", "/nonexistent/file.csv"], "no such file or folder"),
    ],
)
def test_cli_evaluate_errors_are_one_line(tiny_run, tmp_path, args, message):
    result = CliRunner().invoke(
        app, ["evaluate", "--run", str(tiny_run), "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.strip().count("\n") == 0


def test_cli_evaluate_missing_run(tmp_path):
    result = CliRunner().invoke(
        app, ["evaluate", "--run", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "semqam train" in result.output
