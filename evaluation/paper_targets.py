"""Check a sweep against the paper's claims, per order and per training seed.

``python -m evaluation.paper_targets results/mnist`` reads every ``M{order}[-s{seed}]/metrics.json``
of a ``semqam sweep`` folder and prints, per order M, whether each claim holds on every seed
(and where it does not). The claims and thresholds are those of the main paper as the project
states them (docs/RESULTS.md, "Against the targets"); the metric definitions are docs/metrics.md's:

* ``sem > std at SNR <= 0``: Q_sem of the learned constellation above the Gray grid's at every
  evaluated SNR <= 0 dB (M >= 16).
* ``Q_sem(20 dB) >= 0.90``: the learned constellation at the highest SNR point, if it is 20 dB.
* ``SPP all slots >= 0.95`` and ``S_w sem < std``: policy-independent statistics (eq. 4, 5).
* ``BER paradox``: ``ber_uniform`` semantic > standard at every SNR >= 10 dB (Corollary 1.1).
* ``K non-increasing``: the DQN's K never grows with SNR.
* M = 1024 only: ``Q_sem(0 dB) >= 0.60``, ``equal-energy lead >= 0.15`` at 0 dB,
  ``symbols(-10 dB) <= 40``, ``Q_sem(20 dB) >= 0.92 at >= 21:1``.

Only the seeds' own numbers are used; nothing is averaged before the comparison, so "holds"
means "holds on every seed".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.sweep_layout import parse_results_folder

Check = Callable[[dict[str, Any]], tuple[bool, str]]


def _at(m: dict, key: str, variant: str, snr: float) -> float:
    return float(m["variants"][variant][key][m["snr_db"].index(snr)])


def _sem_above_std_low(m: dict) -> tuple[bool, str]:
    bad = [s for s in m["snr_db"] if s <= 0 and
           _at(m, "q_sem", "semantic", s) <= _at(m, "q_sem", "standard", s)]
    return not bad, ", ".join(f"{s:g} dB" for s in bad)


def _q_sem_at(snr: float, threshold: float) -> Check:
    def check(m: dict) -> tuple[bool, str]:
        v = _at(m, "q_sem", "semantic", snr)
        return v >= threshold, f"{v:.3f}"
    return check


def _spp(m: dict) -> tuple[bool, str]:
    v = float(m["spp_all_slots"]["semantic"])
    return v >= 0.95, f"{v:.2f}"


def _sw(m: dict) -> tuple[bool, str]:
    s, t = (float(m["ssv_all_slots"][k]) for k in ("semantic", "standard"))
    return s < t, f"{s:.3g} vs {t:.3g}"


def _ber_paradox(m: dict) -> tuple[bool, str]:
    bad = [s for s in m["snr_db"] if s >= 10 and
           _at(m, "ber_uniform", "semantic", s) <= _at(m, "ber_uniform", "standard", s)]
    return not bad, ", ".join(f"{s:g} dB" for s in bad)


def _k_monotone(m: dict) -> tuple[bool, str]:
    k = [int(v) for v in m["k"]]
    ok = all(b <= a for a, b in zip(k, k[1:], strict=False))
    return ok, "" if ok else f"K = {k}"


def _equal_energy_lead(m: dict) -> tuple[bool, str]:
    d = _at(m, "q_sem_equal_energy", "semantic", 0.0) - \
        _at(m, "q_sem_equal_energy", "standard", 0.0)
    return d >= 0.15, f"{d:+.3f}"


def _symbols_low(m: dict) -> tuple[bool, str]:
    k = int(m["k"][m["snr_db"].index(-10.0)])
    return k <= 40, f"{k}"


def _q20_compressed(m: dict) -> tuple[bool, str]:
    i = m["snr_db"].index(20.0)
    v, c = _at(m, "q_sem", "semantic", 20.0), float(m["compression_ratio"][i])
    return v >= 0.92 and c >= 21, f"{v:.3f} at {c:.0f}:1"


#: (name, applies to order M, needs these SNR points, check)
TARGETS: list[tuple[str, Callable[[int], bool], tuple[float, ...], Check]] = [
    ("sem > std at SNR <= 0", lambda o: o >= 16, (), _sem_above_std_low),
    ("Q_sem(20 dB) >= 0.90", lambda o: o >= 16, (20.0,), _q_sem_at(20.0, 0.90)),
    ("SPP all slots >= 0.95", lambda o: o >= 16, (), _spp),
    ("S_w sem < std (all slots)", lambda o: True, (), _sw),
    ("BER paradox (uniform, >= 10 dB)", lambda o: o >= 16, (), _ber_paradox),
    ("K non-increasing in SNR", lambda o: True, (), _k_monotone),
    ("Q_sem(0 dB) >= 0.60", lambda o: o == 1024, (0.0,), _q_sem_at(0.0, 0.60)),
    ("equal-energy lead >= 0.15 at 0 dB", lambda o: o == 1024, (0.0,), _equal_energy_lead),
    ("symbols(-10 dB) <= 40", lambda o: o == 1024, (-10.0,), _symbols_low),
    ("Q_sem(20 dB) >= 0.92 at >= 21:1", lambda o: o == 1024, (20.0,), _q20_compressed),
]


def load_sweep(folder: str | Path) -> dict[int, dict[int, dict]]:
    """{order: {training seed: metrics}} from a sweep folder's M*/metrics.json."""
    root = Path(folder)
    found: dict[int, dict[int, dict]] = {}
    for sub in sorted(root.iterdir()) if root.is_dir() else []:
        parsed = parse_results_folder(sub.name)
        if parsed and (sub / "metrics.json").is_file():
            order, seed = parsed
            found.setdefault(order, {})[seed] = json.loads((sub / "metrics.json").read_text())
    if not found:
        raise FileNotFoundError(f"{root}: no M{{order}}[-s{{seed}}]/metrics.json; pass the "
                                "--out folder of `semqam sweep`")
    return found


def check_sweep(sweep: dict[int, dict[int, dict]]) -> list[dict[str, Any]]:
    """One row per (target, order): ``holds`` (on every seed), ``seeds`` and per-seed details
    of the misses (value or failing SNR points); targets without their SNR points are skipped."""
    rows = []
    for name, applies, needs, check in TARGETS:
        for order, by_seed in sorted(sweep.items()):
            if not applies(order):
                continue
            if any(s not in m["snr_db"] for m in by_seed.values() for s in needs):
                continue
            results = {seed: check(m) for seed, m in sorted(by_seed.items())}
            misses = {seed: detail for seed, (ok, detail) in results.items() if not ok}
            rows.append({"target": name, "order": order, "seeds": sorted(results),
                         "holds": not misses, "misses": misses,
                         "values": {seed: detail for seed, (_, detail) in results.items()}})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | M | on every seed | per seed |", "|---|---:|---|---|"]
    for r in rows:
        verdict = "holds" if r["holds"] else f"misses on {len(r['misses'])}/{len(r['seeds'])}"
        detail = "; ".join(f"s{seed}: {v or 'ok'}" for seed, v in r["values"].items())
        lines.append(f"| {r['target']} | {r['order']} | {verdict} | {detail} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep", help="the --out folder of `semqam sweep`")
    args = ap.parse_args(argv)
    try:
        print(format_rows(check_sweep(load_sweep(args.sweep))))
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise SystemExit(f"paper_targets: {e}") from None


if __name__ == "__main__":
    main()
