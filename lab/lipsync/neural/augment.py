"""Waveform augmentations for synthetic training speech (16 kHz float32): speed and pitch,
noise, reverberation, level, telephone band and low-pass (compressed audio)."""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from faceforge.ml.lipsync.audio import resample

RATE = 16000


def speed(samples: np.ndarray, rate: int, factor: float) -> tuple[np.ndarray, float]:
    """Play `factor` times faster (pitch rises with it) and resample to 16 kHz; returns the
    track and the factor actually used (the input rate is rounded to 100 Hz so the
    polyphase ratio stays small)."""
    as_rate = int(round(rate * factor / 100.0)) * 100
    return resample(samples, as_rate, RATE), as_rate / rate


def noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white, pink or brown noise at `snr_db` below the speech's RMS."""
    n = len(samples)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    tilt = rng.choice([0.0, 0.5, 1.0])                 # white, pink, brown (power ~ 1/f^2t)
    spectrum /= np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0) ** tilt
    colour = np.fft.irfft(spectrum, n)
    rms = np.sqrt(np.mean(samples ** 2)) + 1e-9
    colour *= rms * 10 ** (-snr_db / 20) / (np.sqrt(np.mean(colour ** 2)) + 1e-12)
    return (samples + colour).astype(np.float32)


def reverb(samples: np.ndarray, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: the direct path plus exponentially decaying
    noise with the given reverberation time (s), mixed at `wet`."""
    t = np.arange(int(rt60 * RATE)) / RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    tail *= wet / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    ir = np.concatenate([[1.0], np.zeros(int(0.005 * RATE)), tail])
    out = fftconvolve(samples, ir)[:len(samples)]
    return (out * np.abs(samples).max() / (np.abs(out).max() + 1e-12)).astype(np.float32)


def band(samples: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """Band-limit with a 4th-order Butterworth (telephone 300-3400 Hz, or a low-pass)."""
    if low and high:
        sos = butter(4, [low, high], btype="bandpass", fs=RATE, output="sos")
    else:
        sos = butter(4, high, btype="lowpass", fs=RATE, output="sos")
    return sosfilt(sos, samples).astype(np.float32)


def level(samples: np.ndarray, gain_db: float, bits: int = 16) -> np.ndarray:
    """Scale by `gain_db` and quantise to `bits` (quiet recordings lose resolution)."""
    step = 2.0 / 2 ** bits
    return (np.round(samples * 10 ** (gain_db / 20) / step) * step).astype(np.float32)


def random_chain(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random mix of the augmentations above (each applied with some probability)."""
    x = samples
    if rng.random() < 0.4:
        x = reverb(x, rng.uniform(0.15, 0.7), rng.uniform(0.1, 0.6), rng)
    if rng.random() < 0.15:
        x = band(x, 300.0, 3400.0)
    elif rng.random() < 0.35:
        x = band(x, None, rng.uniform(3500.0, 7500.0))
    if rng.random() < 0.6:
        x = noise(x, rng.uniform(5.0, 40.0), rng)
    if rng.random() < 0.3:
        x = level(x, rng.uniform(-45.0, -10.0), bits=16)
    return x
