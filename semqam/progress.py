"""Rich progress bars shared by the long-running commands, and a Keras callback feeding them."""

from __future__ import annotations

from collections.abc import Callable

import keras
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def make_progress(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


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


def step_callback(progress: Progress, description: str, total: int) -> Callable[..., None]:
    """A ``callback(*_)`` that advances a fresh task by one each call."""
    task = progress.add_task(description, total=total, info="")

    def advance(*_args) -> None:
        progress.update(task, advance=1)

    return advance
