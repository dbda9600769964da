"""How much do MediaPipe's landmarks on rendered heads tell about the weights of unseen
performances? On the rendered-and-tracked clips (lab/video/render_training.py), per
family: a per-frame linear readout (ridge on the regressor's features -> 52 weights) fitted
on growing shares of the training clips, and the given regressors, all scored on the
held-out clips (`train.tracked_held_out`) by pooled per-shape correlation over the shapes
that vary there, plus MAE and dead channels for the regressors.

    python -m lab.video.probe_tracked [--regressors A.npz B.npz ...] [--ridge 100]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .face_model import FAMILIES
from .metrics import dead_channels, shape_scores, varies
from faceforge.ml.video.regressor import load_regressor
from .train import tracked_held_out, tracked_shards

from .render_training import OUT as TRACKED


def mean_corr(scores: dict[str, np.ndarray]) -> float:
    """Mean per-shape correlation over the shapes that vary in truth."""
    return float(np.nanmean(scores["corr"][varies(scores)]))


def ridge_fit(x: np.ndarray, y: np.ndarray, lam: float):
    """Standardised ridge regression; returns predict(x) clipped to 0..1."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    a = (x - mu) / sd
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y - y.mean(0)))
    return lambda q: np.clip((q - mu) / sd @ w + y.mean(0), 0.0, 1.0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracked", type=Path, default=TRACKED)
    ap.add_argument("--regressors", type=Path, nargs="*", default=[None],
                    help="regressor npz files (default: the committed one)")
    ap.add_argument("--ridge", type=float, default=100.0)
    ap.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    args = ap.parse_args(argv)
    regressors = {str(p or "committed"): load_regressor(p) for p in args.regressors}
    probe = next(iter(regressors.values()))  # the readout uses the first one's features
    clips = [(k, z["landmarks"], float(z["aspect"]), z["weights"], str(z["family"]))
             for k, z in tracked_shards(args.tracked)]
    feats = [probe.features(lm, aspect)[0] for _, lm, aspect, _, _ in clips]
    print(f"{len(clips)} tracked clips, {sum(tracked_held_out(c[0]) for c in clips)} held out; "
          f"ridge {args.ridge:g}; pooled per-shape correlation on the held-out clips")
    for family in FAMILIES:
        mine = [i for i, c in enumerate(clips) if c[4] == family]
        train = [i for i in mine if not tracked_held_out(clips[i][0])]
        val = [i for i in mine if tracked_held_out(clips[i][0])]
        y_val = np.concatenate([clips[i][3] for i in val])
        x_val = np.concatenate([feats[i] for i in val])
        for share in args.shares:
            use = train[:max(1, int(len(train) * share))]
            fit = ridge_fit(np.concatenate([feats[i] for i in use]),
                            np.concatenate([clips[i][3] for i in use]), args.ridge)
            print(f"{family}: ridge readout on {len(use)} training clips: "
                  f"{mean_corr(shape_scores(y_val, fit(x_val))):.3f}")
        for name, reg in regressors.items():
            pred = np.concatenate([reg.predict(clips[i][1], clips[i][2])[0] for i in val])
            s = shape_scores(y_val, pred)
            print(f"{family}: {name} ({len(val)} clips): corr {mean_corr(s):.3f}, "
                  f"MAE {s['mae'].mean():.3f}, dead {int(dead_channels(s).sum())}")


if __name__ == "__main__":
    main()
