"""Data-set loaders: MNIST / Fashion-MNIST (embedded, IDX, CSV) and FSDD spoken digits.

Everything is returned as a :class:`Dataset` of float32 images in [0, 1] with int64 labels.
Importing this package is cheap: TensorFlow is only imported when FSDD audio is loaded.
"""

from trainer.data.dataset import DATASETS, DataError, Dataset, split_validation
from trainer.data.fsdd import AugmentConfig, SpectrogramConfig
from trainer.data.load import load_dataset

__all__ = ["AugmentConfig", "DATASETS", "DataError", "Dataset", "SpectrogramConfig", "load_dataset",
           "split_validation"]
