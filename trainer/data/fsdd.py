"""Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files to 32x32 log-mel images.

Each recording (mono 8 kHz, 8- or 16-bit PCM) goes through a deterministic per-utterance front
end (:class:`SpectrogramConfig`, docs/models.md "Data"):

1. **trim** (``trim_db``): frames of ``frame_length`` samples (hop ``frame_step``) whose RMS is
   more than ``trim_db`` dB below the loudest frame of the recording count as silence; the
   leading and trailing silent frames are cut (silence inside the word is kept).
2. **align** (``align``): ``"centre"`` puts the middle of the (trimmed) word at the middle of the
   ``n_samples`` window, silence-padded both sides, a longer word cropped symmetrically;
   ``"start"`` crops / pads from the start (the behaviour before the speaker-robust front end);
   ``"fit"`` interpolates the word's frames onto the ``n_frames`` columns (duration removed).
3. a power log-mel spectrogram with ``tf.signal`` (one batched call), 10 log10; optionally
   ``lifter``: only the first cepstral coefficients of each frame kept (spectral envelope).
4. **normalise** (``normalise``), per utterance: ``"peak"`` (default) maps [peak - top_db, peak]
   linearly to [0, 1], so the recording's level is removed and everything more than ``top_db``
   below the utterance's peak (background noise, reverberation tails) is the floor 0;
   ``"utterance"`` clips at peak - top_db, standardises the dB values to zero mean and unit
   variance and maps ``z`` in [-z_range, z_range] to [0, 1] (clipped); ``"band"`` first removes
   each mel band's mean over time (cepstral mean normalisation), then does the same.

Defaults (measured on held-out speaker lucas, docs/RESULTS.md "FSDD front end"): trim 40 dB,
centre, peak normalisation with a 60 dB floor. ``"utterance"``, ``"band"``, ``"fit"`` and
``lifter`` were measured and are worse; they stay selectable for experiments.

:meth:`SpectrogramConfig.legacy` is the old front end (no trimming, start-aligned, peak
normalisation over 80 dB); runs record their configuration in ``Dataset.meta["spectrogram"]`` and
:meth:`SpectrogramConfig.from_meta` reads an older run's record as the legacy front end.

Augmentation (:class:`AugmentConfig`, optional, training split only): ``copies`` perturbed
copies of each training recording are appended to ``x_train``: speed perturbation (resampling,
which moves pitch and formants together, the "speed/pitch" perturbation of Kaldi), a time shift
of the centred word, additive white noise at a random SNR and SpecAugment-style frequency /
time masks. It is seeded (same seed, same images) and never touches the test split, which stays
the real recordings through the deterministic front end. It lives here because it needs the
waveforms, which only the loader has.

Orientation: **mel x time** -- ``x[i, m, t]`` is mel bin ``m`` (row 0 = lowest band, 20 Hz)
at frame ``t`` (column 0 = start of the window).

Split: by default the FSDD convention (index 0-4 of each digit and speaker is test, the rest
train); ``test_speakers`` instead holds whole speakers out. TensorFlow is imported lazily.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from trainer.data.dataset import DataError, Dataset

FILE_PATTERN = re.compile(r"^(?P<digit>\d)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
FSDD_TEST_INDICES = range(5)  # the FSDD convention: recordings 0-4 are the test set
CLASS_NAMES = tuple(str(d) for d in range(10))
ALIGNS = ("centre", "start", "fit")
NORMALISATIONS = ("peak", "utterance", "band")

#: The front-end fields added with the speaker-robust front end and their values before it: a
#: run whose recorded ``spectrogram`` lacks them was trained on the legacy front end.
_LEGACY = {"trim_db": None, "align": "start", "normalise": "peak", "top_db": 80.0}


@dataclass(frozen=True)
class SpectrogramConfig:
    """Front end and log-mel parameters (recorded in ``Dataset.meta["spectrogram"]``)."""

    sample_rate: int = 8000
    frame_length: int = 256  # 32 ms
    frame_step: int = 128  # 16 ms
    fft_length: int = 256
    n_mels: int = 32
    n_frames: int = 32
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    top_db: float = 60.0  # dB kept below the peak (the legacy front end: 80)
    window: str = "hann"
    power: float = 2.0  # mel filterbank applied to |STFT|^2, dB = 10 log10
    orientation: str = "mel x time"
    trim_db: float | None = 40.0  # silence: frame RMS below (loudest frame - trim_db); None: off
    align: str = "centre"  # "centre" | "start"
    normalise: str = "peak"  # "peak" | "utterance" | "band"
    z_range: float = 3.0  # "utterance": z in [-z_range, z_range] -> [0, 1]
    lifter: int | None = None  # keep this many cepstral (DCT) coefficients per frame; None: off

    def __post_init__(self) -> None:
        if self.align not in ALIGNS:
            raise ValueError(f"align must be one of {ALIGNS}, got {self.align!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}")
        if self.trim_db is not None and self.trim_db <= 0:
            raise ValueError(f"trim_db must be > 0 dB or None, got {self.trim_db}")
        if self.z_range <= 0:
            raise ValueError(f"z_range must be > 0, got {self.z_range}")

    @property
    def n_samples(self) -> int:
        """Waveform length that gives exactly ``n_frames`` frames (4,224 = 0.528 s by default)."""
        return self.frame_length + (self.n_frames - 1) * self.frame_step

    @classmethod
    def legacy(cls, **overrides) -> SpectrogramConfig:
        """The front end before the speaker-robust one: no trim, start-aligned, peak-normalised."""
        return cls(**{**_LEGACY, **overrides})

    @classmethod
    def from_meta(cls, meta: Mapping | None) -> SpectrogramConfig:
        """The configuration a run recorded (``asdict``); missing front-end keys mean legacy."""
        if not meta:
            return cls.legacy()
        names = {f.name for f in fields(cls)}
        return cls(**{**_LEGACY, **{k: v for k, v in meta.items() if k in names}})


@dataclass(frozen=True)
class AugmentConfig:
    """Training-split augmentation (recorded in ``Dataset.meta["augment"]``).

    Each training recording gets ``copies`` perturbed copies; per copy, independently:
    speed factor uniform in ``speed`` (resampled by linear interpolation: 1.1 = 10 % faster and
    higher), time shift uniform in +-``shift_s`` seconds after alignment, white noise at an SNR
    uniform in ``snr_db`` (dB, relative to the word's mean power; None: no noise), and
    ``freq_masks`` / ``time_masks`` SpecAugment masks of up to ``mask_width`` mel rows / frames
    set to 0 (the image's floor).
    """

    copies: int = 4
    seed: int = 0
    speed: tuple[float, float] = (0.85, 1.15)
    shift_s: float = 0.15
    snr_db: tuple[float, float] | None = (10.0, 40.0)
    freq_masks: int = 2
    time_masks: int = 2
    mask_width: int = 4

    def __post_init__(self) -> None:
        lo, hi = self.speed
        if self.copies < 0 or not 0 < lo <= hi or self.shift_s < 0 or self.mask_width < 0:
            raise ValueError(f"invalid augmentation {self}")
        if self.snr_db is not None and self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db must be (low, high), got {self.snr_db}")


@dataclass(frozen=True)
class _Recording:
    path: Path
    digit: int
    speaker: str
    index: int


def read_wav(path: Path, sample_rate: int = 8000) -> np.ndarray:
    """Samples of a mono 8-/16-bit PCM WAV as float32 in [-1, 1]; DataError otherwise."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise DataError(
            f"{path}: not a readable PCM WAV ({exc}); convert it to mono {sample_rate} Hz "
            "8- or 16-bit PCM"
        ) from None
    if channels != 1 or width not in (1, 2) or rate != sample_rate:
        raise DataError(
            f"{path}: {channels} channel(s), {8 * width}-bit, {rate} Hz; expected mono "
            f"{sample_rate} Hz 8- or 16-bit PCM (convert it, e.g. sox in.wav -c 1 -r "
            f"{sample_rate} -b 16 out.wav)"
        )
    if width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        samples = np.frombuffer(frames[: len(frames) // 2 * 2], "<i2").astype(np.float32) / 32768.0
    if samples.size == 0:
        raise DataError(f"{path}: WAV has no audio samples; remove or replace the file")
    return samples


def trim_silence(
    wave_: np.ndarray, frame_length: int = 256, frame_step: int = 128, trim_db: float = 40.0
) -> np.ndarray:
    """``wave_`` without its leading and trailing silence.

    The recording is cut into frames of ``frame_length`` samples every ``frame_step`` (the last
    frame zero-padded); a frame is *active* when its RMS is at least (RMS of the loudest frame
    - ``trim_db`` dB). The result runs from the first sample of the first active frame to the
    last sample of the last active frame. All-zero input gives an empty array.
    """
    w = np.asarray(wave_, np.float32)
    if w.size == 0:
        return w
    n_frames = 1 + max(0, int(np.ceil((len(w) - frame_length) / frame_step)))
    padded = np.zeros((n_frames - 1) * frame_step + frame_length, np.float64)
    padded[: len(w)] = w
    starts = np.arange(n_frames) * frame_step
    frames = padded[starts[:, None] + np.arange(frame_length)[None, :]]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    if rms.max() <= 0.0:
        return w[:0]
    db = 20.0 * np.log10(np.maximum(rms, 1e-12))
    active = np.flatnonzero(db >= db.max() - trim_db)
    return w[starts[active[0]] : min(len(w), starts[active[-1]] + frame_length)]


def place_in_window(
    wave_: np.ndarray, config: SpectrogramConfig = SpectrogramConfig(), shift: int = 0
) -> np.ndarray:
    """Steps 1-2 of the front end: trimmed (``trim_db``) and aligned (``align``) in a window of
    ``n_samples`` samples, moved by ``shift`` samples (augmentation); silence elsewhere."""
    w = np.asarray(wave_, np.float32)
    if config.trim_db is not None:
        w = trim_silence(w, config.frame_length, config.frame_step, config.trim_db)
    n = config.n_samples
    offset = (n - len(w)) // 2 if config.align == "centre" else 0
    offset += int(shift)
    out = np.zeros(n, np.float32)
    lo, hi = max(0, offset), min(n, offset + len(w))
    if hi > lo:
        out[lo:hi] = w[lo - offset : hi - offset]
    return out


def standardise(x: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    """``(x - mean) / std`` over ``axes`` (one utterance's cells); constant input -> zeros."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return np.where(std > 0, (x - mean) / np.where(std > 0, std, 1.0), 0.0)


def _db(batch: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """[n, samples] -> float64 [n, time, mel] power log-mel in dB (floor -100 dB), step 3."""
    import tensorflow as tf

    stft = tf.signal.stft(
        tf.constant(np.asarray(batch, np.float32)),
        frame_length=config.frame_length,
        frame_step=config.frame_step,
        fft_length=config.fft_length,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    power = tf.abs(stft) ** config.power  # [n, frames, fft/2+1]
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=config.n_mels,
        num_spectrogram_bins=config.fft_length // 2 + 1,
        sample_rate=config.sample_rate,
        lower_edge_hertz=config.lower_hz,
        upper_edge_hertz=config.upper_hz,
    )
    mel = tf.tensordot(power, mel_matrix, axes=1).numpy().astype(np.float64)  # [n, time, mel]
    db = 10.0 * np.log10(np.maximum(mel, _FLOOR))
    if config.lifter is not None:
        db = lifter(db, config.lifter)
    return db


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix [n, n] (row k = basis function k)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def lifter(db: np.ndarray, keep: int) -> np.ndarray:
    """Each frame's log-mel spectrum (last axis) smoothed by keeping its first ``keep`` cepstral
    (DCT-II) coefficients: the spectral envelope (formants) stays, the pitch ripple goes."""
    d = dct_matrix(db.shape[-1])
    c = db @ d.T
    c[..., keep:] = 0.0
    return c @ d


_FLOOR = 1e-10


def _normalise(db: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """[n, time, mel] dB -> float32 [n, mel, time] images in [0, 1] (step 4)."""
    if len(db) == 0:
        return np.zeros((0, config.n_mels, config.n_frames), np.float32)
    peak = db.max(axis=(1, 2), keepdims=True)
    silent = peak[:, 0, 0] <= 10.0 * np.log10(_FLOOR) + 1e-6
    if config.normalise == "peak":
        norm = np.clip((db - (peak - config.top_db)) / config.top_db, 0.0, 1.0)
    else:  # "utterance" | "band"
        db = np.maximum(db, peak - config.top_db)
        if config.normalise == "band":  # each mel band's mean over time removed first (CMN)
            db = db - db.mean(axis=1, keepdims=True)
        z = standardise(db)
        norm = np.clip(0.5 + z / (2.0 * config.z_range), 0.0, 1.0)
    norm[silent] = 0.0  # pure silence -> zeros
    return np.ascontiguousarray(norm.transpose(0, 2, 1), dtype=np.float32)  # mel x time


def _log_mel(batch: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """[n, n_samples] windows -> float32 [n, n_mels, n_frames] images in [0, 1] (steps 3-4)."""
    if len(batch) == 0:
        return np.zeros((0, config.n_mels, config.n_frames), np.float32)
    return _normalise(_db(batch, config), config)


def _fit_log_mel(words: Sequence[np.ndarray], config: SpectrogramConfig) -> np.ndarray:
    """``align="fit"``: each (trimmed) word's log-mel frames linearly interpolated along time
    onto ``n_frames`` columns, so the word fills the window whatever its duration."""
    if len(words) == 0:
        return np.zeros((0, config.n_mels, config.n_frames), np.float32)
    length = max(config.n_samples, *(len(w) for w in words))
    batch = np.zeros((len(words), length), np.float32)
    for i, w in enumerate(words):
        batch[i, : len(w)] = w
    db = _db(batch, config)
    out = np.empty((len(words), config.n_frames, config.n_mels))
    for i, w in enumerate(words):
        k = 1 + max(0, int(np.ceil((len(w) - config.frame_length) / config.frame_step)))
        k = min(k, db.shape[1])
        pos = np.linspace(0.0, k - 1, config.n_frames)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, k - 1)
        a = (pos - lo)[:, None]
        out[i] = (1.0 - a) * db[i, lo] + a * db[i, hi]
    return _normalise(out, config)


def _word(wave_: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    w = np.asarray(wave_, np.float32)
    if config.trim_db is None:
        return w
    return trim_silence(w, config.frame_length, config.frame_step, config.trim_db)


def log_mel_spectrograms(
    waveforms: Sequence[np.ndarray], config: SpectrogramConfig = SpectrogramConfig()
) -> np.ndarray:
    """Batch of waveforms -> float32 [n, n_mels, n_frames] front-end images in [0, 1]."""
    if config.align == "fit":
        return _fit_log_mel([_word(w, config) for w in waveforms], config)
    batch = np.zeros((len(waveforms), config.n_samples), np.float32)
    for i, w in enumerate(waveforms):
        batch[i] = place_in_window(w, config)
    return _log_mel(batch, config)


def change_speed(wave_: np.ndarray, factor: float) -> np.ndarray:
    """``wave_`` played ``factor`` times faster (linear-interpolation resampling; pitch and
    formants scale by ``factor`` too, the usual speed perturbation)."""
    w = np.asarray(wave_, np.float32)
    n_out = max(1, int(round(len(w) / factor)))
    t = np.arange(n_out) * factor
    return np.interp(t, np.arange(len(w)), w).astype(np.float32)


def augmented_spectrograms(
    waveforms: Sequence[np.ndarray],
    config: SpectrogramConfig = SpectrogramConfig(),
    augment: AugmentConfig = AugmentConfig(),
) -> np.ndarray:
    """``augment.copies`` perturbed images of each waveform, copy-major: row ``c * n + i`` is
    copy ``c`` of waveform ``i`` (see :class:`AugmentConfig`). Seeded by ``augment.seed``."""
    rng = np.random.default_rng(augment.seed)
    sr = config.sample_rate
    rows = []
    for _ in range(augment.copies):
        for w in waveforms:
            w = change_speed(w, rng.uniform(*augment.speed))
            shift = int(round(rng.uniform(-augment.shift_s, augment.shift_s) * sr))
            word = _word(w, config)
            row = word if config.align == "fit" else place_in_window(w, config, shift)
            if augment.snr_db is not None:
                snr = rng.uniform(*augment.snr_db)
                power = float(np.mean(np.square(word, dtype=np.float64))) if word.size else 0.0
                noise = rng.standard_normal(len(row)) * np.sqrt(power / 10.0 ** (snr / 10.0))
                row = row + noise.astype(np.float32)
            rows.append(row)
    x = _fit_log_mel(rows, config) if config.align == "fit" else _log_mel(np.array(rows), config)
    for img in x:
        for _ in range(augment.freq_masks):
            _mask(img, 0, rng, augment.mask_width)
        for _ in range(augment.time_masks):
            _mask(img, 1, rng, augment.mask_width)
    return x


def _mask(img: np.ndarray, axis: int, rng: np.random.Generator, max_width: int) -> None:
    width = int(rng.integers(0, max_width + 1))
    start = int(rng.integers(0, img.shape[axis] - width + 1))
    if axis == 0:
        img[start : start + width, :] = 0.0
    else:
        img[:, start : start + width] = 0.0


def _scan(folder: Path) -> list[_Recording]:
    if not folder.is_dir():
        raise DataError(
            f"{folder}: fsdd needs a folder of {{digit}}_{{speaker}}_{{index}}.wav files, "
            "not a file; pass the folder"
        )
    wavs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")
    if not wavs:
        what = "folder is empty" if not any(folder.iterdir()) else "no .wav files"
        raise DataError(
            f"{folder}: {what}; point --data at the folder of FSDD recordings "
            "({digit}_{speaker}_{index}.wav, e.g. free-spoken-digit-dataset/recordings)"
        )
    recordings = []
    for p in wavs:
        m = FILE_PATTERN.match(p.name)
        if m is None:
            raise DataError(
                f"{p}: file name does not match {{digit}}_{{speaker}}_{{index}}.wav; "
                "rename or remove it"
            )
        recordings.append(_Recording(p, int(m["digit"]), m["speaker"], int(m["index"])))
    recordings.sort(key=lambda r: (r.speaker, r.digit, r.index))
    return recordings


def _check_speakers(folder: Path, given: Sequence[str], available: list[str], what: str) -> None:
    if isinstance(given, str):
        given = [given]
    unknown = sorted(set(given) - set(available))
    if unknown:
        raise DataError(
            f"{folder}: unknown {what} {', '.join(unknown)}; available: {', '.join(available)}"
        )


def load_fsdd(
    folder: Path,
    *,
    all_test: bool = False,
    test_speakers: Sequence[str] | None = None,
    speakers: Sequence[str] | None = None,
    config: SpectrogramConfig = SpectrogramConfig(),
    augment: AugmentConfig | None = None,
) -> Dataset:
    """Load an FSDD recordings folder as 32x32 log-mel images (see the module docstring).

    ``augment``: append ``augment.copies`` perturbed copies of every *training* recording to
    ``x_train`` (rows ``n + c * n + i`` for copy ``c`` of original training row ``i``, ``n`` =
    ``meta["augment"]["n_original"]``); the test split is never augmented.
    """
    recordings = _scan(folder)
    available = sorted({r.speaker for r in recordings})
    if isinstance(speakers, str):
        speakers = [speakers]
    if isinstance(test_speakers, str):
        test_speakers = [test_speakers]
    if speakers is not None:
        _check_speakers(folder, speakers, available, "speaker(s)")
        recordings = [r for r in recordings if r.speaker in set(speakers)]
    loaded = sorted({r.speaker for r in recordings})
    if test_speakers is not None:
        _check_speakers(folder, test_speakers, loaded, "test speaker(s)")
        if not all_test and set(loaded) <= set(test_speakers):
            raise DataError(
                f"{folder}: test speakers {', '.join(sorted(test_speakers))} leave no speaker "
                f"for training; keep at least one of {', '.join(loaded)} out of them"
            )

    waves = [read_wav(r.path, config.sample_rate) for r in recordings]
    x = log_mel_spectrograms(waves, config)
    y = np.array([r.digit for r in recordings], np.int64)

    if all_test:
        is_test = np.ones(len(recordings), bool)
        split = "all-test: every recording in the test split"
    elif test_speakers is not None:
        is_test = np.array([r.speaker in set(test_speakers) for r in recordings], bool)
        split = f"speakers: {', '.join(sorted(test_speakers))} in test, the others in train"
    else:
        is_test = np.array([r.index in FSDD_TEST_INDICES for r in recordings], bool)
        split = "fsdd: recordings with index 0-4 of each (digit, speaker) in test, the rest train"
    x_train, y_train = x[~is_test], y[~is_test]
    meta_augment = None
    if augment is not None:
        train_waves = [w for w, t in zip(waves, is_test, strict=True) if not t]
        x_aug = augmented_spectrograms(train_waves, config, augment)
        meta_augment = {**asdict(augment), "n_original": len(train_waves)}
        x_train = np.concatenate([x_train, x_aug])
        y_train = np.concatenate([y_train, np.tile(y_train, augment.copies)])
    train_speakers = sorted({r.speaker for r, t in zip(recordings, is_test, strict=True) if not t})
    test_spk = sorted({r.speaker for r, t in zip(recordings, is_test, strict=True) if t})
    return Dataset(
        name="fsdd",
        x_train=x_train,
        y_train=y_train,
        x_test=x[is_test],
        y_test=y[is_test],
        class_names=CLASS_NAMES,
        source=str(folder),
        meta={
            "format": "wav",
            "split": split,
            "speakers": loaded,
            "train_speakers": train_speakers,
            "test_speakers": test_spk,
            "spectrogram": asdict(config),
            **({"augment": meta_augment} if meta_augment is not None else {}),
        },
    )
