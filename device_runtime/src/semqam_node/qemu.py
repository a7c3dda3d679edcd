"""A Cortex-M node on QEMU: build the bare-metal firmware (device_runtime/mcu/) for a bundle and
run it on ``qemu-system-arm -M mps2-an386`` (Cortex-M4F, Q31 requantization) or ``mps2-an500``
(Cortex-M7, double scales), its UART0 on a local TCP socket.

    elf = build_firmware("qemu-m4", "build/mnist-256", firmware_dir(), "/tmp/fw")
    with QemuNode("qemu-m4", elf) as q:
        sock = q.sock            # connected; the banner is read, frames follow
        print(q.banner)

    with QemuSession("qemu-m4", "build/mnist-256") as s:   # what ``--port qemu-m4`` opens
        client = NodeClient(s.port)                      # a host-side pty, behind a Wire

QEMU starts with ``-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on``: the machine does
not run until the host connects, so the banner line is never lost.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .bundle import MANIFEST
from .mcu_model import write_model_sources
from .wire import FaultConfig, Wire

#: --port names -> (QEMU machine, firmware BOARD)
BOARDS = {"qemu-m4": ("mps2-an386", "an386"), "qemu-m7": ("mps2-an500", "an500")}
BANNER = b"SEMQAM-MCU "
#: Firmware kernels (mcu/Makefile KERNELS): the Armv7E-M DSP port, or the portable reference
#: kernels only; the same integers, different instruction counts.
KERNELS = ("dsp", "reference")
#: The firmware's budgets (docs/mcu.md): RAM incl. the stack; flash beyond the model's arrays.
RAM_BUDGET = 48 * 1024
FLASH_OVERHEAD_BUDGET = 16 * 1024


class QemuError(RuntimeError):
    """The firmware could not be built or did not come up; the message says what was seen."""


def firmware_dir() -> Path:
    """The firmware sources (``mcu/`` beside ``csrc/``): the copy an installed package ships
    (``semqam_node/_firmware``, setup.py), else the source tree's ``device_runtime/mcu``."""
    here = Path(__file__).resolve().parent
    for mcu in (here / "_firmware" / "mcu", here.parents[1] / "mcu"):
        if (mcu / "Makefile").is_file() and (mcu.parent / "csrc" / "semqam_core.h").is_file():
            return mcu
    raise QemuError(f"firmware sources not found beside {here} (no _firmware/mcu); reinstall "
                    "semqam-node from the repository: pip install ./device_runtime")


