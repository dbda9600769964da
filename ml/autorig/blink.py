"""Blink completion: eyeBlink brings the upper lid all the way down to the lower one.

A smooth regressor draws a blink's lid motion in the right place but stops short at
the sharp lid margin (on ICT-FaceKit heads the network leaves 20-45 % of the opening).
This step finds the fissure in front of each fitted eyeball from the neutral mesh,
measures how much further the predicted upper margin must turn down about the
eyeball's horizontal axis to meet the posed lower margin, and turns the lid on by that
angle: fully at the middle of the margin, fading toward the eye's corners, up the lid,
and onto skin the blink hardly moves, and never past the height where the lids meet.
A turn about the eyeball's centre keeps every vertex's distance to it, so a lid that
starts outside the eyeball stays outside. Only neutral heights and the predicted
motion are used, so it works on any topology; without eyeballs it does not run.
"""
from __future__ import annotations

import numpy as np

from .eyes import EyePair, fissure, lid_margins, lid_strip

# The fissure and the lid margins are found where `metrics.lid_gap_ratio` looks
# (eyes.lid_strip, eyes.fissure, eyes.lid_margins).
OVERLAP = 0.05        # the upper margin goes this share of the opening past the lower one
MAX_GAIN = 3.0        # the upper margin's motion is at most tripled
MIN_TURN = 0.25       # the upper margin must already turn this share of the lid's most
# The extra turn is full on the middle of the upper margin and fades out (radii) toward
# the eye's corners, up the lid above the margin, away from the eyeball and behind it.
SPREAD_ACROSS = (0.2, 1.1)
SPREAD_UP = (0.15, 0.6)
FADE_REACH = (1.8, 2.4)
FADE_FRONT = (0.0, 0.3)


def ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Smoothstep from 0 at lo to 1 at hi (descending when lo > hi)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _eye_coords(points: np.ndarray, eye: EyePair, k: int) -> tuple[np.ndarray, ...]:
    """Across (toward the subject's left), forward and up coordinates relative to eye k."""
    rel = points - eye.centres[k]
    return rel @ eye.left_axis, rel @ eye.forward, rel @ eye.up


def _turn_to(height: float, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per point (forward y, up z about the eye), the downward turn about the eye's
    horizontal axis that brings it to `height` (0 if it is already lower)."""
    reach = np.maximum(np.hypot(y, z), 1e-9)
    return np.maximum(np.arctan2(z, y) - np.arcsin(np.clip(height / reach, -1.0, 1.0)), 0.0)


def _closure(y1, z, z1, turn, idx, r):
    """From the fissure of the lid strip `idx` (neutral heights z; posed forward/up y1,
    z1): the extra downward turn its upper margin needs, the height where the lids meet,
    the upper margin's neutral height and its smallest predicted turn; or None when there
    is no opening, its upper margin does not move, or the lids already meet."""
    split = fissure(z[idx], r)
    if split is None:
        return None
    lo, hi = split
    upper, lower = lid_margins(idx, z[idx], lo, hi, r)
    moved = turn[upper].min()
    if moved <= MIN_TURN * turn[idx].max():
        return None
    meet = z1[lower].max() - OVERLAP * (hi - lo)
    need = min(_turn_to(meet, y1[upper], z1[upper]).max(), (MAX_GAIN - 1.0) * moved)
    return (need, meet, hi, moved) if need > 0 else None


def close_blink(verts: np.ndarray, blink: np.ndarray, eye: EyePair, k: int, skin: np.ndarray,
                movable: np.ndarray) -> np.ndarray:
    """Copy of one eyeBlink shape's deltas `blink [V,3]` (verts [V,3], canonical frame)
    with eye k's upper lid turned on until it meets the lower lid. `skin [V]` marks the
    skin whose fissure is measured; only `movable [V]` vertices (not the eyeballs) move."""
    verts = np.asarray(verts, dtype=np.float64)
    posed = verts + blink
    r = eye.radii[k]
    x, y, z = _eye_coords(verts, eye, k)
    _, y1, z1 = _eye_coords(posed, eye, k)
    dist = np.linalg.norm(verts - eye.centres[k], axis=1)
    turn = -np.angle(np.exp(1j * (np.arctan2(z1, y1) - np.arctan2(z, y))))    # downward, wrapped
    found = _closure(y1, z, z1, turn, lid_strip(verts, skin, eye, k), r)
    if found is None:
        return np.array(blink, copy=True)
    need, meet, hi, moved = found
    # Full extra turn on the middle of the upper margin, fading toward the eye's corners,
    # up the lid toward the crease, and onto skin the blink hardly moves (the lower lid).
    spread = (ramp(np.abs(x), SPREAD_ACROSS[1] * r, SPREAD_ACROSS[0] * r)
              * ramp(z - hi, SPREAD_UP[1] * r, SPREAD_UP[0] * r)
              * np.clip(turn / moved, 0.0, 1.0)
              * ramp(dist, FADE_REACH[1] * r, FADE_REACH[0] * r)
              * ramp(y, FADE_FRONT[0] * r, FADE_FRONT[1] * r) * movable)
    angle = np.minimum(need * spread, _turn_to(meet, y1, z1))
    return (_rotate(posed, eye.centres[k], eye.left_axis, angle) - verts).astype(np.asarray(blink).dtype)


def _rotate(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Each point rotated about the line through `centre` along unit `axis` by its own
    angle (radians, right-handed; about the left axis a positive angle turns the front down)."""
    p = points - centre
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return centre + p * cos + np.cross(axis, p) * sin + np.outer(p @ axis, axis) * (1 - cos)
