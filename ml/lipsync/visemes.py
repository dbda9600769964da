"""Timed phones -> [T, 52] ARKit weights: ARPAbet -> viseme classes -> targets on a few
mouth controls, blended by dominance (coarticulation).

Every viseme has a target per control and a dominance per control group (lips: opening
and closure, round: pucker/funnel, spread: smile/stretch, tongue). Each frame takes the
mean of its neighbouring segments' targets, each weighted by its dominance times the share
of a Gaussian window around the frame (LOWPASS_S; wider for rounding and spreading) that
the segment covers (at least `min_hold` wide): a low-pass of the held targets in which
low-dominance segments take their neighbours' shape. High lip dominance makes bilabials
close the lips whatever surrounds them; rounded sounds have high round dominance and a wider
window, reaching back over consonants which do not care about rounding (anticipatory
rounding); alveolar and velar consonants and short pauses have low lip dominance, so the
jaw does not flap shut on every consonant between vowels. Lips must touch for bilabials
and labiodentals whatever the blend says, so those visemes then *force* their lip targets
over their hold, with raised-cosine ramps either side (the closing and opening gestures).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import ndtr

from ..arkit import NUM_SHAPES
from .controls import CONTROL_GROUP, CONTROL_NAMES, CONTROL_TO_ARKIT, GROUPS, to_arkit
from ..frames import frame_count, frame_times
from .phones import SIL, Phone

# The blend's Gaussian window (standard deviation, s) for the lips and tongue: on the
# development sets (GRID, pocketsphinx-testdata, synthetic, flite; visemes on their
# reference phones) the highest correlation with the reference openness whose jerk on
# every set is no higher than with Cohen-Massaro exponential dominance functions: mean r
# 0.783 -> 0.824, jerk 17-35 % lower (35 ms: 0.835, jerk 10 % higher on one set; 60 ms:
# 0.777; lab/lipsync/probe_coarticulation.py).
LOWPASS_S = 0.04
# Rounding and spreading are slower than the jaw and start earlier (protrusion can lead
# the rounded vowel by 200 ms or more): their window is 1 / GROUP_RATE wider.
GROUP_RATE = np.array([1.0, 0.4, 0.6, 1.0])

# name: (dominance per group (lips, round, spread, tongue), minimum hold in s, forced lips
# (bilabial/labiodental contact), targets {control: weight}). Weights suit ARKit's scale,
# where jawOpen = 1 is the jaw fully dropped.
VISEMES: dict[str, tuple[tuple[float, ...], float, bool, dict[str, float]]] = {
    "rest":  ((3.0, 3.0, 3.0, 3.0), 0.0, False, {}),
    "pause": ((0.3, 0.2, 0.2, 1.0), 0.0, False, {"jawOpen": 0.04}),
    "PBM":   ((3.0, 0.2, 0.5, 1.0), 0.04, True,
              {"jawOpen": 0.05, "mouthClose": 0.05, "mouthPress": 0.35, "mouthRollLower": 0.1}),
    "FV":    ((3.0, 0.3, 0.5, 1.0), 0.035, True,
              {"jawOpen": 0.06, "mouthRollLower": 0.45, "mouthUpperUp": 0.25}),
    "TH":    ((1.5, 0.3, 0.5, 5.0), 0.03, False, {"jawOpen": 0.12, "tongueOut": 0.3}),
    "CH":    ((1.5, 3.0, 1.0, 1.0), 0.03, False,
              {"jawOpen": 0.1, "mouthFunnel": 0.3, "mouthPucker": 0.3, "mouthUpperUp": 0.15}),
    "SZ":    ((1.5, 0.3, 1.0, 1.0), 0.025, False,
              {"jawOpen": 0.06, "mouthStretch": 0.15, "mouthSmile": 0.1, "mouthUpperUp": 0.1}),
    "TDN":   ((0.6, 0.3, 0.3, 1.0), 0.0, False, {"jawOpen": 0.12}),
    "KG":    ((0.5, 0.3, 0.3, 1.0), 0.0, False, {"jawOpen": 0.15}),
    "HH":    ((0.1, 0.1, 0.1, 1.0), 0.0, False, {"jawOpen": 0.2}),
    "R":     ((0.8, 2.0, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.1, "mouthFunnel": 0.15, "mouthPucker": 0.3}),
    "W":     ((1.5, 5.0, 1.0, 1.0), 0.03, False,
              {"jawOpen": 0.06, "mouthPucker": 0.7, "mouthFunnel": 0.2}),
    "AA":    ((1.2, 0.5, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.42, "mouthLowerDown": 0.15}),
    "AE":    ((1.2, 0.5, 1.0, 1.0), 0.0, False,
              {"jawOpen": 0.35, "mouthStretch": 0.25, "mouthLowerDown": 0.2, "mouthUpperUp": 0.1}),
    "AH":    ((1.0, 0.5, 0.5, 1.0), 0.0, False, {"jawOpen": 0.3, "mouthLowerDown": 0.1}),
    "AO":    ((1.2, 1.5, 0.5, 1.0), 0.0, False, {"jawOpen": 0.34, "mouthFunnel": 0.35}),
    "OH":    ((1.2, 2.0, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.26, "mouthFunnel": 0.45, "mouthPucker": 0.2}),
    "EH":    ((1.0, 0.5, 1.0, 1.0), 0.0, False,
              {"jawOpen": 0.26, "mouthStretch": 0.2, "mouthLowerDown": 0.15}),
    "ER":    ((1.0, 1.5, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.14, "mouthFunnel": 0.3, "mouthPucker": 0.2}),
    "IH":    ((1.0, 0.5, 1.0, 1.0), 0.0, False,
              {"jawOpen": 0.18, "mouthSmile": 0.15, "mouthStretch": 0.2, "mouthLowerDown": 0.2}),
    "IY":    ((1.0, 1.0, 2.0, 1.0), 0.0, False,
              {"jawOpen": 0.13, "mouthSmile": 0.3, "mouthStretch": 0.3, "mouthLowerDown": 0.3,
               "mouthUpperUp": 0.2}),
    "UH":    ((1.0, 2.0, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.16, "mouthPucker": 0.35, "mouthFunnel": 0.25}),
    "UW":    ((1.0, 3.0, 0.5, 1.0), 0.0, False,
              {"jawOpen": 0.11, "mouthPucker": 0.7, "mouthFunnel": 0.3}),
}
VISEME_NAMES = tuple(VISEMES)
PHONE_VISEME: dict[str, str] = {
    **{p: "PBM" for p in ("P", "B", "M")}, **{p: "FV" for p in ("F", "V")},
    **{p: "TH" for p in ("TH", "DH")}, **{p: "CH" for p in ("CH", "JH", "SH", "ZH")},
    **{p: "SZ" for p in ("S", "Z")}, **{p: "TDN" for p in ("T", "D", "N", "L")},
    **{p: "KG" for p in ("K", "G", "NG", "Y")}, "HH": "HH", "R": "R", "W": "W",
    **{v: v for v in ("AA", "AE", "AH", "AO", "EH", "ER", "IH", "IY", "UH", "UW")},
}
# Diphthongs glide between two visemes; the first takes this share of the phone.
DIPHTHONGS = {"AW": ("AA", "UW"), "AY": ("AA", "IY"), "EY": ("EH", "IY"),
              "OY": ("AO", "IY"), "OW": ("OH", "UW")}
DIPHTHONG_SPLIT = 0.6
PAUSE_S = 0.1          # a silence shorter than this inside speech is a pause, not rest
REST_RAMP_S = 0.03     # inside speech the lips settle to rest over this (<= 1/4 of the silence)
SMOOTH_S = 0.012       # final Gaussian smoothing (s): removes the remaining kinks
FORCE_RAMP_S = 0.03    # forced lip contact fades in and out over this (s)
NEIGHBOURS = 6         # segments on each side that a frame blends


def _table():
    alpha = np.array([v[0] for v in VISEMES.values()], dtype=np.float64)      # [V, G]
    hold = np.array([v[1] for v in VISEMES.values()], dtype=np.float64)       # [V]
    force = np.array([v[2] for v in VISEMES.values()], dtype=np.float64)      # [V]
    targets = np.zeros((len(VISEMES), len(CONTROL_NAMES)))
    for i, (*_, tg) in enumerate(VISEMES.values()):
        for name, w in tg.items():
            targets[i, CONTROL_NAMES.index(name)] = w
    return alpha, hold, force, targets


ALPHA, MIN_HOLD, FORCE, TARGETS = _table()
# What forced contact overrides: the lip-opening controls, and the funnel (which parts the
# lips); pucker (protrusion) goes on, so "p" before "oo" closes already rounded.
FORCED = (CONTROL_GROUP == GROUPS.index("lips")) | (np.array(CONTROL_NAMES) == "mouthFunnel")
REST = VISEME_NAMES.index("rest")


def viseme_weights(name: str) -> np.ndarray:
    """[52] ARKit weights of one viseme's target."""
    return (TARGETS[VISEME_NAMES.index(name)] @ CONTROL_TO_ARKIT).astype(np.float32)


