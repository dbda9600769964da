"""numpy inference of the neural engine (no torch): the exported LipNet run as a stream.
Audio goes in blocks of any size; log-mel and every causal convolution carry their own
history, so chunked inference equals one-shot inference and memory stays bounded."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...model_cache import cached_model
from ..audio import normalise
from ..controls import CONTROL_NAMES, REST_EPS, to_arkit
from ...frames import frame_times
from .features import HOP, RATE, LogMelStream

WEIGHTS = Path(__file__).with_name("lipnet.npz")
CHUNK_S = 20.0            # seconds of audio per inference step in `controls`
LN_EPS = 1e-5
OUT_FPS = 50              # the network's output rate


def _layer_norm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * w + b


class _CausalConv:
    """Conv1d (torch weight [out, in, K]) over time rows, keeping the last (K-1)*d inputs."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, dilation: int = 1):
        out, cin, k = weight.shape
        self.w = weight.transpose(2, 1, 0).reshape(k * cin, out)      # tap-major rows
        self.b, self.k, self.d = bias, k, dilation
        self.history = np.zeros(((k - 1) * dilation, cin), np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        inp = np.concatenate([self.history, x])
        n = len(x)
        cols = np.concatenate([inp[i * self.d:i * self.d + n] for i in range(self.k)], axis=1)
        self.history = inp[len(inp) - len(self.history):]
        return cols @ self.w + self.b


class LipNetStream:
    """One stream through the network: `push` 16 kHz samples, get the controls of every
    completed 50 fps output frame (delayed by the model's `delay` frames)."""

    def __init__(self, net: "LipNetRuntime"):
        p = net.params
        self.net, self.mel = net, LogMelStream()
        self.front = _CausalConv(p["front.weight"], p["front.bias"])
        self.parity = 0        # global index of the next mel frame (front conv has stride 2)
        self.blocks = [_CausalConv(p[f"blocks.{i}.conv.weight"], p[f"blocks.{i}.conv.bias"], d)
                       for i, d in enumerate(net.dilations)]

    def push(self, samples: np.ndarray) -> np.ndarray:
        return self._run(self.mel.push(samples))

    def finish(self, total_samples: int) -> np.ndarray:
        return self._run(self.mel.finish(total_samples))

    def _run(self, mel: np.ndarray) -> np.ndarray:
        p = self.net.params
        x = (mel - p["mel_mean"]) / p["mel_std"]
        h = self.front(x.astype(np.float32))
        keep = (np.arange(len(mel)) + self.parity) % 2 == 0            # stride 2
        self.parity += len(mel)
        x = np.maximum(h[keep], 0.0)
        for i, conv in enumerate(self.blocks):
            y = conv(_layer_norm(x, p[f"blocks.{i}.norm.weight"], p[f"blocks.{i}.norm.bias"]))
            x = x + np.maximum(y, 0.0) @ p[f"blocks.{i}.out.weight"].T + p[f"blocks.{i}.out.bias"]
        x = _layer_norm(x, p["norm.weight"], p["norm.bias"])
        return (x @ p["controls.weight"].T + p["controls.bias"]).astype(np.float32)


class LipNetRuntime:
    """The exported weights (a dict of arrays, see model.LipNet.export)."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = {k: np.asarray(v, np.float32) for k, v in params.items()}
        self.dilations = tuple(int(d) for d in params["dilations"])
        self.delay = int(params["delay"])

    def stream(self) -> LipNetStream:
        return LipNetStream(self)

    def controls(self, samples: np.ndarray, chunk_s: float = CHUNK_S) -> np.ndarray:
        """[K, C] mouth controls at 50 fps (frame k at k / 50 s, K = (len // 160 + 2) // 2)
        for a whole 16 kHz track, run in chunks of `chunk_s` seconds."""
        stream, step = self.stream(), max(int(chunk_s * RATE), 1)
        pad = np.zeros(2 * HOP * self.delay, np.float32)               # flushes the delay
        out = [stream.push(samples[i:i + step]) for i in range(0, len(samples), step)]
        out += [stream.push(pad), stream.finish(len(samples) + len(pad))]
        n = (len(samples) // HOP + 2) // 2
        return np.concatenate(out)[self.delay:self.delay + n]


def _read(path: Path) -> LipNetRuntime:
    with np.load(path) as data:
        return LipNetRuntime(dict(data))


def load(path: str | Path = WEIGHTS) -> LipNetRuntime:
    """The committed network (or the weights at `path`), loaded once per process."""
    return cached_model("lipnet", path, _read)


@dataclass(frozen=True)
class MouthTrack:
    """The network's mouth controls for one clip, computed once and sampled at any rate:
    `controls` [K, C] at OUT_FPS (None for a silent clip), `duration` in seconds."""
    controls: np.ndarray | None
    duration: float

    def at(self, fps: float) -> np.ndarray:
        """[T, C] controls in [0, 1] at t = k / fps (T = frames.frame_count(duration, fps)),
        linearly interpolated from OUT_FPS."""
        t = frame_times(self.duration, fps)
        if self.controls is None:
            return np.zeros((len(t), len(CONTROL_NAMES)), np.float32)
        frame_t = np.arange(len(self.controls)) / OUT_FPS
        ctl = np.stack([np.interp(t, frame_t, c) for c in self.controls.T], axis=1)
        return np.clip(ctl, 0.0, 1.0)

    def weights(self, fps: float) -> np.ndarray:
        """[T, 52] ARKit mouth weights at fps (the controls spread by controls.to_arkit)."""
        return to_arkit(self.at(fps))

    def press(self, fps: float) -> np.ndarray:
        """[T] how hard the network presses the lips together (mouthPress, rest-zeroed as
        in `weights`) at fps: the acoustic evidence that confirms a lip closure."""
        press = self.at(fps)[:, CONTROL_NAMES.index("mouthPress")]
        press[press < REST_EPS] = 0.0
        return press.astype(np.float32)


def listen(samples: np.ndarray, net: LipNetRuntime | None = None) -> MouthTrack:
    """Run the network (`net`, default the committed one) once over 16 kHz speech,
    level-normalised like the phonetic engine."""
    net = net or load()
    samples = normalise(np.asarray(samples, np.float32))
    return MouthTrack(net.controls(samples) if samples.any() else None, len(samples) / RATE)


def mouth_weights(samples: np.ndarray, fps: float, net: LipNetRuntime | None = None) -> np.ndarray:
    """[T, 52] ARKit mouth weights at t = k / fps for 16 kHz speech (`listen` then
    `MouthTrack.weights`)."""
    return listen(samples, net).weights(fps)
