"""Compact terminal report of a ``metrics.json`` dict (printed at the end of ``evaluate``)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def report_table(m: dict) -> Table:
    """One row per SNR: symbols per sample (K), Q_sem and accuracy of both schemes, BER and
    compression ratio. Fits in 80 columns (``make hil`` reads it from a pipe)."""
    sem, std = m["variants"]["semantic"], m["variants"]["standard"]
    table = Table(
        title=f"{m['dataset']}  M = {m['order']}  n_test = {m['n_test']}  seed = {m['seed']}"
        "  (sem/std: semantic/standard)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in ("SNR\n(dB)", "symbols\n(K)", "Q_sem\nsem", "Q_sem\nstd", "Q_sem\ngain",
                 "acc\nsem", "acc\nstd", "BER\nsem", "BER\nstd", "raw/K\n"):
        table.add_column(name, justify="right", no_wrap=True)
    for j, snr in enumerate(m["snr_db"]):
        qs, qd = sem["q_sem"][j], std["q_sem"][j]
        gain = f"{qs - qd:+.3f}"
        table.add_row(
            f"{snr:g}", f"{sem['symbols_per_sample'][j]:g}", f"{qs:.3f}", f"{qd:.3f}",
            f"[green]{gain}[/]" if qs > qd else f"[red]{gain}[/]" if qs < qd else gain,
            f"{sem['accuracy'][j]:.3f}", f"{std['accuracy'][j]:.3f}",
            f"{sem['ber'][j]:.1e}", f"{std['ber'][j]:.1e}", f"{m['compression_ratio'][j]:.0f}x",
        )
    return table


def summary_lines(m: dict) -> list[str]:
    return [
        f"S_w (eq. 4)   semantic {m['ssv']['semantic']:.4g}   standard {m['ssv']['standard']:.4g}",
        f"SPP (eq. 5)   semantic {_pct(m['spp']['semantic'])}   "
        f"standard {_pct(m['spp']['standard'])}",
        f"clean accuracy {m['clean_accuracy']:.3f}   pass-through (K = N) "
        f"{m['passthrough_accuracy']:.3f}   raw {m['raw_symbols_per_sample']:g} symbols/sample",
    ]


def print_report(m: dict, console: Console | None = None) -> None:
    """Print the table and the S_w / SPP lines (to stdout unless ``console`` says otherwise)."""
    console = console or Console()
    console.print(report_table(m))
    for line in summary_lines(m):
        console.print(line, highlight=False)
