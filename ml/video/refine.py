"""What FaceForge adds on top of the Face Landmarker's per-frame blendshapes: a blend with
the FACS regressor's reading of the landmarks (alone for the shapes the blendshape model
never moves), optionally each shape's range stretched to the actor's own extremes, and an
adaptive low-pass that holds a still face still: a One Euro filter whose cutoff also opens
with the face's own landmark motion, run forward and backward over the clip (no lag).
Arrays are [T, 52] in ARKit order, sampled at a steady `fps`."""
from __future__ import annotations

import numpy as np

from .. import arkit
from ..face_mesh_regions import (CHEEKS, LEFT_BROW, LEFT_EYE, LEFT_IRIS, LIPS, NOSE, RIGHT_BROW,
                                 RIGHT_EYE, RIGHT_IRIS)
from .features import align, similarity, to_metric
from .tracking import NUM_LANDMARKS

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

# One Euro filter (Casiez et al., CHI 2012): cutoff = MIN_CUTOFF + BETA * |speed| (Hz, per s);
# these defaults are the causal filter the still-face filter was chosen against.
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


def one_euro(values: np.ndarray, fps: float, min_cutoff=MIN_CUTOFF, beta=BETA,
             d_cutoff: float = D_CUTOFF, boost: np.ndarray | None = None) -> np.ndarray:
    """Causal One Euro filter of values [T, C] (each channel on its own): a low-pass whose
    cutoff rises with the channel's (low-passed) speed, so still stretches are smoothed
    hard and fast moves pass with little lag. `min_cutoff` and `beta` are scalars or [C];
    `boost` [T, C] adds Hz to frame t's cutoff. Frame t depends on frames <= t only."""
    values = np.asarray(values, dtype=np.float32)
    if len(values) < 2:
        return values.copy()
    out = np.empty_like(values)
    out[0] = prev = values[0]
    speed = np.zeros(values.shape[1:], dtype=np.float32)
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, len(values)):
        speed = speed + a_d * ((values[t] - prev) * fps - speed)
        cutoff = min_cutoff + beta * np.abs(speed)
        a = _alpha(cutoff if boost is None else cutoff + boost[t], fps)
        prev = prev + a * (values[t] - prev)
        out[t] = prev
    return out


# Still-face filter (`steady`): chosen on the training identities 0 and 1 and GRID
# (lab/video/probe_still_filter.py), never on the test identities. Shapes other than the
# eyes' sit at STILL_CUTOFF Hz while their landmarks are still; eye shapes keep the One
# Euro speed term so blinks close fully.
STILL_CUTOFF = 0.25
EYE_CUTOFF, EYE_BETA = 0.5, 8.0
GATE_GAIN = 0.5       # Hz added per multiple of the landmarks' still-face motion (noise floor)
GATE_SMOOTH = 0.5     # one-pole low-pass of that motion, per frame
FLOOR_QUANTILE = 0.2  # the noise floor: this quantile of each shape's landmark motion
CHUNK = 256           # frames aligned at a time (bounded memory on long clips)


def _shape_landmarks() -> list[np.ndarray]:
    """Per ARKit shape, the Face Mesh landmarks whose motion shows it: the eye's contour
    and iris for eye shapes, the brow(s) for brow shapes, the nose for noseSneer, the
    cheeks for cheekSquint, the lips for the rest (mouth, jaw, cheekPuff, tongue)."""
    out = []
    for name in arkit.ARKIT_NAMES:
        side = "left" if name.endswith("Left") else "right" if name.endswith("Right") else ""
        if name.startswith("eye"):
            idx = LEFT_EYE + LEFT_IRIS if side == "left" else RIGHT_EYE + RIGHT_IRIS
        elif name.startswith("brow"):
            idx = {"left": LEFT_BROW, "right": RIGHT_BROW}.get(side, LEFT_BROW + RIGHT_BROW)
        elif name.startswith("noseSneer"):
            idx = NOSE
        elif name.startswith("cheekSquint"):
            idx = CHEEKS
        else:
            idx = LIPS
        out.append(np.array(idx, dtype=np.int64))
    return out


def _mean_matrix(sets: list[np.ndarray]) -> np.ndarray:
    """[478, len(sets)]: column j averages the landmarks of sets[j]."""
    out = np.zeros((NUM_LANDMARKS, len(sets)))
    for j, idx in enumerate(sets):
        out[idx, j] = 1.0 / len(idx)
    return out


SHAPE_LANDMARKS = _shape_landmarks()
SHAPE_MEAN = _mean_matrix(SHAPE_LANDMARKS)
EYES = np.array([n.startswith("eye") for n in arkit.ARKIT_NAMES])


def shape_motion(landmarks: np.ndarray, aspect: float, template: np.ndarray,
                 stable: np.ndarray) -> np.ndarray:
    """[T, 478, 3] Face Mesh landmarks (MediaPipe-normalised) -> [T, 52] mean speed (template
    units per frame) of the landmarks that show each shape, with the head's pose removed
    (similarity fit to `template` [478, 3] on the `stable` weights [478])."""
    n = len(landmarks)
    out = np.zeros((n, arkit.NUM_SHAPES), np.float32)
    prev = None
    for lo in range(0, n, CHUNK):
        pts = to_metric(np.asarray(landmarks[lo:lo + CHUNK], np.float64), aspect)
        aligned = align(pts, *similarity(pts, template, stable))
        if prev is not None:
            aligned = np.concatenate([prev, aligned])
        step = np.linalg.norm(np.diff(aligned, axis=0), axis=-1)       # [frames, 478]
        out[lo + (prev is None):lo + len(pts)] = step @ SHAPE_MEAN
        prev = aligned[-1:]
    return out


def gate(motion: np.ndarray, gain: float = GATE_GAIN, smooth: float = GATE_SMOOTH) -> np.ndarray:
    """[T, C] landmark motion -> [T, C] Hz to add to the cutoff: `gain` per multiple of the
    motion's noise floor above it, low-passed causally by `smooth`."""
    floor = np.maximum(np.quantile(motion, FLOOR_QUANTILE, axis=0), 1e-9)
    excess = np.maximum(motion / floor - 1.0, 0.0)
    out = np.empty_like(excess)
    acc = excess[0]
    for t in range(len(excess)):
        acc = acc + smooth * (excess[t] - acc)
        out[t] = acc
    return gain * out


def steady(weights: np.ndarray, fps: float, motion: np.ndarray, cutoff=None, beta=None,
           gain: float = GATE_GAIN, smooth: float = GATE_SMOOTH) -> np.ndarray:
    """The bake's still-face filter: [T, 52] weights and [T, 52] `shape_motion` -> weights
    filtered by the landmark-gated One Euro filter forward, then backward (zero phase:
    no lag; the whole clip is known when it is baked). `cutoff`, `beta` ([52] or scalars;
    default STILL_CUTOFF and 0, the eyes EYE_CUTOFF and EYE_BETA), `gain`, `smooth`: the
    settings, for the probe that chose them."""
    cutoff = np.where(EYES, EYE_CUTOFF, STILL_CUTOFF).astype(np.float32) if cutoff is None else cutoff
    beta = np.where(EYES, EYE_BETA, 0.0).astype(np.float32) if beta is None else beta
    weights = np.asarray(weights, np.float32)
    if len(weights) < 2:
        return weights.copy()
    forward = one_euro(weights, fps, cutoff, beta, boost=gate(motion, gain, smooth))
    back = one_euro(forward[::-1], fps, cutoff, beta, boost=gate(motion[::-1], gain, smooth))
    return back[::-1].copy()
