"""Energy per sample: node compute plus radio airtime, against sending the raw sample
(docs/energy.md).

.. math::

    E_\\text{sem} = t_\\text{cpu} P_\\text{active} + K \\frac{P_\\text{tx}}{R_s}, \\qquad
    E_\\text{raw} = S_\\text{raw} \\frac{P_\\text{tx}}{R_s}, \\qquad
    S_\\text{raw} = \\frac{8 B}{\\log_2 M}

with ``t_cpu`` the node's CPU time per sample, ``P_active`` a nominal board power (a
:class:`NodePower` preset or the user's figure), ``K`` the concepts sent (one M-QAM symbol each),
``R_s`` the symbol rate, ``P_tx`` the radio's transmit power and ``B`` the raw sample's bytes.
The raw baseline spends no node compute (mapping bits to symbols is free). Every number carries
its source. :class:`Rapl` reads Linux powercap counters when the machine has readable ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semqam.units import bits_per_symbol, raw_symbols_per_sample

POWERCAP = Path("/sys/class/powercap")


# --------------------------------------------------------------------------------------------
# Node power presets


@dataclass(frozen=True)
class NodePower:
    """Nominal electrical power of a node class: ``active_w`` while it computes, ``idle_w``
    between samples (reference only: the per-sample energy uses ``active_w``)."""

    name: str
    active_w: float
    idle_w: float
    description: str
    source: str
    nominal: bool = True  # a published figure, not measured on this machine

    def __post_init__(self) -> None:
        for field_name in ("active_w", "idle_w"):
            v = getattr(self, field_name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{field_name} {v!r} W; use a finite number >= 0")

    def with_active(self, active_w: float) -> NodePower:
        """This preset with the user's active power (``--active-power``)."""
        return replace(self, name=f"{self.name}+active={active_w:g}W", active_w=float(active_w),
                       source=f"user value (--active-power {active_w:g}); idle from {self.name}",
                       nominal=False)

    def label(self) -> str:
        kind = "nominal preset" if self.nominal else "user value"
        return f"{self.name} ({kind}, {self.active_w:g} W active)"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "active_w": self.active_w, "idle_w": self.idle_w,
                "description": self.description, "source": self.source, "nominal": self.nominal}


_V_MCU = 3.3  # supply voltage the MCU presets convert datasheet currents with

PRESETS: dict[str, NodePower] = {p.name: p for p in (
    NodePower(
        "pi4", 6.4, 2.7,
        "Raspberry Pi 4 Model B (BCM2711, 4x Cortex-A72 @ 1.5 GHz), headless, at the 5 V input",
        "J. Geerling, Pi Dramble 'Power Consumption Benchmarks' (pidramble.com/wiki/benchmarks/"
        "power-consumption): idle 540 mA = 2.7 W, `stress --cpu 4` 1280 mA = 6.4 W"),
    NodePower(
        "pi5", 8.0, 2.7,
        "Raspberry Pi 5 (BCM2712, 4x Cortex-A76 @ 2.4 GHz), headless, at the 5 V input",
        "J. Geerling, sbc-reviews issue #21 'Raspberry Pi 5 model B' (github.com/geerlingguy/"
        "sbc-reviews/issues/21): Geekbench multi-core 7.9 W on one meter (~9.9 W suggested "
        "for another); idle 1.8 W on that meter, called too low there: 2.7 W taken instead"),
    NodePower(
        "cortex-m7", round(120e-6 * 280 * _V_MCU, 4), round(2.2e-6 * _V_MCU, 7),
        "STM32H7B0-class Cortex-M7 MCU @ 280 MHz, 3.3 V, peripherals off",
        "STMicroelectronics STM32H7B0 figures (as listed in SoCXin/doc docs/application/ulp.rst):"
        " Run 120 uA/MHz -> 33.6 mA at 280 MHz; lowest low-power mode 2.2 uA; x 3.3 V"),
    NodePower(
        "cortex-m4", round(28e-6 * 80 * _V_MCU, 5), round(195e-9 * _V_MCU, 9),
        "STM32L412-class Cortex-M4 MCU @ 80 MHz, 3.3 V, peripherals off",
        "STMicroelectronics STM32L412 figures (as listed in SoCXin/doc docs/application/ulp.rst):"
        " Run 28 uA/MHz -> 2.24 mA at 80 MHz; lowest low-power mode 195 nA; x 3.3 V"),
)}


