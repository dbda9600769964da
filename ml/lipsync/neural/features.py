"""Log-mel features in numpy, one-shot or streamed in blocks with identical results:
16 kHz audio, 25 ms Hann windows every 10 ms (frame j centred at j * 10 ms), 40 mel bands."""
from __future__ import annotations

import functools

import numpy as np
from scipy.fft import rfft

RATE, HOP, WIN, N_FFT, N_MELS = 16000, 160, 400, 512, 40
FMIN, FMAX = 60.0, 7600.0
FLOOR = 1e-8           # power floor (digital silence stays finite)


@functools.lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """[N_FFT // 2 + 1, N_MELS] triangular HTK-mel filters."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    edges = 700.0 * (10 ** (np.linspace(mel(FMIN), mel(FMAX), N_MELS + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return tri.T.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(WIN + 1)[:WIN].astype(np.float32)


class LogMelStream:
    """Feed 16 kHz samples in blocks of any size; get each log-mel frame [N_MELS] once its
    window is complete; `finish` pads the end (like the start) with half a window of zeros."""

    def __init__(self):
        self.buffer = np.zeros(WIN // 2, np.float32)   # the left padding of frame 0
        self.consumed = 0                              # frames already emitted

    def push(self, samples: np.ndarray) -> np.ndarray:
        """[n, N_MELS] frames completed by these samples."""
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.float32)])
        n = (len(self.buffer) - WIN) // HOP + 1 if len(self.buffer) >= WIN else 0
        out = self._frames(n)
        self.buffer = self.buffer[n * HOP:]
        self.consumed += n
        return out

    def finish(self, total_samples: int) -> np.ndarray:
        """The remaining frames up to total_samples // HOP (+1 for frame 0) in all."""
        want = total_samples // HOP + 1 - self.consumed
        return self.push(np.zeros(WIN // 2, np.float32))[:max(want, 0)]

    def _frames(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros((0, N_MELS), np.float32)
        idx = np.arange(WIN)[None] + HOP * np.arange(n)[:, None]
        spec = rfft(self.buffer[idx] * _window(), n=N_FFT, axis=1)   # float32 in, complex64 out
        power = spec.real ** 2 + spec.imag ** 2
        return np.log(power @ mel_matrix() + FLOOR).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """[len // HOP + 1, N_MELS] log-mel frames of a whole 16 kHz track."""
    stream = LogMelStream()
    return np.concatenate([stream.push(samples), stream.finish(len(samples))])
