"""Where the int8 node loses the float model's concepts: index agreement under precision variants.

``python -m firmware_export.precision_study --run runs/mnist-1024`` prints, at the K values the
run's policy uses, the index agreement and top-K set overlap (definitions: :mod:`.validate`) of

* ``int8``: the exported int8 model as the node runs it (int8 SCI logit, int8 z);
* ``acc-logit``: ranking on the SCI head's int32 accumulators, int8 z;
* ``acc-both``: both heads' int32 accumulators, dequantized with ``s_in · s_w[c]``;
* ``float-act``: int8 weights, no activation rounded (the bound of any int8-weight node);
* ``float-act+fc0``: the same with only the first layer's output rounded to int8;
* ``16x8``: the whole encoder with int16 activations and int8 weights (the exporter's 16x8
  conversion; its NumPy reference, checked against LiteRT's reference kernels), float codebook;
* ``16x8 node (C)``: the 16x8 node end to end in the C core (``CoreModel16``: graph, top-K on
  the int16 logit, nearest codeword in the int16 codebook ``round(e / s_z)``).

Every variant but the last searches the float codebook on its dequantized z (the node's int8
codebook adds its own rounding: validation.json's ``index_agreement`` is 0.1-0.3 points below
``int8`` here).
A measurement tool for docs/RESULTS.md ("The finer z head"), not part of the export.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from firmware_export.tflite_params import (
    extract_node_model,
    requantize_double,
    run_graph16,
    walk_graph,
)
from trainer.svqvae.pipeline import select_top_k


def _agreement(pos_f: np.ndarray, idx_f: np.ndarray, pos: np.ndarray, idx: np.ndarray
               ) -> tuple[float, float]:
    same = overlap = 0
    for a, ai, b, bi in zip(pos_f, idx_f, pos, idx, strict=True):
        sent = dict(zip(b.tolist(), bi.tolist(), strict=True))
        same += sum(sent.get(p) == i for p, i in zip(a.tolist(), ai.tolist(), strict=True))
        overlap += len(set(a.tolist()) & sent.keys())
    return same / pos_f.size, overlap / pos_f.size


def _nearest(z: np.ndarray, pos: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    picked = np.take_along_axis(z, pos[..., None], axis=1)
    return ((codebook ** 2).sum(-1)[None, None] - 2 * picked @ codebook.T).argmin(-1)


def _chain(arrays: dict, meta: dict, q: np.ndarray, rounded: Callable[[str], bool]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The int8 graph in output-LSB units with the chosen layers' rounding left out: (z [n, N, D]
    in z's real units, rank scores [n, N], z accumulators [n, N·D], logit accumulators [n, N])."""
    def layer(name: str, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        in_off, out_off, lo, hi = (int(v) for v in arrays[f"{name}.params"])
        acc = (h + in_off) @ arrays[f"{name}.weights"].astype(np.float64).T + \
            arrays[f"{name}.bias"].astype(np.float64)
        y = acc * arrays[f"{name}.scale"] if not rounded(name) else \
            requantize_double(np.rint(acc).astype(np.int64), arrays[f"{name}.scale"])
        return np.clip(y + out_off, lo, hi), acc

    accs: dict[str, np.ndarray] = {}

    def keep(name: str, x: np.ndarray) -> np.ndarray:
        y, accs[name] = layer(name, x)
        return y

    z, s = walk_graph(meta, keep, q.reshape(len(q), -1).astype(np.float64))
    z_acc, s_acc = accs[meta["z_head"][-1]], accs[meta["sci_head"][-1]]
    z_real = (z - meta["z_zero_point"]) * meta["z_scale"]
    n, d = meta["n_concepts"], meta["latent_dim"]
    return z_real.reshape(len(q), n, d), s, z_acc, s_acc


def _load(run_dir: str, calibration: int):
    """(run, its data set, the exporter's calibration samples)."""
    from evaluation.evaluate import run_dataset
    from firmware_export.convert import representative_samples
    from trainer.svqvae.run import load_run

    run = load_run(run_dir)
    ds = run_dataset(run)
    return run, ds, representative_samples(ds.x_train, calibration, 0)


def study(run_dir: str, calibration: int = 1000) -> list[dict]:
    from semqam_node import _core
    from semqam_node.conventions import node_input, sample_rows

    from firmware_export.convert import to_tflite
    from firmware_export.tables import codebook_int16
    from trainer.svqvae.int8 import interpreter_outputs, to_int8_input

    run, ds, calib = _load(run_dir, calibration)
    pipe = run.pipeline
    arrays, meta = extract_node_model(to_tflite(pipe.encoder_sci, calib))
    cb = pipe.codebook.astype(np.float64)
    x = ds.x_test
    q = to_int8_input(x)
    n, d = meta["n_concepts"], meta["latent_dim"]
    layers = [*meta["trunk"], *meta["z_head"], *meta["sci_head"]]
    z8, s8, z_acc, s_acc = _chain(arrays, meta, q, lambda _: True)
    last_z, last_s = meta["z_head"][-1], meta["sci_head"][-1]
    z_acc_real = (z_acc * arrays[f"{last_z}.scale"] * meta["z_scale"]).reshape(len(q), n, d)
    s_acc_real = s_acc * arrays[f"{last_s}.scale"]
    zf, sf, _, _ = _chain(arrays, meta, q, lambda _: False)
    z1, s1, _, _ = _chain(arrays, meta, q, lambda name: name == layers[0])

    # 16x8: the exporter's conversion, run in LiteRT's reference kernels, in the NumPy
    # reference and in the node's C core (CoreModel16, int16 codebook): all three must agree.
    tfl16 = to_tflite(pipe.encoder_sci, calib, activations="int16")
    arrays16, meta16 = extract_node_model(tfl16)
    u = sample_rows(x)
    z16, s16 = run_graph16(arrays16, meta16, u)
    every = max(1, len(x) // 20)  # every 20th sample: the reference interpreter is slow
    z_ref, l_ref, _ = interpreter_outputs(tfl16, node_input(u[::every], arrays16["input_lut"]),
                                          meta16, "reference")
    if not (np.array_equal(z_ref, z16[::every]) and np.array_equal(l_ref, s16[::every])):
        raise AssertionError("the 16x8 NumPy reference differs from LiteRT's reference kernels")
    cb16, _ = codebook_int16(pipe.codebook, meta16["z_scale"])
    arrays16["codebook_int16"] = cb16
    table = np.zeros((len(cb16), 2), np.int16)
    node16 = _core.CoreModel16(arrays16, meta16, table)
    z16_real = z16.astype(np.float64) * meta16["z_scale"]

    z_f, sci_f = pipe.encode(x)
    variants = {"int8": (z8, s8), "acc-logit": (z8, s_acc_real),
                "acc-both": (z_acc_real, s_acc_real), "float-act": (zf, sf),
                "float-act+fc0": (z1, s1), "16x8": (z16_real, s16)}
    rows = []
    for k in sorted({run.policy.k_for(s) for s in (-10.0, 0.0, 20.0)}):
        pos_f = select_top_k(sci_f, k)
        idx_f = pipe.quantize(z_f, pos_f)
        for name, (z, score) in variants.items():
            pos = np.argsort(-score, axis=-1, kind="stable")[:, :k]
            index, overlap = _agreement(pos_f, idx_f, pos, _nearest(z, pos, cb))
            rows.append({"k": k, "variant": name, "index_agreement": index,
                         "set_overlap": overlap})
        # the 16x8 node itself: C graph, top-K, int16 codebook search
        pos16, idx16 = zip(*(node16.encode_sample(row, k)[:2] for row in u), strict=True)
        pos16, idx16 = np.stack(pos16).astype(np.int64), np.stack(idx16).astype(np.int64)
        if not np.array_equal(pos16, np.argsort(-s16, axis=-1, kind="stable")[:, :k]):
            raise AssertionError("CoreModel16 top-K differs from the NumPy reference")
        index, overlap = _agreement(pos_f, idx_f, pos16, idx16)
        rows.append({"k": k, "variant": "16x8 node (C)", "index_agreement": index,
                     "set_overlap": overlap})
    return rows


def timing(run_dir: str, k: int = 32, samples: int = 300, calibration: int = 1000) -> dict:
    """Median µs per sample, interleaved sample by sample on the same digits: the int8 C node
    (``CoreModel``, best port), the 16x8 C node (``CoreModel16``, reference C) split into the
    graph and the codeword search, and the int8 model's XNNPACK ``invoke()``."""
    import time

    from semqam_node import _core
    from semqam_node.conventions import int8_input, sample_rows
    from semqam_node.node import load_interpreter

    from firmware_export.convert import to_tflite
    from firmware_export.tables import codebook_int8, codebook_int16

    run, ds, calib = _load(run_dir, calibration)
    pipe = run.pipeline
    tfl8 = to_tflite(pipe.encoder_sci, calib)
    a8, m8 = extract_node_model(tfl8)
    a8["codebook_int8"], _ = codebook_int8(pipe.codebook, m8["z_scale"], m8["z_zero_point"])
    a16, m16 = extract_node_model(to_tflite(pipe.encoder_sci, calib, activations="int16"))
    a16["codebook_int16"], _ = codebook_int16(pipe.codebook, m16["z_scale"])
    table = np.zeros((run.order, 2), np.int16)
    node8, node16 = _core.CoreModel(a8, m8, table), _core.CoreModel16(a16, m16, table)
    xnn = load_interpreter(tfl8, "default")
    inp = xnn.get_input_details()[0]
    u = sample_rows(ds.x_test[:samples])
    times: dict[str, list[float]] = {key: [] for key in (
        "int8 encode", "int8 neural", "int8 quantize", "16x8 encode", "16x8 neural",
        "16x8 quantize", "xnnpack invoke")}
    for row in u:
        *_, t = node8.encode_sample(row, k)
        times["int8 encode"].append(sum(t) / 1e3)
        times["int8 neural"].append(t[0] / 1e3)
        times["int8 quantize"].append(t[2] / 1e3)
        *_, t = node16.encode_sample(row, k)
        times["16x8 encode"].append(sum(t) / 1e3)
        times["16x8 neural"].append(t[0] / 1e3)
        times["16x8 quantize"].append(t[2] / 1e3)
        q = int8_input(row).reshape(inp["shape"])
        t0 = time.perf_counter_ns()
        xnn.set_tensor(inp["index"], q)
        xnn.invoke()
        times["xnnpack invoke"].append((time.perf_counter_ns() - t0) / 1e3)
    med = {key: float(np.median(v)) for key, v in times.items()}
    return {"order": run.order, "k": k, "samples": len(u), "port": node8.port,
            "median_us": med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="S-VQ-VAE run folder (semqam train --out)")
    ap.add_argument("--calibration", type=int, default=1000, help="calibration samples")
    ap.add_argument("--timing", type=int, metavar="K", default=0,
                    help="instead: time int8 vs 16x8 C nodes and XNNPACK at this K")
    args = ap.parse_args()
    if args.timing:
        t = timing(args.run, args.timing, calibration=args.calibration)
        print(f"M = {t['order']}, K = {t['k']}, {t['samples']} samples, int8 port {t['port']}")
        xnn = t["median_us"]["xnnpack invoke"]
        for name, us in t["median_us"].items():
            print(f"{name:<16} {us:9.1f} µs  ({us / xnn:5.2f}x XNNPACK invoke)")
        return
    for r in study(args.run, args.calibration):
        print(f"K = {r['k']:3d}  {r['variant']:<14} index {r['index_agreement']:.4f}  "
              f"overlap {r['set_overlap']:.4f}")


if __name__ == "__main__":
    main()
