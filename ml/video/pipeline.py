"""Video clip -> ARKit weights [N, 52] and head rotation [N, 3] at the scene's frame rate.

Two methods: "landmarker" (MediaPipe Face Landmarker blendshapes + head matrix, shapes it
never moves filled by the FACS regressor from the landmarks, per-actor range, causal One
Euro filter; ml/video/refine.py) and "regressor" (Face Mesh landmarks -> the causal FACS
regressor). Both end with per-actor neutral calibration, per-region gain and optional
extra smoothing. Step-wise, so the operator can show progress and be cancelled."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator

import numpy as np
from scipy.spatial.transform import Rotation

from .. import arkit
from ..steps import mapped, run_steps
from . import refine
from .decode import open_video
from .rotation import matrix_euler
from .tracking import MAX_GAP_S, Track, fill_gaps, track_steps

QUIET_SHARE = 0.1  # auto calibration: the clip's least active tenth of frames is its neutral
# ... for the landmarker method, each shape's own low quantile: its blendshape model keeps
# some shapes well above 0 at rest, so the least active frames by sum are not the neutral.
NEUTRAL_QUANTILE = 0.05
CALIBRATIONS = ("auto", "none")
METHODS = ("landmarker", "regressor")


@dataclass
class VideoOptions:
    """How a clip becomes animation.

    `calibration`: "auto" takes the actor's neutral from the clip's quietest frames, "none"
    uses the regressor's output as is, a (start_s, end_s) pair names a neutral stretch.
    `gains` scale regions ({region: gain}, regions of ml.arkit plus "upper"/"lower").
    `smoothing`: seconds of extra causal low-pass (0: the regressor's own stability only).
    `max_side`: frames are downscaled to it before tracking (faster; landmarks are
    resolution independent).
    `method`: "landmarker" or "regressor" (see the module). `two_trackers`: the landmarker
    method runs MediaPipe's Face Landmarker task beside Face Mesh (its own landmarks and
    head matrix; ~3x slower) instead of the blendshape model on Face Mesh's landmarks
    (ml/video/landmarker.py). `temporal`: the landmarker
    method reads its inputs through the causal temporal network (ml/video/temporal.py);
    without it `blend`, `fill`, `steady` switch the fixed refinements (ml/video/refine.py):
    the blend with the regressor, or else only the fill-in shapes from it; the still-face
    filter (refine.steady). `ranges`: per-actor ranges (both)."""
    method: str = "landmarker"
    two_trackers: bool = False
    temporal: bool = False
    blend: bool = True
    fill: bool = True
    ranges: bool = False
    steady: bool = True
    calibration: str | tuple[float, float] = "auto"
    gains: dict[str, float] = field(default_factory=dict)
    smoothing: float = 0.0
    max_side: int | None = 640
    max_gap: float = MAX_GAP_S
    sequence_fps: float | None = None  # image sequences: frames per second (decode.open_video)

    def check(self) -> None:
        """Raise ValueError, worded for the user, for options that cannot work."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if isinstance(self.calibration, str):
            if self.calibration not in CALIBRATIONS:
                raise ValueError(f"calibration must be one of {CALIBRATIONS} or a "
                                 f"(start, end) time range, got {self.calibration!r}")
        else:
            start, end = self.calibration
            if not 0 <= start < end:
                raise ValueError(f"neutral stretch {start}-{end} s must satisfy 0 <= start < end")
        for region, gain in self.gains.items():
            arkit.region_mask(region)  # unknown names raise with the valid list
            if not 0 <= gain <= 10:
                raise ValueError(f"gain for {region!r} must be within 0-10, got {gain}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be >= 0 s, got {self.smoothing}")


@dataclass
class VideoResult:
    """Weights and head rotation (XYZ Euler radians, relative to the neutral pose) sampled
    at `fps` from the clip's first frame; tracking statistics and warnings for the report."""
    weights: np.ndarray
    head_rotation: np.ndarray
    fps: float
    duration: float
    tracked: float  # share of frames MediaPipe tracked
    filled: int  # frames held and blended over short losses
    neutral: np.ndarray  # [52] the calibration's neutral weights (subtracted)
    warnings: list[str] = field(default_factory=list)


