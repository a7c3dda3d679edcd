"""The data-set dispatcher :func:`load_dataset`: a name (and a path) -> a :class:`Dataset`.

The loaders (``mnist``, ``fsdd``) import only :mod:`trainer.data.dataset`; this module is the
only one that imports the loaders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainer.data.dataset import DATASETS, DataError, Dataset, check_path
from trainer.data.fsdd import AugmentConfig, SpectrogramConfig, load_fsdd
from trainer.data.mnist import load_images


def load_dataset(
    name: str,
    data: str | Path | None = None,
    *,
    all_test: bool = False,
    test_speakers: Sequence[str] | None = None,
    speakers: Sequence[str] | None = None,
    spectrogram: SpectrogramConfig | None = None,
    augment: AugmentConfig | None = None,
) -> Dataset:
    """Load data set ``name`` from ``data`` (None: the embedded default, MNIST only).

    ``all_test`` puts every sample in the test split (to evaluate a trained run on other data).
    ``test_speakers`` / ``speakers`` apply to ``fsdd`` only: hold those speakers out as the
    test set / load only those speakers; ``spectrogram`` is the front end (None: the default
    speaker-robust one, ``SpectrogramConfig.legacy()`` the old one) and ``augment`` the
    training-split augmentation (None: none).
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if key == "fsdd":
        if data is None:
            raise DataError(
                "fsdd has no embedded copy; pass --data with the folder of FSDD recordings "
                "({digit}_{speaker}_{index}.wav)"
            )
        return load_fsdd(
            check_path(data), all_test=all_test, test_speakers=test_speakers, speakers=speakers,
            config=spectrogram or SpectrogramConfig(), augment=augment,
        )
    fsdd_only = (test_speakers, speakers, spectrogram, augment)
    if any(v is not None for v in fsdd_only):
        raise DataError(
            f"{key}: speakers / test_speakers / spectrogram / augment only apply to fsdd; "
            "drop them"
        )
    return load_images(key, None if data is None else check_path(data), all_test=all_test)
