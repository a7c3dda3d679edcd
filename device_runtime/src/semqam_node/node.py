"""The sensor node: one verified bundle, one sample in, K semantic QAM symbols out.

Per sample (docs/bundle.md, "Node per-sample computation"):

.. math::

    q = u - 128, \\quad (z_q, l_q, s_q) = g(q), \\quad
    \\mathcal{P} = \\operatorname{top}_K(l_q), \\quad
    i_p = \\arg\\min_m \\sum_d (z_q[p, d] - c_q[m, d])^2 \\; (p \\in \\mathcal{P}), \\quad
    \\text{symbol}_p = \\text{const}_q[i_p]

with ``g`` the int8 encoder + SCI graph (its fully connected layers requantize as
``round(acc · s_in s_w[c] / s_out)`` in double, half away from zero, like LiteRT's reference
kernels; ``integer_only=True`` uses the Q31 multipliers of an MCU), top-K on the SCI logit ``l_q``
most important first with ties to the lower slot,
the argmin in integers with ties to the lower index, and I/Q in Q-format int16. Backend ``"c"``
runs everything in the C core; backend ``"litert"`` runs ``g`` in the LiteRT interpreter (reference
kernels by default, so both backends give identical symbols) and the rest in the C core.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from semqam_node import __version__, _core
from semqam_node.bundle import MANIFEST, BundleError, key_id, load_public_key, verify_bundle
from semqam_node.conventions import (
    CONSTELLATIONS,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    node_input,
    sample_bytes,
)
from semqam_node.conventions import ENCODE_STAGES as STAGES
from semqam_node.model_file import ModelLimits, check_node_model, codebook_key, load_node_model

from .stats import summarize

BACKENDS = ("c", "litert")
#: LiteRT op resolvers: "reference" = BUILTIN_REF (bit-exact with the C core), "default" =
#: the interpreter's default (optimized kernels + XNNPACK; faster, may differ by 1 LSB).
LITERT_KERNELS = {"reference": "BUILTIN_REF", "default": "AUTO"}
TIMING_WINDOW = 1024
NODE_MODEL = "node_model.npz"
TFLITE_MODEL = "encoder_sci_int8.tflite"
#: the bundle's full-integer encoder per ``meta.activations`` (never a path taken from the bundle)
TFLITE_MODELS = {"int8": TFLITE_MODEL, "int16": "encoder_sci_int16.tflite"}


@dataclass(frozen=True)
class Encoded:
    """One encoded sample: ``positions`` uint16 [K] (most important first), ``indices`` uint16
    [K] (concept index per selected slot), ``iq`` int16 [K, 2] (Q-format I/Q), ``k``, and the
    per-stage ``timings_ns`` ("neural", "select", "quantize", "map")."""

    positions: np.ndarray
    indices: np.ndarray
    iq: np.ndarray
    k: int
    timings_ns: dict[str, int]


class NeuralOutputs(NamedTuple):
    """The int8 graph outputs: ``z`` [N, D], ``logit`` [N] (the SCI logit the node ranks on)
    and ``sci`` [N] (the SCI after the logistic, scale 1/256, zero point -128)."""

    z: np.ndarray
    logit: np.ndarray
    sci: np.ndarray


class _Ring:
    """A fixed-size ring of int64 nanosecond samples: memory stays flat however long it runs."""

    __slots__ = ("count", "data", "pos")

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, np.int64)
        self.pos = 0
        self.count = 0

    def add(self, ns: int) -> None:
        self.data[self.pos] = ns
        self.pos = (self.pos + 1) % len(self.data)
        self.count += 1

    def window(self) -> np.ndarray:
        return self.data[: min(self.count, len(self.data))]


def check_limits(meta: dict[str, Any], arrays: Any, limits: dict[str, Any]) -> None:
    """Raise :class:`BundleError` if the model does not fit the compiled ``SQ_MAX_*`` limits."""
    def fail(what: str, value: int, limit: str) -> None:
        raise BundleError(
            f"{NODE_MODEL}: {what} = {value} exceeds this runtime's {limit.upper()} = "
            f"{limits[limit]}; rebuild the runtime with CFLAGS=-D{limit.upper()}=... "
            "(pip install ./device_runtime) or export a smaller model")

    n, d = int(meta["n_concepts"]), int(meta["latent_dim"])
    checks = [("N (n_concepts)", n, "sq_max_n"), ("D (latent_dim)", d, "sq_max_d"),
              ("N*D", n * d, "sq_max_layer_width"),
              ("input_size", int(meta["input_size"]), "sq_max_layer_width")]
    if "codebook_int8" in arrays:
        checks.append(("M (codebook size)", int(arrays["codebook_int8"].shape[0]), "sq_max_m"))
    if "policy_k" in arrays:
        checks.append(("policy length", int(arrays["policy_k"].shape[0]),
                       "sq_max_policy_len"))
    for chain in ("trunk", "z_head", "sci_head"):
        names = meta.get(chain) or []
        checks.append((f"{chain} layers", len(names), "sq_max_chain_layers"))
        for name in names:
            key = f"{name}.weights"
            if key in arrays:
                checks.append((f"{name} width", max(arrays[key].shape), "sq_max_layer_width"))
    for what, value, limit in checks:
        if value > limits[limit]:
            fail(what, value, limit)


def _c_limits() -> dict[str, Any]:
    lim = _core.limits()
    return {"sq_max_" + k[4:] if k.startswith("max_") else k: v for k, v in lim.items()}


def load_interpreter(model: bytes, kernels: str, num_threads: int = 1):
    """A LiteRT interpreter (``tflite_runtime`` fallback) on ``model`` with allocated tensors;
    ``kernels``: ``reference`` (bit-exact with the C core) or ``default`` (XNNPACK)."""
    try:
        from ai_edge_litert import interpreter as mod
    except ImportError:
        try:
            from tflite_runtime import interpreter as mod  # type: ignore[no-redef]
        except ImportError:
            raise ImportError(
                "backend 'litert' needs a TFLite interpreter: pip install ai-edge-litert "
                "(x86_64 / aarch64 Linux), or tflite-runtime on older systems") from None
    resolver_type = getattr(mod, "OpResolverType", None)
    kwargs: dict[str, Any] = {"model_content": model, "num_threads": num_threads}
    if resolver_type is not None:
        kwargs["experimental_op_resolver_type"] = getattr(resolver_type, LITERT_KERNELS[kernels])
    elif kernels == "reference":
        raise ImportError(f"{mod.__name__} has no OpResolverType, so it cannot run the reference "
                          "kernels the C core matches; install ai-edge-litert or pass "
                          "litert_kernels='default'")
    it = mod.Interpreter(**kwargs)
    it.allocate_tensors()
    return it


class Node:
    """A sensor node over one deployment bundle.

    Parameters
    ----------
    bundle_dir : the bundle folder (``semqam export``); verified with
        :func:`~semqam_node.bundle.verify_bundle` before anything is loaded.
    backend : ``"c"`` (whole path in the C core) or ``"litert"`` (graph in the LiteRT
        interpreter, the rest in the C core).
    constellation : ``"semantic"`` (learned) or ``"standard"`` (square QAM) I/Q table.
    trust : a public key file (``NAME.pub``): the bundle must carry a valid signature by it.
    k : initial K (default N, every concept); changed by :meth:`set_snr` or :attr:`k`.
    litert_kernels : ``"reference"`` (bit-exact with the C core) or ``"default"`` (faster,
        may differ by 1 LSB).
    integer_only : run the C graph with the Q31 multipliers instead of the double-precision
        scales, as an MCU without a double FPU does (differs from the reference at rare
        near-ties; off by default).
    timing_window : samples kept per stage for :meth:`timing_summary`.

    Raises :class:`BundleError` for a bundle that cannot be trusted or does not fit the compiled
    limits, ``ValueError`` for bad arguments. Not for concurrent use from many threads (one
    scratch area; calls are serialized by a lock).
    """

    def __init__(self, bundle_dir: str | Path, backend: str = "c",
                 constellation: str = "semantic", trust: str | Path | None = None,
                 k: int | None = None, litert_kernels: str = "reference", num_threads: int = 1,
                 timing_window: int = TIMING_WINDOW, integer_only: bool = False) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if constellation not in CONSTELLATIONS:
            raise ValueError(f"constellation must be one of {CONSTELLATIONS}, "
                             f"got {constellation!r}")
        if litert_kernels not in LITERT_KERNELS:
            raise ValueError(f"litert_kernels must be one of {tuple(LITERT_KERNELS)}, "
                             f"got {litert_kernels!r}")
        if not isinstance(timing_window, int) or timing_window < 1:
            raise ValueError(f"timing_window must be a positive int, got {timing_window!r}")
        self.bundle_dir = Path(bundle_dir)
        public_key = load_public_key(trust) if trust is not None else None
        self.manifest = verify_bundle(self.bundle_dir, public_key)
        self._trusted_key = key_id(public_key) if public_key is not None else None
        self.backend = backend
        self.constellation = constellation
        self.litert_kernels = litert_kernels if backend == "litert" else None

        arrays, self.meta = self._load_node_model(self.bundle_dir / NODE_MODEL)
        self.limits = _c_limits()
        check_limits(self.meta, arrays, self.limits)
        check_node_model(arrays, self.meta, self.manifest, ModelLimits(
            max_order=self.limits["sq_max_m"], max_concepts=self.limits["sq_max_n"],
            max_latent=self.limits["sq_max_d"], max_layer_width=self.limits["sq_max_layer_width"],
            max_chain_layers=self.limits["sq_max_chain_layers"],
            max_policy_len=self.limits["sq_max_policy_len"]), self.bundle_dir / NODE_MODEL)
        #: "int8", or "int16" for a 16x8 model (int16 activations; docs/bundle.md "16x8")
        self.activations = str(self.meta.get("activations", "int8"))
        wide = self.activations == "int16"
        if not wide:
            self._check_input_convention()
        table_key = f"const_{constellation}_q"
        cb_key = codebook_key(self.meta)
        for key in (table_key, cb_key, "policy_k"):
            if key not in arrays:
                raise BundleError(f"{self.bundle_dir / NODE_MODEL}: no '{key}' array; "
                                  "export the bundle again")
        self._input_lut = arrays["input_lut"] if wide else None
        model_cls = _core.CoreModel16 if wide else _core.CoreModel
        try:
            self._core = model_cls(arrays, self.meta, arrays[table_key],
                                   use_scale=not integer_only)
        except ValueError as e:
            raise BundleError(f"{self.bundle_dir / NODE_MODEL}: {e}; export the bundle "
                              "again") from None
        self.n_concepts = self._core.n_concepts
        self.latent_dim = self._core.latent_dim
        self.order = self._core.order
        self.input_size = self._core.input_size
        self.constellation_table = np.ascontiguousarray(arrays[table_key], np.int16)
        #: the integer codebook the node searches (int8, or int16 for a 16x8 model)
        self.codebook = np.ascontiguousarray(arrays[cb_key])
        self.codebook_int8 = None if wide else self.codebook
        self._policy = np.ascontiguousarray(arrays["policy_k"], np.uint16)
        self._policy_min = int(self.meta["policy_snr_min_cdb"])
        self._policy_step = int(self.meta["policy_step_cdb"])
        bad = self._policy[(self._policy < 1) | (self._policy > self.n_concepts)]
        if bad.size or self._policy_step < 1:
            raise BundleError(f"{self.bundle_dir / NODE_MODEL}: policy_k entries must lie in "
                              f"[1, {self.n_concepts}] on a grid step >= 1; export the bundle "
                              "again")
        self._lock = threading.Lock()
        self._rings: dict[str, _Ring] = {}
        self._timing_window = timing_window
        self._k = self.n_concepts
        if k is not None:
            self.k = k
        self._interp = None
        if backend == "litert":
            self._setup_litert(num_threads)

    # ---- loading ------------------------------------------------------------------------------
    @staticmethod
    def _load_node_model(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The used members only, bounded (:func:`semqam_node.model_file.load_node_model`)."""
        arrays, meta = load_node_model(path)
        required = ("n_concepts", "latent_dim", "input_size", "trunk", "z_head", "sci_head",
                    "policy_snr_min_cdb", "policy_step_cdb")
        missing = [key for key in required if key not in meta]
        if missing:
            raise BundleError(f"{path}: meta lacks {', '.join(missing)}; export the bundle again")
        return arrays, meta

    def _check_input_convention(self) -> None:
        scale = float(self.meta.get("input_scale", INPUT_SCALE))
        zp = int(self.meta.get("input_zero_point", INPUT_ZERO_POINT))
        if abs(scale - INPUT_SCALE) > 1e-9 or zp != INPUT_ZERO_POINT:
            raise BundleError(f"{self.bundle_dir / NODE_MODEL}: input quantization (scale "
                              f"{scale:.6g}, zero point {zp}) is not the node's 1/255, -128 "
                              "(q = u - 128); export the bundle again")

    def _setup_litert(self, num_threads: int) -> None:
        tflite = self.bundle_dir / TFLITE_MODELS[self.activations]
        model = tflite.read_bytes()
        it = load_interpreter(model, self.litert_kernels or "reference", num_threads)
        inp = it.get_input_details()
        dtype = np.int16 if self.activations == "int16" else np.int8
        if len(inp) != 1 or inp[0]["dtype"] != dtype or int(np.prod(inp[0]["shape"])) != \
                self.input_size:
            raise BundleError(f"{tflite}: expected one "
                              f"{np.dtype(dtype).name} input of {self.input_size} values, "
                              f"got {inp}")
        outs = {d["name"]: d for d in it.get_output_details()}
        names = self.meta.get("output_names") or {}
        n, d = self.n_concepts, self.latent_dim

        def find(key: str, size: int) -> int:
            if names.get(key) in outs:
                return int(outs[names[key]]["index"])
            sized = [o for o in outs.values() if int(np.prod(o["shape"])) == size]
            if not names and len(sized) == 1:  # bundles without output_names: tell by size
                return int(sized[0]["index"])
            raise BundleError(f"{tflite}: cannot find the {key} "
                              f"output (meta.output_names = {names}); export the bundle again")

        self._in_index = int(inp[0]["index"])
        self._in_shape = tuple(int(v) for v in inp[0]["shape"])
        self._z_index = find("z", n * d)
        self._sci_index = find("sci", n)
        self._logit_index = None
        if self._core.rank_by == "sci_logit":
            self._logit_index = find("sci_logit", n)
        self._interp = it

    # ---- configuration ------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """The number of concepts sent per sample, in [1, N]."""
        return self._k

    @k.setter
    def k(self, value: int) -> None:
        self._k = self._check_k(value)

    def _check_k(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or \
                not 1 <= k <= self.n_concepts:
            raise ValueError(f"K must be an integer in [1, {self.n_concepts}] (N), got {k!r}")
        return int(k)

    def set_snr(self, snr_cdb: int) -> int:
        """Set K from SNR feedback in centi-dB (int16) through the policy table; return K."""
        if isinstance(snr_cdb, bool) or not isinstance(snr_cdb, (int, np.integer)) or \
                not -32768 <= snr_cdb <= 32767:
            raise ValueError(f"snr_cdb must be an int16 in centi-dB [-32768, 32767], "
                             f"got {snr_cdb!r}")
        self._k = _core.policy_k(self._policy, self._policy_min, self._policy_step,
                                 int(snr_cdb), self.n_concepts)
        return self._k

    # ---- per sample ---------------------------------------------------------------------------
    def _as_u8(self, sample: Any) -> np.ndarray:
        """The sample as contiguous uint8 [input_size]: raw bytes, a uint8 array, or a float
        array in [0, 1] mapped to ``floor(255 x + 0.5)``."""
        if isinstance(sample, (bytes, bytearray, memoryview)):
            u = np.frombuffer(sample, np.uint8)
        elif isinstance(sample, np.ndarray):
            if sample.dtype == np.uint8:
                u = sample.reshape(-1)
            elif sample.dtype in (np.float32, np.float64):
                if not np.all(np.isfinite(sample)):
                    raise ValueError("float sample holds NaN or inf; send finite values in [0, 1]")
                if sample.size and (sample.min() < 0.0 or sample.max() > 1.0):
                    raise ValueError(f"float sample must lie in [0, 1], got "
                                     f"[{sample.min():.4g}, {sample.max():.4g}]")
                u = sample_bytes(sample.reshape(-1))
            else:
                raise ValueError(f"sample must be uint8 bytes/array or float32 in [0, 1], got "
                                 f"dtype {sample.dtype}")
        else:
            raise ValueError(f"sample must be bytes, bytearray or a numpy array, got "
                             f"{type(sample).__name__}")
        if u.size != self.input_size:
            raise ValueError(f"sample must have {self.input_size} values (input_size), "
                             f"got {u.size}")
        return np.ascontiguousarray(u)

    def encode(self, sample: Any, k: int | None = None) -> Encoded:
        """Encode one sample into K symbols (``k`` defaults to :attr:`k`)."""
        u = self._as_u8(sample)
        kk = self._k if k is None else self._check_k(k)
        with self._lock:
            if self._interp is None:
                pos, idx, iq, t = self._core.encode_sample(u, kk)
                timings = dict(zip(STAGES, t, strict=True))
            else:
                t0 = time.perf_counter_ns()
                z, logit, sci = self._litert_run(u)
                scores = sci if logit is None else logit
                t1 = time.perf_counter_ns()
                pos, idx, iq, t = self._core.encode_neural(z, scores, kk)
                timings = {"neural": t1 - t0, **dict(zip(STAGES[1:], t, strict=True))}
            for name, ns in timings.items():
                self._ring(name).add(ns)
        return Encoded(positions=pos, indices=idx, iq=iq, k=kk, timings_ns=timings)

    def _litert_run(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        it = self._interp
        q = node_input(u, self._input_lut).reshape(self._in_shape)
        it.set_tensor(self._in_index, q)
        it.invoke()
        z = it.get_tensor(self._z_index).reshape(self.n_concepts, self.latent_dim)
        sci = it.get_tensor(self._sci_index).reshape(self.n_concepts)
        logit = (None if self._logit_index is None
                 else it.get_tensor(self._logit_index).reshape(self.n_concepts))
        return z, logit, sci

    def neural_int8(self, sample: Any) -> NeuralOutputs:
        """The int8 graph outputs (z [N, D], SCI logit [N], SCI [N]) of this node's backend."""
        u = self._as_u8(sample)
        with self._lock:
            if self._interp is None and self._input_lut is not None:
                z, logit = self._core.neural(u)
                sci = None  # a 16x8 node does not compute the int16 logistic
            elif self._interp is None:
                z, logit, sci = self._core.neural(_core.input_from_u8(u))
            else:
                z, logit, sci = (None if a is None else a.copy() for a in self._litert_run(u))
                if logit is None:
                    logit = sci
        return NeuralOutputs(z, logit, sci)

    def positional_bitmap(self, positions: np.ndarray) -> bytes:
        """The positional-ID bitmap of ``positions``: bit ``p & 7`` of byte ``p >> 3``."""
        return _core.position_bitmap(np.asarray(positions, np.uint16), self.n_concepts)

    # ---- timing -------------------------------------------------------------------------------
    def _ring(self, name: str) -> _Ring:
        ring = self._rings.get(name)
        if ring is None:
            ring = self._rings[name] = _Ring(self._timing_window)
        return ring

    def record_stage(self, name: str, ns: int) -> None:
        """Add a duration for a stage measured outside the node (e.g. the link's "frame")."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"stage name must be a non-empty str, got {name!r}")
        if isinstance(ns, bool) or not isinstance(ns, (int, np.integer)) or ns < 0:
            raise ValueError(f"ns must be a non-negative int of nanoseconds, got {ns!r}")
        self._ring(name).add(int(ns))

    def timing_summary(self) -> dict[str, dict[str, float]]:
        """Per stage: ``count`` (all time), ``window`` (samples kept), ``median_us``, ``p95_us``
        over the window."""
        out = {}
        order = [s for s in STAGES if s in self._rings] + \
            sorted(s for s in self._rings if s not in STAGES)
        for name in order:
            ring = self._rings[name]
            s = summarize(ring.window(), 1e-3)
            out[name] = {"count": ring.count, "window": s["n"],
                         "median_us": s["median"], "p95_us": s["p95"]}
        return out

    # ---- description --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Dimensions, compiled limits, backend and bundle identity."""
        manifest_path = self.bundle_dir / MANIFEST
        return {
            "runtime_version": __version__,
            "backend": self.backend,
            "litert_kernels": self.litert_kernels,
            "constellation": self.constellation,
            "bundle_dir": str(self.bundle_dir),
            "bundle_id": self.manifest.get("bundle_id"),
            "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
            "format_version": self.manifest.get("format_version"),
            "dataset": self.manifest.get("dataset"),
            "signed": bool(self.manifest.get("signature")),
            "trusted_key_id": self._trusted_key,
            "dims": {"n_concepts": self.n_concepts, "latent_dim": self.latent_dim,
                     "order": self.order, "input_size": self.input_size},
            "rank_by": self._core.rank_by,
            "requantization": self._core.requantization,
            "k": self._k,
            "limits": dict(self.limits),
            "scratch_bytes": self._core.scratch_bytes,
        }
