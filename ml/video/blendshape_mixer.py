"""Google's Face Landmarker blendshape model run in numpy on Face Mesh landmarks: the 52
blendshape scores without the Tasks API graph, batched over a whole clip (`data/
blendshape_mixer.npz`, exported from `face_landmarker.task` by lab/video/export_blendshapes.py;
Apache-2.0, docs/credits.md). An MLP-Mixer over 146 of the 478 landmarks (x, y in pixels)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import arkit
from ..model_cache import cached_model, read_arrays

MODEL = Path(__file__).parent / "data" / "blendshape_mixer.npz"
CHUNK = 128  # frames per pass: the token MLP's [frames, 64, 384] stays ~19 MB on any clip
_ACT = {"none": lambda x: x, "relu": lambda x: np.maximum(x, 0.0, out=x),
        "relu6": lambda x: np.clip(x, 0.0, 6.0, out=x)}  # in place: on fresh GEMM outputs only


class BlendshapeMixer:
    """scores(landmarks [T, 478, 3] normalised, size (w, h)) -> [T, 52] ARKit weights."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.w = {k: v.astype(np.float32) for k, v in arrays.items() if v.dtype.kind == "f"}
        self.index = arrays["landmarks"].astype(np.intp)
        self.acts = [_ACT[str(a)] for a in arrays["activations"]]

    def _norm(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """Layer norm over the channel axis, scale only (the model has no bias)."""
        mu = x.mean(axis=-1, keepdims=True)
        var = np.square(x - mu).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.w["norm_eps"]) * gamma

    def _mlp(self, x: np.ndarray, name: str, acts) -> np.ndarray:
        """Two projections along the last axis (the model's 1x1 convolutions), each one
        GEMM over every frame and row at once."""
        w = self.w
        h = x.reshape(-1, x.shape[-1]) @ w[f"{name}1_w"].T
        h += w[f"{name}1_b"]
        h = acts[0](h) @ w[f"{name}2_w"].T
        h += w[f"{name}2_b"]
        return acts[1](h).reshape(x.shape[:-1] + (h.shape[-1],))

    def raw(self, points: np.ndarray) -> np.ndarray:
        """[T, 146, 2] pixel coordinates -> [T, 52] scores in MediaPipe's order."""
        w, acts = self.w, self.acts
        x = points.astype(np.float32)
        x = x - x.mean(axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=2, keepdims=True).mean(axis=1, keepdims=True)
        x = x * w["input_scale"]
        x = acts[0](np.swapaxes(x, 1, 2) @ w["token_in_w"].T + w["token_in_b"])  # [T, 2, 96]
        x = acts[1](np.swapaxes(x, 1, 2) @ w["channel_in_w"].T + w["channel_in_b"])  # [T, 96, 64]
        cls = np.broadcast_to(w["class_token"], (len(x), 1, x.shape[2]))
        x = np.concatenate([cls, x], axis=1)  # [T, 97, 64]
        for b in range(4):
            a = acts[3 + 4 * b: 7 + 4 * b]
            h = np.swapaxes(self._norm(x, w[f"b{b}_norm1"]), 1, 2)  # [T, 64, 97]
            x = x + np.swapaxes(self._mlp(h, f"b{b}_token", a[:2]), 1, 2)
            x = x + self._mlp(self._norm(x, w[f"b{b}_norm2"]), f"b{b}_channel", a[2:])
        logits = acts[2](x[:, 0] @ w["head_w"].T + w["head_b"])
        return 1.0 / (1.0 + np.exp(-logits))

    def scores(self, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """[T, 478, 3] landmarks (x, y normalised to the frame; NaN where lost) and the
        frame's (width, height) -> [T, 52] ARKit weights (tongueOut 0; NaN where lost)."""
        pts = landmarks[:, self.index, :2] * np.asarray(size, dtype=np.float32)
        lost = ~np.isfinite(pts).all(axis=(1, 2))
        out = np.full((len(pts), arkit.NUM_SHAPES), np.nan, dtype=np.float32)
        seen = np.flatnonzero(~lost)
        for lo in range(0, len(seen), CHUNK):
            idx = seen[lo:lo + CHUNK]
            out[idx] = arkit.from_mediapipe(self.raw(pts[idx]))[0]
        return out


def _load(path: Path) -> BlendshapeMixer:
    return BlendshapeMixer(read_arrays(path, "blendshape model weights"))


def load_mixer(path: str | Path | None = None) -> BlendshapeMixer:
    """The bundled blendshape model, loaded once per process."""
    return cached_model("blendshape-mixer", Path(path or MODEL), _load)
