"""Read any speech file soundfile understands into one float32 mono track at a fixed rate,
with clear errors for bad files, plus the level measurements the engine needs."""
from __future__ import annotations

import struct
import subprocess
import tempfile
import warnings
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from ..frames import frame_count

MIN_RATE, MAX_RATE = 8000, 192000
SILENCE_DBFS = -80.0  # a file whose peak is below this holds no usable signal


class AudioError(ValueError):
    """A problem with an audio file, worded for the user."""


class AudioWarning(UserWarning):
    """Audio that could be used, but not all of it as the file promised (e.g. truncated)."""


def load_audio(path, target_rate: int = 16000,
               notes: list[str] | None = None) -> tuple[np.ndarray, int]:
    """(samples float32 [N] mono, target_rate) from WAV/FLAC/OGG/... of any bit depth,
    channel count and rate in 8-192 kHz: channels averaged, resampled, DC removed.

    Problems that still leave usable audio (a body shorter than its header declares) are
    appended to `notes` as user-facing lines and issued as AudioWarning."""
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
    declared = _declared_frames(path)
    if declared is not None and len(data) < declared:
        msg = (f"{path}: the file is truncated: read {len(data) / rate:.2f} s of the "
               f"{declared / rate:.2f} s its header declares ({100 * len(data) / declared:.0f}%); "
               "only the audio that was read is used (re-export the file to use all of it)")
        if notes is not None:
            notes.append(msg)
        warnings.warn(msg, AudioWarning, stacklevel=2)
    mono = np.nan_to_num(data.mean(axis=1), nan=0.0, posinf=0.0, neginf=0.0)
    return remove_dc(resample(mono, rate, target_rate)), target_rate


def _declared_frames(path: Path) -> int | None:
    """Sample frames the header promises, where the reader may silently deliver fewer:
    WAV's data chunk size (libsndfile clips it to the bytes present) or the container's
    own count (FLAC's STREAMINFO). None when unknown (e.g. a streamed WAV's 0 or ~0 size)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _wav_data_frames(f)
        return sf.info(str(path)).frames or None
    except (OSError, RuntimeError, struct.error):
        return None


def _wav_data_frames(f) -> int | None:
    """Walk a RIFF/WAVE file's chunks (f positioned after 'WAVE') -> data size // block align."""
    block = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"fmt ":
            fmt = f.read(size + (size & 1))
            block = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
        elif cid == b"data":
            if not block or size in (0, 0xFFFFFFFF):
                return None
            return size // block
        else:
            f.seek(size + (size & 1), 1)


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
    from scipy.signal import resample_poly   # here: scipy.signal costs ~0.8 s to import, at every CLI start
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