def segments(phones: Sequence[Phone]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(viseme index [S], start [S], end [S]): diphthongs split in two; SIL is `rest`,
    or `pause` when short and between speech; unknown labels count as silence."""
    vis, start, end = [], [], []
    for i, (label, b, e) in enumerate(phones):
        if label in DIPHTHONGS:
            m = b + DIPHTHONG_SPLIT * (e - b)
            parts = ((DIPHTHONGS[label][0], b, m), (DIPHTHONGS[label][1], m, e))
        elif label in PHONE_VISEME:
            parts = ((PHONE_VISEME[label], b, e),)
        else:
            inside = 0 < i < len(phones) - 1
            parts = (("pause" if inside and e - b < PAUSE_S - 1e-6 else "rest", b, e),)
        for name, pb, pe in parts:
            vis.append(VISEME_NAMES.index(name))
            start.append(pb)
            end.append(pe)
    return np.array(vis, dtype=np.int64), np.array(start), np.array(end)


def coarticulate(phones: Sequence[Phone], fps: float, duration: float | None = None) -> np.ndarray:
    """[T, 52] weights at t = k / fps, k = 0 .. round(duration * fps) (duration defaults
    to the last phone's end); silence and no phones give the rest pose (zeros)."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    phones = [p for p in phones if p.end > p.start]
    if duration is None:
        duration = max((p.end for p in phones), default=0.0)
    if not any(p.label != SIL for p in phones):
        return np.zeros((frame_count(duration, fps), NUM_SHAPES), dtype=np.float32)
    return blend(*segments(phones), fps, duration)


def neighbourhood(vis: np.ndarray, start: np.ndarray, end: np.ndarray, t: np.ndarray):
    """Per frame t [T]: its segment [T], the NEIGHBOURS segments either side [T, N] (clipped)
    and which exist [T, N], the signed time from each one's centre and its half hold [T, N]."""
    centre = (start + end) / 2
    half = np.maximum(end - start, MIN_HOLD[vis]) / 2
    here = np.clip(np.searchsorted(start, t, side="right") - 1, 0, len(vis) - 1)
    nb = here[:, None] + np.arange(-NEIGHBOURS, NEIGHBOURS + 1)[None]            # [T, N]
    valid = (nb >= 0) & (nb < len(vis))
    nb = np.clip(nb, 0, len(vis) - 1)
    return here, nb, valid, t[:, None] - centre[nb], half[nb]


def blend(vis: np.ndarray, start: np.ndarray, end: np.ndarray, fps: float,
          duration: float) -> np.ndarray:
    """[T, 52] weights at `frames.frame_times(duration, fps)` of sorted viseme segments (index,
    start, end; see `segments`): dominance-weighted low-pass, then `contact_and_rest`. Apart
    from `coarticulate` so that stored viseme runs can be blended again (synth --retarget)."""
    t = frame_times(duration, fps)
    _, nb, valid, dt, half = neighbourhood(vis, start, end, t)
    # Dominance times the share of the frame's Gaussian window that each segment covers.
    sigma = LOWPASS_S / GROUP_RATE                                               # [G]
    cover = (ndtr(((half - dt) / sigma[:, None, None]))
             - ndtr(((-half - dt) / sigma[:, None, None])))                      # [G, T, N]
    dom = ALPHA[vis[nb]] * np.moveaxis(cover, 0, -1)                             # [T, N, G]
    dom = dom[..., CONTROL_GROUP] * valid[..., None]                           # [T, N, C]
    controls = (dom * TARGETS[vis[nb]]).sum(1) / np.maximum(dom.sum(1), 1e-12)  # [T, C]
    return contact_and_rest(controls, vis, start, end, fps, duration)


def contact_and_rest(controls: np.ndarray, vis: np.ndarray, start: np.ndarray,
                     end: np.ndarray, fps: float, duration: float) -> np.ndarray:
    """Blended controls [T, C] at `frame_times(duration, fps)` -> [T, 52] weights: forced lip
    contact, rest in pauses, smoothing (what every blend of the segments ends with)."""
    t = frame_times(duration, fps)
    here, nb, valid, dt, half = neighbourhood(vis, start, end, t)
    dist = np.maximum(np.abs(dt) - half, 0.0)
    # Forced lip contact: each frame follows its most forcing neighbour's lip targets.
    ramp = 0.5 * (1 + np.cos(np.pi * np.minimum(dist / FORCE_RAMP_S, 1.0)))
    force = FORCE[vis[nb]] * ramp * valid                                        # [T, N]
    strongest = np.argmax(force, axis=1)
    k = np.take_along_axis(force, strongest[:, None], 1)
    lips_target = TARGETS[vis[np.take_along_axis(nb, strongest[:, None], 1)[:, 0]]][:, FORCED]
    controls = controls.copy()
    controls[:, FORCED] += k * (lips_target - controls[:, FORCED])
    # Rest in pauses: a rest segment inside speech brings every control to rest over its
    # middle, settling in and out within it (so neighbours' tails cannot hold the mouth
    # open); the first and last segments keep the anticipation of the speech they border.
    inner = (vis == REST) & (np.arange(len(vis)) > 0) & (np.arange(len(vis)) < len(vis) - 1)
    if inner.any():
        depth = np.minimum(t - start[here], end[here] - t)                     # inside the pause
        ramp = np.minimum(REST_RAMP_S, (end[here] - start[here]) / 4)
        settle = 0.5 * (1 - np.cos(np.pi * np.clip(depth / ramp, 0.0, 1.0)))
        controls *= 1 - np.where(inner[here] & (depth > 0), settle, 0.0)[:, None]
    if SMOOTH_S * fps > 0.3:
        controls = gaussian_filter1d(controls, SMOOTH_S * fps, axis=0, mode="nearest")
    return to_arkit(controls)