def preset(name: str) -> NodePower:
    """The preset called ``name`` (case-insensitive); ValueError lists the choices."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise ValueError(f"unknown power preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[key]


def node_power(name: str = "pi4", active_w: float | None = None) -> NodePower:
    """Preset ``name``, with its active power replaced by ``active_w`` when given."""
    p = preset(name)
    if active_w is None:
        return p
    if not (math.isfinite(active_w) and active_w > 0):
        raise ValueError(f"active power {active_w!r} W; use a positive number")
    return p.with_active(active_w)


# --------------------------------------------------------------------------------------------
# Radio


@dataclass(frozen=True)
class Radio:
    """Transmitter model: every symbol takes ``1 / symbol_rate_hz`` seconds at ``tx_power_w``
    (DC power drawn while transmitting), so ``E = S · P_tx / R_s`` for ``S`` symbols."""

    symbol_rate_hz: float = 1e6
    tx_power_w: float = 0.1
    source: str = ("nominal defaults (docs/energy.md): 1 Msym/s, 0.1 W drawn while "
                   "transmitting (low-power transceiver + linear PA)")

    def __post_init__(self) -> None:
        if not (math.isfinite(self.symbol_rate_hz) and self.symbol_rate_hz > 0):
            raise ValueError(f"symbol rate {self.symbol_rate_hz!r} Hz; use a positive number")
        if not (math.isfinite(self.tx_power_w) and self.tx_power_w >= 0):
            raise ValueError(f"transmit power {self.tx_power_w!r} W; use a number >= 0")

    @classmethod
    def custom(cls, symbol_rate_hz: float | None = None,
               tx_power_w: float | None = None) -> Radio:
        """The defaults with the given values replaced; the source says which are the user's."""
        base = cls()
        if symbol_rate_hz is None and tx_power_w is None:
            return base
        parts = [f"symbol rate {'user' if symbol_rate_hz is not None else 'default'}",
                 f"tx power {'user' if tx_power_w is not None else 'default'}"]
        return cls(base.symbol_rate_hz if symbol_rate_hz is None else float(symbol_rate_hz),
                   base.tx_power_w if tx_power_w is None else float(tx_power_w),
                   source=f"{', '.join(parts)} (docs/energy.md)")

    @property
    def joules_per_symbol(self) -> float:
        return self.tx_power_w / self.symbol_rate_hz

    def airtime_s(self, symbols: float) -> float:
        return symbols / self.symbol_rate_hz

    def energy_j(self, symbols: float) -> float:
        return symbols * self.joules_per_symbol

    def as_dict(self) -> dict[str, Any]:
        return {"symbol_rate_hz": self.symbol_rate_hz, "tx_power_w": self.tx_power_w,
                "joules_per_symbol": self.joules_per_symbol, "source": self.source}


# --------------------------------------------------------------------------------------------
# Energy per sample


def sample_energy(cpu_s: float, symbols: float, power: NodePower, radio: Radio, *,
                  cpu_source: str) -> dict[str, Any]:
    """Energy of one semantic sample: ``cpu_j = cpu_s · P_active``, ``radio_j = S · P_tx /
    R_s``, ``total_j`` their sum; every input named with its source."""
    if cpu_s < 0 or symbols < 0:
        raise ValueError(f"cpu_s {cpu_s} and symbols {symbols} must be >= 0")
    cpu_j = cpu_s * power.active_w
    radio_j = radio.energy_j(symbols)
    return {
        "cpu_s": cpu_s, "active_power_w": power.active_w, "cpu_j": cpu_j,
        "symbols": symbols, "airtime_s": radio.airtime_s(symbols), "radio_j": radio_j,
        "total_j": cpu_j + radio_j,
        "sources": {"cpu_time": cpu_source, "power": f"preset {power.label()}: {power.source}",
                    "radio": radio.source},
    }


