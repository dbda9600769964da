"""Per-frame baseline for the FACS regressor: bounded least squares of the linear
blendshape landmark model (mean of the training heads) after the same pose normalisation,
frame by frame, with the actor's neutral taken from the clip's first frames."""
from __future__ import annotations

import numpy as np

from .face_model import LandmarkModel, matrix_euler
from faceforge.ml.video.features import align, similarity, to_metric

RIDGE = 1e-3        # relative Tikhonov weight: keeps near-collinear shapes finite
ITERATIONS = 300


class PerFrameBaseline:
    """w_t = argmin_{0<=w<=1} |D w - (A_t - neutral)|^2 + ridge |w|^2 per frame, where A_t
    is the frame's pose-normalised landmarks and D the mean landmark deltas [52,478,3]."""

    def __init__(self, models: list[LandmarkModel], template: np.ndarray, stable: np.ndarray):
        self.template, self.stable = template, stable
        d = np.mean([m.deltas for m in models], axis=0).reshape(52, -1).astype(np.float64)
        self.d = d
        gram = d @ d.T
        self.gram = gram + RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
        self.step = 1.0 / np.linalg.eigvalsh(self.gram).max()

    def predict(self, landmarks: np.ndarray, aspect: float,
                neutral_frames: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(weights [T,52], head Euler [T,3]) as FacsRegressor.predict, frame by frame."""
        pts = to_metric(np.asarray(landmarks, dtype=np.float64), aspect)
        rot, s, t = similarity(pts, self.template, self.stable)
        aligned = align(pts, rot, s, t)
        neutral = np.median(aligned[:neutral_frames], axis=0)
        b = (aligned - neutral).reshape(len(aligned), -1) @ self.d.T      # [T,52]
        w = y = np.zeros_like(b)
        momentum = 1.0
        for _ in range(ITERATIONS):  # FISTA on the box, all frames at once
            w_next = np.clip(y - self.step * (y @ self.gram - b), 0.0, 1.0)
            m_next = (1 + np.sqrt(1 + 4 * momentum ** 2)) / 2
            y = w_next + (momentum - 1) / m_next * (w_next - w)
            w, momentum = w_next, m_next
        return w.astype(np.float32), matrix_euler(rot).astype(np.float32)
