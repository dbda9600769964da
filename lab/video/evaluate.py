"""Evaluation of the FACS regressor against the per-frame baseline: render-and-track
clips with known weights (held-out identities, and the other head family), and real GRID
clips (detection, jawOpen versus the audio envelope, blinks, jitter). The rendering half
lives in lab/video/eval_regressor.py (bpy); this half only needs the tracked arrays."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES, INDEX
from faceforge.ml.lipsync.audio import load_video_audio
from .face_model import Camera, LandmarkModel
from .metrics import dead_channels, jerk, jitter, shape_scores, static_mask, varies
from .synth import random_head_path, random_weights

EVAL_FPS = 30.0
EVAL_SIZE = (640, 480)
NEUTRAL_FRAMES = 10
VISIBLE = 0.01      # a shape is landmark-visible when it moves a landmark by 1 % of the face height
MIN_GAIN = 0.25     # ... and MediaPipe reports at least this share of that motion


@dataclass
class EvalClip:
    """Truth and tracking of one rendered clip."""
    name: str
    weights: np.ndarray      # [T,52]
    euler: np.ndarray        # [T,3]
    landmarks: np.ndarray    # [T,478,3] tracked, gaps filled
    found: np.ndarray        # [T] bool
    aspect: float


def eval_performance(family: str, seed: int, frames: int) -> tuple[np.ndarray, np.ndarray, Camera]:
    """The fixed test performance of one head: a neutral, still start, a still stretch in
    the middle (for jitter), random expressions and head motion elsewhere."""
    rng = np.random.default_rng([7, seed, ("anny", "ict").index(family)])
    weights = random_weights(rng, frames, EVAL_FPS, hold_neutral=NEUTRAL_FRAMES)
    euler = random_head_path(rng, frames, EVAL_FPS, scale=0.7)
    euler[:NEUTRAL_FRAMES] = euler[NEUTRAL_FRAMES]
    hold = slice(frames // 2, frames // 2 + frames // 6)
    weights[hold], euler[hold] = weights[hold.start], euler[hold.start]
    cam = Camera(float(rng.uniform(0.45, 0.7)), float(rng.uniform(35, 60)),
                 (float(rng.uniform(-0.02, 0.02)), float(rng.uniform(-0.05, -0.02))), EVAL_SIZE)
    return weights, euler.astype(np.float32), cam


def visible_shapes(model: LandmarkModel, gain: np.ndarray | None = None) -> np.ndarray:
    """[52] bool: shapes whose weight-1 delta moves some landmark by > VISIBLE face heights
    and, given the measured tracker `gain` [52], that MediaPipe follows (>= MIN_GAIN)."""
    face = np.ptp(model.neutral[:468, 2])
    moves = np.linalg.norm(model.deltas, axis=2).max(axis=1) > VISIBLE * face
    return moves if gain is None else moves & (gain >= MIN_GAIN)


def score(clips: list[EvalClip], preds: list[np.ndarray], visible: np.ndarray) -> dict:
    """Scores of one method's predictions [T,52] on clips (frames pooled over clips)."""
    truth = np.concatenate([c.weights for c in clips])
    pred = np.concatenate(preds)
    s = shape_scores(truth, pred)
    varying = varies(s)
    static = np.concatenate([static_mask(c.weights, c.euler) for c in clips])
    dead = dead_channels(s) & visible
    jerks = [jerk(c.weights, p) for c, p in zip(clips, preds)]
    return dict(corr=float(np.nanmean(s["corr"][varying & visible])),
                corr_all=float(np.nanmean(s["corr"][varying])),
                mae=float(s["mae"].mean()), dead=[ARKIT_NAMES[i] for i in np.flatnonzero(dead)],
                jitter=jitter(pred, static), jerk=float(np.mean([j[0] for j in jerks])),
                jerk_truth=float(np.mean([j[1] for j in jerks])), per_shape=s, varies=varying)


def table(rows: list[tuple[str, str, dict]]) -> str:
    """Markdown table of (test set, method, scores) rows."""
    out = ["| test set | method | mean corr (visible) | mean corr (all varying) | MAE | "
           "dead visible channels | static jitter | mean sq. jerk (truth) |",
           "|---|---|---|---|---|---|---|---|"]
    for test, method, s in rows:
        out.append(f"| {test} | {method} | {s['corr']:.3f} | {s['corr_all']:.3f} | {s['mae']:.4f} "
                   f"| {len(s['dead'])} {', '.join(s['dead'])} | {s['jitter']:.5f} "
                   f"| {s['jerk']:.2e} ({s['jerk_truth']:.2e}) |")
    return "\n".join(out)


def shape_table(names: list[str], scores: list[dict]) -> str:
    """Per-shape correlation of several methods (shapes varying in truth)."""
    out = ["| shape | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    varies = scores[0]["varies"]
    for i in np.flatnonzero(varies):
        out.append(f"| {ARKIT_NAMES[i]} | " + " | ".join(
            f"{s['per_shape']['corr'][i]:.2f}" for s in scores) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------- GRID (real video)
def audio_envelope(path: Path, times: np.ndarray) -> np.ndarray:
    """RMS loudness of the clip's audio around each video frame time."""
    audio, rate = load_video_audio(path)
    half = int(rate * 0.02)
    centres = np.clip((times * rate).astype(int), 0, len(audio) - 1)
    cs = np.r_[0, np.cumsum(audio ** 2)]
    lo, hi = np.clip(centres - half, 0, len(audio)), np.clip(centres + half, 0, len(audio))
    return np.sqrt((cs[hi] - cs[lo]) / np.maximum(hi - lo, 1))


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 10) -> tuple[float, int]:
    """(correlation, lag in frames) maximising corr(a[t], b[t - lag]); lag > 0: a follows b."""
    best = (-2.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        c = np.corrcoef(x, y)[0, 1]
        if np.isfinite(c) and c > best[0]:
            best = (float(c), lag)
    return best


def blink_count(weights: np.ndarray, threshold: float = 0.5) -> int:
    """Rising crossings of the mean eyeBlink weight through `threshold`."""
    blink = weights[:, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]].mean(1) > threshold
    return int((np.diff(blink.astype(np.int8)) == 1).sum())


def grid_row(name: str, track, weights: np.ndarray, envelope: np.ndarray) -> dict:
    """Real-clip statistics of one method's weights on one tracked GRID clip."""
    jaw = weights[:, INDEX["jawOpen"]]
    corr, lag = best_lag(jaw, envelope)
    return dict(clip=name, detection=float(track.found.mean()), jaw_corr=corr, jaw_lag=lag,
                blinks=blink_count(weights),
                jitter=float(np.median(np.abs(np.diff(weights, axis=0)).mean(1))))