def uniform_times(times: np.ndarray, rate: float) -> np.ndarray:
    """Sample times at a fixed `rate` from the first to the last of `times`."""
    n = int(np.floor((times[-1] - times[0]) * rate + 1e-6)) + 1
    return times[0] + np.arange(n) / rate


def resample(times: np.ndarray, values: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of values [T, ...] sampled at `times` onto `new_times` (the
    values themselves, not a copy, when the times are the same)."""
    if len(new_times) == len(times) and np.allclose(new_times, times, rtol=0.0, atol=1e-9):
        return values
    flat = values.reshape(len(values), -1)
    idx = np.clip(np.searchsorted(times, new_times) - 1, 0, max(len(times) - 2, 0))
    if len(times) == 1:
        return np.repeat(values[:1], len(new_times), axis=0)
    u = np.clip((new_times - times[idx]) / (times[idx + 1] - times[idx]), 0.0, 1.0)[:, None]
    out = (1.0 - u) * flat[idx] + u * flat[idx + 1]
    return out.reshape((len(new_times),) + values.shape[1:]).astype(values.dtype)


def neutral_frames(weights: np.ndarray, times: np.ndarray, calibration) -> np.ndarray:
    """Indices of the frames that show the actor's neutral face."""
    if isinstance(calibration, str):  # "auto": the least active frames
        count = max(1, int(round(QUIET_SHARE * len(weights))))
        return np.argsort(weights.sum(axis=1), kind="stable")[:count]
    start, end = calibration
    inside = np.flatnonzero((times - times[0] >= start) & (times - times[0] <= end))
    if len(inside) == 0:
        raise ValueError(f"the neutral stretch {start}-{end} s lies outside the clip "
                         f"({times[-1] - times[0]:.2f} s)")
    return inside


def relative_rotation(rotation: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Head rotation [T, 3] (XYZ Euler) relative to the mean rotation of frames `idx`."""
    rest = Rotation.from_euler("xyz", rotation[idx]).mean()
    return (rest.inv() * Rotation.from_euler("xyz", rotation)).as_euler("xyz").astype(np.float32)


def calibrate(weights: np.ndarray, rotation: np.ndarray, times: np.ndarray,
              calibration) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove the actor's neutral: weights are remapped so the neutral's level becomes 0
    (and 1 stays 1), head rotation is made relative to the neutral frames' mean rotation.
    Returns (weights, rotation, neutral weights)."""
    if calibration == "none":
        return weights, rotation, np.zeros(weights.shape[1], dtype=np.float32)
    idx = neutral_frames(weights, times, calibration)
    neutral = np.median(weights[idx], axis=0).astype(np.float32)
    span = np.maximum(1.0 - neutral, 1e-3)
    out = np.clip((weights - neutral) / span, 0.0, 1.0).astype(np.float32)
    return out, relative_rotation(rotation, idx), neutral


def apply_gains(weights: np.ndarray, gains: dict[str, float]) -> np.ndarray:
    """Scale each region's weights by its gain, clipped to 0..1."""
    scale = np.ones(weights.shape[1], dtype=np.float32)
    for region, gain in gains.items():
        scale[arkit.region_mask(region)] = gain
    return np.clip(weights * scale, 0.0, 1.0)


def smooth(values: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Causal one-pole low-pass with time constant `seconds` (no look-ahead latency beyond
    the filter's own lag), started at the first value so the clip does not fade in."""
    if seconds <= 0 or len(values) < 2:
        return values
    a = 1.0 - np.exp(-1.0 / (fps * seconds))
    zi = ((1.0 - a) * values[0])[None]
    from scipy.signal import lfilter   # here: scipy.signal costs ~0.8 s to import, at every CLI start
    out, _ = lfilter([a], [1.0, a - 1.0], values, axis=0, zi=zi)
    return out.astype(values.dtype)


def analyse_steps(path, fps: float, options: VideoOptions | None = None, regressor=None,
                  preview: Callable[[np.ndarray], None] | None = None,
                  ) -> Generator[float, None, VideoResult]:
    """Analyse a clip step by step: the returned generator yields the share of frames
    tracked (0..1) and returns the VideoResult. Options, fps and the file are checked now,
    before any step; bad input raises ValueError (VideoError, NoFaceError) worded for the
    user. `preview(weights [52])` gets the Face Landmarker's raw blendshapes of each tracked
    frame as tracking goes (landmarker method only): a live look at the performance before
    the neutral, blend and filter that need the whole clip."""
    options = options or VideoOptions()
    options.check()
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if regressor is None:
        from .regressor import load_regressor
        regressor = load_regressor()
    source = open_video(path, fps=options.sequence_fps, max_side=options.max_side)
    return _analysis(source, fps, options, regressor, preview)


def _analysis(source, fps: float, options: VideoOptions, regressor,
              preview=None) -> Generator[float, None, VideoResult]:
    """The steps of analyse_steps; closing it early releases the tracker."""
    if options.method == "landmarker":
        from .landmarker import face_tracker, track_face_steps
        tracker = face_tracker(source.fps, options.max_gap, options.two_trackers,
                               each_frame=preview is not None)
        try:
            track = yield from _previewed(
                track_face_steps(source, tracker=tracker, max_gap=options.max_gap),
                tracker, preview)
        finally:
            tracker.close()
    else:
        track = yield from track_steps(source, max_gap=options.max_gap)
    grid, weights, rotation, neutral = solve_track(track, source.fps, options, regressor)

    # The clip lasts until its last frame has been shown for a frame's time.
    duration = float(grid[-1] - grid[0]) + 1.0 / source.fps
    out_times = grid[0] + np.arange(int(np.ceil(duration * fps - 1e-6))) / fps
    weights = smooth(resample(grid, weights, out_times), fps, options.smoothing)
    rotation = smooth(resample(grid, rotation, out_times), fps, options.smoothing)
    return VideoResult(weights=np.clip(weights, 0.0, 1.0), head_rotation=rotation, fps=fps,
                       duration=duration, tracked=float(track.found.mean()),
                       filled=int(track.filled.sum()), neutral=neutral,
                       warnings=list(track.warnings))


def _previewed(steps: Generator, tracker, preview) -> Generator:
    """yield from `steps`, handing preview() the raw blendshapes [52] of each frame the
    tracker has just found (frames: MeshTracker.frames, LandmarkerTracker.frames)."""
    if preview is None:
        return (yield from steps)
    seen = [0]

    def show(share):
        for extra in tracker.frames[seen[0]:]:
            if extra is not None:
                preview(extra[0])
        seen[0] = len(tracker.frames)
        return share
    return (yield from mapped(steps, show))


def _hold_lost(track: Track, values: np.ndarray) -> np.ndarray:
    """Per-frame values with long losses (NaN) holding the nearest tracked frame."""
    lost = ~(track.found | track.filled)
    if lost.any():
        values = values.reshape(len(values), 1, -1).copy()
        fill_gaps(track.times, values, ~lost, max_gap=np.inf)
    return values.reshape(len(track.times), *values.shape[2:]) if lost.any() else values


def grid_landmarks(track, grid: np.ndarray) -> np.ndarray:
    """The regressor's landmarks (Face Mesh's, for a landmarker FaceTrack) on `grid` [N]."""
    mesh = getattr(track, "mesh_landmarks", None)
    mesh = track.landmarks if mesh is None else mesh
    return resample(track.times, _hold_lost(track, mesh), grid)


def temporal_solve(track, rate: float, calibration, regressor, net=None):
    """The landmarker method with the causal temporal network in place of the fixed blend
    and filter: (grid [N] at `rate`, weights [N,52], head rotation [N,3], neutral [52]).
    The network runs at its own 30 fps (temporal.RATE); other rates are resampled."""
    from .temporal import RATE, load_temporal
    net = net or load_temporal()
    grid, shapes, regressed, rotation, neutral = landmarker_inputs(track, RATE, calibration, regressor)
    width, height = track.size
    features, _ = regressor.features(grid_landmarks(track, grid), width / height)
    weights = net.predict(shapes, regressed, rotation, features)
    out_grid = uniform_times(track.times, rate)
    if len(out_grid) != len(grid) or not np.allclose(out_grid, grid):
        weights, rotation = resample(grid, weights, out_grid), resample(grid, rotation, out_grid)
    return out_grid, weights, rotation, neutral


def landmarker_inputs(track, rate: float, calibration, regressor, landmarks=None):
    """The landmarker method's per-frame inputs on the steady grid: (grid [N], blendshapes
    [N, 52] and the regressor's weights [N, 52] on the same landmarks, both minus the
    actor's neutral (not clipped), head rotation [N, 3] relative to the neutral, the
    blendshapes' neutral [52]). The rotation is the Face Landmarker's head matrix where the
    track has one (two trackers), else the regressor's fit to the same landmarks.
    `landmarks`: `grid_landmarks(track, grid)` when the caller already has them."""
    times = track.times
    grid = uniform_times(times, rate)
    width, height = track.size
    landmarks = grid_landmarks(track, grid) if landmarks is None else landmarks
    shapes = resample(times, _hold_lost(track, track.blendshapes), grid)
    regressed, rotation = regressor.predict(landmarks, aspect=width / height)
    if track.rotation is not None:
        rotation = matrix_euler(resample(times, _hold_lost(track, track.rotation), grid)
                                .astype(np.float64)).astype(np.float32)
    if calibration == "none":
        return grid, shapes, regressed, rotation, np.zeros(shapes.shape[1], np.float32)
    if isinstance(calibration, str):  # "auto"
        neutral = np.quantile(shapes, NEUTRAL_QUANTILE, axis=0).astype(np.float32)
        regressed = regressed - np.quantile(regressed, NEUTRAL_QUANTILE, axis=0)
        idx = neutral_frames(np.abs(shapes - neutral), grid, calibration)
    else:
        idx = neutral_frames(shapes, grid, calibration)
        neutral = np.median(shapes[idx], axis=0).astype(np.float32)
        regressed = regressed - np.median(regressed[idx], axis=0)
    return grid, shapes - neutral, regressed, relative_rotation(rotation, idx), neutral


def solve_track(track: Track, rate: float, options: VideoOptions,
                regressor) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A Track (a landmarker FaceTrack for method "landmarker") -> (steady time grid [N]
    at `rate`, weights [N, 52], head rotation [N, 3], neutral [52]), calibrated and with
    gains applied. Shared by the bake and the evaluation."""
    # Long losses hold the nearest tracked pose; the temporal models expect a steady rate:
    # variable-rate clips are resampled to their nominal rate first.
    if options.method == "landmarker" and options.temporal:
        grid, weights, rotation, neutral = temporal_solve(track, rate, options.calibration, regressor)
        if options.ranges:
            weights = np.clip(weights * refine.range_gains(weights), 0.0, 1.0)
    elif options.method == "landmarker":
        landmarks = grid_landmarks(track, uniform_times(track.times, rate))
        grid, shapes, regressed, rotation, neutral = landmarker_inputs(
            track, rate, options.calibration, regressor, landmarks)
        if options.blend:
            weights = refine.blend(shapes, regressed)
        else:
            if options.fill:
                shapes = refine.fill_from_landmarks(shapes, regressed)
            weights = shapes / np.maximum(1.0 - neutral, 1e-3)
        weights = np.clip(weights, 0.0, 1.0).astype(np.float32)
        if options.ranges:
            weights = np.clip(weights * refine.range_gains(weights), 0.0, 1.0)
        if options.steady:
            width, height = track.size
            motion = refine.shape_motion(landmarks, width / height, regressor.template,
                                         regressor.stable)
            weights = refine.steady(weights, rate, motion)
    else:
        grid = uniform_times(track.times, rate)
        width, height = track.size
        landmarks = resample(track.times, _hold_lost(track, track.landmarks), grid)
        weights, rotation = regressor.predict(landmarks, aspect=width / height)
        weights, rotation, neutral = calibrate(weights, rotation, grid, options.calibration)
    weights = apply_gains(weights, options.gains)
    return grid, weights, rotation, neutral


def analyse_video(path, fps: float, options: VideoOptions | None = None, regressor=None,
                  progress=None, cancel=None) -> VideoResult:
    """Analyse a clip in one call; `progress(share)` after each frame, `cancel()` polled
    (raises steps.Cancelled when it turns true)."""
    return run_steps(analyse_steps(Path(path), fps, options, regressor), progress, cancel)
