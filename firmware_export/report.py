"""Print ``validation.json`` as the compact tables a user reads after ``semqam export``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

#: Targets of the issue for M = 256 on the default data set.
INDEX_AGREEMENT_TARGET = 0.99
Q_SEM_LOSS_TARGET = 0.01


def print_validation(v: dict, console: Console | None = None) -> None:
    console = console or Console()
    act = v.get("activations", "int8")
    t = Table(title=f"float vs {act} on {v['n_test']} {v['dataset']} test samples "
                    f"(M={v['order']})")
    for col in ("K", "index agreement", "set overlap", "slot codeword", "z rounding only"):
        t.add_column(col, justify="right")
    for a in v["agreement"]:
        mark = "" if a["index_agreement"] >= INDEX_AGREEMENT_TARGET else " (< 99 %)"
        t.add_row(str(a["k"]), f"{a['index_agreement']:.4f}{mark}", f"{a['set_overlap']:.4f}",
                  f"{a['slot_codeword_agreement']:.4f}", f"{a['z_rounding_only']:.4f}")
    console.print(t)
    q = Table(title="Q_sem end to end (AWGN, same noise)")
    for col in ("scheme", "SNR dB", "float", act, "loss"):
        q.add_column(col, justify="right")
    for scheme, r in v["q_sem"].items():
        for snr, f, i, loss in zip(r["snr_db"], r["float"], r["int8"], r["loss"], strict=True):
            flag = " (> 0.01)" if loss > Q_SEM_LOSS_TARGET else ""
            q.add_row(scheme, f"{snr:g}", f"{f:.4f}", f"{i:.4f}", f"{loss:+.4f}{flag}")
    console.print(q)
    console.print(f"SCI |float − {act}| max {v['sci_abs_error']['max']:.4f}, mean "
                  f"{v['sci_abs_error']['mean']:.4f}; ONNX vs Keras max |Δx̂| "
                  f"{v['onnx_vs_keras']['x_hat_max_abs']:.2e}, |Δp| "
                  f"{v['onnx_vs_keras']['probs_max_abs']:.2e}; XNNPACK vs reference kernels: "
                  f"{v['xnnpack_mismatch']['z']:.2e} of z outputs differ")
    fp = v["footprint"]
    f = Table(title="footprint (bytes)")
    for col in ("budget", "path", "flash", "RAM", "fits"):
        f.add_column(col)
    for b in fp["budgets"].values():
        for path, verdict in b["paths"].items():
            use = fp["paths"][path]
            fits = "yes" if verdict["fits"] else f"NO: {verdict.get('what_would_fit', '')}"
            f.add_row(b["budget"]["what"], path, f"{use['flash']:,}", f"{use['ram']:,}", fits)
    console.print(f)


def measure_mcu_footprint(bundle, console: Console | None = None) -> list[dict]:
    """Build the Cortex-M firmware for ``bundle`` on both QEMU boards, measure it
    (:func:`semqam_node.qemu.footprint`: text/data/bss, the stack high-water mark read back from
    the painted stack) and print it against the budgets; return the measurements ([] and one
    line when the toolchain or QEMU is missing)."""
    import tempfile

    from semqam_node.qemu import BOARDS, QemuError, footprint

    console = console or Console()
    rows = []
    with tempfile.TemporaryDirectory(prefix="semqam-fw-") as tmp:
        for port in BOARDS:
            try:
                rows.append(footprint(port, bundle, f"{tmp}/{port}"))
            except QemuError as e:
                console.print(f"firmware footprint not measured: {str(e).splitlines()[0]}")
                return []
    t = Table(title=f"Cortex-M firmware footprint (bytes; M = {rows[0]['order']}, "
                    "measured: arm-none-eabi-size, stack painted and read back on QEMU)")
    for col in ("board", "text", "data", "bss", "flash / budget", "model", "RAM / budget",
                "stack used / reserved", "fits"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r['port']} ({r['board']})", f"{r['text']:,}", f"{r['data']:,}",
                  f"{r['bss']:,}", f"{r['flash']:,} / {r['flash_budget']:,}",
                  f"{r['model_bytes']:,}", f"{r['ram']:,} / {r['ram_budget']:,}",
                  f"{r['stack_bytes']:,} / {r['stack_size']:,}", "yes" if r["fits"] else "NO")
    console.print(t)
    console.print("budgets: RAM = data + bss (incl. the reserved stack) <= 48 KiB; flash = text "
                  "+ data <= the model's arrays + 16 KiB (docs/mcu.md)")
    return rows
