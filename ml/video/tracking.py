"""Follow one face through a video with MediaPipe Face Mesh (478 landmarks, iris refined):
per-frame landmarks, one identity among several faces, short losses filled and flagged."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator

import numpy as np

from ..steps import run_steps
from .decode import VideoError, VideoSource, open_video

NUM_LANDMARKS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)
MAX_GAP_S = 0.3
MIN_IOU = 0.1  # below this overlap with the followed face's last box, a face is someone else


class NoFaceError(VideoError):
    """Not a single frame of the clip showed a trackable face."""


@dataclass
class Track:
    """Landmarks of the followed face. `landmarks [T, 478, 3] float32`: x, y normalised to
    the frame width/height, z on x's scale (MediaPipe's convention), NaN where the face is
    lost; `found [T]` frames MediaPipe tracked; `filled [T]` short losses held and blended."""
    times: np.ndarray
    landmarks: np.ndarray
    found: np.ndarray
    filled: np.ndarray
    size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)


# A NormalizedLandmark holding only x, y, z serialises to 17 bytes: the submessage tag and
# length, then each float's tag and 4 little-endian bytes. Parsing that with numpy is ~10x
# faster than reading 478 x 3 protobuf attributes from Python.
_WIRE = np.dtype([("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f4"),
                  ("ty", "u1"), ("y", "<f4"), ("tz", "u1"), ("z", "<f4")])
_TAGS = {"tag": 0x0A, "len": 15, "tx": 0x0D, "ty": 0x15, "tz": 0x1D}


def landmarks_array(landmark_list) -> np.ndarray:
    """A NormalizedLandmarkList protobuf -> [N, 3] float32 (x, y, z)."""
    raw = landmark_list.SerializeToString()
    if len(raw) % _WIRE.itemsize == 0:
        rec = np.frombuffer(raw, _WIRE)
        if all((rec[k] == v).all() for k, v in _TAGS.items()):
            return np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
    # Other fields present (visibility, presence): the general, slower path.
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)


def _boxes(faces: np.ndarray) -> np.ndarray:
    """[F, 478, 3] -> [F, 4] (x0, y0, x1, y1) bounding boxes of the landmarks."""
    return np.concatenate([faces[..., :2].min(axis=1), faces[..., :2].max(axis=1)], axis=1)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.prod(boxes[..., 2:] - boxes[..., :2], axis=-1)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one [4] box with [F, 4] boxes."""
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (_area(box) + _area(boxes) - inter)


def _allow_missing_matplotlib() -> None:
    """mediapipe's package import pulls in its drawing helpers, which import matplotlib;
    the face mesh never uses them, and the extension does not ship matplotlib (30 MB of
    wheels). Without it, an empty placeholder module satisfies that import."""
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        placeholder = types.ModuleType("matplotlib")
        placeholder.pyplot = types.ModuleType("matplotlib.pyplot")
        sys.modules.setdefault("matplotlib", placeholder)
        sys.modules.setdefault("matplotlib.pyplot", placeholder.pyplot)


def face_mesh(max_faces: int = 1, min_detection_confidence: float = 0.5,
              min_tracking_confidence: float = 0.5):
    """MediaPipe's legacy Face Mesh graph in tracking mode with iris refinement."""
    _allow_missing_matplotlib()
    from mediapipe.python.solutions.face_mesh import FaceMesh  # heavy import, on use only
    return FaceMesh(static_image_mode=False, max_num_faces=max_faces, refine_landmarks=True,
                    min_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence)


def face_detector(min_detection_confidence: float = 0.5):
    """MediaPipe's short-range face detector: the model Face Mesh itself detects with."""
    _allow_missing_matplotlib()
    from mediapipe.python.solutions.face_detection import FaceDetection
    return FaceDetection(min_detection_confidence=min_detection_confidence, model_selection=0)


def detection_boxes(result) -> np.ndarray:
    """A FaceDetection result -> [F, 4] (x0, y0, x1, y1) boxes, normalised like landmarks."""
    boxes = [d.location_data.relative_bounding_box for d in result.detections or ()]
    return np.array([(b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height) for b in boxes],
                    dtype=np.float32).reshape(-1, 4)


