"""Scores of predicted ARKit weight tracks against the truth: per-shape correlation and
MAE, dead channels, jitter on static stretches and mean squared jerk."""
from __future__ import annotations

import numpy as np

VARY_STD = 0.05      # a shape "varies in truth" above this std
DEAD_RATIO = 0.1     # ... and is dead when the output's std is below this fraction of it
STATIC_SPEED = 1e-3  # truth change per frame below which a frame is static (all shapes)


def shape_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """[N,52] truth and prediction -> corr [52] (NaN where either is constant), mae [52],
    truth and prediction std [52]."""
    t, p = truth - truth.mean(0), pred - pred.mean(0)
    denom = np.sqrt((t * t).sum(0) * (p * p).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12, (t * p).sum(0) / denom, np.nan)
    return dict(corr=corr, mae=np.abs(truth - pred).mean(0), truth_std=truth.std(0),
                pred_std=pred.std(0))


def varies(scores: dict[str, np.ndarray]) -> np.ndarray:
    """[52] bool: shapes that vary in truth (the ones a mean correlation is taken over)."""
    return scores["truth_std"] > VARY_STD


def dead_channels(scores: dict[str, np.ndarray]) -> np.ndarray:
    """[52] bool: shapes that vary in truth but stay nearly constant in the output."""
    return varies(scores) & (scores["pred_std"] < DEAD_RATIO * scores["truth_std"])


def static_mask(truth: np.ndarray, euler: np.ndarray | None = None, min_run: int = 5) -> np.ndarray:
    """[T] frames inside runs of >= min_run frames where no truth weight (nor the head,
    if given) moves by more than STATIC_SPEED per frame."""
    moving = np.abs(np.diff(truth, axis=0)).max(1) > STATIC_SPEED
    if euler is not None:
        moving |= np.abs(np.diff(euler, axis=0)).max(1) > STATIC_SPEED
    still = ~(np.r_[False, moving] | np.r_[moving, False])
    edges = np.flatnonzero(np.diff(np.r_[0, still.astype(np.int8), 0])).reshape(-1, 2)
    out = np.zeros(len(truth), bool)
    for s, e in edges[edges[:, 1] - edges[:, 0] >= min_run]:
        out[s:e] = True
    return out


def jitter(pred: np.ndarray, static: np.ndarray) -> float:
    """Mean over shapes of the frame-to-frame change's std within static stretches."""
    pairs = static[1:] & static[:-1]
    if pairs.sum() < 2:
        return float("nan")
    return float(np.diff(pred, axis=0)[pairs].std(0).mean())


def jerk(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Mean squared third difference (per frame^3) of the prediction and of the truth."""
    return float((np.diff(pred, 3, axis=0) ** 2).mean()), float((np.diff(truth, 3, axis=0) ** 2).mean())
