"""``semqam export``: a trained run folder -> a verified deployment bundle (docs/bundle.md).

Everything is written into a temporary folder beside ``out`` and renamed into place only when
complete, so a failed export never leaves a half bundle.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from semqam_node import mcu_model
from semqam_node.bundle import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    VERSION_KEY,
    BundleError,
    bundle_id,
    load_private_key,
    read_manifest,
    sha256_file,
    sign_manifest,
)
from semqam_node.conventions import (
    CONSTELLATIONS,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    node_input,
    sample_rows,
)
from semqam_node.model_file import codebook_key
from semqam_node.node import NODE_MODEL, TFLITE_MODELS

from edge.onnx_runtime import OnnxEdge
from firmware_export import c_arrays, tables
from firmware_export.convert import ACTIVATIONS, representative_samples, to_tflite
from firmware_export.onnx_export import export_classifier, export_decoder_classifier
from firmware_export.tflite_params import extract_node_model, meta_array, run_graph, run_graph16
from firmware_export.validate import TARGET_BUDGETS, agreement, float_sets, footprint
from semqam.errors import SemqamError
from semqam.fileio import atomic_dir
from trainer.svqvae.int8 import cached_node_sets, interpreter_outputs
from trainer.svqvae.scheme import NAME as SCHEME
from trainer.svqvae.scheme import Int8Transmitter

TARGETS = tuple(TARGET_BUDGETS)
VALIDATION_SNR_DB = (-10.0, 0.0, 20.0)
CALIBRATION_SIZE = 500


class ExportError(SemqamError, ValueError):
    """A run, key or output folder the exporter cannot use; the message names it and the fix."""


def _check_run_files(run_dir: Path) -> None:
    from trainer.svqvae.run import REQUIRED_FILES

    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: no such run folder; train one with "
                          f"`semqam train --out {run_dir}`")
    for name in REQUIRED_FILES:
        path = run_dir / name
        if not path.is_file():
            raise ExportError(f"{path}: missing from the run folder; re-run "
                              f"`semqam train --out {run_dir}`")
        if name.endswith(".keras") and not zipfile.is_zipfile(path):
            raise ExportError(f"{path}: corrupt (not a Keras archive); re-run "
                              f"`semqam train --out {run_dir} --force`")
        if name.endswith(".npy"):
            try:
                np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise ExportError(f"{path}: corrupt ({e}); re-run "
                                  f"`semqam train --out {run_dir} --force`") from None
        if name.endswith(".json"):
            try:
                json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise ExportError(f"{path}: corrupt ({e}); re-run "
                                  f"`semqam train --out {run_dir} --force`") from None


def _check_out(out: Path, force: bool) -> str | None:
    """The bundle id already at ``out`` (None if empty / absent); error if it is something else."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; choose another --out")
    if not any(out.iterdir()):
        return None
    if not (out / MANIFEST).is_file():
        if force:
            return None
        raise ExportError(f"{out}: exists and is not a bundle; choose another --out "
                          "or pass --force")
    try:
        return str(read_manifest(out).get("bundle_id"))
    except BundleError:
        if force:
            return None
        raise ExportError(f"{out}: holds an unreadable bundle; pass --force to "
                          "replace it") from None


