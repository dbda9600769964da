"""Where the viseme model loses correlation with the reference openness: the visemes on the
reference phones ("visemes on reference phones", the r ceiling of every phone engine) under
other ways of turning timed visemes into motion. Development sets only (GRID,
pocketsphinx-testdata, the synthetic set, the flite voices where made); `--test` runs the
rows once on the LibriVox test set after they were chosen.

    python -m lab.lipsync.probe_coarticulation [--test]      # ~3 min (makes the sets)

Rows:
  current                   `visemes.blend` (dominance-weighted low-pass of the held targets,
                            visemes.LOWPASS_S, forced lip contact, rest in pauses)
  static, no blend          each segment's viseme alone through the rig, smoothed as the
                            reference is (30 ms): openness per viseme, no coarticulation,
                            no forced contact (its jerk is not comparable)
  exponential dominance     Cohen-Massaro dominance functions instead of the window: flat
                            over the segment, alpha * exp(-(rate * distance)^2) outside it
                            (EXP_RATES: 15/s vowels, 22-31/s consonants; rounding and
                            spreading GROUP_RATE slower)
  ... x1.5 vowel decay      the same, vowels' dominance falling off 1.5x faster
  ... consonant lips 1.5    the same, alveolar, velar, sibilant, R, W lip dominance >= 1.5
  dominance window S ms     `visemes.blend` with LOWPASS_S = S ms
  low-pass targets S ms     each segment's own targets, Gaussian low-pass of S ms (rounding
                            and spreading S / visemes.GROUP_RATE), then the same forced lip
                            contact, rest in pauses and final smoothing as `blend`
  dominance low-pass S ms   the same, each target weighted by its viseme's dominance
                            (normalised convolution on the frames; `current` is this
                            computed exactly over each segment's span)
Printed per set: r (best-lag correlation with the reference openness), jerk, closure, open
vowel, silence, pause rest and lag, as `evaluate` scores them.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager

import numpy as np
from scipy.ndimage import gaussian_filter1d

from faceforge.ml.lipsync import visemes as V
from ..paths import CHECKPOINTS
from . import evaluate as ev

FPS = 30.0
# The exponential dominance functions' decay rates (1/s; the same before and after).
EXP_RATES = {"rest": 31, "pause": 25, "PBM": 31, "FV": 31, "TH": 28, "CH": 28, "SZ": 28,
             "TDN": 28, "KG": 28, "HH": 28, "R": 22, "W": 22}
KEYS = ("corr", "jerk", "closure", "open_vowel", "silence", "pause_rest", "lag_ms")
CONSONANTS = ("TDN", "KG", "R", "SZ", "TH", "CH", "W")


def low_pass_blend(sigma: float, dominance: bool = False):
    """A `visemes.blend` replacement: each frame takes its segment's own targets, low-passed
    (Gaussian, `sigma` s for lips and tongue, sigma / GROUP_RATE for rounding and
    spreading), then `blend`'s forced lip contact, rest in pauses and smoothing.
    `dominance`: the targets weighted by each viseme's dominance (visemes.ALPHA) in the
    low-pass (normalised convolution), so that low-dominance segments take their
    neighbours' shape."""
    def blend(vis, start, end, fps, duration):
        t = V.frame_times(duration, fps)
        here = np.clip(np.searchsorted(start, t, side="right") - 1, 0, len(vis) - 1)
        held = V.TARGETS[vis[here]]
        weight = (V.ALPHA[vis[here]][:, V.CONTROL_GROUP] if dominance
                  else np.ones_like(held))
        controls = np.empty_like(held)
        for g, rate in enumerate(V.GROUP_RATE):
            cols = V.CONTROL_GROUP == g
            lp = lambda x: gaussian_filter1d(x, sigma / rate * fps, axis=0, mode="nearest")
            controls[:, cols] = lp(weight[:, cols] * held[:, cols]) / lp(weight[:, cols])
        return V.contact_and_rest(controls, vis, start, end, fps, duration)
    return blend


def exponential_blend(vowel_rate: float = 1.0):
    """A `visemes.blend` replacement with Cohen-Massaro exponential dominance functions."""
    rates = np.array([EXP_RATES.get(n, 15 * vowel_rate) for n in V.VISEME_NAMES], float)

    def blend(vis, start, end, fps, duration):
        t = V.frame_times(duration, fps)
        _, nb, valid, dt, half = V.neighbourhood(vis, start, end, t)
        dist = np.maximum(np.abs(dt) - half, 0.0)
        dom = V.ALPHA[vis[nb]] * np.exp(-((dist * rates[vis[nb]])[..., None]
                                          * V.GROUP_RATE) ** 2)
        dom = dom[..., V.CONTROL_GROUP] * valid[..., None]
        controls = (dom * V.TARGETS[vis[nb]]).sum(1) / np.maximum(dom.sum(1), 1e-12)
        return V.contact_and_rest(controls, vis, start, end, fps, duration)
    return blend


