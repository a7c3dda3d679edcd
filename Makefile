# semqam: two set-up commands on a fresh machine, `make hil` and `make test`.
# Both create .venv and install everything the target needs.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SEMQAM := $(VENV)/bin/semqam
STAMP := $(VENV)/.installed
NODE_STAMP := $(VENV)/.node-installed
NODE_SOURCES := $(shell find device_runtime -type f \( -name '*.py' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' -o -name '*.toml' -o -name '*.ld' -o -name Makefile \) -not -path '*/build/*' 2>/dev/null)
# CPU TensorFlow unless an NVIDIA driver is present.
# apt-get needs root; `sudo` when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TF_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)

DATASET ?= mnist
ORDER ?= 256
PROFILE ?= quick
RUN ?= runs/$(DATASET)-$(ORDER)
RESULTS ?= results/$(DATASET)-$(ORDER)
SNR ?= -10:20:5

.PHONY: all venv test lint hil train export bench soak clean cross-tools mcu-tools

all: hil

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(TF_EXTRA),dev,cluster]"
	touch $(STAMP)

# The node runtime is its own distribution, installed the way a Pi installs it (builds the
# Cython extension over the C99 core; no TensorFlow).
$(NODE_STAMP): $(STAMP) $(NODE_SOURCES)
	$(PY) -m pip install --quiet ./device_runtime
	touch $(NODE_STAMP)

venv: $(STAMP) $(NODE_STAMP)

lint: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check --no-cache .

# The AArch64 cross toolchain and qemu user mode: the C core's NEON / sdot ports are tested
# under qemu-aarch64 in `make test` (a Raspberry Pi is AArch64).
CROSS_TOOLS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
cross-tools:
	@if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then \
	  echo "installing $(CROSS_TOOLS) (apt-get, no recommends)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(CROSS_TOOLS); \
	fi

# The bare-metal Arm toolchain (newlib) and qemu-system-arm: the Cortex-M firmware
# (device_runtime/mcu/) and the C link layer's firmware build are tested on QEMU's mps2 boards
# in `make test` (about 13 MB to download when the apt cache is warm, 112 MB of archives cold).
MCU_TOOLS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
mcu-tools:
	@if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 || ! command -v qemu-system-arm >/dev/null 2>&1 \
	  || [ ! -f /usr/lib/arm-none-eabi/newlib/libc.a ]; then \
	  echo "installing $(MCU_TOOLS) (apt-get, no recommends)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(MCU_TOOLS); \
	fi

# Host suite, then the node package's own suite in a separate process (its guard fails the run
# if it imports TensorFlow or a host package), then the HIL suite again against the Cortex-M4F
# firmware on QEMU (the fault test through the wire).
test: lint cross-tools mcu-tools
	$(PY) -m pytest -q
	cd device_runtime && $(abspath $(PY)) -m pytest -q
	$(PY) -m pytest -q -p no:cacheprovider hil_tests --port qemu-m4

# Train the quick profile on the embedded default data set (if no complete run exists yet).
train: $(STAMP) $(NODE_STAMP)
	@if [ -f $(RUN)/run.json ]; then echo "using existing run $(RUN) (delete it to retrain)"; \
	else $(SEMQAM) train --dataset $(DATASET) --order $(ORDER) --profile $(PROFILE) --out $(RUN); fi

# Lab signing key: bundles are signed with KEY.key; nodes trust only KEY.pub.
KEY ?= build/keys/lab
PORT ?= virtual
# PORT=qemu-m4 | qemu-m7: the Cortex-M firmware with the bundle built in, on QEMU's mps2-an386
# (M4F, Q31) / mps2-an500 (M7, double); needs the bare-metal toolchain (mcu-tools, docs/mcu.md).
QEMU_PORT := $(filter qemu-m4 qemu-m7,$(PORT))
# A Linux node runs the 16x8 bundle (int16 activations, int8 weights: the float model's codeword
# for >= 99.5 % of the sent concepts), the MCU firmware the int8 one (docs/bundle.md "16x8").
# ACTIVATIONS=int8 on a Linux node: the faster int8 bundle, in its own folder.
ACTIVATIONS ?= $(if $(QEMU_PORT),int8,int16)
ASUF := $(if $(filter int8,$(ACTIVATIONS)),-int8)
BUNDLE ?= build/$(DATASET)-$(ORDER)$(ASUF)
HIL_OUT ?= results/hil-$(DATASET)-$(ORDER)$(ASUF)$(if $(QEMU_PORT),-$(QEMU_PORT))

$(KEY).key: | $(STAMP) $(NODE_STAMP)
	$(SEMQAM) keygen --out $(KEY)

# Quantize, package and sign the run for a node (int8 / 16x8 TFLite, C arrays, ONNX edge
# decoder, manifest). Re-exported when the run is newer, or the bundle is unsigned, incomplete
# or of other activations.
export: train $(NODE_STAMP) $(KEY).key
	@if [ -f $(BUNDLE)/manifest.json ] && [ $(BUNDLE)/manifest.json -nt $(RUN)/run.json ] \
	  && grep -q '"signature"' $(BUNDLE)/manifest.json && [ -f $(BUNDLE)/classifier.onnx ] \
	  && grep -q '"activations": "$(ACTIVATIONS)"' $(BUNDLE)/manifest.json; then \
	  echo "using existing bundle $(BUNDLE) (delete it to re-export)"; \
	else $(SEMQAM) export --run $(RUN) --out $(BUNDLE) --key $(KEY).key --force \
	  --activations $(ACTIVATIONS); fi

# The main job: the node program on a pty pair (PORT=virtual), the MCU firmware on QEMU
# (PORT=qemu-m4 | qemu-m7) or a board (PORT=/dev/ttyUSB0) runs the bundle; every test sample at
# every SNR goes node -> link -> channel -> edge.
hil: export $(if $(QEMU_PORT),mcu-tools)
	$(SEMQAM) hil --bundle $(BUNDLE) --port $(PORT) --trust $(KEY).pub --snr $(SNR) \
	  --out $(HIL_OUT)

# Long link soak (200k frames through the corruption fuzzer), kept out of `make test`.
soak: $(STAMP) $(NODE_STAMP)
	cd device_runtime && $(abspath $(PY)) -m pytest -q -m soak tests/test_link.py

# Benchmarks (not tests): issue 17's node speed ratios on the M = 1024 bundles, 16x8 and int8
# side by side (c encode vs XNNPACK, nearest codeword vs reference C and NumPy, framing, pty
# throughput, RSS, import time), then channel throughput. RUN=... exports another M = 1024 run.
bench: $(STAMP) $(NODE_STAMP)
	$(MAKE) export DATASET=mnist ORDER=1024 ACTIVATIONS=int16
	$(MAKE) export DATASET=mnist ORDER=1024 ACTIVATIONS=int8
	$(SEMQAM) bench-speed --bundle build/mnist-1024 --int8-bundle build/mnist-1024-int8 --k 32 \
	  --trust $(KEY).pub --out results/bench/speed.json
	$(SEMQAM) bench-channel

clean:
	rm -rf runs results build