def _tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("semqam", "tensorflow-cpu", "tensorflow", "keras", "numpy", "ai-edge-litert",
                "tf2onnx", "onnx", "onnxruntime", "cryptography"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


#: What a target's node runs unless told otherwise: a Linux node the 16x8 model (it sends the
#: float model's codeword for >= 99.5 % of the sent concepts; int8: ~98.5 %, docs/RESULTS.md
#: "The finer z head"), the MCU firmware int8 (its kernels and RAM budget are int8).
DEFAULT_ACTIVATIONS = {"linux": "int16", "cortex-m": "int8"}


def export_bundle(run_dir: str | Path, out: str | Path, *, target: str = "linux",
                  key: str | Path | None = None, force: bool = False,
                  calibration_size: int = CALIBRATION_SIZE, seed: int = 0,
                  progress=None, bundle_version: int | None = None,
                  activations: str | None = None) -> dict:
    """Export ``run_dir`` into the bundle folder ``out``; return the validation report.

    ``activations``: ``int8`` (full-integer int8, every node incl. the MCU firmware) or
    ``int16`` (16x8: int16 activations, int8 weights; the Linux node's C core and LiteRT,
    docs/bundle.md "16x8"); ``None``: the target's default, :data:`DEFAULT_ACTIVATIONS`.

    ``progress(message)`` is called before each stage. ``bundle_version`` is the manifest's
    anti-rollback counter (docs/bundle.md; default: the export time in seconds since the
    epoch, UTC, so later exports are newer). Raises :class:`ExportError` (one line).
    """
    if bundle_version is None:
        bundle_version = int(time.time())
    if isinstance(bundle_version, bool) or not isinstance(bundle_version, int) or \
            not 0 <= bundle_version < 1 << 63:
        raise ExportError(f"bundle version {bundle_version!r}; use an integer in [0, 2^63)")
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    run_dir, out = Path(run_dir), Path(out)
    if target not in TARGETS:
        raise ExportError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if target in DEFAULT_ACTIVATIONS and activations is None:
        activations = DEFAULT_ACTIVATIONS[target]
    if activations not in ACTIVATIONS:
        raise ExportError(f"unknown activations {activations!r}; choose one of "
                          f"{', '.join(ACTIVATIONS)}")
    if target == "cortex-m" and activations != "int8":
        raise ExportError("--target cortex-m: the MCU firmware runs int8 models; export with "
                          "--activations int8")
    private_key = None
    if key is not None:
        try:
            private_key = load_private_key(key)
        except BundleError as e:
            raise ExportError(str(e)) from None
    _check_run_files(run_dir)
    previous = _check_out(out, force)

    say("loading the run")
    from evaluation.evaluate import evaluate, run_dataset
    from trainer.svqvae.run import load_run

    run = load_run(run_dir)
    ds = run_dataset(run)
    pipe = run.pipeline

    with atomic_dir(out) as tmp:
        say(f"converting to TFLite (float and {'16x8' if activations == 'int16' else 'int8'})")
        calib = representative_samples(ds.x_train, calibration_size, seed)
        tfl_float = to_tflite(pipe.encoder_sci)
        tfl_int8 = to_tflite(pipe.encoder_sci, calib, activations)
        (tmp / "encoder_sci_float.tflite").write_bytes(tfl_float)
        (tmp / TFLITE_MODELS[activations]).write_bytes(tfl_int8)

        arrays, meta = extract_node_model(tfl_int8)
        if activations == "int16" and meta["input_zero_point"] != 0:
            raise ExportError(f"{run_dir}: the 16x8 input zero point came out as "
                              f"{meta['input_zero_point']}, not 0; this is a converter bug")
        if activations == "int8" and (abs(meta["input_scale"] - INPUT_SCALE) > 1e-9
                                      or meta["input_zero_point"] != INPUT_ZERO_POINT):
            raise ExportError(
                f"{run_dir}: the int8 input quantization came out as scale "
                f"{meta['input_scale']:.6g}, zero point {meta['input_zero_point']} instead of "
                "1/255, -128; the training inputs must lie in [0, 1]")
        cb = run.pipeline.codebook.astype(np.float32)
        arrays["codebook"] = cb
        if activations == "int16":
            arrays["codebook_int16"], clipped = tables.codebook_int16(cb, meta["z_scale"])
        else:
            arrays["codebook_int8"], clipped = tables.codebook_int8(cb, meta["z_scale"],
                                                                    meta["z_zero_point"])
        for name, c in run.constellations.items():
            arrays[f"const_{name}_q"], meta[f"const_{name}_frac_bits"] = \
                tables.constellation_q(c.points)
            arrays[f"const_{name}_float"] = np.stack(
                [np.real(c.points), np.imag(c.points)], 1).astype(np.float32)
        arrays["policy_k"], meta["policy_snr_min_cdb"], meta["policy_step_cdb"] = \
            tables.policy_lut(run.policy)
        meta.update(order=run.order, codebook_clipped=clipped, dataset=run.dataset_name)
        with open(tmp / "node_model.npz", "wb") as f:
            np.savez(f, meta=meta_array(meta), **arrays)

        say("writing C sources")
        (tmp / "c").mkdir()
        if target == "cortex-m":  # what the firmware runs, no .tflite (device_runtime/mcu)
            header, source = mcu_model.generate(arrays, meta, out.name)
            (tmp / "c" / mcu_model.HEADER_NAME).write_text(header)
            (tmp / "c" / mcu_model.SOURCE_NAME).write_text(source)
        else:
            header, source = c_arrays.generate(tfl_int8, arrays, meta, str(run_dir))
            (tmp / "c" / "semqam_model.h").write_text(header)
            (tmp / "c" / "semqam_model.c").write_text(source)

        say("exporting the edge decoder to ONNX")
        export_decoder_classifier(pipe.decoder, pipe.classifier, tmp / "decoder_classifier.onnx")
        export_classifier(pipe.classifier, tmp / "classifier.onnx")
        np.save(tmp / "codebook.npy", cb)
        for name in ("constellation_semantic.npy", "constellation_standard.npy", "policy.json"):
            shutil.copyfile(run_dir / name, tmp / name)

        say(f"validating float vs {activations}")
        report = _validate(run, ds, tfl_int8, arrays, meta, tmp, target, evaluate)
        report["codebook_clipped"] = clipped
        (tmp / "validation.json").write_text(json.dumps(report, indent=2) + "\n")

        say("writing the manifest")
        manifest = _manifest(run, tmp, meta, target, time.perf_counter() - t0)
        manifest[VERSION_KEY] = bundle_version
        if private_key is not None:
            manifest = sign_manifest(manifest, private_key)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        if previous is not None and previous != manifest["bundle_id"] and not force:
            raise ExportError(f"{out}: holds a different bundle ({previous}); pass --force to "
                              "replace it or choose another --out")
    report["export_seconds"] = round(time.perf_counter() - t0, 1)
    report["bundle_id"] = manifest["bundle_id"]
    report["signed"] = private_key is not None
    return report


def _manifest(run, folder: Path, meta: dict, target: str, seconds: float) -> dict:
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name == MANIFEST:
            continue
        files[name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    info = run.info
    wide = meta.get("activations") == "int16"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scheme": info.get("scheme", SCHEME),
        "bundle_id": bundle_id(files),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {"path": str(run.path.resolve()), "config": info.get("config"),
                "dataset": info.get("dataset"), "seed": info.get("config", {}).get("seed")},
        "dataset": run.dataset_name,
        "target": target,
        "order": run.order,
        "n_concepts": meta["n_concepts"],
        "latent_dim": meta["latent_dim"],
        "input": {"shape": meta["input_shape"], "dtype": "uint8", "scale": meta["input_scale"],
                  "zero_point": meta["input_zero_point"],
                  "convention": ("int16 input q = input_lut[u] for raw bytes u = round(255 x)"
                                 if wide else
                                 "int8 input q = u - 128 for raw bytes u = round(255 x)")},
        "activations": "int16" if wide else "int8",
        "quantization": {"z": [meta["z_scale"], meta["z_zero_point"]],
                         "sci_logit": [meta["sci_logit_scale"], meta["sci_logit_zero_point"]],
                         "sci": [meta["sci_scale"], meta["sci_zero_point"]],
                         "rank_by": meta["rank_by"]},
        "node_files": [TFLITE_MODELS["int16" if wide else "int8"], NODE_MODEL],
        "files": files,
        "tools": _tool_versions(),
        "export_seconds": round(seconds, 1),
    }


def _validate(run, ds, tfl_int8: bytes, arrays: dict, meta: dict, folder: Path, target: str,
              evaluate) -> dict:
    pipe = run.pipeline
    x = ds.x_test
    u = sample_rows(x)
    q = node_input(u, arrays.get("input_lut"))
    z_q, logit_q, s_q = interpreter_outputs(tfl_int8, q, meta, "reference")
    if meta.get("activations") == "int16":  # the 16x8 node ranks on the logit: no int16 SCI
        (z_n, logit_n), s_n = run_graph16(arrays, meta, u), None
    else:
        z_n, logit_n, s_n = run_graph(arrays, meta, q)
    numpy_matches = bool(np.array_equal(z_q, z_n) and np.array_equal(logit_q, logit_n)
                         and (s_n is None or np.array_equal(s_q, s_n)))
    if not numpy_matches:
        raise ExportError("the NumPy int8 reference disagrees with the LiteRT reference kernels "
                          "on this model; this is a bug in firmware_export, please report it")
    z_x, logit_x, _ = interpreter_outputs(tfl_int8, q, meta, "default")
    z_f, sci_f = pipe.encode(x)
    s_deq = meta["sci_scale"] * (s_q.astype(np.float64) - meta["sci_zero_point"])
    cbq = arrays[codebook_key(meta)]

    ks = sorted({run.policy.k_for(s) for s in VALIDATION_SNR_DB})
    agree = [agreement(z_f, sci_f, pipe.codebook, z_q, logit_q, cbq, meta, k,
                       float_sets(pipe, z_f, sci_f, k)) for k in ks]

    int8_sets = cached_node_sets(z_q, logit_q, cbq)

    def int8_float_points(_x: np.ndarray) -> dict:
        # int8 sets, float symbols: the loss of the model's quantization alone
        return {v: Int8Transmitter(v, int8_sets, c.points, run.policy.k_for)
                for v, c in run.constellations.items()}

    snrs = list(VALIDATION_SNR_DB)
    ev_f = evaluate(run, ds, snrs, seed=0).metrics
    ev_q = evaluate(run, ds, snrs, seed=0, transmitters=int8_float_points).metrics
    q_sem = {}
    for variant in CONSTELLATIONS:
        f, i8 = ev_f["variants"][variant], ev_q["variants"][variant]
        q_sem[variant] = {"snr_db": snrs, "float": f["q_sem"], "int8": i8["q_sem"],
                         "loss": [a - b for a, b in zip(f["q_sem"], i8["q_sem"], strict=True)],
                         "accuracy_float": f["accuracy"], "accuracy_int8": i8["accuracy"]}

    k0 = run.policy.k_for(0.0)
    pos, idx = int8_sets(k0)
    z_hat = pipe.reconstruct(idx, pos)
    edge = OnnxEdge(folder / "decoder_classifier.onnx")
    x_o, p_o = edge(z_hat)
    x_k, p_k = pipe.decode_classify(z_hat)
    return {
        "n_test": int(len(x)),
        "dataset": ds.name,
        "order": run.order,
        "activations": meta.get("activations", "int8"),
        "reference_kernels": "LiteRT OpResolverType.BUILTIN_REF",
        "numpy_reference_matches_interpreter": numpy_matches,
        "xnnpack_mismatch": {"z": float(np.mean(z_x != z_q)),
                             "sci_logit": float(np.mean(logit_x != logit_q))},
        "agreement": agree,
        "sci_abs_error": {"max": float(np.max(np.abs(sci_f - s_deq))),
                          "mean": float(np.mean(np.abs(sci_f - s_deq)))},
        "q_sem": q_sem,
        "onnx_vs_keras": {"x_hat_max_abs": float(np.max(np.abs(x_o - x_k))),
                          "probs_max_abs": float(np.max(np.abs(p_o - p_k))), "k": k0},
        "footprint": footprint(tfl_int8, arrays, meta, target),
    }
