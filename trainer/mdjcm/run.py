r"""An MDJCM run folder loaded back as a scheme: transmitters, receivers, the length distribution.

Transmit (test time, process (9)): :math:`y = g_a(x)`, lengths
:math:`k_i = \mathrm{clip}(\mathrm{round}(\eta b_i), 0, k_{max})` from the entropy model (and
:math:`k^1_i` with :math:`\eta_1 = \texttt{eta\_ratio}\,\eta` for the first cut), :math:`s =
f_a(y; \gamma, M)` at unit power per sample, clipped to :math:`\pm(\sqrt M-1)d` and rounded on
each rail (hard M-QAM). Samples are grouped by their total length :math:`\sum_i k_i` into one
:class:`~trainer.scheme.Frame` each; every frame is scaled by one gain :math:`g` so that its
**measured** mean :math:`|x|^2` is 1. Side information (error-free, counted in
``Frame.side_bits``): the lengths, :math:`l\lceil\log_2(k_{max}+1)\rceil` bits per sample, plus
the frame's gain as a float32 (``gain_bits`` / n per sample). The order M and the SNR are the
configured / fed-back values both ends know (not counted).

Receive: divide by :math:`g`, hard demodulation :math:`q_s` (the same clip-and-round), scatter
into the zero-filled :math:`[l, k_{max}]` grid by the lengths, denoiser + :math:`f_s`,
:math:`g_s`, the frozen classifier T.

One trained model serves every order of ``run.info["orders"]``: pick the evaluation order with
``load_run(path, order=M)`` or ``run.with_order(M)``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.mdjcm.config import Config
from trainer.mdjcm.modulation import (
    check_order,
    gray_labels,
    hard_modulate,
    length_histogram,
    lengths,
)
from trainer.mdjcm.train import NAME, SNR_SCALE, load_classifier
from trainer.scheme import Frame, Reception, RunInfo

WEIGHTS = ("g_a", "h_a", "h_s", "density", "f_e", "f_d", "g_s")


@dataclass
class _Model:
    """One trained model (the main one or a per-order ablation) with its tuned eta."""

    nets: object
    eta: float
    eta_ratio: float
    k_max: int
    length_side_bits: int
    gain_bits: int
    orders: tuple[int, ...]

    def lengths(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y [n, l*C], b_i [n, l], k^2 [n, l]) for inputs ``x``."""
        from trainer.mdjcm.train import vector_bits_np

        y = np.concatenate([np.asarray(self.nets.g_a(x[i:i + 1024]))
                            for i in range(0, len(x), 1024)])
        vb = vector_bits_np(self.nets, x)
        return y, vb, lengths(vb, self.eta, self.k_max)

    def mask(self, k: np.ndarray) -> np.ndarray:
        """[n, l] lengths -> [n, l*k_max*2] float mask (eq. (19), both rails)."""
        keep = np.arange(self.k_max)[None, None, :] < k[..., None]
        return np.repeat(keep[..., None], 2, axis=-1).reshape(len(k), -1).astype(np.float32)


def _load_model(folder: Path, info: dict, cfg: Config, input_shape) -> _Model:
    from trainer.mdjcm.model import Networks

    for name in WEIGHTS:
        if not (folder / f"{name}.weights.h5").is_file():
            raise FileNotFoundError(f"{folder / name}.weights.h5: missing from the run folder; "
                                    "retrain the MDJCM run")
    nets = Networks(cfg, input_shape, int(info["k_max"]))
    nets.load(folder)
    return _Model(nets, float(info["eta"]), float(cfg.eta_ratio), int(info["k_max"]),
                  int(info["length_side_bits"]), int(info["gain_bits_per_frame"]), cfg.orders)


@dataclass
class Run(RunInfo):
    """A trained MDJCM run (the scheme contract of issue 14), evaluated at ``order``."""

    path: Path
    info: dict
    order: int
    main: _Model
    classifier: object
    per_order: dict[int, _Model] = field(default_factory=dict)
    name: str = NAME

    @property
    def main_variant(self) -> str:
        """``"mdjcm"`` (substitution training) or ``"ste"`` (the plain straight-through run)."""
        return "ste" if self.info.get("training") == "ste" else "mdjcm"

    @property
    def variants(self) -> list[str]:
        return [self.main_variant] + (["per_order"] if self.order in self.per_order else [])

    @property
    def orders(self) -> tuple[int, ...]:
        return tuple(int(m) for m in self.info["orders"])

    def with_order(self, order: int) -> Run:
        """The same trained run evaluated at another order M (one model serves all)."""
        order = check_order(order)
        if order not in self.orders:
            raise ValueError(f"{self.path}: order M = {order} was not trained; this run "
                             f"serves {self.orders}")
        other = copy.copy(self)
        other.order = order
        return other

    def model(self, variant: str) -> _Model:
        if variant == self.main_variant:
            return self.main
        if variant == "per_order" and self.order in self.per_order:
            return self.per_order[self.order]
        raise ValueError(f"unknown MDJCM variant {variant!r} at M = {self.order}; this run has "
                         f"{', '.join(self.variants)}")

    def transmitter(self, x: np.ndarray, variant: str | None = None,
                    seed: int = 0) -> MDJCMTransmitter:
        """Transmitter of samples ``x`` [n, *input_shape] (deterministic: ``seed`` unused)."""
        x = np.asarray(x, np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"x has sample shape {x.shape[1:]}, this run takes "
                             f"{self.input_shape}")
        variant = variant or self.main_variant
        return MDJCMTransmitter(self.model(variant), x, self.order, variant)

    def receiver(self, variant: str | None = None) -> MDJCMReceiver:
        return MDJCMReceiver(self.model(variant or self.main_variant), self.classifier)

    def length_distribution(self, x: np.ndarray, variant: str | None = None) -> dict:
        """Histogram of the lengths on ``x``: ``vector`` counts of k_i = 0..k_max, ``total``
        counts of sum_i k_i = 0..l k_max, and ``mean`` (symbols per sample)."""
        model = self.model(variant or self.main_variant)
        _, _, k = model.lengths(np.asarray(x, np.float32))
        return {**length_histogram(k, model.k_max), "mean": float(k.sum(1).mean())}


