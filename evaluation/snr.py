"""The ``--snr`` option: an inclusive range ``start:stop:step`` or a comma list, in dB."""

from __future__ import annotations

import math

MAX_POINTS = 1000


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"--snr {spec!r}: {text.strip()!r} is not a number; "
            "use start:stop:step (e.g. -10:20:2) or a comma list (e.g. -10,0,10)"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"--snr {spec!r}: {text.strip()!r} is not finite")
    return value


def parse_snr(spec: str) -> list[float]:
    """SNR points in dB, ascending, without repeats.

    ``"-10:20:2"`` -> -10, -8, ..., 20 (``stop`` included when it lies on the grid; ``step > 0``,
    ``start <= stop``); ``"-10,0,10"`` or ``"5"`` -> those values. Values are rounded to 1e-9 dB
    so that ``0:1:0.1`` gives 0.3, not 0.30000000000000004. ValueError (one line) otherwise.
    """
    text = str(spec).strip()
    if not text:
        raise ValueError("--snr is empty; use start:stop:step (e.g. -10:20:2) or -10,0,10")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3 or "," in text:
            raise ValueError(
                f"--snr {spec!r}: a range needs exactly start:stop:step (e.g. -10:20:2)"
            )
        start, stop, step = (_number(p, spec) for p in parts)
        if step <= 0:
            raise ValueError(f"--snr {spec!r}: step must be > 0, got {step:g}")
        if start > stop:
            raise ValueError(f"--snr {spec!r}: start {start:g} is above stop {stop:g}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_POINTS:
            raise ValueError(f"--snr {spec!r}: {count} points; at most {MAX_POINTS} allowed")
        values = [round(start + i * step, 9) for i in range(count)]
    else:
        cells = text.split(",")
        if any(not c.strip() for c in cells):
            raise ValueError(f"--snr {spec!r}: empty entry in the comma list")
        values = [round(_number(c, spec), 9) for c in cells]
        if len(values) > MAX_POINTS:
            raise ValueError(f"--snr {spec!r}: {len(values)} points; at most {MAX_POINTS}")
    return sorted({v + 0.0 for v in values})  # + 0.0 turns -0.0 into 0.0
