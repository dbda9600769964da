"""Mouth-shape sets other than ARKit: which set a head carries, and lip-sync weights on it.

One table, VISEME_TARGETS, says which shape of each set stands for each of the engine's
visemes (`visemes.VISEMES`). A shape's pose is the mean of its visemes' targets on the mouth
controls; a frame of any engine's output (its mouth controls, `controls.from_arkit`) becomes
the mix of the set's poses closest to it (least squares, weights >= 0 summing to <= 1), so blends, the
network's mouth and coarticulation carry over, not only the phones.
Sets: "arkit" (the 52 shapes as they are), "oculus" (the 15 Oculus/OVR visemes, as Ready
Player Me and many VRoid exports name them), "vrchat" (the same 15 as `vrc.v_*`), "vrm"
(the VRM expression presets aa ih ou ee oh, plus blink from the secondary motion).
"""
from __future__ import annotations

import numpy as np

from ..arkit import ARKIT_NAMES, INDEX, canonical_name
from .controls import CONTROL_COLUMNS, from_arkit
from .visemes import TARGETS, VISEME_NAMES

# The one table: for each engine viseme, the shape that stands for it in each set
# (None: no shape of that set does; the frame's mix then comes from the others).
#                   engine viseme: (oculus/vrchat, vrm, rhubarb 2D)
VISEME_TARGETS: dict[str, tuple[str | None, str | None, str | None]] = {
    "rest": ("sil", None, "X"), "pause": ("sil", None, "X"),
    "PBM": ("PP", None, "A"), "FV": ("FF", None, "G"), "TH": ("TH", None, "B"),
    "CH": ("CH", None, "B"), "SZ": ("SS", None, "B"), "TDN": ("DD", None, "B"),
    "KG": ("kk", None, "B"), "HH": (None, None, None), "R": ("RR", None, "E"),
    "W": ("U", "ou", "F"), "AA": ("aa", "aa", "D"), "AE": ("aa", "aa", "C"),
    "AH": ("aa", "aa", "C"), "AO": ("O", "oh", "E"), "OH": ("O", "oh", "E"),
    "EH": ("E", "ee", "C"), "ER": ("RR", "oh", "E"), "IH": ("I", "ih", "B"),
    "IY": ("I", "ih", "B"), "UH": ("U", "ou", "E"), "UW": ("U", "ou", "F"),
}
TABLE_COLUMN = {"oculus": 0, "vrchat": 0, "vrm": 1, "rhubarb": 2}
OCULUS = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
VRCHAT = dict(zip(OCULUS, ("sil", "pp", "ff", "th", "dd", "kk", "ch", "ss", "nn", "rr", "aa",
                           "e", "ih", "oh", "ou")))
VRM = ("aa", "ih", "ou", "ee", "oh", "blink")
RHUBARB = ("A", "B", "C", "D", "E", "F", "G", "H", "X")   # Rhubarb Lip Sync's mouth shapes
# Shape names of each set as they appear on heads (matched case-insensitively), by shape.
KEY_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "oculus": {s: (f"viseme_{s}",) for s in OCULUS},
    "vrchat": {s: (f"vrc.v_{v}",) for s, v in VRCHAT.items()},
    # VRM 1.0 preset names, VRM 0.x names, VRoid Studio's mesh keys
    "vrm": {"aa": ("aa", "a", "fcl_mth_a"), "ih": ("ih", "i", "fcl_mth_i"),
            "ou": ("ou", "u", "fcl_mth_u"), "ee": ("ee", "e", "fcl_mth_e"),
            "oh": ("oh", "o", "fcl_mth_o"), "blink": ("blink", "fcl_eye_close")},
}
SETS = ("arkit", "oculus", "vrchat", "vrm")
SET_LABELS = {"arkit": "ARKit 52", "oculus": "Oculus/OVR visemes (viseme_aa, ...)",
              "vrchat": "VRChat visemes (vrc.v_aa, ...)", "vrm": "VRM presets (aa ih ou ee oh)"}
ARKIT_MOUTH = frozenset(ARKIT_NAMES[c] for c in CONTROL_COLUMNS) | {
    n for n in ARKIT_NAMES if n.startswith("mouth") or n.startswith("jaw")}
SOLVER_STEPS = 100        # accelerated projected-gradient steps of the per-frame least squares


def set_shapes(target: str) -> tuple[str, ...]:
    """The shapes of a set, in the column order `retarget` gives them."""
    if target == "arkit":
        return ARKIT_NAMES
    return {"oculus": OCULUS, "vrchat": OCULUS, "vrm": VRM, "rhubarb": RHUBARB}[target]


def key_name(target: str, shape: str) -> str:
    """The usual shape-key name of a set's shape (what a bake reports)."""
    return shape if target == "arkit" else KEY_NAMES[target][shape][0]


def match_keys(target: str, keys) -> dict[str, str]:
    """{shape of `target`: shape-key name} for the given shape-key names of a head."""
    found: dict[str, str] = {}
    if target == "arkit":
        for k in keys:
            name = canonical_name(k)
            if name is not None and name not in found:
                found[name] = k
        return found
    lower = {k.strip().lower(): k for k in keys}
    for shape, names in KEY_NAMES[target].items():
        hit = next((lower[n.lower()] for n in names if n.lower() in lower), None)
        if hit is not None:
            found[shape] = hit
    return found


