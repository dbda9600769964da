"""dlib's face embedding (ResNet, 128-d; public-domain weights from the PyPI package
`face_recognition_models`, runtime `dlib-bin`) as a measure of identity between a photo
and a render of the fitted character. The face box comes from MediaPipe's landmarks and
the alignment from dlib's 5-point predictor (CC0); the package's 68-point predictor is
never loaded (its training data forbids commercial use). dlib's own threshold for "same
person" is a distance of 0.6.

Evaluation only: the embedding is not differentiable and does not ship with the add-on."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

SAME_PERSON = 0.6


@lru_cache(maxsize=1)
def _models():
    """(5-point predictor, face recogniser) or None when dlib or the models are missing."""
    try:
        import dlib
    except ImportError:
        return None
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return (dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")))


def available() -> bool:
    return _models() is not None


def embedding(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """dlib's 128-d descriptor of the face whose MediaPipe landmarks [478, 2+] (pixels) are
    given in rgb [H, W, 3] uint8; None without dlib."""
    models = _models()
    if models is None:
        return None
    import dlib
    sp, rec = models
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    rect = dlib.rectangle(*(int(v) for v in np.round([lo[0], lo[1], hi[0], hi[1]])))
    img = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    shape = sp(img, rect)
    return np.asarray(rec.compute_face_descriptor(img, shape, 1), dtype=np.float64)


def distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Euclidean distance of two descriptors (nan when either is missing)."""
    return float("nan") if a is None or b is None else float(np.linalg.norm(a - b))
