"""How much int8 deployment costs, in numbers (``validation.json``).

* **Index agreement**: over the slots the float model transmits, the fraction for which the int8
  node transmits the same slot with the same concept index. It factors into the top-K **set
  overlap** ``|S_float ∩ S_int8| / K`` and the **per-slot codeword agreement** (same slot, int8
  vs float nearest codeword); ``z_rounding_only`` quantizes the *float* z onto the int8 grid to
  show how much of the loss is the z output's own rounding rather than the layers before it.
* **SCI error**: max / mean ``|σ_float − s_int8·(q − zp)|``.
* **Q_sem float vs int8** end to end (same AWGN noise, same edge decoder) at three SNRs.
* **ONNX vs Keras** edge decoder: max abs difference of ``x_hat`` and ``probs``.
* **Footprint** against named budgets (flash, RAM).
"""

from __future__ import annotations

import numpy as np
from semqam_node.node import load_interpreter

from trainer.svqvae.int8 import nearest_codewords_int8, node_indices
from trainer.svqvae.pipeline import select_top_k

#: Named deployment budgets (bytes). Sources: Raspberry Pi 4 Model B 1 GB is the smallest Pi 4;
#: the Cortex-M7 budget is the STM32H743-class part named in the issue (2 MB flash, 512 KB SRAM
#: usable as one region; the H743 has 1 MB SRAM split into banks).
BUDGETS = {
    "raspberry-pi-4": {"flash": 16 * 2**30, "ram": 1 * 2**30,
                       "what": "Raspberry Pi 4 class (1 GB RAM, SD card)"},
    "cortex-m7": {"flash": 2 * 2**20, "ram": 512 * 2**10,
                  "what": "Cortex-M7 MCU (2 MB flash, 512 KB RAM)"},
}
TARGET_BUDGETS = {"linux": ("raspberry-pi-4",), "cortex-m": ("cortex-m7",)}


def agreement(z_f: np.ndarray, sci_f: np.ndarray, codebook: np.ndarray, z_q: np.ndarray,
              logit_q: np.ndarray, codebook_q: np.ndarray, meta: dict, k: int,
              float_sets: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Float vs int8 selection and quantization at one K (definitions in the module doc)."""
    pos_f, idx_f = float_sets
    pos_q, idx_q = node_indices(z_q, logit_q, codebook_q, k)
    same = 0
    overlap = 0
    for a_pos, a_idx, b_pos, b_idx in zip(pos_f, idx_f, pos_q, idx_q, strict=True):
        b = dict(zip(b_pos.tolist(), b_idx.tolist(), strict=True))
        same += sum(1 for p, i in zip(a_pos.tolist(), a_idx.tolist(), strict=True)
                    if b.get(p) == i)
        overlap += len(set(a_pos.tolist()) & b.keys())
    total = pos_f.size
    slot_q = nearest_codewords_int8(z_q, pos_f, codebook_q)
    lim = np.iinfo(codebook_q.dtype)  # int8, or int16 for a 16x8 node
    z_grid = np.clip(np.floor(z_f / meta["z_scale"] + 0.5) + meta["z_zero_point"], lim.min,
                     lim.max)
    slot_r = nearest_codewords_int8(z_grid.astype(codebook_q.dtype), pos_f, codebook_q)
    return {
        "k": k,
        "index_agreement": same / total,
        "set_overlap": overlap / total,
        "slot_codeword_agreement": float(np.mean(slot_q == idx_f)),
        "z_rounding_only": float(np.mean(slot_r == idx_f)),
        "rank_order_agreement": float(np.mean(pos_q == pos_f)),
    }


def footprint(tflite_int8: bytes, arrays: dict[str, np.ndarray], meta: dict,
              target: str) -> dict:
    """Flash and RAM of the two MCU paths (interpreter + .tflite, or C kernels + arrays) and of
    the Linux node, against the target's budgets."""
    layers = [*meta["trunk"], *meta["z_head"], *meta["sci_head"]]
    weights = sum(arrays[f"{n}.{p}"].nbytes for n in layers
                  for p in ("weights", "bias", "multiplier", "shift", "params"))
    tables = sum(arrays[k].nbytes for k in ("logistic_lut", "input_lut", "codebook_int8",
                                            "codebook_int16", "const_semantic_q",
                                            "const_standard_q", "policy_k") if k in arrays)
    widths = [arrays[f"{n}.weights"].shape[0] for n in layers]
    n, d = meta["n_concepts"], meta["latent_dim"]
    # C kernels: input, two ping-pong activation buffers of the widest layer, the trunk output
    # kept for both heads, z [N·D] and the logit / SCI [N] (int8; int16 for 16x8: twice),
    # plus K positions and I/Q.
    trunk_out = arrays[f"{meta['trunk'][-1]}.weights"].shape[0] if meta["trunk"] else 0
    act_bytes = 2 if meta.get("activations") == "int16" else 1
    c_ram = act_bytes * (meta["input_size"] + 2 * max(widths) + trunk_out + n * d + 2 * n) + \
        n * (2 + 2 + 4)
    # Interpreter arena upper bound: every non-constant tensor of the graph alive at once.
    arena = _arena_upper_bound(tflite_int8)
    paths = {
        "tflite_interpreter": {"flash": len(tflite_int8) + tables, "ram": arena},
        "c_kernels": {"flash": weights + tables, "ram": c_ram},
    }
    budgets = {}
    for b in TARGET_BUDGETS[target]:
        budget = BUDGETS[b]
        verdicts = {}
        for name, use in paths.items():
            fits = use["flash"] <= budget["flash"] and use["ram"] <= budget["ram"]
            verdicts[name] = {"fits": fits, "flash_fraction": use["flash"] / budget["flash"],
                              "ram_fraction": use["ram"] / budget["ram"]}
            if not fits:
                verdicts[name]["what_would_fit"] = _advice(use, budget, weights)
        budgets[b] = {"budget": budget, "paths": verdicts}
    return {"paths": paths, "budgets": budgets, "weight_bytes": weights, "table_bytes": tables}


def _advice(use: dict, budget: dict, weights: int) -> str:
    if use["flash"] > budget["flash"]:
        over = use["flash"] - budget["flash"]
        return (f"{over / 1024:.0f} KB over flash: shrink the encoder (hidden units, N·D of the "
                f"z head) so the {weights / 1024:.0f} KB of weights shrink by that much, or use "
                "a part with more flash")
    return (f"{(use['ram'] - budget['ram']) / 1024:.0f} KB over RAM: use the C kernels' "
            "ping-pong buffers or a smaller N·D")


def _arena_upper_bound(tflite: bytes) -> int:
    """Bytes of the graph input and every op output (no memory planning: an upper bound)."""
    it = load_interpreter(tflite, "default")
    live = {d["index"] for d in it.get_input_details()}
    for op in it._get_ops_details():
        live.update(int(i) for i in op["outputs"])
    sizes = {t["index"]: int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
             for t in it.get_tensor_details()}
    return sum(sizes[i] for i in live)


def float_sets(pipe, z: np.ndarray, sci: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    pos = select_top_k(sci, k)
    return pos, pipe.quantize(z, pos)