def firmware_cache(bundle: str | Path) -> Path:
    """Where the firmware for ``bundle`` is built: ``$SEMQAM_FIRMWARE_CACHE`` (else
    ``$XDG_CACHE_HOME/semqam/firmware``, else ``~/.cache/semqam/firmware``) / the first 16 hex
    digits of the SHA-256 of its ``manifest.json`` (the bundle's identity in the image)."""
    root = os.environ.get("SEMQAM_FIRMWARE_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semqam" / "firmware"
    sha = hashlib.sha256((Path(bundle) / MANIFEST).read_bytes()).hexdigest()
    return Path(root) / sha[:16]


def build_firmware(port: str, bundle: str | Path, mcu_dir: str | Path, build_dir: str | Path,
                   kernels: str = "dsp") -> Path:
    """Generate the bundle's model sources and ``make`` the firmware with ``kernels``
    (:data:`KERNELS`); return the ELF path (make rebuilds only what changed)."""
    if port not in BOARDS:
        raise ValueError(f"port {port!r}; choose one of {', '.join(BOARDS)}")
    if kernels not in KERNELS:
        raise ValueError(f"kernels {kernels!r}; choose one of {', '.join(KERNELS)}")
    if shutil.which("arm-none-eabi-gcc") is None:
        raise QemuError("arm-none-eabi-gcc not found; run `make mcu-tools` (apt-get install "
                        "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
    board = BOARDS[port][1]
    build_dir = Path(build_dir).resolve()
    model = write_model_sources(bundle, build_dir / "model")
    out = build_dir / (board if kernels == "dsp" else f"{board}-{kernels}")
    r = subprocess.run(["make", "-s", "-C", str(Path(mcu_dir).resolve()), f"BOARD={board}",
                        f"MODEL_DIR={model}", f"BUILD_DIR={out}", f"KERNELS={kernels}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise QemuError(f"firmware build for {board} failed:\n{r.stdout}{r.stderr}")
    return out / f"semqam-{board}.elf"


class QemuNode:
    """``qemu-system-arm`` running a firmware ELF; ``sock`` is the connected UART."""

    def __init__(self, port: str, elf: str | Path, boot_timeout: float = 20.0,
                 qemu_args: tuple[str, ...] = ()) -> None:
        if port not in BOARDS:
            raise ValueError(f"port {port!r}; choose one of {', '.join(BOARDS)}")
        if shutil.which("qemu-system-arm") is None:
            raise QemuError("qemu-system-arm not found; run `make mcu-tools`")
        self.machine = BOARDS[port][0]
        self.elf = Path(elf)
        self.boot_timeout = boot_timeout
        self.qemu_args = tuple(qemu_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.banner = ""
        self.tcp_port = 0

    def start(self) -> QemuNode:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.tcp_port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen(
            ["qemu-system-arm", "-M", self.machine, "-nographic", "-monitor", "none", "-serial",
             f"tcp:127.0.0.1:{self.tcp_port},server=on,wait=on,nodelay=on",
             "-kernel", str(self.elf), *self.qemu_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.boot_timeout
        while self.sock is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.tcp_port), timeout=1)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise QemuError(self._why("QEMU did not open its UART socket")) from None
                time.sleep(0.05)
        buf = b""
        self.sock.settimeout(0.5)
        while b"\n" not in buf[buf.find(BANNER):] or BANNER not in buf:
            if time.monotonic() > deadline:
                raise QemuError(self._why(f"no banner after {self.boot_timeout:.0f} s; "
                                          f"received {buf[:200]!r}"))
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise QemuError(self._why(f"UART closed; received {buf[:200]!r}"))
            buf += chunk
        line = buf[buf.find(BANNER):]
        self.banner = line[:line.find(b"\n")].decode("ascii", "replace")
        self.sock.settimeout(None)
        return self

    def banner_field(self, key: str) -> str | None:
        for part in self.banner.split():
            if part.startswith(key + "="):
                return part.split("=", 1)[1]
        return None

    def _why(self, what: str) -> str:
        out = b""
        if self.proc is not None and self.proc.poll() is not None and self.proc.stdout:
            out = self.proc.stdout.read() or b""
        tail = ": " + out.decode(errors="replace") if out else ""
        return f"{what} ({self.machine}, {self.elf}){tail}"

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> QemuNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class QemuSession:
    """``--port qemu-m4|qemu-m7``: the firmware for ``bundle`` built (if needed, into
    ``build_dir``, default :func:`firmware_cache`) and run on QEMU, its UART socket joined by a
    :class:`~.wire.Wire` to a host-side pty (``port``), as for a virtual node: the wire paces
    (``pace``: both directions at ``baud``) and injects ``faults``.
    """

    def __init__(self, port: str, bundle: str | Path, *, build_dir: str | Path | None = None,
                 baud: int = 115200, pace: bool = False, faults: FaultConfig | None = None,
                 boot_timeout: float = 20.0, qemu_args: tuple[str, ...] = (),
                 kernels: str = "dsp") -> None:
        if port not in BOARDS:
            raise ValueError(f"port {port!r}; choose one of {', '.join(BOARDS)}")
        if kernels not in KERNELS:
            raise ValueError(f"kernels {kernels!r}; choose one of {', '.join(KERNELS)}")
        self.kernels = kernels
        self.qemu_args = tuple(qemu_args)
        self.board_port = port
        self.bundle = Path(bundle)
        self.build_dir = Path(build_dir) if build_dir is not None else None
        self.baud = baud
        self.pace = pace
        self.faults = faults
        self.boot_timeout = boot_timeout
        self.elf: Path | None = None
        self.qemu: QemuNode | None = None
        self.wire: Wire | None = None
        self.port = ""
        self._master: int | None = None

    @property
    def paced(self) -> str:
        return (f"wire paced at {self.baud} baud" if self.pace else "not paced") + \
            f" ({self.board_port} on QEMU {BOARDS[self.board_port][0]})"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.qemu.proc if self.qemu is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> QemuSession:
        from .virtual import _open_pty

        build = self.build_dir or firmware_cache(self.bundle)
        self.elf = build_firmware(self.board_port, self.bundle, firmware_dir(), build,
                                  self.kernels)
        self.qemu = QemuNode(self.board_port, self.elf, self.boot_timeout,
                             self._qemu_args(self.elf)).start()
        assert self.qemu.sock is not None
        self._master, self.port = _open_pty()
        self.wire = Wire(self.qemu.sock.fileno(), self._master, baud=self.baud, pace=self.pace,
                         faults=self.faults)
        self.wire.start()
        return self

    def _qemu_args(self, elf: Path) -> tuple[str, ...]:
        return self.qemu_args

    def close(self) -> None:
        if self.wire is not None:
            self.wire.stop()
            self.wire = None
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self.qemu is not None:
            self.qemu.close()
            self.qemu = None

    def __enter__(self) -> QemuSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _model_symbols(bundle: str | Path) -> set[str]:
    """Names of the C symbols sqm_model.c defines (the model in flash)."""
    from .mcu_model import load_bundle_model

    _, meta, _ = load_bundle_model(bundle)
    layers = [n.replace(".", "_") for c in ("trunk", "z_head", "sci_head")
              for n in (meta.get(c) or [])]
    parts = ("weights", "bias", "multiplier", "shift", "scale")
    return {f"{c}_{p}" for c in layers for p in parts} | {
        "sqm_logistic_lut", "sqm_layers", "sqm_graph", "sqm_codebook", "sqm_const_semantic",
        "sqm_const_standard", "sqm_policy_k", "sqm_policy"}


def footprint(port: str, bundle: str | Path, build_dir: str | Path | None = None,
              ) -> dict[str, int | bool | str]:
    """Flash and RAM of the firmware for ``bundle`` on ``port``'s board, against the budgets.

    ``text`` / ``data`` / ``bss`` from ``arm-none-eabi-size`` (bss includes the reserved
    stack); ``model_bytes``: the model's arrays (``arm-none-eabi-nm -S`` over the symbols of
    sqm_model.c); ``stack_bytes``: the stack high-water mark measured on QEMU (the startup code
    paints the stack, STATS reports the deepest painted word overwritten) after encoding one
    sample at K = N, the deepest path. Budgets: ``ram = data + bss <= 48 KiB``,
    ``flash = text + data <= model_bytes + 16 KiB``.
    """
    from .host import NodeClient

    build = Path(build_dir) if build_dir is not None else firmware_cache(bundle)
    elf = build_firmware(port, bundle, firmware_dir(), build)
    text, data, bss = (int(v) for v in
                       (elf.parent / "size.txt").read_text().split("\n")[1].split()[:3])
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                        check=True).stdout
    names = _model_symbols(bundle)
    model = sum(int(f[1], 16) for f in (line.split() for line in nm.splitlines())
                if len(f) == 4 and f[3] in names)
    with QemuSession(port, bundle, build_dir=build) as q, NodeClient(q.port, timeout=5) as c:
        info = c.hello()
        c.set_snr(20.0, k=info.n_concepts)
        c.encode(bytes(range(256)) * (info.input_size // 256) + bytes(info.input_size % 256))
        stats = c.stats()
    stack = int(stats["stack_bytes"])  # type: ignore[arg-type]
    stack_size = int(stats["stack_size"])  # type: ignore[arg-type]
    ram, flash = data + bss, text + data
    return {"port": port, "board": BOARDS[port][0], "order": info.order, "text": text,
            "data": data, "bss": bss,
            "stack_size": stack_size, "stack_bytes": stack, "static_ram": ram - stack_size,
            "ram": ram, "ram_budget": RAM_BUDGET, "flash": flash, "model_bytes": model,
            "flash_budget": model + FLASH_OVERHEAD_BUDGET,
            "fits": ram <= RAM_BUDGET and flash <= model + FLASH_OVERHEAD_BUDGET
            and stack < stack_size}


#: The stages of one INPUT, in the order the node reads its clock (sq_server.c input_reply):
#: the frame stage runs from the closing delimiter to the encoder's start.
ICOUNT_STAGES = ("frame", "neural", "select", "quantize", "map")


def build_icount_plugin(out_dir: str | Path) -> Path:
    """Compile the instruction-counting TCG plugin (mcu/plugin/sq_icount.c) with the host C
    compiler; return the ``.so``."""
    src = firmware_dir() / "plugin" / "sq_icount.c"
    so = Path(out_dir) / "sq_icount.so"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise QemuError("no host C compiler (cc/gcc) for the QEMU plugin; install gcc")
    if not so.exists() or so.stat().st_mtime < src.stat().st_mtime:
        so.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([cc, "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(so), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise QemuError(f"building the QEMU plugin failed:\n{r.stderr}")
    return so


def _symbol(elf: Path, name: str) -> int:
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                        check=True).stdout
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    raise QemuError(f"{elf}: no symbol {name}")


class IcountSession(QemuSession):
    """A :class:`QemuSession` whose QEMU runs the ``sq_icount`` plugin: every clock read and
    every UART write of the firmware is logged with the exact instruction count
    (:meth:`stage_instructions`)."""

    def __init__(self, port: str, bundle: str | Path, **kw: object) -> None:
        super().__init__(port, bundle, **kw)  # type: ignore[arg-type]
        self.log_path: Path | None = None

    def _qemu_args(self, elf: Path) -> tuple[str, ...]:
        so = build_icount_plugin(elf.parent)
        self.log_path = elf.parent / f"icount-{os.getpid()}-{id(self)}.log"
        return ("-plugin", f"{so},clock={_symbol(elf, 'board_now_us'):#x},"
                f"write={_symbol(elf, 'board_write'):#x},out={self.log_path}")

    def stage_instructions(self) -> list[dict[str, int]]:
        """Instructions per stage of every INPUT answered so far with SYMBOLS, in order: the
        last six clock reads before each reply are the frame mark and the five stage marks
        (:data:`ICOUNT_STAGES`); a reply after fewer (not an encode) is skipped."""
        assert self.log_path is not None
        marks: list[int] = []
        out = []
        for line in self.log_path.read_text().splitlines():
            kind, _, value = line.partition(" ")
            if kind == "C":
                marks.append(int(value))
            elif kind == "W" and marks:
                if len(marks) >= 6:
                    t = marks[-6:]
                    out.append({name: t[i + 1] - t[i] for i, name in enumerate(ICOUNT_STAGES)})
                marks = []
        return out

    def close(self) -> None:
        super().close()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


def profile_instructions(port: str, bundle: str | Path, samples: list[bytes], snr_db: float,
                         k: int | None = None, constellation: str = "semantic",
                         build_dir: str | Path | None = None, kernels: str = "dsp"
                         ) -> dict[str, object]:
    """Exact instructions per stage (:data:`ICOUNT_STAGES`) of the firmware on ``port`` for
    each of ``samples`` (one INPUT at a time) at ``snr_db`` (``k``: forced K), counted by the
    ``sq_icount`` plugin. Returns ``{"k", "samples", "per_sample": [...], "median": {stage: n},
    "min", "max", "encode_median", "kernels"}`` (encode = neural + select + quantize + map,
    sq_encode); ``kernels``: the firmware's (:data:`KERNELS`)."""
    from statistics import median

    from .host import NodeClient

    with IcountSession(port, bundle, build_dir=build_dir, kernels=kernels) as q, \
            NodeClient(q.port, timeout=30) as c:
        c.hello()
        c.configure(constellation)
        ack = c.set_snr(snr_db, k=k)
        for u in samples:
            c.encode(u)
        c.ping()  # the last SYMBOLS write is logged before its PONG
        per = q.stage_instructions()
    if len(per) != len(samples):
        raise QemuError(f"the plugin saw {len(per)} encodes for {len(samples)} samples")
    enc = [sum(s[n] for n in ICOUNT_STAGES[1:]) for s in per]
    return {"k": ack.k, "samples": len(per), "per_sample": per, "kernels": kernels,
            "median": {n: median(s[n] for s in per) for n in ICOUNT_STAGES},
            "min": {n: min(s[n] for s in per) for n in ICOUNT_STAGES},
            "max": {n: max(s[n] for s in per) for n in ICOUNT_STAGES},
            "encode_median": median(enc)}
