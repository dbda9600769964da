"""Fit the tracker map (lab/video/tracker_map.py) on rendered-and-tracked clips of training
identities (lab/video/render_training.py): regenerate each clip's analytic landmarks
from its index, align analytic and tracked landmarks as the features do, compare the
candidate maps (on top of the weight-1 response correction) on validation clips and save
the best, fitted on the training clips only, to checkpoints/video_bindings/tracker_map.npz,
with each family's tracker neutral (identities pulled toward a mean face) and the noise model of what the map leaves
(correlated components + independent jitter; tracker_map.fit_residual_noise).
Validation: the clips train --tracked holds out too (`train.tracked_held_out`: k % 12 in
(0, 1), both families).

    python -m lab.video.fit_tracker_map [--kinds linear shape gain+shape+pose ...] [--ridges ...]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .face_model import (BINDINGS, FAMILIES, Camera, LandmarkModel, load_model,
                                           pose_terms, posed, project)
from faceforge.ml.video.features import align, similarity, to_metric
from .tracker_map import (apply_map, family_terms, fit_correction, fit_gain, fit_linear_map,
                                            fit_neutral_gain, fit_residual_noise)
from .train import (TRACKER_MAP, TRAIN_SEEDS, feature_subset, load_models,
                                      template_of, tracked_held_out, tracked_shards)

from .render_training import OUT as TRACKED, clip_plan

KINDS = ("linear", "shape", "shape+pose", "gain", "gain+shape+pose")
COMPONENTS = 20   # correlated noise components (they carry ~85 % of the residual)


@dataclass
class Pair:
    """One tracked clip, what regenerates its analytic landmarks, and both aligned."""
    k: int
    family: str
    seed: int
    weights: np.ndarray   # [T,52]
    euler: np.ndarray     # [T,3]
    cam: Camera
    aspect: float
    tracked: np.ndarray   # [T,478,3] aligned
    base: np.ndarray      # [T,478,3] aligned analytic landmarks of the response-corrected model


class Aligner:
    """Landmarks -> the features' pose-aligned frame (template units, metres)."""

    def __init__(self, models: list[LandmarkModel]):
        self.template, self.stable = template_of(models)

    def __call__(self, landmarks: np.ndarray, aspect: float) -> np.ndarray:
        pts = to_metric(np.asarray(landmarks, dtype=np.float64), aspect)
        return align(pts, *similarity(pts, self.template, self.stable))

    def analytic(self, model: LandmarkModel, p: Pair) -> np.ndarray:
        return self(project(posed(model, p.weights, p.euler), p.cam), p.aspect)


def load_pairs(folder: Path, base: dict, aligner: Aligner, clips: int | None = None) -> list[Pair]:
    """Every fully tracked clip (of the first `clips`, if given) with its regenerated
    analytic landmarks."""
    pairs = []
    for k, z in tracked_shards(folder):
        if clips is not None and k >= clips:
            continue
        family, seed, _, weights, euler, cam = clip_plan(k, len(z["weights"]))
        if not (np.allclose(weights, z["weights"]) and str(z["family"]) == family):
            raise ValueError(f"tracked clip {k} does not match its regenerated plan")
        aspect = float(z["aspect"])
        p = Pair(k, family, seed, weights, euler, cam, aspect, aligner(z["landmarks"], aspect), None)
        p.base = aligner.analytic(base[family, seed], p)
        pairs.append(p)
    return pairs


def fit(kind: str, pairs: list[Pair], ridge: float) -> dict[str, np.ndarray]:
    """Per family, the map of `kind` ('+'-joined parts of KINDS' terms) fitted on `pairs`."""
    parts, out = kind.split("+"), {}
    for f in FAMILIES:
        ps = [p for p in pairs if p.family == f]
        base, tracked = np.concatenate([p.base for p in ps]), np.concatenate([p.tracked for p in ps])
        clips = np.concatenate([np.full(len(p.weights), p.k) for p in ps])
        if "linear" in parts:
            out[f"{f}.linear"] = fit_linear_map(base, tracked, clips, ridge)
        if "gain" in parts:
            out[f"{f}.gain"] = fit_gain(base, tracked, clips)
            base = base * out[f"{f}.gain"]
        reg = [np.concatenate([p.weights for p in ps])] if "shape" in parts else []
        if "pose" in parts:
            reg.append(pose_terms(np.concatenate([p.euler for p in ps])))
        if reg:
            b = fit_correction(np.concatenate(reg, axis=1), base, tracked, clips, ridge)
            if "shape" in parts:
                out[f"{f}.shape"], b = b[:52], b[52:]
            if "pose" in parts:
                out[f"{f}.pose"] = b
    return out


def mapped(base: dict, fitted: dict) -> dict:
    return {(f, s): apply_map(m, family_terms(fitted, f)) for (f, s), m in base.items()}


def fit_neutral(pairs: list[Pair], base: dict, models: dict, aligner: Aligner) -> dict[str, np.ndarray]:
    """Per family, the tracker's neutral (apply_map's neutral_* terms): from each clip's
    mean tracked shape minus its expressions' mean motion, against the aligned neutral."""
    out = {}
    for f in FAMILIES:
        ps = [p for p in pairs if p.family == f]
        neutral = np.array([aligner.analytic(models[f, p.seed], replace(p, weights=0 * p.weights)).mean(0)
                            for p in ps])
        expressed = np.array([aligner.analytic(models[f, p.seed], p).mean(0) for p in ps])
        tracked = np.array([p.tracked.mean(0) for p in ps]) - (expressed - neutral)
        ref = np.mean([m.neutral for (g, _), m in base.items() if g == f], axis=0)
        out[f"{f}.neutral_ref"] = ref.astype(np.float32)
        out[f"{f}.neutral_target"] = (ref + tracked.mean(0) - neutral.mean(0)).astype(np.float32)
        out[f"{f}.neutral_gain"] = fit_neutral_gain(neutral, tracked)
    return out


