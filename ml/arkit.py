"""The 52 ARKit blendshapes: names in Apple's order, mirror pairs, face regions,
and exact converters to and from MediaPipe, ICT-FaceKit and Live Link Face CSV.

Every other module takes its shape vocabulary from here, so a [.., 52] array always
means these names in this order.
"""
from __future__ import annotations

import numpy as np

# Apple's documented order (alphabetical: browDownLeft ... tongueOut).
ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
NUM_SHAPES = len(ARKIT_NAMES)
INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}


def _mirror_name(name: str) -> str:
    """Left<->Right counterpart; jawLeft/mouthLeft swap with their Right twins too."""
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


MIRROR_NAMES: tuple[str, ...] = tuple(_mirror_name(n) for n in ARKIT_NAMES)
# MIRROR[i] is the index of shape i's mirror image; weights[..., MIRROR] mirrors a face.
MIRROR = np.array([INDEX[n] for n in MIRROR_NAMES], dtype=np.int64)
# (left, right) index pairs and the self-symmetric centre shapes.
PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, int(MIRROR[i])) for i, n in enumerate(ARKIT_NAMES) if n.endswith("Left"))
CENTRE: tuple[int, ...] = tuple(i for i in range(NUM_SHAPES) if MIRROR[i] == i)


def _region(name: str) -> str:
    if name.startswith("brow"):
        return "brow"
    if name.startswith("eye"):
        return "eye"
    if name.startswith("cheekSquint") or name.startswith("nose"):
        return "cheek_nose"
    if name.startswith("jaw"):
        return "jaw"
    if name.startswith("tongue"):
        return "tongue"
    return "mouth"  # mouth* and cheekPuff (air in the cheeks moves with the lips)


REGION_OF: dict[str, str] = {n: _region(n) for n in ARKIT_NAMES}
REGIONS: tuple[str, ...] = ("brow", "eye", "cheek_nose", "mouth", "jaw", "tongue")
# Coarse halves for layering tracks: emotion on the upper face, lip-sync on the lower.
UPPER_REGIONS = ("brow", "eye", "cheek_nose")
LOWER_REGIONS = ("mouth", "jaw", "tongue")


def region_mask(*regions: str) -> np.ndarray:
    """Boolean [52] mask of the shapes in the named regions ('upper'/'lower' expand)."""
    wanted: set[str] = set()
    for r in regions:
        if r == "upper":
            wanted.update(UPPER_REGIONS)
        elif r == "lower":
            wanted.update(LOWER_REGIONS)
        elif r in REGIONS:
            wanted.add(r)
        else:
            raise ValueError(f"unknown face region {r!r}; choose from {REGIONS + ('upper', 'lower')}")
    return np.array([REGION_OF[n] in wanted for n in ARKIT_NAMES])


def mirror_weights(weights: np.ndarray) -> np.ndarray:
    """The weights of the mirror-image face (left and right swapped)."""
    return np.asarray(weights)[..., MIRROR]


# ---------------------------------------------------------------- MediaPipe
# MediaPipe's face blendshape model emits 52 values: '_neutral' then the 51 ARKit
# names in the same alphabetical order, without tongueOut.
MEDIAPIPE_NAMES: tuple[str, ...] = ("_neutral",) + ARKIT_NAMES[:-1]
_MP_TO_ARKIT = np.array([INDEX[n] for n in MEDIAPIPE_NAMES[1:]], dtype=np.int64)


