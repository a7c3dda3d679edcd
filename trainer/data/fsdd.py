"""Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files to 32x32 log-mel images.

Each recording (mono 8 kHz, 8- or 16-bit PCM) is padded with silence / cropped from the start
to 32 STFT frames, turned into a power log-mel spectrogram with ``tf.signal`` (one batched
call) and normalised per sample to [0, 1] over an 80 dB range.

Orientation: **mel x time** -- ``x[i, m, t]`` is mel bin ``m`` (row 0 = lowest band, 20 Hz)
at frame ``t`` (column 0 = start of the recording).

Split: by default the FSDD convention (index 0-4 of each digit and speaker is test, the rest
train); ``test_speakers`` instead holds whole speakers out. TensorFlow is imported lazily.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from trainer.data.dataset import DataError, Dataset

FILE_PATTERN = re.compile(r"^(?P<digit>\d)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
FSDD_TEST_INDICES = range(5)  # the FSDD convention: recordings 0-4 are the test set
CLASS_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class SpectrogramConfig:
    """Log-mel spectrogram parameters (recorded in ``Dataset.meta["spectrogram"]``)."""

    sample_rate: int = 8000
    frame_length: int = 256  # 32 ms
    frame_step: int = 128  # 16 ms
    fft_length: int = 256
    n_mels: int = 32
    n_frames: int = 32
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    top_db: float = 80.0
    window: str = "hann"
    power: float = 2.0  # mel filterbank applied to |STFT|^2, dB = 10 log10
    orientation: str = "mel x time"

    @property
    def n_samples(self) -> int:
        """Waveform length that gives exactly ``n_frames`` frames (4,224 = 0.528 s by default)."""
        return self.frame_length + (self.n_frames - 1) * self.frame_step


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


def log_mel_spectrograms(
    waveforms: Sequence[np.ndarray], config: SpectrogramConfig = SpectrogramConfig()
) -> np.ndarray:
    """Batch of waveforms -> float32 [n, n_mels, n_frames] normalised log-mel images in [0, 1]."""
    import tensorflow as tf

    n_samples = config.n_samples
    batch = np.zeros((len(waveforms), n_samples), np.float32)  # silence padding
    for i, w in enumerate(waveforms):
        w = np.asarray(w, np.float32)[:n_samples]  # crop from the start
        batch[i, : len(w)] = w
    if len(batch) == 0:
        return np.zeros((0, config.n_mels, config.n_frames), np.float32)
    stft = tf.signal.stft(
        tf.constant(batch),
        frame_length=config.frame_length,
        frame_step=config.frame_step,
        fft_length=config.fft_length,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    power = tf.abs(stft) ** config.power  # [n, n_frames, fft/2+1]
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=config.n_mels,
        num_spectrogram_bins=config.fft_length // 2 + 1,
        sample_rate=config.sample_rate,
        lower_edge_hertz=config.lower_hz,
        upper_edge_hertz=config.upper_hz,
    )
    mel = tf.tensordot(power, mel_matrix, axes=1).numpy().astype(np.float64)  # [n, time, mel]
    floor = 1e-10
    db = 10.0 * np.log10(np.maximum(mel, floor))
    peak = db.max(axis=(1, 2), keepdims=True)
    norm = np.clip((db - (peak - config.top_db)) / config.top_db, 0.0, 1.0)
    norm[peak[:, 0, 0] <= 10.0 * np.log10(floor) + 1e-6] = 0.0  # pure silence -> zeros
    return np.ascontiguousarray(norm.transpose(0, 2, 1), dtype=np.float32)  # mel x time


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
) -> Dataset:
    """Load an FSDD recordings folder as 32x32 log-mel images (see the module docstring)."""
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
    train_speakers = sorted({r.speaker for r, t in zip(recordings, is_test, strict=True) if not t})
    test_spk = sorted({r.speaker for r, t in zip(recordings, is_test, strict=True) if t})
    return Dataset(
        name="fsdd",
        x_train=x[~is_test],
        y_train=y[~is_test],
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
        },
    )