@contextmanager
def variant(name: str):
    """The viseme model changed as the row `name` says, restored after."""
    alpha, blend, window = V.ALPHA.copy(), V.blend, V.LOWPASS_S
    idx = {n: V.VISEME_NAMES.index(n) for n in V.VISEME_NAMES}
    try:
        if name.startswith(("exponential dominance", "...")):
            V.blend = exponential_blend(1.5 if "vowel" in name else 1.0)
        if name == "... consonant lips 1.5":
            for c in CONSONANTS:
                V.ALPHA[idx[c], 0] = max(V.ALPHA[idx[c], 0], 1.5)
        elif name.startswith("dominance window"):
            V.LOWPASS_S = float(name.split()[2]) / 1000
        elif name.startswith("low-pass targets"):
            V.blend = low_pass_blend(float(name.split()[2]) / 1000)
        elif name.startswith("dominance low-pass"):
            V.blend = low_pass_blend(float(name.split()[2]) / 1000, dominance=True)
        yield
    finally:
        V.ALPHA[:], V.blend, V.LOWPASS_S = alpha, blend, window


def static_weights(phones, duration: float, rig) -> np.ndarray:
    """Gap track [T] (mm) of each segment's viseme alone, smoothed as the reference is."""
    vis, start, _ = V.segments(phones)
    t = V.frame_times(duration, FPS)
    gaps = np.array([ev.measure(V.viseme_weights(n)[None].astype(np.float64), rig)[0][0]
                     for n in V.VISEME_NAMES])
    here = np.clip(np.searchsorted(start, t, side="right") - 1, 0, len(vis) - 1)
    return gaussian_filter1d(gaps[vis[here]], ev.REF_SMOOTH_S * FPS)


def score(clips, name: str, rig, rest_gap: float) -> dict[str, float]:
    """Mean metrics of the row over the clips (each clip's reference phones)."""
    metrics = []
    with variant(name):
        for clip in clips:
            duration = len(clip.samples) / ev.RATE
            if name == "static, no blend":
                gap = static_weights(clip.phones, duration, rig)
                width = np.zeros_like(gap)
            else:
                gap, width = ev.measure(V.coarticulate(clip.phones, FPS, duration), rig)
            metrics.append(ev.clip_metrics(gap, width, clip.phones, FPS, rest_gap))
    return {k: float(np.nanmean([m[k] for m in metrics])) if any(
        np.isfinite(m[k]) for m in metrics) else float("nan") for k in KEYS}


ROWS = ("current", "static, no blend", "exponential dominance", "... x1.5 vowel decay",
        "... consonant lips 1.5", "low-pass targets 50 ms", "low-pass targets 60 ms",
        "dominance low-pass 40 ms", "dominance window 30 ms", "dominance window 35 ms",
        "dominance window 45 ms", "dominance window 60 ms")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--test", action="store_true", help="the LibriVox test set instead")
    p.add_argument("--rows", nargs="+", default=list(ROWS))
    args = p.parse_args(argv)
    if args.test:
        sets = {"test": ev.test_clips}
    else:
        sets = {"grid": ev.dev_clips, "testdata": ev.testdata_clips,
                "synthetic": ev.synthetic_clips}
        for voice in ("slt", "rms", "awb"):
            if (CHECKPOINTS / "lipsync_flite" / voice).is_dir():
                sets[f"flite {voice}"] = (
                    lambda v=voice: ev.test_clips(CHECKPOINTS / "lipsync_flite" / v))
    rig = ev.reference_rig()
    rest_gap = float(ev.measure(np.zeros((1, 52)), rig)[0][0])
    loaded = {name: make() for name, make in sets.items()}
    print("row | " + " | ".join(loaded) + " (r / jerk / closure / open / silence / pause "
          "rest / lag ms)")
    for row in args.rows:
        cells, rs = [], []
        for clips in loaded.values():
            m = score(clips, row, rig, rest_gap)
            rs.append(m["corr"])
            cells.append(f"{m['corr']:.3f} / {m['jerk']:.0f} / {m['closure']:.2f} / "
                         f"{m['open_vowel']:.2f} / {m['silence']:.2f} / {m['pause_rest']:.2f}"
                         f" / {m['lag_ms']:+.0f}")
        print(f"{row} (mean r {np.mean(rs):.3f}) | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
