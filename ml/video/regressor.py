"""The FACS regressor's numpy runtime (Blender ships no torch): MediaPipe landmarks of a
clip -> 52 ARKit weights and the head's rotation per frame, causally.

Per frame, features.frame_features normalises pose, scale and identity; an MLP encodes
each frame; residual causal dilated convolutions (left replicate padding) mix the last
`receptive_field` frames; a linear head gives the weights and a correction of the fitted
head rotation. Mirrors `model.FacsNet` layer for layer (tests check numpy == torch).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..arkit import NUM_SHAPES
from ..model_cache import cached_model, read_arrays
from .features import frame_features
from .rotation import matrix_euler
from .tracking import NUM_LANDMARKS

DEFAULT_WEIGHTS = Path(__file__).with_name("facs_regressor.npz")
ROTATION_STEP = 0.1   # radians per unit of the network's rotation outputs
ROTATION_OUTPUTS = 3  # corrections of the fitted head rotation's XYZ Euler, after the weights
CHUNK = 512           # frames per features and forward pass (bounded memory on long clips)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def causal_forward(p: dict[str, np.ndarray], x: np.ndarray, kernel: int,
                   dilations: list[int]) -> np.ndarray:
    """model.FacsNet's forward pass in numpy: inputs [T,F] -> outputs [T,O]; per-frame MLP,
    residual causal dilated convolutions (left replicate padding), linear head."""
    h = _relu(x @ p["enc0.weight"].T + p["enc0.bias"])
    h = _relu(h @ p["enc1.weight"].T + p["enc1.bias"])
    steps = np.arange(len(h))
    for b, d in enumerate(dilations):
        w = p[f"blocks.{b}.conv.weight"]            # [out, in, kernel] (torch Conv1d)
        y = p[f"blocks.{b}.conv.bias"].copy()
        for k in range(kernel):                     # tap k looks (kernel-1-k)*d frames back
            y = y + h[np.maximum(steps - (kernel - 1 - k) * d, 0)] @ w[:, :, k].T
        h = h + _relu(y) @ p[f"blocks.{b}.mix.weight"].T + p[f"blocks.{b}.mix.bias"]
    return h @ p["out.weight"].T + p["out.bias"]


class FacsRegressor:
    """Exported weights (`params`: name -> array, as saved by train.export) and the forward pass."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.p = {k: np.asarray(v, dtype=np.float32) if v.dtype.kind == "f" else v
                  for k, v in params.items()}
        self.template = params["template"].astype(np.float64)
        self.stable = params["stable"].astype(np.float64)
        self.subset = params["subset"].astype(np.int64)
        self.dilations = [int(d) for d in params["cfg.dilations"]]
        self.kernel = int(params["cfg.kernel"])

    @property
    def receptive_field(self) -> int:
        """Frames (the current one included) that an output depends on through the
        convolutions; the running neutral in the features looks at the whole past."""
        return 1 + (self.kernel - 1) * sum(self.dilations)

    def features(self, landmarks: np.ndarray, aspect: float,
                 carry: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Standardised per-frame features [T,F] and the fitted head rotation [T,3,3];
        `carry` continues a clip given in chunks (features.running_neutral)."""
        feats, rot = frame_features(landmarks, aspect, self.template, self.stable,
                                    self.subset, carry)
        return (feats - self.p["feat_mean"]) / self.p["feat_std"], rot

    def network(self, x: np.ndarray) -> np.ndarray:
        """Standardised features [T,F] -> raw outputs [T, NUM_SHAPES + ROTATION_OUTPUTS]."""
        return self._chunked(len(x), lambda lo, hi: x[lo:hi])

    def _stream(self, landmarks: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
        """features() then network() a chunk of frames at a time: raw outputs [T, O] and
        fitted rotations [T,3,3], equal to the whole clip at once, with only a chunk's
        float64 features alive at a time."""
        rot = np.empty((len(landmarks), 3, 3))
        carry: dict = {}

        def chunk(lo: int, hi: int) -> np.ndarray:
            x, rot[lo:hi] = self.features(landmarks[lo:hi], aspect, carry)
            return x
        return self._chunked(len(landmarks), chunk), rot

    def _chunked(self, n: int, features) -> np.ndarray:
        """Raw outputs [n, O] of frames whose standardised features `features(lo, hi)` gives
        CHUNK frames at a time, in order; each chunk runs with the receptive field's frames
        before it, so the outputs equal one pass over the whole clip."""
        out = np.empty((n, len(self.p["out.bias"])), dtype=np.float32)
        reach = self.receptive_field - 1
        context = None
        for lo in range(0, n, CHUNK):
            x = features(lo, min(lo + CHUNK, n))
            window = x if context is None else np.concatenate([context, x])
            out[lo:lo + len(x)] = self._forward(window)[len(window) - len(x):]
            context = window[len(window) - min(reach, len(window)):]
        return out

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return causal_forward(self.p, x, self.kernel, self.dilations)

    def predict(self, landmarks: np.ndarray, aspect: float = 4 / 3) -> tuple[np.ndarray, np.ndarray]:
        """Track.landmarks [T, NUM_LANDMARKS, 3] (gaps filled, no NaN) and the frame's
        width/height -> (ARKit weights [T, NUM_SHAPES] float32 in 0..1, head rotation [T,3] float32 XYZ Euler
        radians of a head facing -Y). Causal: frame t uses frames <= t only."""
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 3):
            raise ValueError(f"expected landmarks [T, {NUM_LANDMARKS}, 3], got {landmarks.shape}")
        if len(landmarks) == 0:
            return (np.zeros((0, NUM_SHAPES), np.float32),
                    np.zeros((0, ROTATION_OUTPUTS), np.float32))
        if not np.isfinite(landmarks).all():
            raise ValueError("landmarks contain NaN/inf: fill tracking gaps first")
        raw, rot = self._stream(landmarks, float(aspect))
        weights = np.clip(raw[:, :NUM_SHAPES], 0.0, 1.0).astype(np.float32)
        euler = matrix_euler(rot) + ROTATION_STEP * raw[:, NUM_SHAPES:NUM_SHAPES + ROTATION_OUTPUTS]
        return weights, euler.astype(np.float32)


def _read_regressor(path: Path) -> FacsRegressor:
    return FacsRegressor(read_arrays(path, "FACS regressor weights"))


def load_regressor(path: str | Path | None = None) -> FacsRegressor:
    """The committed regressor (or the weights at `path`), loaded once per process."""
    return cached_model("video-regressor", path or DEFAULT_WEIGHTS, _read_regressor)

