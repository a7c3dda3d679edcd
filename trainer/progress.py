"""A Keras callback that feeds the shared progress bars (:mod:`semqam.progress`)."""

from __future__ import annotations

import keras
from rich.progress import Progress


class KerasProgress(keras.callbacks.Callback):
    """Advance one progress task per batch; show the latest loss/accuracy."""

    def __init__(self, progress: Progress, description: str, total_batches: int) -> None:
        super().__init__()
        self.progress = progress
        self.task = progress.add_task(description, total=total_batches, info="")

    def on_train_batch_end(self, batch, logs=None) -> None:
        info = ""
        if logs:
            keys = [k for k in ("loss", "accuracy", "probs_accuracy") if k in logs]
            info = " ".join(f"{k}={float(logs[k]):.3f}" for k in keys)
        self.progress.update(self.task, advance=1, info=info)