def from_mediapipe(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[..., 52] MediaPipe scores -> ([..., 52] ARKit weights, [52] mask of shapes it provides)."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape[-1] != len(MEDIAPIPE_NAMES):
        raise ValueError(f"expected {len(MEDIAPIPE_NAMES)} MediaPipe scores, got {scores.shape[-1]}")
    out = np.zeros(scores.shape[:-1] + (NUM_SHAPES,), dtype=np.float32)
    out[..., _MP_TO_ARKIT] = scores[..., 1:]
    mask = np.zeros(NUM_SHAPES, dtype=bool)
    mask[_MP_TO_ARKIT] = True
    return out, mask


def to_mediapipe(weights: np.ndarray) -> np.ndarray:
    """[..., 52] ARKit weights -> [..., 52] MediaPipe order ('_neutral' = 1 - max weight; tongueOut dropped)."""
    weights = np.asarray(weights, dtype=np.float32)
    out = np.empty(weights.shape[:-1] + (len(MEDIAPIPE_NAMES),), dtype=np.float32)
    out[..., 1:] = weights[..., _MP_TO_ARKIT]
    out[..., 0] = 1.0 - weights.max(axis=-1)
    return out


# ---------------------------------------------------------------- ICT-FaceKit
_DIRECTIONAL = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")
# ICT names use _L/_R; browInnerUp and cheekPuff are split into halves; it adds
# cheekRaiser_L/R and PupilDilate_L/R (no ARKit equivalent) and has no tongueOut.
def ict_name(arkit: str) -> tuple[str, ...]:
    """The ICT-FaceKit shape name(s) that make up one ARKit shape (two for split shapes)."""
    if arkit in ("browInnerUp", "cheekPuff"):
        return (arkit + "_L", arkit + "_R")
    if arkit == "tongueOut":
        return ()
    if arkit in _DIRECTIONAL:  # jawLeft, mouthRight...: a direction, not a side
        return (arkit,)
    if arkit.endswith("Left"):
        return (arkit[:-4] + "_L",)
    if arkit.endswith("Right"):
        return (arkit[:-5] + "_R",)
    return (arkit,)


def ict_matrix(ict_names) -> tuple[np.ndarray, np.ndarray]:
    """Matrix M [52, K] summing ICT shapes into ARKit shapes, and the [52] mask of shapes ICT has.

    Deltas: arkit_deltas = M @ ict_deltas (split halves add up to the whole shape).
    Weights: ict_weights = M.T @ arkit_weights (both halves take the whole shape's weight).
    """
    ict_names = [str(n) for n in ict_names]
    col = {n: k for k, n in enumerate(ict_names)}
    m = np.zeros((NUM_SHAPES, len(ict_names)), dtype=np.float32)
    for i, a in enumerate(ARKIT_NAMES):
        for n in ict_name(a):
            if n not in col:
                raise KeyError(f"ICT-FaceKit shape {n!r} (for {a}) missing from the given names")
            m[i, col[n]] = 1.0
    return m, m.sum(axis=1) > 0


def ict_deltas_to_arkit(ict_names, ict_deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, V, 3] ICT expression deltas -> ([52, V, 3] ARKit deltas, [52] mask of shapes present)."""
    m, mask = ict_matrix(ict_names)
    return np.tensordot(m, np.asarray(ict_deltas, dtype=np.float32), axes=1), mask


def arkit_weights_to_ict(ict_names, weights: np.ndarray) -> np.ndarray:
    """[..., 52] ARKit weights -> [..., K] ICT weights."""
    m, _ = ict_matrix(ict_names)
    return np.asarray(weights, dtype=np.float32) @ m


def ict_weights_to_arkit(ict_names, ict_weights: np.ndarray) -> np.ndarray:
    """[..., K] ICT weights -> [..., 52] ARKit weights (split halves averaged)."""
    m, mask = ict_matrix(ict_names)
    counts = np.maximum(m.sum(axis=1), 1.0)
    return (np.asarray(ict_weights, dtype=np.float32) @ m.T) / counts


# ---------------------------------------------------------------- Live Link Face
# Column order of Epic's Live Link Face CSV: Timecode, BlendShapeCount, then the
# 52 shapes in ARKit's enum order (capitalised), then head and eye rotations.
_LLF_ORDER = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
LIVELINK_SHAPE_COLUMNS: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in _LLF_ORDER)
LIVELINK_ROTATION_COLUMNS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVELINK_COLUMNS: tuple[str, ...] = (
    ("Timecode", "BlendShapeCount") + LIVELINK_SHAPE_COLUMNS + LIVELINK_ROTATION_COLUMNS)
# LIVELINK_TO_ARKIT[j] is the ARKit index of the j-th Live Link shape column.
LIVELINK_TO_ARKIT = np.array([INDEX[n] for n in _LLF_ORDER], dtype=np.int64)


def arkit_from_column(column: str) -> str | None:
    """ARKit name for a Live Link column header like 'EyeBlinkLeft' (case-insensitive), else None."""
    return _LOWER.get(column.strip().lower())


_LOWER = {n.lower(): n for n in ARKIT_NAMES}


def canonical_name(name: str) -> str | None:
    """Map a shape-key name as artists write it to its ARKit name, or None.

    Accepts exact ARKit names, any capitalisation, ICT-style '_L'/'_R' suffixes and
    common prefixes such as 'ARKit_' or 'bs_'; keeps ambiguous names unmatched.
    """
    key = name.strip()
    for prefix in ("arkit_", "arkit.", "bs_", "blendshape.", "blendshape_"):
        if key.lower().startswith(prefix):
            key = key[len(prefix):]
    low = key.lower()
    if low.endswith("_l"):
        low = low[:-2] + "left"
    elif low.endswith("_r"):
        low = low[:-2] + "right"
    return _LOWER.get(low)
