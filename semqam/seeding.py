"""One place that seeds every random generator, so a run can be replayed."""

from __future__ import annotations

import os
import platform


def set_global_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend; with TensorFlow, also request deterministic ops.

    Remaining non-determinism (docs/models.md): multi-threaded float reductions on other
    hardware and GPU kernels without a deterministic implementation.
    """
    import keras

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def environment_info() -> dict:
    """Versions and the compute devices the backend sees (for run.json)."""
    import keras
    import numpy as np

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "cpu_count": os.cpu_count(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    return info
