"""Follow one face and read Google's blendshape model (trained on real faces; 52 scores
mapped to ARKit order, tongueOut never output) on every frame. Two ways:

- one tracker (default, `MeshTracker`): Face Mesh's 478 landmarks, and the blendshape model
  run in numpy on them (`blendshape_mixer.py`); the head rotation comes later from the FACS
  regressor's fit to the same landmarks;
- two trackers (`LandmarkerTracker`): MediaPipe's Face Landmarker task
  (`data/face_landmarker.task`, Tasks API, VIDEO running mode) gives its own landmarks,
  blendshapes and the head's facial transformation matrix, and Face Mesh runs beside it for
  the FACS regressor (which reads the Face Landmarker's landmarks markedly worse); about
  3x the time per frame.

Identity handling is FaceTracker's: the short-range detector runs only while nothing is
followed, picks the largest face (or the one overlapping the last box) and hides the
others, so a second person never takes over."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np

from .. import arkit
from ..model_cache import cached_model
from .blendshape_mixer import CHUNK, BlendshapeMixer, load_mixer
from .decode import VideoSource, open_video
from .tracking import MAX_GAP_S, MIN_IOU, FaceTracker, Track, _boxes, _iou, face_mesh, landmarks_array, track_steps

MODEL = Path(__file__).parent / "data" / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
# MediaPipe's canonical face / camera space (x right, y up, z towards the viewer) ->
# Blender's (head faces -Y, +Z up): x -> X, y -> Z, z -> -Y.
MP_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass
class FaceTrack(Track):
    """A Track plus, per frame, `blendshapes [T, 52]` (ARKit order, tongueOut 0) and, from
    the two-tracker path only (None otherwise), `rotation [T, 3, 3]` (head rotation in
    Blender's axes) and `mesh_landmarks [T, 478, 3]` (Face Mesh's; the Face Landmarker's
    where Face Mesh missed); NaN where the face is lost (short losses are filled like the
    landmarks)."""
    blendshapes: np.ndarray | None = None
    rotation: np.ndarray | None = None
    mesh_landmarks: np.ndarray | None = None


def _model_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"Face Landmarker model not found: {path}")
    return path.read_bytes()


def model_bytes(path: str | Path | None = None) -> bytes:
    """The bundled face_landmarker.task (or the one at `path`), read once per process."""
    return cached_model("face-landmarker-task", path or MODEL, _model_bytes)


def face_landmarker(min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                    model: str | Path | None = None):
    """A Tasks API FaceLandmarker in VIDEO mode, one face, blendshapes and matrices on."""
    from .tracking import _allow_missing_matplotlib
    _allow_missing_matplotlib()
    from mediapipe.tasks.python import BaseOptions, vision  # heavy import, on use only
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=model_bytes(model)),
        running_mode=vision.RunningMode.VIDEO, num_faces=1,
        min_face_detection_confidence=min_detection_confidence,
        min_face_presence_confidence=min_tracking_confidence,
        min_tracking_confidence=min_tracking_confidence,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    return vision.FaceLandmarker.create_from_options(options)


def blendshape_array(categories) -> np.ndarray:
    """One face's 52 blendshape Category list (MediaPipe order) -> [52] ARKit weights."""
    scores = np.array([c.score for c in categories], dtype=np.float32)
    return arkit.from_mediapipe(scores)[0]


