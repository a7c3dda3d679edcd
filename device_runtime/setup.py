"""Build of the ``semqam_node._core`` extension: the Cython binding plus the portable C99 core.

Everything else (metadata, dependencies, packages) lives in pyproject.toml. Build requirements
(setuptools, wheel, cython, numpy) come from its ``build-system.requires``; a C compiler and the
Python headers are all the machine needs (Raspberry Pi OS: ``python3-dev build-essential``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# Not csrc/tests. The port files compile on every target: their kernels carry per-function
# target attributes (no -mavx2 / -march here), code for other architectures compiles to nothing,
# and csrc/sq_dispatch.c picks the best port the CPU runs when the module loads, so one wheel
# serves plain x86-64, AVX2 and AVX-512 VNNI machines, and a Raspberry Pi (NEON, sdot on Pi 5).
CORE_SOURCES = [
    "csrc/sq_kernels.c",
    "csrc/sq_pipeline.c",
    "csrc/sq_graph16.c",  # the 16x8 graph (int16 activations)
    "csrc/sq_dispatch.c",
    "csrc/ports/x86_avx2.c",
    "csrc/ports/x86_avx512_vnni.c",
    "csrc/ports/aarch64_neon.c",
    "csrc/ports/armv7em_dsp.c",  # Cortex-M4/M7 only: empty elsewhere
    "csrc/link/sq_link.c",  # the link framing (COBS, CRC-32, frame decoder) the MCU runs too
]
# -ffp-contract=off: no fused multiply-add, so the double-precision requantization rounds exactly
# like the interpreter's (aarch64 would otherwise fuse).
CFLAGS = [] if sys.platform == "win32" else ["-std=c99", "-O3", "-ffp-contract=off"]

core = Extension(
    "semqam_node._core",
    sources=["src/semqam_node/_core.pyx", *CORE_SOURCES],
    depends=["csrc/semqam_core.h", "csrc/sq_internal.h", "csrc/link/sq_link.h",
             "csrc/link/sq_crc_tables.h"],
    include_dirs=["csrc", "csrc/link", np.get_include()],
    # SQL_CRC_SLICE8: the link layer's CRC-32 slice-by-8 (8 KB of tables; the MCU keeps 64 bytes)
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("SQL_CRC_SLICE8", "1")],
    extra_compile_args=CFLAGS,
)

HERE = Path(__file__).resolve().parent
# The Cortex-M firmware sources travel with the package (semqam_node/_firmware/{mcu,csrc}, the
# same relative layout), so `--port qemu-m4|qemu-m7` builds firmware from an installed package.
FIRMWARE = {"mcu": ("Makefile", "*.c", "*.h", "*.ld"), "csrc": ("Makefile", "*.c", "*.h")}


class build_py_firmware(build_py):  # noqa: N801 (setuptools command naming)
    """build_py plus the firmware sources (not csrc/tests) under semqam_node/_firmware."""

    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "semqam_node" / "_firmware"
        shutil.rmtree(dest, ignore_errors=True)
        for folder, patterns in FIRMWARE.items():
            for pattern in patterns:
                for src in (HERE / folder).rglob(pattern):
                    rel = src.relative_to(HERE)
                    if "tests" in rel.parts or "build" in rel.parts:
                        continue
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dest / rel)


setup(
    cmdclass={"build_py": build_py_firmware},
    ext_modules=cythonize(
        [core],
        build_dir="build/cython",  # generated C stays out of the source tree
        compiler_directives={"language_level": "3"},
    ),
)