def mouth_shapes(target: str, keys) -> list[str]:
    """The mouth shapes of `target` that a head with these shape-key names carries."""
    found = match_keys(target, keys)
    if target == "arkit":
        return [s for s in found if s in ARKIT_MOUTH]
    return [s for s in found if s not in ("sil", "blink")]


def detect(keys) -> str | None:
    """The set to bake onto for a head with these shape-key names: the first of SETS of
    which it carries a mouth shape (ARKit first: the richest), None when it has none."""
    return next((t for t in SETS if mouth_shapes(t, keys)), None)


def no_mouth_message(target: str = "auto") -> str:
    """Why nothing can be baked: no mesh carries the mouth shapes of `target` (worded for
    both the sidebar and the command line)."""
    sets = SETS if target == "auto" else (target,)
    return ("no mesh in it has mouth shape keys (" + " or ".join(SET_LABELS[t] for t in sets)
            + "); rig it first (Auto-Rig Face, or faceforge rig, adds the ARKit shapes)"
            + ("" if target == "auto" else ", or choose another --target / Target"))


def poses(target: str) -> np.ndarray:
    """[S, C] each shape's pose on the mouth controls: the mean of the targets of the
    engine visemes VISEME_TARGETS maps to it (zero for a shape no viseme maps to)."""
    column = TABLE_COLUMN[target]
    shapes = set_shapes(target)
    poses = np.zeros((len(shapes), TARGETS.shape[1]))
    for s, shape in enumerate(shapes):
        rows = [VISEME_NAMES.index(v) for v, t in VISEME_TARGETS.items() if t[column] == shape]
        if rows:
            poses[s] = TARGETS[rows].mean(0)
    return poses


def _capped_simplex(v: np.ndarray) -> np.ndarray:
    """Rows of v [T, S] projected onto {w >= 0, sum(w) <= 1} (Euclidean; sort-based
    simplex projection for the rows whose positive part sums over 1)."""
    w = np.maximum(v, 0.0)
    over = w.sum(1) > 1.0
    if over.any():
        u = -np.sort(-v[over], axis=1)
        css = np.cumsum(u, axis=1) - 1.0
        k = np.arange(1, v.shape[1] + 1)
        rho = (u - css / k > 0).sum(1)
        theta = css[np.arange(len(u)), rho - 1] / rho
        w[over] = np.maximum(v[over] - theta[:, None], 0.0)
    return w


def convex_mix(x: np.ndarray, poses: np.ndarray, steps: int = SOLVER_STEPS) -> np.ndarray:
    """[T, S] weights w >= 0 with sum <= 1 (the rest is the neutral face) minimising
    |w @ poses - x|^2 per frame (x [T, C], poses [S, C]): accelerated projected gradient
    (FISTA), vectorised over frames."""
    gram, target = poses @ poses.T, x @ poses.T                        # [S, S], [T, S]
    step = 1.0 / max(np.linalg.eigvalsh(gram).max(), 1e-12)
    w = y = np.zeros((len(x), len(poses)))
    t = 1.0
    for _ in range(steps):
        w_next = _capped_simplex(y - step * (y @ gram - target))
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = w_next + (t - 1) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w


def retarget(weights: np.ndarray, target: str) -> np.ndarray:
    """[T, 52] lip-sync output -> [T, S] weights on the shapes of `target` (set_shapes
    order), in [0, 1]. "arkit" is the identity. Viseme sets: the mouth as the closest
    mix of the set's poses (weights >= 0 summing to at most 1, as viseme rigs expect); sil (Oculus/VRChat) takes what the others leave,
    1 - their sum; VRM's blink is the mean of the two ARKit eye blinks."""
    weights = np.asarray(weights, np.float32)
    if target == "arkit":
        return weights
    shapes = set_shapes(target)
    pose = poses(target)
    live = np.flatnonzero((np.abs(pose).sum(1) > 0) & (np.array(shapes) != "sil"))
    out = np.zeros((len(weights), len(shapes)), np.float32)
    out[:, live] = convex_mix(from_arkit(weights).astype(np.float64), pose[live])
    out = np.clip(out, 0.0, 1.0)
    if "sil" in shapes:
        out[:, shapes.index("sil")] = np.clip(1.0 - out.sum(1), 0.0, 1.0)
    if "blink" in shapes:
        out[:, shapes.index("blink")] = weights[:, [INDEX["eyeBlinkLeft"],
                                                    INDEX["eyeBlinkRight"]]].mean(1)
    return out


def choose(keys, target: str = "auto") -> str | None:
    """The set to bake onto a head with these shape-key names: the detected one for
    "auto", else `target` when the head carries one of its mouth shapes; None if neither."""
    if target == "auto":
        return detect(keys)
    if target not in SETS:
        raise ValueError(f"unknown mouth-shape set {target!r}; choose from auto, "
                         f"{', '.join(SETS)}")
    return target if mouth_shapes(target, keys) else None


def on_head(weights: np.ndarray, target: str, keys) -> tuple[np.ndarray, list[str], dict | None]:
    """What to bake for set `target` on a head with these shape-key names: (weights [T, S],
    shape names [S], {shape: key name} or None for ARKit, whose keys the bake finds itself)."""
    if target == "arkit":
        return np.asarray(weights, np.float32), list(ARKIT_NAMES), None
    return retarget(weights, target), list(set_shapes(target)), match_keys(target, keys)