class MDJCMTransmitter:
    """Frames of hard M-QAM symbols, one frame per total length (see the module docstring)."""

    def __init__(self, model: _Model, x: np.ndarray, order: int, variant: str) -> None:
        self.model, self.order, self.variant = model, check_order(order), variant
        if self.order not in model.orders:
            raise ValueError(f"order M = {order} was not trained for variant {variant!r}")
        self.y, self.vbits, self.k = model.lengths(x)
        self.k1 = lengths(self.vbits, model.eta * model.eta_ratio, model.k_max, min_total=0)

    def symbols(self, snr_db: float) -> np.ndarray:
        """Hard-modulated symbols on the ``[n, l, k_max]`` grid (zeros where not sent)."""
        from trainer.mdjcm.model import order_inputs

        n = len(self.y)
        onehot, _, _ = order_inputs(np.full(n, self.order))
        snr = np.full((n, 1), snr_db / SNR_SCALE, np.float32)
        m2 = self.model.mask(self.k)
        s = self.model.nets.encode(self.y, self.vbits.astype(np.float32), snr, onehot,
                                   self.model.mask(self.k1), m2)
        s = np.asarray(s).reshape(n, -1, self.model.k_max, 2)
        sent = np.arange(self.model.k_max)[None, None, :] < self.k[..., None]
        return np.where(sent, hard_modulate(s[..., 0] + 1j * s[..., 1], self.order), 0)

    def transmit(self, snr_db: float) -> list[Frame]:
        grid = self.symbols(float(snr_db))
        sent = np.arange(self.model.k_max)[None, None, :] < self.k[..., None]
        totals = self.k.sum(axis=1)
        frames = []
        for total in np.unique(totals):
            rows = np.flatnonzero(totals == total)
            sym = grid[rows][sent[rows]].reshape(len(rows), int(total))
            gain = np.float32(1.0 / np.sqrt(np.mean(np.abs(sym) ** 2)))
            frames.append(Frame(
                symbols=sym * float(gain), samples=rows.astype(np.int64),
                labels=gray_labels(sym, self.order),
                side={"lengths": self.k[rows], "gain": np.array([gain]),
                      "order": np.array([self.order]), "snr_db": np.array([float(snr_db)])},
                side_bits=self.model.length_side_bits + self.model.gain_bits / len(rows)))
        return frames


class MDJCMReceiver:
    """Received symbols + lengths -> hard demodulation -> denoiser, f_s, g_s -> T."""

    def __init__(self, model: _Model, classifier) -> None:
        self.model, self.classifier = model, classifier

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        from trainer.mdjcm.model import order_inputs

        side = frame.side
        order, k = int(side["order"][0]), np.asarray(side["lengths"])
        r = np.asarray(y) / float(side["gain"][0])
        decided = hard_modulate(r, order)
        n, kmax = len(k), self.model.k_max
        sent = np.arange(kmax)[None, None, :] < k[..., None]
        grid = np.zeros(sent.shape, np.complex128)
        grid[sent] = decided.reshape(-1)
        rails = np.stack([grid.real, grid.imag], axis=-1).reshape(n, -1).astype(np.float32)
        onehot, _, _ = order_inputs(np.full(n, order))
        snr = np.full((n, 1), float(side["snr_db"][0]) / SNR_SCALE, np.float32)
        x_hat = np.asarray(self.model.nets.decode(rails, self.model.mask(k), snr, onehot))
        probs = np.asarray(self.classifier(x_hat, training=False))  # small frames: no predict()
        return Reception(gray_labels(r, order), probs, x_hat)


def load_run(run_dir: str | Path, order: int | None = None) -> Run:
    """Load an MDJCM run folder, evaluated at ``order`` (default: the run's ``order``)."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / "run.json").read_text())
        cfg = Config.from_dict(info["config"])
        shape = tuple(int(v) for v in info["dataset"]["input_shape"])
        _ = info["eta"], info["k_max"], info["budget"], info["order"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir}: not an MDJCM run folder (no run.json); train one "
                                "with trainer.mdjcm.train.train") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{run_dir / 'run.json'}: unreadable MDJCM run description ({exc!r});"
                         " retrain the run") from None
    if info.get("scheme") != NAME:
        raise ValueError(f"{run_dir}: run.json names scheme {info.get('scheme')!r}, not {NAME}")
    main = _load_model(run_dir, info, cfg, shape)
    per_order = {}
    for m, sub in (info.get("per_order") or {}).items():
        one = Config.from_dict({**cfg.to_dict(), "orders": (int(m),)})
        per_order[int(m)] = _load_model(run_dir / "per_order" / f"M{m}", sub, one, shape)
    run = Run(run_dir, info, int(info["order"]), main,
              load_classifier(run_dir / "classifier.keras"), per_order)
    return run if order is None else run.with_order(order)
