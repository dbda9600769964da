"""The causal temporal network of the landmarker method (numpy runtime; trained in torch by
lab/video/train_temporal.py): per frame on a steady 30 fps grid it reads the Face
Landmarker's blendshapes and the FACS regressor's weights (both minus the actor's
neutral), the head rotation relative to the neutral and a few principal components of the
regressor's landmark features, and gives the 52 ARKit weights. Residual causal dilated
convolutions (model.FacsNet's layers) over the last `receptive_field` frames; the output
is a correction of refine.blend's fixed mix, so it replaces the blend and the still-face
filter. Frame t depends on frames <= t only."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..arkit import MIRROR, NUM_SHAPES
from ..model_cache import cached_model, read_arrays
from . import refine
from .regressor import causal_forward

DEFAULT_WEIGHTS = Path(__file__).with_name("temporal_net.npz")
RATE = 30.0  # frames per second the network runs at (clips are resampled to it and back)


def actor_scaled(values: np.ndarray) -> np.ndarray:
    """Per-actor calibration of [T,C] values already relative to the neutral: each channel
    divided by the actor's own extreme over the clip (its refine.RANGE_QUANTILE, at least
    refine.MIN_SPAN), so 1 is as far as this actor goes."""
    if len(values) == 0:
        return values
    top = np.quantile(values, refine.RANGE_QUANTILE, axis=0)
    return values / np.maximum(top, refine.MIN_SPAN)


def temporal_inputs(shapes: np.ndarray, regressed: np.ndarray, rotation: np.ndarray,
                    landmark_pcs: np.ndarray, calibrated: bool = False) -> np.ndarray:
    """Per-frame inputs [T, 52 + 52 + 3 + K (+ 104)]: blendshapes and regressor weights
    minus the neutral [T,52] each, head rotation relative to the neutral [T,3] (radians),
    landmark feature components [T,K]; with `calibrated` also both weight sets scaled to
    the actor's own range (actor_scaled). Shared by training and the runtime."""
    parts = [shapes, regressed, rotation, landmark_pcs]
    if calibrated:
        parts += [actor_scaled(shapes), actor_scaled(regressed)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def per_shape_inputs(shapes: np.ndarray, regressed: np.ndarray, calibrated: bool = False) -> np.ndarray:
    """Inputs of the shape-shared network [T, 52, C]: for each shape its blendshape and
    regressor weight, its mirror shape's two, (with `calibrated` the first two over the
    actor's range) and a one-hot of the shape (C = 4 (+2) + 52). One small network runs
    on every shape's sequence, so each clip trains it 52 times over."""
    t = len(shapes)
    parts = [shapes, regressed, shapes[:, MIRROR], regressed[:, MIRROR]]
    if calibrated:
        parts += [actor_scaled(shapes), actor_scaled(regressed)]
    own = np.stack(parts, axis=-1)
    onehot = np.broadcast_to(np.eye(NUM_SHAPES, dtype=np.float32), (t, NUM_SHAPES, NUM_SHAPES))
    return np.concatenate([own, onehot], axis=-1).astype(np.float32)


class TemporalNet:
    """Exported weights (lab/video/train_temporal.export) and the forward pass."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.p = {k: np.asarray(v, dtype=np.float32) if v.dtype.kind == "f" else v
                  for k, v in params.items()}
        self.kernel = int(params["cfg.kernel"])
        self.dilations = [int(d) for d in params["cfg.dilations"]]
        self.components = self.p["pca.components"]  # [K, F] over the regressor's features
        self.pca_mean = self.p["pca.mean"]             # [F]
        self.calibrated = bool(params["cfg.calibrated"]) if "cfg.calibrated" in params else False
        self.per_shape = bool(params["cfg.per_shape"]) if "cfg.per_shape" in params else False

    @property
    def receptive_field(self) -> int:
        """Frames (the current one included) that an output depends on."""
        return 1 + (self.kernel - 1) * sum(self.dilations)

    def landmark_pcs(self, features: np.ndarray) -> np.ndarray:
        """The regressor's standardised landmark features [T,F] -> components [T,K]."""
        if len(self.components) == 0:
            return np.zeros((len(features), 0), np.float32)
        return ((features - self.pca_mean) @ self.components.T).astype(np.float32)

    def predict(self, shapes: np.ndarray, regressed: np.ndarray, rotation: np.ndarray,
                features: np.ndarray) -> np.ndarray:
        """[T,52] blendshapes and regressor weights minus the neutral, [T,3] relative head
        rotation, [T,F] the regressor's standardised features, all at RATE -> ARKit
        weights [T,52] in 0..1. Causal."""
        if len(shapes) == 0:
            return np.zeros((0, NUM_SHAPES), np.float32)
        if self.per_shape:
            x = per_shape_inputs(shapes, regressed, self.calibrated)
        else:
            x = temporal_inputs(shapes, regressed, rotation, self.landmark_pcs(features), self.calibrated)
        x = (x - self.p["in_mean"]) / self.p["in_std"]
        delta = causal_forward(self.p, x, self.kernel, self.dilations)
        base = refine.blend(shapes, regressed)
        out = base + (delta[..., 0] if self.per_shape else delta)
        out[:, refine.TONGUE] = 0.0
        return np.clip(out, 0.0, 1.0).astype(np.float32)


def _read(path: Path) -> TemporalNet:
    return TemporalNet(read_arrays(path, "temporal network weights"))


def load_temporal(path: str | Path | None = None) -> TemporalNet:
    """The committed temporal network (or the weights at `path`), loaded once per process."""
    return cached_model("video-temporal", path or DEFAULT_WEIGHTS, _read)
