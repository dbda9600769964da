"""The MediaPipe face-mesh landmarks the fit uses (sets in ml/face_mesh_regions.py)."""
from __future__ import annotations

import numpy as np

# Re-exported: the fit (and its rig generator) reads every set through this module.
from ..face_mesh_regions import (CHEEKS, FACE_OVAL, LEFT_BROW, LEFT_EYE, LEFT_IRIS, LIPS,  # noqa: F401
                                 NOSE, REGIONS, RIGHT_BROW, RIGHT_EYE, RIGHT_IRIS)

# The landmarks the imitator predicts and the fit matches: contours of every feature.
FIT_INDICES = np.array(sorted(set().union(*REGIONS.values())), dtype=np.int64)

# Outer eye corners (subject's right, left): the NME normaliser.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def eye_distance(points: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
    """Outer-eye-corner distance of [..., N, 2+] landmarks; `indices` maps the rows to the
    478 topology when `points` is a subset (e.g. FIT_INDICES)."""
    if indices is None:
        a, b = RIGHT_EYE_OUTER, LEFT_EYE_OUTER
    else:
        lookup = {int(v): i for i, v in enumerate(indices)}
        a, b = lookup[RIGHT_EYE_OUTER], lookup[LEFT_EYE_OUTER]
    return np.linalg.norm(points[..., a, :2] - points[..., b, :2], axis=-1)