def blank_boxes(rgb: np.ndarray, boxes: np.ndarray, keep: np.ndarray,
                grow: float = 0.25) -> np.ndarray:
    """A copy of the frame with each box (grown by `grow` of its size) filled with the
    frame's mean colour, except where it overlaps the `keep` box: other faces hidden."""
    h, w = rgb.shape[:2]
    size = np.array([w, h, w, h], dtype=np.float32)
    pad = (boxes[:, 2:] - boxes[:, :2]) * grow
    grown = np.clip(np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1), 0, 1)
    hide = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in np.round(grown * size).astype(int):
        hide[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = np.round(np.clip(keep, 0, 1) * size).astype(int)
    hide[y0:y1, x0:x1] = False
    out = rgb.copy()
    out[hide] = rgb.reshape(-1, rgb.shape[-1]).mean(axis=0).astype(rgb.dtype)
    return out


class FaceTracker:
    """One face followed through a video: Face Mesh (max one face) in tracking mode, so the
    landmark model follows the face from frame to frame and no detector runs while it does.

    Identity: only while nothing is followed (the first frame, after a loss) does the face
    detector run; it picks the largest face when nothing was followed before, or the face
    overlapping the last box, for up to `hold_identity` frames of loss, so a second person
    never takes over a briefly hidden face. The other faces are hidden in that frame, so
    Face Mesh's own detection can only pick up the chosen one.
    Calling it on RGB frames in order returns the followed face's [478, 3] landmarks or None."""

    def __init__(self, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, hold_identity: int = 8):
        self._mesh = self._make_mesh(1, min_detection_confidence, min_tracking_confidence)
        self._detector = face_detector(min_detection_confidence)
        self.hold_identity = hold_identity
        self._box: np.ndarray | None = None
        self._lost = 0
        self._following = False

    def _make_mesh(self, max_faces, min_detection_confidence, min_tracking_confidence):
        """The landmark model that follows the face (subclasses swap it)."""
        return face_mesh(max_faces, min_detection_confidence, min_tracking_confidence)

    def _landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        faces = self._mesh.process(rgb).multi_face_landmarks
        return landmarks_array(faces[0]) if faces else None

    def _acquire(self, rgb: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(landmarks, the detected box they belong to) of the face to follow, or Nones."""
        boxes = detection_boxes(self._detector.process(rgb))
        if not len(boxes):
            return None, None
        if self._box is None:
            chosen = int(np.argmax(_area(boxes)))
        else:
            iou = _iou(self._box, boxes)
            if iou.max() < MIN_IOU:
                return None, None
            chosen = int(np.argmax(iou))
        others = np.delete(boxes, chosen, axis=0)
        return (self._landmarks(blank_boxes(rgb, others, boxes[chosen]) if len(others) else rgb),
                boxes[chosen])

    def __call__(self, rgb: np.ndarray, time: float | None = None) -> np.ndarray | None:
        """`time` (seconds) is for trackers that need it; Face Mesh ignores it."""
        if self._following:
            pts, target = self._landmarks(rgb), self._box
        else:
            pts, target = self._acquire(rgb)
        box = None if pts is None else _boxes(pts[None])
        if box is not None and _iou(target, box)[0] < MIN_IOU:
            self._mesh.reset()  # Face Mesh drifted onto someone else: make it detect again
            pts = None
        self._following = pts is not None
        if pts is None:
            self._lost += 1
            if self._lost > self.hold_identity:
                self._box = None
            return None
        self._box, self._lost = box[0], 0
        return pts

    def close(self) -> None:
        self._mesh.close()
        self._detector.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _runs(mask: np.ndarray) -> np.ndarray:
    """[R, 2] (start, stop) index ranges of the True runs of a 1-D bool mask."""
    return np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0])).reshape(-1, 2)


def fill_gaps(times: np.ndarray, landmarks: np.ndarray, found: np.ndarray,
              max_gap: float = MAX_GAP_S) -> np.ndarray:
    """Fill, in place, losses no longer than `max_gap` seconds: hold the last pose for the
    first half of the hole, then ease into the pose where tracking resumes (clip ends hold
    the nearest pose). Returns the [T] mask of filled frames; longer losses stay NaN."""
    t_count = len(found)
    idx = np.arange(t_count)
    prev = np.maximum.accumulate(np.where(found, idx, -1))
    nxt = np.minimum.accumulate(np.where(found, idx, t_count)[::-1])[::-1]
    has_prev, has_next = prev >= 0, nxt < t_count
    a, b = np.where(has_prev, prev, nxt), np.where(has_next, nxt, prev)
    a, b = np.clip(a, 0, t_count - 1), np.clip(b, 0, t_count - 1)
    # The hole spans from the last tracked frame to the next (or to the clip's end).
    start = np.where(has_prev, times[a], times[0])
    stop = np.where(has_next, times[b], times[-1])
    filled = ~found & (has_prev | has_next) & (stop - start <= max_gap + 1e-6)
    u = np.clip(2.0 * (times - start) / np.maximum(stop - start, 1e-9) - 1.0, 0.0, 1.0)
    w = (u * u * (3.0 - 2.0 * u)).astype(np.float32)[filled, None, None]
    landmarks[filled] = (1.0 - w) * landmarks[a[filled]] + w * landmarks[b[filled]]
    return filled


def _gap_warnings(times: np.ndarray, found: np.ndarray, filled: np.ndarray) -> list[str]:
    out = []
    for s, e in _runs(~found):
        what = ("held and blended back (flagged in Track.filled)" if filled[s]
                else "no landmarks there (NaN)")
        out.append(f"face lost for {e - s} frame(s), {times[s]:.2f}-{times[e - 1]:.2f} s: {what}")
    return out


class _LandmarkBuffer:
    """Landmarks [T, 478, 3] float32 gathered frame by frame into one array sized by the
    container's frame count (grown by half when that was short), NaN where no face: one
    copy of the clip's landmarks in memory, never a list of per-frame arrays plus a stack."""

    def __init__(self, expected: int):
        self.data = np.full((max(expected, 16), NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
        self.found: list[bool] = []

    def append(self, pts: np.ndarray | None) -> None:
        n = len(self.found)
        if n == len(self.data):
            grown = np.full((n + n // 2, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
            grown[:n] = self.data
            self.data = grown
        if pts is not None:
            self.data[n] = pts
        self.found.append(pts is not None)

    def __len__(self) -> int:
        return len(self.found)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(landmarks [T, 478, 3], found [T]); the landmarks a view of the buffer."""
        return self.data[:len(self.found)], np.array(self.found, dtype=bool)


def track_steps(video, *, tracker: FaceTracker | None = None,
                max_gap: float = MAX_GAP_S) -> Generator[float, None, Track]:
    """track() one frame at a time, for progress and cancelling: yields the share of the
    clip tracked so far (0..1, by the container's frame count) and returns the Track.
    Raises NoFaceError when no frame shows a face."""
    source = video if isinstance(video, VideoSource) else open_video(video)
    total = max(source.frame_count, 1)
    own = tracker is None
    tracker = tracker or FaceTracker(hold_identity=max(1, round(max_gap * source.fps)))
    times, frames = [], _LandmarkBuffer(source.frame_count)
    try:
        for t, rgb in source:
            times.append(t)
            frames.append(tracker(rgb, t))
            yield min(len(frames) / total, 1.0)
    finally:
        if own:
            tracker.close()
    landmarks, found = frames.result()
    if not found.any():
        raise NoFaceError(
            f"{Path(source.path)}: no face found in {len(frames)} frame(s); the face may be "
            "too small, too dark, turned away or covered (crop closer to the face)")
    times = np.asarray(times, dtype=np.float64)
    filled = fill_gaps(times, landmarks, found, max_gap)
    return Track(times, landmarks, found, filled, source.size,
                 source.warnings + _gap_warnings(times, found, filled))


def track(video, *, tracker: FaceTracker | None = None, max_gap: float = MAX_GAP_S) -> Track:
    """Track the face through `video` (a VideoSource or a path for open_video).
    Raises NoFaceError when no frame shows a face."""
    return run_steps(track_steps(video, tracker=tracker, max_gap=max_gap))
