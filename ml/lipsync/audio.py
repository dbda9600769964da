"""Read any speech file soundfile understands into one float32 mono track at a fixed rate,
with clear errors for bad files, plus the level measurements the engine needs."""
from __future__ import annotations

import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .frames import frame_count

MIN_RATE, MAX_RATE = 8000, 192000
SILENCE_DBFS = -80.0  # a file whose peak is below this holds no usable signal


class AudioError(ValueError):
    """A problem with an audio file, worded for the user."""


def load_audio(path, target_rate: int = 16000) -> tuple[np.ndarray, int]:
    """(samples float32 [N] mono, target_rate) from WAV/FLAC/OGG/... of any bit depth,
    channel count and rate in 8-192 kHz: channels averaged, resampled, DC removed."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such audio file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as exc:  # LibsndfileError is a RuntimeError
        raise AudioError(f"{path}: not a readable audio file (WAV, FLAC or OGG expected): "
                         f"{exc}") from None
    if len(data) == 0:
        raise AudioError(f"{path}: the audio has no samples (zero length)")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    mono = np.nan_to_num(data.mean(axis=1), nan=0.0, posinf=0.0, neginf=0.0)
    return remove_dc(resample(mono, rate, target_rate)), target_rate


def load_video_audio(path, target_rate: int = 16000) -> tuple[np.ndarray, int]:
    """A video's audio track as load_audio gives it, decoded by imageio-ffmpeg's bundled
    ffmpeg (soundfile cannot read video containers)."""
    import imageio_ffmpeg  # an evaluation dependency, not needed by the extension
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "audio.wav"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path),
                        "-vn", "-ac", "1", "-ar", str(target_rate), str(wav)], check=True)
        return load_audio(wav, target_rate)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from `rate` to `target_rate`, as float32."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target_rate:
        return samples
    g = gcd(int(rate), int(target_rate))
    return resample_poly(samples, target_rate // g, rate // g).astype(np.float32)


def remove_dc(samples: np.ndarray) -> np.ndarray:
    """The track minus its mean (a DC offset would bias every level measurement)."""
    return (samples - samples.mean(dtype=np.float64)).astype(np.float32)


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level in dB relative to full scale (-inf for digital silence)."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def clipped_fraction(samples: np.ndarray, level: float = 0.999) -> float:
    """Share of samples at (or beyond) full scale: clipping, once DC is removed, shows as
    runs at the same extreme value, so count samples within 0.1% of the peak."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak < 0.5:
        return 0.0
    return float(np.mean(np.abs(samples) >= level * peak))


def normalise(samples: np.ndarray, peak: float = 0.5) -> np.ndarray:
    """Scale to the given peak (quiet recordings become usable); silence stays silence."""
    top = float(np.abs(samples).max()) if len(samples) else 0.0
    if top <= 10 ** (SILENCE_DBFS / 20):
        return np.zeros_like(samples, dtype=np.float32)
    return (samples * (peak / top)).astype(np.float32)


def frame_level_db(samples: np.ndarray, rate: int, fps: float, n_frames: int | None = None,
                   window: float = 0.03) -> np.ndarray:
    """RMS level (dBFS) in a `window`-second window centred on each frame time k / fps."""
    n = len(samples)
    if n_frames is None:
        n_frames = frame_count(n / rate, fps)
    half = max(int(window * rate / 2), 1)
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(samples, np.float64) ** 2)])
    centre = np.round(np.arange(n_frames) / fps * rate).astype(np.int64)
    lo, hi = np.clip(centre - half, 0, n), np.clip(centre + half, 0, n)
    power = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    return (10.0 * np.log10(np.maximum(power, 1e-12))).astype(np.float32)