def residual_noise(pairs: list[Pair], models: dict, aligner: Aligner) -> dict[str, np.ndarray]:
    """The noise model (face heights) of what the mapped `models` leave on `pairs`."""
    face = np.ptp(aligner.template[:468, 2])
    resid = np.concatenate([p.tracked - aligner.analytic(models[p.family, p.seed], p) for p in pairs])
    clips = np.concatenate([np.full(len(p.weights), p.k) for p in pairs])
    return {f"noise.{k}": np.asarray(v, np.float32)
            for k, v in fit_residual_noise(resid / face, clips, COMPONENTS).items()}


def score(pairs: list[Pair], models: dict, aligner: Aligner, subset: np.ndarray) -> tuple[float, ...]:
    """(R^2, RMS) of the clip-centred tracked landmarks the network reads (`subset`)
    predicted by the clip-centred analytic landmarks of the (mapped) models, and the RMS
    error of the clip means (the template-relative features see it); RMS in face heights."""
    face = np.ptp(aligner.template[:468, 2])
    err = tot = n = mean_err = 0.0
    for p in pairs:
        pred = aligner.analytic(models[p.family, p.seed], p)[:, subset]
        truth = p.tracked[:, subset]
        mean_err += ((truth.mean(0) - pred.mean(0)) ** 2).sum()
        pred, truth = pred - pred.mean(0), truth - truth.mean(0)
        err += ((truth - pred) ** 2).sum()
        tot += (truth ** 2).sum()
        n += truth.shape[0] * truth.shape[1]
    return 1 - err / tot, float(np.sqrt(err / n) / face), float(np.sqrt(mean_err / (len(pairs) * len(subset))) / face)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracked", type=Path, default=TRACKED)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--ridges", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0])
    ap.add_argument("--out", type=Path, default=TRACKER_MAP)
    ap.add_argument("--clips", type=int, default=None,
                    help="use only clips k < CLIPS (the committed map: 143)")
    args = ap.parse_args(argv)
    keys = [(f, s) for f in FAMILIES for s in range(TRAIN_SEEDS)]
    base = dict(zip(keys, load_models(FAMILIES, range(TRAIN_SEEDS))))
    aligner, subset = Aligner(list(base.values())), feature_subset()
    pairs = load_pairs(args.tracked, base, aligner, args.clips)
    train = [p for p in pairs if not tracked_held_out(p.k)]
    val = [p for p in pairs if tracked_held_out(p.k)]
    print(f"{len(train)} training clips, {len(val)} validation clips "
          f"({', '.join(f'{f} {sum(p.family == f for p in val)}' for f in FAMILIES)})")

    def scores(models):
        return [score([p for p in val if p.family == f], models, aligner, subset) for f in FAMILIES]

    rows = [("analytic (no correction)", "", scores({k: load_model(*k) for k in keys})),
            ("weight-1 response (committed)", "", scores(base))]
    best = None
    for kind in args.kinds:
        for ridge in args.ridges:
            fitted = fit(kind, train, ridge)
            got = scores(mapped(base, fitted))
            rows.append((f"response + {kind}", f"{ridge:g}", got))
            if best is None or np.mean([g[0] for g in got]) > best[0]:
                best = (np.mean([g[0] for g in got]), kind, ridge, fitted)
            print(f"{kind} {ridge:g}: " + ", ".join(f"R^2 {g[0]:.3f} RMS {g[1]:.4f}" for g in got), flush=True)
    print("\n| landmark model | ridge | anny R^2 | anny RMS | anny clip-mean RMS | ICT R^2 | ICT RMS "
          "| ICT clip-mean RMS |\n|---|---|---|---|---|---|---|---|")
    for name, ridge, got in rows:
        print(f"| {name} | {ridge} | " + " | ".join(f"{r:.3f} | {e:.4f} | {m:.4f}" for r, e, m in got) + " |")
    _, kind, ridge, fitted = best
    fitted.update(fit_neutral(train, base, mapped(base, fitted), aligner))
    final = mapped(base, fitted)
    fitted.update(residual_noise(train, final, aligner))
    print(f"| response + {kind} + tracker's neutral | {ridge:g} | " +
          " | ".join(f"{r:.3f} | {e:.4f} | {m:.4f}" for r, e, m in scores(final)) + " |")
    val_noise = residual_noise(val, final, aligner)
    resid = [p.tracked - aligner.analytic(final[p.family, p.seed], p) for p in val]
    cen = np.concatenate([r - r.mean(0) for r in resid]).reshape(-1, 478 * 3)
    basis = fitted["noise.basis"].reshape(COMPONENTS, -1)
    share = np.linalg.norm(cen @ np.linalg.pinv(basis) @ basis) ** 2 / np.linalg.norm(cen) ** 2
    print(f"noise (face heights): offset median {np.median(fitted['noise.offset']):.4f} "
          f"(validation {np.median(val_noise['noise.offset']):.4f}); {COMPONENTS} correlated components "
          f"carry {share:.0%} of the validation residual, std {np.linalg.norm(basis, axis=1).min():.4f}"
          f"..{np.linalg.norm(basis, axis=1).max():.4f}, lag-one corr "
          f"{fitted['noise.basis_rho'].min():.2f}..{fitted['noise.basis_rho'].max():.2f}; "
          f"independent jitter median {np.median(fitted['noise.jitter']):.4f}, rho {float(fitted['noise.rho']):.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, kind=kind, ridge=ridge, clips=len(train), **fitted)
    print(f"\nchose response + {kind}, ridge {ridge:g} (fitted on {len(train)} clips) -> {args.out}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
