"""What FaceForge adds on top of the Face Landmarker's per-frame blendshapes: a blend with
the FACS regressor's reading of the landmarks (alone for the shapes the blendshape model
never moves), optionally each shape's range stretched to the actor's own extremes, and a
causal adaptive low-pass (One Euro filter) that holds still faces still without lagging
fast motion. Arrays are [T, 52] in ARKit
order, sampled at a steady `fps`."""
from __future__ import annotations

import numpy as np

from .. import arkit

# Shapes the Face Landmarker's blendshape model leaves near-constant on real and rendered
# faces; the regressor reads them from the landmarks instead.
FILL_NAMES = ("cheekPuff", "cheekSquintLeft", "cheekSquintRight", "jawForward", "jawLeft",
              "jawRight", "mouthClose", "mouthRollLower", "mouthRollUpper",
              "noseSneerLeft", "noseSneerRight", "browDownLeft", "browDownRight")
FILL = np.array([arkit.INDEX[n] for n in FILL_NAMES], dtype=np.int64)

# Range calibration: a shape the actor moves by more than MIN_SPAN above the neutral has
# its RANGE_QUANTILE mapped to at least FULL (gain capped at MAX_GAIN).
RANGE_QUANTILE = 0.98
MIN_SPAN = 0.1
FULL = 0.8
MAX_GAIN = 2.5

# One Euro filter (Casiez et al., CHI 2012): cutoff = MIN_CUTOFF + BETA * |speed| (Hz, per s).
MIN_CUTOFF = 1.5
BETA = 8.0
D_CUTOFF = 1.0


def fill_from_landmarks(blendshapes: np.ndarray, regressed: np.ndarray,
                        shapes: np.ndarray = FILL) -> np.ndarray:
    """The blendshapes with `shapes` taken from the regressor's weights (both [T, 52])."""
    out = blendshapes.copy()
    out[:, shapes] = regressed[:, shapes]
    return out


# Blend: where both read a shape, BLEND of the blendshape model and the rest from the FACS
# regressor (on Face Mesh's landmarks). Chosen on render-and-track clips of training
# identities (lab/video/eval_bake.py --blend-sweep: 0.3-0.5 within 0.01 of the best r)
# and GRID's jawOpen~audio r (0.15: 0.390, 0.3: 0.376, 0.5: 0.352), never on test identities.
BLEND = 0.3
TONGUE = arkit.INDEX["tongueOut"]


def blend(shapes: np.ndarray, regressed: np.ndarray, share: float = BLEND) -> np.ndarray:
    """[T, 52] blendshapes and regressor weights (both minus the actor's neutral) -> their
    blend; the fill-in shapes from the regressor alone; tongueOut (seen by neither) 0."""
    out = share * shapes + (1.0 - share) * regressed
    out[:, FILL] = regressed[:, FILL]
    out[:, TONGUE] = 0.0
    return out


def range_gains(weights: np.ndarray) -> np.ndarray:
    """[52] per-shape gains that stretch the actor's extremes (weights already relative
    to the neutral) to FULL; 1 for shapes the actor barely moves."""
    top = np.quantile(weights, RANGE_QUANTILE, axis=0) if len(weights) else np.zeros(weights.shape[1])
    gains = np.where(top > MIN_SPAN, FULL / np.maximum(top, 1e-6), 1.0)
    return np.clip(gains, 1.0, MAX_GAIN).astype(np.float32)


def _alpha(cutoff, fps: float):
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


def one_euro(values: np.ndarray, fps: float, min_cutoff: float = MIN_CUTOFF,
             beta: float = BETA, d_cutoff: float = D_CUTOFF) -> np.ndarray:
    """Causal One Euro filter of values [T, C] (each channel on its own): a low-pass whose
    cutoff rises with the channel's (low-passed) speed, so still stretches are smoothed
    hard and fast moves pass with little lag. Frame t depends on frames <= t only."""
    values = np.asarray(values, dtype=np.float32)
    if len(values) < 2:
        return values.copy()
    out = np.empty_like(values)
    out[0] = prev = values[0]
    speed = np.zeros(values.shape[1:], dtype=np.float32)
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, len(values)):
        speed = speed + a_d * ((values[t] - prev) * fps - speed)
        a = _alpha(min_cutoff + beta * np.abs(speed), fps)
        prev = prev + a * (values[t] - prev)
        out[t] = prev
    return out
