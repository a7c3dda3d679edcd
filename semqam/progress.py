"""Rich progress bars shared by the long-running commands (no Keras here: a progress bar must not
load TensorFlow; the Keras callback is :class:`trainer.progress.KerasProgress`)."""

from __future__ import annotations

from collections.abc import Callable

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


def step_callback(progress: Progress, description: str, total: int) -> Callable[..., None]:
    """A ``callback(*_)`` that advances a fresh task by one each call."""
    task = progress.add_task(description, total=total, info="")

    def advance(*_args) -> None:
        progress.update(task, advance=1)

    return advance
