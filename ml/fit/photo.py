"""A reference photo -> the face's 478 MediaPipe landmarks: read robustly (EXIF rotation,
grayscale, alpha, CMYK, 16-bit), detect every face, keep the largest."""
from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_SIDE = 1600  # larger photos are downscaled before detection (landmarks are normalised)
MIN_SIDE = 32


class PhotoError(ValueError):
    """The photo cannot be used; the message is for the user."""


def read_photo(path) -> np.ndarray:
    """Image file -> [H, W, 3] uint8 RGB, upright (EXIF orientation applied), alpha
    composited over mid-grey, at most MAX_SIDE pixels on its longer side."""
    import cv2
    path = Path(path)
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    raw = np.fromfile(str(path), dtype=np.uint8)
    upright = cv2.imdecode(raw, cv2.IMREAD_COLOR)  # applies EXIF orientation
    if upright is None:
        raise PhotoError(f"{path}: not a readable image (JPEG, PNG, BMP, TIFF, WebP)")
    full = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if full is not None and full.ndim == 3 and full.shape[2] == 4 and full.shape[:2] == upright.shape[:2]:
        scale = 65535.0 if full.dtype == np.uint16 else 255.0
        alpha = full[..., 3:4].astype(np.float32) / scale
        bgr = full[..., :3].astype(np.float32) / scale
        upright = np.clip((bgr * alpha + 0.5 * (1 - alpha)) * 255 + 0.5, 0, 255).astype(np.uint8)
    h, w = upright.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise PhotoError(f"{path}: {w}x{h} pixels is too small to find a face in")
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        upright = cv2.resize(upright, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(upright[..., ::-1])


_MODELS = {}


def _models():
    """MediaPipe's full-range face detector (finds small and several faces) and Face Mesh
    in still-image mode, made once per process."""
    if not _MODELS:
        from ..video.tracking import _allow_missing_matplotlib
        _allow_missing_matplotlib()
        from mediapipe.python.solutions.face_detection import FaceDetection
        from mediapipe.python.solutions.face_mesh import FaceMesh
        _MODELS["detector"] = FaceDetection(min_detection_confidence=0.5, model_selection=1)
        _MODELS["mesh"] = FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                   min_detection_confidence=0.5)
    return _MODELS["detector"], _MODELS["mesh"]


def _mesh_landmarks(mesh, rgb: np.ndarray) -> np.ndarray | None:
    """Face Mesh on an image -> [478, 3] (x, y in pixels, z times the width) or None."""
    from ..video.tracking import landmarks_array
    faces = mesh.process(np.ascontiguousarray(rgb)).multi_face_landmarks
    if not faces:
        return None
    h, w = rgb.shape[:2]
    return landmarks_array(faces[0]) * np.array([w, h, w], dtype=np.float32)


def detect_landmarks(rgb: np.ndarray) -> tuple[np.ndarray | None, int]:
    """[H, W, 3] uint8 RGB -> (landmarks [478, 3] of the largest face, x and y in pixels,
    z in MediaPipe's x scale times the width; or None) and the number of faces detected.
    Each detected face, largest first, is cropped (2.2x its box) for Face Mesh; with no
    detection, Face Mesh looks at the whole image."""
    from ..video.tracking import detection_boxes
    detector, mesh = _models()
    h, w = rgb.shape[:2]
    boxes = detection_boxes(detector.process(np.ascontiguousarray(rgb))) * np.array([w, h, w, h])
    order = np.argsort(-np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))
    for box in boxes[order]:
        centre, half = (box[:2] + box[2:]) / 2, 1.1 * (box[2:] - box[:2]).max()
        x0, y0 = np.floor(centre - half).astype(int)
        x1, y1 = np.ceil(centre + half).astype(int)
        pad = max(0, -x0, -y0, x1 - w, y1 - h)
        padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else rgb
        pts = _mesh_landmarks(mesh, padded[y0 + pad:y1 + pad, x0 + pad:x1 + pad])
        if pts is not None:
            pts[:, :2] += (x0, y0)
            pts[:, 2] *= w / (x1 - x0)  # z back on the whole image's width
            return pts, len(boxes)
    pts = _mesh_landmarks(mesh, rgb)
    return pts, max(len(boxes), int(pts is not None))


def photo_landmarks(path) -> tuple[np.ndarray, list[str]]:
    """A photo file -> (landmarks [478, 3] in pixels, notes for the user). PhotoError when
    there is no usable face."""
    rgb = read_photo(path)
    pts, count = detect_landmarks(rgb)
    if pts is None:
        raise PhotoError(f"{path}: no face found in the photo")
    notes = []
    if count > 1:
        notes.append(f"{Path(path).name}: {count} faces found; fitted the largest")
    from .landmarks import LEFT_EYE_OUTER, RIGHT_EYE_OUTER
    eyes = pts[LEFT_EYE_OUTER, :2] - pts[RIGHT_EYE_OUTER, :2]
    width = np.linalg.norm(eyes)
    if width < 12:
        notes.append(f"{Path(path).name}: the face is tiny ({width:.0f} px between the eye "
                     f"corners); the fit is rough")
    depth = abs(pts[LEFT_EYE_OUTER, 2] - pts[RIGHT_EYE_OUTER, 2]) / max(width, 1e-6)
    if depth > 0.5:
        notes.append(f"{Path(path).name}: the face is turned far from the camera (profile); "
                     f"the fit is unreliable - use a frontal photo")
    return pts, notes
