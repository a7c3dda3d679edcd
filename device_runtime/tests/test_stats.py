"""The one latency summary against hand-computed order statistics."""

from __future__ import annotations

import pytest
from semqam_node.stats import summarize


def test_hand_case():
    s = summarize([4, 1, 3, 2, 10])
    assert s == {"n": 5, "median": 3.0, "p95": pytest.approx(8.8), "mean": 4.0, "min": 1.0,
                 "max": 10.0}  # p95: 4 + 0.8 * (10 - 4) by linear interpolation


def test_scale_and_other_percentiles():
    s = summarize([1000, 2000, 3000], scale=1e-3, percentiles=(50, 99))
    assert s["median"] == s["p50"] == pytest.approx(2.0)
    assert s["p99"] == pytest.approx(2.98)
    assert "p95" not in s


def test_empty_is_explicit():
    assert summarize([]) == {"n": 0, "median": None, "p95": None, "mean": None, "min": None,
                             "max": None}