def matrix_rotation(matrix) -> np.ndarray:
    """A facial transformation matrix [4, 4] -> the head's rotation [3, 3] in Blender's
    axes (scale removed)."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    u, _, vt = np.linalg.svd(r)
    r = u @ vt
    return MP_TO_BLENDER @ r @ MP_TO_BLENDER.T


class LandmarkerTracker(FaceTracker):
    """FaceTracker with the Face Landmarker in place of Face Mesh. Call it on RGB frames in
    order with their time in seconds; `frames` keeps each call's (blendshapes [52],
    rotation [3, 3], Face Mesh landmarks [478, 3] or None) or None."""

    def __init__(self, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, hold_identity: int = 8, model=None):
        self._options = (min_detection_confidence, min_tracking_confidence, model)
        self._clock = -1
        self._extra = None
        self.frames: list[tuple[np.ndarray, np.ndarray] | None] = []
        super().__init__(min_detection_confidence, min_tracking_confidence, hold_identity)

    def _make_mesh(self, max_faces, min_detection_confidence, min_tracking_confidence):
        return _Landmarker(self)

    def _landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        import mediapipe as mp
        # VIDEO mode wants strictly increasing millisecond stamps.
        self._clock = max(self._clock + 1, int(round(self._time * 1000.0)))
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._mesh.landmarker.detect_for_video(image, self._clock)
        if not result.face_landmarks:
            self._extra = None
            return None
        pts = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], dtype=np.float32)
        self._extra = (blendshape_array(result.face_blendshapes[0]),
                       matrix_rotation(result.facial_transformation_matrixes[0]),
                       self._mesh.mesh_landmarks(rgb, pts))
        return pts

    def __call__(self, rgb: np.ndarray, time: float | None = None) -> np.ndarray | None:
        self._time = len(self.frames) / 30.0 if time is None else float(time)
        pts = super().__call__(rgb, time)
        self.frames.append(None if pts is None else self._extra)
        return pts


class MeshTracker(FaceTracker):
    """FaceTracker (Face Mesh) for the one-tracker path, reading the blendshape model too.
    By default found frames go to it in batches of CHUNK on a worker thread while Face Mesh
    tracks the next ones (numpy's matrix products release the GIL, so the second core
    does it), and `blendshapes(track)` gathers them; with `each_frame` (live previews) it
    reads each found frame as it comes, and `frames` keeps each call's (blendshapes [52],)
    or None, like LandmarkerTracker's."""

    def __init__(self, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, hold_identity: int = 8,
                 mixer: BlendshapeMixer | None = None, each_frame: bool = False):
        super().__init__(min_detection_confidence, min_tracking_confidence, hold_identity)
        self.mixer = mixer or load_mixer()
        self.each_frame = each_frame
        self.frames: list[tuple[np.ndarray] | None] = []
        self._calls = 0
        self._size: tuple[int, int] | None = None
        self._pending: list[tuple[int, np.ndarray]] = []
        self._jobs: list[tuple[np.ndarray, Future | np.ndarray]] = []
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, rgb: np.ndarray, time: float | None = None) -> np.ndarray | None:
        pts = super().__call__(rgb, time)
        self._size = (rgb.shape[1], rgb.shape[0])
        if self.each_frame:
            self.frames.append(None if pts is None else (self.mixer.scores(pts[None], self._size)[0],))
        elif pts is not None:
            self._pending.append((self._calls, pts))
            if len(self._pending) == CHUNK:
                self._send()
        self._calls += 1
        return pts

    def _send(self, wait: bool = False) -> None:
        """Hand the pending frames to the worker thread (or read them now with `wait`)."""
        if not self._pending:
            return
        idx = np.array([i for i, _ in self._pending])
        pts = np.stack([p for _, p in self._pending])
        self._pending = []
        if wait:
            self._jobs.append((idx, self.mixer.scores(pts, self._size)))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="faceforge-blendshapes")
        self._jobs.append((idx, self._pool.submit(self.mixer.scores, pts, self._size)))

    def blendshapes(self, track: Track) -> np.ndarray:
        """[T, 52] scores of `track` (which this tracker made): each found frame's as read
        during tracking; each gap-filled frame's read now on its filled landmarks, or with
        `each_frame` held and blended like the landmarks; NaN where the face is lost."""
        out = np.full((len(track.found), arkit.NUM_SHAPES), np.nan, dtype=np.float32)
        if self.each_frame:
            for i, extra in enumerate(self.frames):
                if extra is not None:
                    out[i] = extra[0]
            return _fill_like(out, track.times, track.found, track.filled)
        self._send(wait=True)
        for idx, job in self._jobs:
            out[idx] = job.result() if isinstance(job, Future) else job
        self._jobs = []
        if track.filled.any():
            out[track.filled] = self.mixer.scores(track.landmarks[track.filled], track.size)
        return out

    def close(self) -> None:
        super().close()
        if self._pool is not None:  # work already handed over finishes; results stay readable
            self._pool.shutdown(wait=False)