def raw_energy(input_bytes: int, order: int, radio: Radio) -> dict[str, Any]:
    """Energy of sending the raw sample: radio only, ``S_raw = 8 B / log2 M`` symbols."""
    s = raw_symbols_per_sample(input_bytes, order)
    radio_j = radio.energy_j(s)
    return {
        "cpu_s": 0.0, "cpu_j": 0.0, "symbols": s, "airtime_s": radio.airtime_s(s),
        "radio_j": radio_j, "total_j": radio_j, "input_bytes": input_bytes,
        "bits_per_symbol": bits_per_symbol(order),
        "sources": {"cpu_time": "assumption: no node compute besides mapping bits to symbols",
                    "symbols": f"8 x {input_bytes} bytes / log2({order})",
                    "radio": radio.source},
    }


def compare(semantic: dict[str, Any], raw: dict[str, Any], radio: Radio) -> dict[str, Any]:
    """Semantic over raw: ratios (< 1: semantic spends less) and the break-even radio cost.

    Semantic wins when ``t_cpu P_active + K e_s < S_raw e_s`` with ``e_s = P_tx / R_s`` (J per
    symbol), i.e. ``e_s > t_cpu P_active / (S_raw - K)``; also given as the symbol rate at the
    configured ``P_tx`` below which semantic wins."""
    def ratio(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    saved = raw["symbols"] - semantic["symbols"]
    e_even = semantic["cpu_j"] / saved if saved > 0 else None
    rate_even = (radio.tx_power_w / e_even if e_even and radio.tx_power_w > 0 else None)
    return {
        "symbols_ratio": ratio(semantic["symbols"], raw["symbols"]),
        "radio_ratio": ratio(semantic["radio_j"], raw["radio_j"]),
        "total_ratio": ratio(semantic["total_j"], raw["total_j"]),
        "semantic_saves_j": raw["total_j"] - semantic["total_j"],
        "break_even_j_per_symbol": e_even,
        "break_even_symbol_rate_hz": rate_even,
        "note": ("ratios are semantic / raw (< 1: semantic spends less); semantic wins on "
                 "energy when the radio costs more than break_even_j_per_symbol per symbol, "
                 "i.e. at the configured tx power, below break_even_symbol_rate_hz"),
    }


def position_side_info(k: int, n_concepts: int, order: int, radio: Radio) -> dict[str, Any]:
    """What sending the K slot positions would add (not counted in ``sample_energy``):
    ``K · ceil(log2 N) / log2 M`` symbols."""
    bits = k * math.ceil(math.log2(max(n_concepts, 2)))
    s = bits / bits_per_symbol(order)
    return {"included": False, "bits": bits, "symbols": s, "radio_j": radio.energy_j(s),
            "note": "the K slot positions, if the receiver had to be told them explicitly"}


# --------------------------------------------------------------------------------------------
# Linux powercap (RAPL)


@dataclass(frozen=True)
class RaplDomain:
    """One readable powercap zone: ``key`` its folder (``intel-rapl:0``), ``name`` its
    ``name`` file (``package-0``), ``max_range_uj`` the counter's range (None if unknown)."""

    key: str
    name: str
    path: Path
    max_range_uj: int | None

    @property
    def top_level(self) -> bool:
        """A package-level zone (``intel-rapl:N``): subzones (``:N:M``) are inside it and
        ``-mmio`` zones duplicate it, so only these are summed."""
        return self.key.count(":") == 1 and "mmio" not in self.key


class Rapl:
    """Energy counters of the Linux powercap framework (``<root>/*/energy_uj``).

    ``available`` is False with ``reason`` ("not available: ...") when the folder is absent
    (virtual machines, non-x86), has no zones, or none is readable (root-only since Linux 5.10,
    CVE-2020-8694). :meth:`read` snapshots every readable zone; :meth:`delta_j` subtracts two
    snapshots, adding ``max_energy_range_uj`` once when a counter wrapped.
    """

    def __init__(self, root: str | Path = POWERCAP) -> None:
        self.root = Path(root)
        self.domains: list[RaplDomain] = []
        self.reason = ""
        problems: list[str] = []
        if not self.root.is_dir():
            self.reason = f"not available: {self.root} does not exist (no powercap driver)"
            return
        files = sorted(self.root.glob("*/energy_uj"))
        if not files:
            self.reason = f"not available: no */energy_uj under {self.root}"
            return
        for f in files:
            try:
                _read_uj(f)
            except (OSError, ValueError) as e:
                problems.append(f"{f}: {_why(e)}")
                continue
            zone = f.parent
            try:
                name = (zone / "name").read_text().strip()
            except OSError:
                name = zone.name
            try:
                max_range: int | None = _read_uj(zone / "max_energy_range_uj")
            except (OSError, ValueError):
                max_range = None
            self.domains.append(RaplDomain(zone.name, name, f, max_range))
        if not self.domains:
            self.reason = f"not available: no readable energy_uj ({'; '.join(problems[:2])})"

    @property
    def available(self) -> bool:
        return bool(self.domains)

    @property
    def source(self) -> str:
        if not self.available:
            return self.reason
        return "rapl: " + ", ".join(str(d.path.parent) for d in self.domains)

    def read(self) -> dict[str, int]:
        """Counter of every domain in µJ (a domain that stopped being readable is left out)."""
        out = {}
        for d in self.domains:
            try:
                out[d.key] = _read_uj(d.path)
            except (OSError, ValueError):
                continue
        return out

    def delta_j(self, before: dict[str, int], after: dict[str, int]) -> dict[str, float | None]:
        """Joules per domain between two snapshots; a counter that went backwards wrapped once
        (``after + max_range - before``), or is None when its range is unknown."""
        out: dict[str, float | None] = {}
        for d in self.domains:
            if d.key not in before or d.key not in after:
                continue
            diff = after[d.key] - before[d.key]
            if diff < 0:
                diff = diff + d.max_range_uj if d.max_range_uj else None
            out[d.key] = None if diff is None else diff / 1e6
        return out

    def total_j(self, delta: dict[str, float | None]) -> float | None:
        """Sum over the top-level zones (None when one of them is unknown or there are none)."""
        tops = [delta.get(d.key) for d in self.domains if d.top_level]
        if not tops or any(v is None for v in tops):
            return None
        return float(sum(v for v in tops if v is not None))

    def describe(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        return {"available": True, "source": self.source,
                "domains": {d.key: d.name for d in self.domains}}


def _read_uj(path: Path) -> int:
    return int(path.read_text().strip())


def _why(e: BaseException) -> str:
    if isinstance(e, PermissionError):
        return "permission denied (root-only since Linux 5.10, CVE-2020-8694)"
    if isinstance(e, ValueError):
        return "not an integer"
    return getattr(e, "strerror", None) or type(e).__name__


@dataclass(frozen=True)
class McuCore:
    """Clock and assumed cycles per instruction of an MCU preset, to turn an exact instruction
    count (QEMU, not cycle-accurate) into an *estimated* time: t = instructions x CPI / clock."""

    clock_hz: float
    cpi: float
    source: str


#: The clocks of the cortex-m4 / cortex-m7 power presets above; the CPIs are assumptions
#: (docs/mcu.md, "Instruction counts"), not measurements.
MCU_CORES = {
    "cortex-m4": McuCore(80e6, 1.25, "STM32L412-class @ 80 MHz (the cortex-m4 preset); CPI 1.25 "
                         "assumed: single-issue M4, 2-cycle loads, taken branches refill the "
                         "3-stage pipeline, flash wait states behind the ART prefetch"),
    "cortex-m7": McuCore(280e6, 1.0, "STM32H7B0-class @ 280 MHz (the cortex-m7 preset); CPI 1.0 "
                         "assumed: dual-issue M7 with caches, stalls on loads and branches"),
}


def mcu_estimate(instructions: float, preset_name: str, active_w: float) -> dict[str, Any]:
    """Estimated seconds and joules of ``instructions`` on ``preset_name``'s core at its clock
    and assumed CPI (:data:`MCU_CORES`), drawing ``active_w``."""
    core = MCU_CORES.get(preset_name)
    if core is None:
        raise ValueError(f"no MCU core for preset {preset_name!r}; use one of "
                         f"{', '.join(MCU_CORES)}")
    t = instructions * core.cpi / core.clock_hz
    return {"instructions": instructions, "clock_hz": core.clock_hz, "cpi": core.cpi,
            "time_s": t, "energy_j": t * active_w, "estimate": True, "source": core.source}
