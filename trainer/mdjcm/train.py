r"""MDJCM training, Algorithm 1, into one run folder (issue 14's ``train`` interface).

1. **Source coder** (phase 1): :math:`g_a, h_a, h_s, g_s` and the density of :math:`z` on
   eq. (2), :math:`R + \lambda D(x, \tilde x)`, uniform noise for the quantisation.
2. **Joint** (phase 2): the whole model on loss (13),
   :math:`R + \lambda[D(x, \tilde x_{MD}) + D(x, \tilde x)]`, through the substitution
   process (10) (``training="substitution"``) or, for the plain straight-through anchor
   (``training="ste"``), through the hard process (9) with STE. Every batch draws an SNR per
   sample from ``snr_range`` and an order per sample from ``orders`` (one model for all of
   them). :math:`\eta` is re-tuned at every epoch start by bisection on the training split so
   that the mean length is the budget S (:func:`trainer.mdjcm.modulation.tune_eta`).
3. **Receiver** (phase 3): transmitter frozen (:math:`g_a, h_a, h_s`, the density and
   :math:`f_a`, so the lengths stay put), the denoiser, :math:`f_s` and :math:`g_s` fine-tuned on
   the hard process (9) with STE.

``loss="task"`` adds :math:`\lambda_{sem}\,\mathrm{CE}(T(\hat x_{MD}), y)` in phases 2 and 3
(the main paper's eq. 1) with the frozen classifier T.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from semqam.fileio import atomic_dir, savez, write_json
from semqam.progress import make_progress
from semqam.seeding import environment_info, set_global_seed
from trainer.data import Dataset
from trainer.mdjcm.config import LOSSES, Config, profile_config
from trainer.mdjcm.modulation import length_bits, length_histogram, lengths, tune_eta

NAME = "mdjcm"
RUN_FORMAT = 1
SNR_SCALE = 20.0  # the conditional modules see snr_db / 20


def train(ds: Dataset, out: Path, *, budget: int, order: int, seed: int, loss: str = "paper",
          classifier: Path, profile: str = "quick", progress=None, per_order: bool = False,
          **options) -> Path:
    """Train MDJCM on ``ds`` and write the run folder ``out`` (atomically); returns ``out``.

    ``order`` only selects the evaluation order: the model serves every order of
    ``options["orders"]`` (default all five), so the run is reusable across orders
    (``load_run(out, order=M)`` / ``run.with_order(M)``). ``per_order=True`` also trains one
    model per order (the labelled ablation, variant ``"per_order"``). ``options`` are
    :class:`~trainer.mdjcm.config.Config` fields (e.g. ``training="ste"``).
    """
    out = Path(out)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if isinstance(budget, bool) or int(budget) != budget or budget < 1:
        raise ValueError(f"budget S must be a positive int of symbols per sample, got {budget!r}")
    classifier = Path(classifier)
    if not classifier.is_file():
        raise FileNotFoundError(f"{classifier}: no classifier file; train the shared frozen "
                                "classifier T first (a .keras model)")
    cfg = profile_config(profile, seed=seed, **options)
    if order not in cfg.orders:
        raise ValueError(f"order M = {order} is not among the trained orders {cfg.orders}")
    if len(ds.x_train) < cfg.batch_size:
        raise ValueError(f"data set {ds.source} has only {len(ds.x_train)} training samples")
    t0 = time.perf_counter()
    with atomic_dir(out) as work, progress or make_progress(enabled=False) as prog:
        shutil.copyfile(classifier, work / "classifier.keras")
        clf = load_classifier(work / "classifier.keras")
        summary = _fit(ds, cfg, work, budget, loss, prog, "main", clf)
        if per_order:
            summary["per_order"] = {}
            for m in cfg.orders:
                sub = work / "per_order" / f"M{m}"
                sub.mkdir(parents=True)
                one = Config.from_dict({**cfg.to_dict(), "orders": (m,)})
                summary["per_order"][str(m)] = _fit(ds, one, sub, budget, loss, prog, f"M{m}",
                                                    clf)
        info = {
            "format": RUN_FORMAT, "scheme": NAME,
            "dataset": {"name": ds.name, "source": ds.source,
                        "input_shape": list(ds.input_shape), "n_classes": ds.n_classes,
                        "class_names": list(ds.class_names), "n_train": int(ds.n_train),
                        "n_test": int(ds.n_test)},
            "config": cfg.to_dict(), "profile": profile, "budget": int(budget),
            "order": int(order), "orders": list(cfg.orders), "reusable_orders": True,
            "seed": int(seed), "loss": loss, "training": cfg.training,
            "classifier_source": str(classifier), "environment": environment_info(),
            **summary, "timings": {"train_s": round(time.perf_counter() - t0, 2)},
        }
        write_json(work / "run.json", info)
    return out


def _fit(ds: Dataset, cfg: Config, work: Path, budget: int, loss: str, prog, tag: str,
         clf) -> dict:
    import keras
    import tensorflow as tf

    from trainer.mdjcm.model import Networks, channel_process, order_inputs

    set_global_seed(cfg.seed)
    k_max = cfg.resolved_k_max(budget)
    nets = Networks(cfg, ds.input_shape, k_max)
    x_tr = ds.x_train.astype(np.float32)
    y_tr = ds.y_train.astype(np.int64)
    n_x = float(np.prod(ds.input_shape))
    rng = np.random.default_rng(cfg.seed + 101)
    task = loss == "task"
    lam, lsem, ratio = float(cfg.lam), float(cfg.lambda_sem), float(cfg.eta_ratio)

    def rate_and_d1(x, noisy=True):
        y, _, by, bz, xt = nets.source(x, noisy)
        bpp = (tf.reduce_sum(by, 1) + tf.reduce_sum(bz, 1)) / n_x
        return y, tf.reduce_mean(bpp), tf.reduce_mean(tf.square(x - xt))

    opt1 = keras.optimizers.Adam(cfg.learning_rate)
    src_vars = nets.variables(("g_a", "h_a", "h_s", "density", "g_s"))

    @tf.function(reduce_retracing=True)
    def step_source(x):
        with tf.GradientTape() as tape:
            _, bpp, d1 = rate_and_d1(x)
            total = bpp + lam * d1
        opt1.apply_gradients(zip(tape.gradient(total, src_vars), src_vars, strict=True))
        return total, bpp, d1

    def joint_loss(x, lab, snr_db, onehot, root, d, eta, mode):
        y, bpp, d1 = rate_and_d1(x)
        vb = tf.stop_gradient(nets.length_bits(y))
        m1 = nets.mask(nets.tf_lengths(vb, eta * ratio))
        m2 = nets.mask(nets.tf_lengths(vb, eta))
        snr_in = snr_db / SNR_SCALE
        s = nets.encode(y, vb, snr_in, onehot, m1, m2)
        r = channel_process(s, m2, root, d, snr_db, mode)
        xmd = nets.decode(r, m2, snr_in, onehot)
        d2 = tf.reduce_mean(tf.square(x - xmd))
        total = bpp + lam * (d1 + d2)
        if task:
            ce = keras.losses.sparse_categorical_crossentropy(lab, clf(xmd, training=False))
            total = total + lsem * tf.reduce_mean(ce)
        return total, bpp, d2

    def make_step(var_names, lr, mode):
        opt = keras.optimizers.Adam(lr)
        tv = nets.variables(var_names)

        @tf.function(reduce_retracing=True)
        def step(x, lab, snr_db, onehot, root, d, eta):
            with tf.GradientTape() as tape:
                total, bpp, d2 = joint_loss(x, lab, snr_db, onehot, root, d, eta, mode)
            opt.apply_gradients(zip(tape.gradient(total, tv), tv, strict=True))
            return total, bpp, d2
        return step

    all_names = (*Networks.TRANSMITTER, *Networks.RECEIVER)
    step_joint = make_step(all_names, cfg.learning_rate,
                           "substitution" if cfg.training == "substitution" else "hard")
    step_rx = make_step(Networks.RECEIVER, cfg.finetune_learning_rate, "hard")

    def batches():
        perm = rng.permutation(len(x_tr))
        for i in range(0, len(perm) - cfg.batch_size + 1, cfg.batch_size):
            yield perm[i:i + cfg.batch_size]

    def conditions(n):
        orders = rng.choice(np.asarray(cfg.orders), size=n)
        onehot, root, d = order_inputs(orders)
        snr = rng.uniform(*cfg.snr_range, size=(n, 1)).astype(np.float32)
        return snr, onehot, root, d

    def train_bits(x):
        return vector_bits_np(nets, x)

    history: dict[str, list[float]] = {"source": [], "joint": [], "receiver": [], "eta": []}
    clock = {"t": time.perf_counter()}
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock["t"], 2)
        clock["t"] = now

    total_epochs = cfg.epochs_source + cfg.epochs_joint + cfg.epochs_receiver
    task_id = prog.add_task(f"mdjcm {tag}", total=total_epochs, info="")
    for _ in range(cfg.epochs_source):
        losses = [float(step_source(tf.constant(x_tr[b]))[0]) for b in batches()]
        history["source"].append(float(np.mean(losses)))
        prog.update(task_id, advance=1, info=f"phase 1 L={history['source'][-1]:.3f}")
    lap("source_s")
    eta = tune_eta(train_bits(x_tr), budget, k_max)
    for phase, step, epochs in (("joint", step_joint, cfg.epochs_joint),
                                ("receiver", step_rx, cfg.epochs_receiver)):
        if phase == "receiver":  # the transmitter is final: freeze eta on it for phase 3
            eta = tune_eta(train_bits(x_tr), budget, k_max)
        for _ in range(epochs):
            if phase == "joint":  # the entropy model moves: keep the mean length at S
                eta = tune_eta(train_bits(x_tr), budget, k_max)
                history["eta"].append(eta)
            losses = []
            for b in batches():
                snr, onehot, root, d = conditions(len(b))
                out = step(tf.constant(x_tr[b]), tf.constant(y_tr[b]), tf.constant(snr),
                           tf.constant(onehot), tf.constant(root), tf.constant(d),
                           tf.constant(eta, tf.float32))
                losses.append(float(out[0]))
            history[phase].append(float(np.mean(losses)))
            prog.update(task_id, advance=1, info=f"{phase} L={history[phase][-1]:.3f}")
        lap(f"{phase}_s")
    nets.save(work)
    k_train = lengths(train_bits(x_tr), eta, k_max)
    k_test = lengths(train_bits(ds.x_test.astype(np.float32)), eta, k_max)
    hist = length_histogram(k_test, k_max)
    savez(work / "lengths.npz", train=k_train, test=k_test)
    write_json(work / "history.json", history)
    side = cfg.length_side_bits or length_bits(cfg.n_vectors, k_max)
    return {
        "eta": float(eta), "eta_1": float(eta * ratio), "k_max": int(k_max),
        "length_side_bits": int(side), "gain_bits_per_frame": int(cfg.gain_bits),
        "lengths": {"mean_train": float(k_train.sum(1).mean()),
                    "mean_test": float(k_test.sum(1).mean()),
                    "total_histogram_test": hist["total"].tolist(),
                    "vector_histogram_test": hist["vector"].tolist()},
        "phase_timings": timings,
        "final_loss": {k: (v[-1] if v else None) for k, v in history.items() if k != "eta"},
    }


def load_classifier(path: Path):
    """The frozen task classifier T (``.keras``; input one sample, output probabilities)."""
    import keras

    try:
        clf = keras.saving.load_model(path, compile=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a loadable Keras classifier ({exc})") from None
    clf.trainable = False
    return clf


def vector_bits_np(nets, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Test-mode bits per latent vector ``b_i`` [n, l] (rounded y and z)."""
    import tensorflow as tf

    out = [nets.length_bits(nets.g_a(tf.constant(x[i:i + batch]))).numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, nets.cfg.n_vectors))