class _Landmarker:
    """Holds the Tasks landmarker behind Face Mesh's process/reset/close interface."""

    def __init__(self, owner: LandmarkerTracker):
        self.owner = owner
        self.landmarker = face_landmarker(*owner._options)
        self.face_mesh = face_mesh(1, *owner._options[:2])

    def mesh_landmarks(self, rgb: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
        """Face Mesh's landmarks of the face the landmarker found (`pts`), or None."""
        faces = self.face_mesh.process(rgb).multi_face_landmarks
        if not faces:
            return None
        mesh = landmarks_array(faces[0])
        if _iou(_boxes(pts[None])[0], _boxes(mesh[None]))[0] < MIN_IOU:
            self.face_mesh.reset()  # someone else: detect again next frame
            return None
        return mesh

    def reset(self) -> None:  # forget the followed face: fresh graphs detect again
        self.landmarker.close()
        self.landmarker = face_landmarker(*self.owner._options)
        self.face_mesh.reset()

    def close(self) -> None:
        self.landmarker.close()
        self.face_mesh.close()


def _fill_like(values: np.ndarray, times, found, filled) -> np.ndarray:
    """Fill per-frame values where the landmarks were filled (same hold-then-blend)."""
    from .tracking import fill_gaps
    flat = values.reshape(len(values), 1, -1).astype(np.float32)
    fill_gaps(times, flat, found, max_gap=np.inf)
    out = flat.reshape(values.shape)
    out[~(found | filled)] = np.nan
    return out


def face_tracker(fps: float, max_gap: float = MAX_GAP_S, two_trackers: bool = False,
                 each_frame: bool = False):
    """The tracker of a clip at `fps`: MeshTracker (reading blendshapes per frame with
    `each_frame`, for previews), or LandmarkerTracker with `two_trackers`."""
    hold = max(1, round(max_gap * fps))
    if two_trackers:
        return LandmarkerTracker(hold_identity=hold)
    return MeshTracker(hold_identity=hold, each_frame=each_frame)


def track_face_steps(video, *, tracker: FaceTracker | None = None, max_gap: float = MAX_GAP_S,
                     two_trackers: bool = False) -> Generator[float, None, FaceTrack]:
    """track_steps reading the blendshape model too (a MeshTracker or LandmarkerTracker;
    by default a new one, `two_trackers` choosing which): yields progress (0..1) and
    returns a FaceTrack. Raises NoFaceError when no frame shows a face."""
    source = video if isinstance(video, VideoSource) else open_video(video)
    own = tracker is None
    tracker = tracker or face_tracker(source.fps, max_gap, two_trackers)
    try:
        track = yield from track_steps(source, tracker=tracker, max_gap=max_gap)
    finally:
        if own:
            tracker.close()
    found = track.found
    if isinstance(tracker, MeshTracker):
        return FaceTrack(track.times, track.landmarks, found, track.filled, track.size,
                         track.warnings, blendshapes=tracker.blendshapes(track))
    if not isinstance(tracker, LandmarkerTracker):  # a plain FaceTracker: read afterwards
        return with_blendshapes(track)
    fill = (track.times, found, track.filled)
    shapes = np.full((len(found), arkit.NUM_SHAPES), np.nan, dtype=np.float32)
    rot = np.full((len(found), 3, 3), np.nan, dtype=np.float32)
    mesh = np.full_like(track.landmarks, np.nan)
    for i, extra in enumerate(tracker.frames):
        if extra is not None:
            shapes[i], rot[i], pts = extra
            mesh[i] = track.landmarks[i] if pts is None else pts
    return FaceTrack(track.times, track.landmarks, found, track.filled, track.size,
                     track.warnings, blendshapes=_fill_like(shapes, *fill),
                     rotation=_fill_like(rot, *fill), mesh_landmarks=_fill_like(mesh, *fill))


def with_blendshapes(track: Track, mixer: BlendshapeMixer | None = None) -> FaceTrack:
    """A Face Mesh Track as the one-tracker path's FaceTrack: the blendshape model read on
    its landmarks (found and filled frames), in one batch."""
    mixer = mixer or load_mixer()
    return FaceTrack(track.times, track.landmarks, track.found, track.filled, track.size,
                     track.warnings, blendshapes=mixer.scores(track.landmarks, track.size))


def track_face(video, *, tracker: FaceTracker | None = None, max_gap: float = MAX_GAP_S,
               two_trackers: bool = False) -> FaceTrack:
    """Track the face through `video` and read its blendshapes, in one call."""
    from ..steps import run_steps
    return run_steps(track_face_steps(video, tracker=tracker, max_gap=max_gap,
                                      two_trackers=two_trackers))

