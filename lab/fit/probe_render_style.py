"""Does MediaPipe follow the rig's face better on a photo-like render? The same random
parameter vectors (frontal, neutral, one light; tune_detector's frontal seed) rendered in
each look of lab.fit.render_style, MediaPipe on each render, then per look:
- ridge R^2 per parameter from the aligned landmarks (5-fold, probe_observable's ridge);
- NME between MediaPipe's landmarks and the exact bound landmarks (Blender's deformation),
  after the best similarity alignment; "varying" the same after removing the look's mean
  offset (MediaPipe's points and the bound points need not agree at rest), so it measures
  only how the detected points fail to follow the parameters;
- gain: the least-squares slope of the detected landmarks' deviation from their mean onto
  the exact landmarks' deviation (1: MediaPipe follows the bones fully; 0: it sits on an
  average face whatever the parameters).
Renders cached per look and size as checkpoints/fit/detected_samples_<look><px>_<rig>.npz
(the flat look at 512 px is tune_detector's own cache).

    python -m lab.fit.probe_render_style [--renders 60] [--styles flat flat@256 shaded cycles]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lab.fit.engine import builtin_rig, fit_ops, render_cache, style_resolution, style_suffix
from lab.fit.probe_observable import OBSERVABLE_R2, features, ridge_r2
from lab.fit.tune_detector import SAMPLES, render_samples
from faceforge.ml.fit import landmarks as lm
from faceforge.ml.fit import solve

DEFAULT_STYLES = ("flat", "flat@256", "shaded", "cycles")


def parse_style(spec: str) -> tuple[str, int, str]:
    """"look[@pixels[tag]]" -> (look, pixels, tag); a tag names an older cache of that look
    (read, never rendered: the look has changed since)."""
    name, _, rest = spec.partition("@")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    return name, int(rest[:digits]) if digits else style_resolution(name), rest[digits:]


def follow_scores(det: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """det, exact [N, K, 2] (exact in face units, y down): mean NME (%) raw and with the
    mean offset removed, and the gain of the detected deviations onto the exact ones."""
    aligned = solve.similarity_batch(det, exact)
    eye = np.linalg.norm(exact[:, solve._EYES[1]] - exact[:, solve._EYES[0]], axis=-1)
    err = aligned - exact
    raw = (np.linalg.norm(err, axis=-1).mean(1) / eye).mean()
    varying = (np.linalg.norm(err - err.mean(0), axis=-1).mean(1) / eye).mean()
    da, de = aligned - aligned.mean(0), exact - exact.mean(0)
    out = dict(nme=float(raw * 100), varying=float(varying * 100),
               gain=float((da * de).sum() / (de * de).sum()))
    for region, idx in lm.REGIONS.items():
        k = np.searchsorted(lm.FIT_INDICES, idx)
        out[region] = float((da[:, k] * de[:, k]).sum() / (de[:, k] ** 2).sum())
    return out


def timed_samples(rig, style: str, px: int, n: int, tag: str = "") -> tuple[dict, float]:
    """render_samples in one look, and its seconds per render (kept beside the cache)."""
    log = render_cache(SAMPLES + style_suffix(style, px) + tag, rig).with_suffix(".json")
    if tag:
        with np.load(log.with_suffix(".npz")) as z:
            return {k: z[k][:n] for k in z.files}, json.loads(log.read_text())["seconds_per_render"]
    before = len(np.load(log.with_suffix(".npz"))["unit"]) if log.with_suffix(".npz").exists() else 0
    t0 = time.perf_counter()
    data = render_samples(rig, n, style=style, resolution=px)
    new = len(data["unit"]) - before
    if new > 0:
        log.write_text(json.dumps({"seconds_per_render": (time.perf_counter() - t0) / new}))
    sec = json.loads(log.read_text())["seconds_per_render"] if log.exists() else float("nan")
    return data, sec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--renders", type=int, default=60)
    ap.add_argument("--styles", nargs="+", default=list(DEFAULT_STYLES),
                    help="looks (lab.fit.render_style), each optionally @pixels")
    args = ap.parse_args(argv)
    rig, _ = builtin_rig()
    names = [p.name for p in rig.space.params]
    rows, r2s = [], {}
    for spec in args.styles:
        style, px, tag = parse_style(spec)
        data, sec = timed_samples(rig, style, px, args.renders, tag)
        unit, det = data["unit"], data["detected"]
        exact = solve.project(fit_ops.engine_landmarks(rig, unit))
        exact = solve.similarity_batch(exact, np.broadcast_to(exact.mean(0), exact.shape))
        r2 = ridge_r2(features(det), unit)
        r2s[spec] = r2
        sc = follow_scores(det, exact)
        rows.append((spec, len(unit), sec, r2.mean(), int((r2 >= OBSERVABLE_R2).sum()), sc))
        print(f"{spec}: {len(unit)} renders, {sec:.2f} s each, mean R^2 {r2.mean():.2f}, "
              f"NME to exact {sc['nme']:.2f} %, varying {sc['varying']:.2f} %, "
              f"gain {sc['gain']:.2f}", flush=True)
    print(f"\nRender looks: {args.renders} frontal renders at random parameters "
          f"(tune_detector's seed), MediaPipe on each")
    print("| look | px | renders | s per render | mean ridge R^2 | observable (R^2 >= 0.5) | "
          "NME to exact (%) | varying NME (%) | gain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec, n, sec, r2m, obs, sc in rows:
        style, px, tag = parse_style(spec)
        print(f"| {style}{f' ({tag})' if tag else ''} | {px} | {n} | {sec:.2f} | {r2m:.2f} | {obs}/{len(names)} | "
              f"{sc['nme']:.2f} | {sc['varying']:.2f} | {sc['gain']:.2f} |")
    print("\nGain per region (1: MediaPipe's points follow the bones fully)")
    print("| look | " + " | ".join(lm.REGIONS) + " |")
    print("|---|" + "---|" * len(lm.REGIONS))
    for spec, *_, sc in rows:
        print(f"| {spec} | " + " | ".join(f"{sc[r]:.2f}" for r in lm.REGIONS) + " |")
    print("\n| parameter | " + " | ".join(r2s) + " |")
    print("|---|" + "---|" * len(r2s))
    for i, name in enumerate(names):
        print(f"| {name} | " + " | ".join(f"{r[i]:.2f}" for r in r2s.values()) + " |")


if __name__ == "__main__":
    main()
