"""Decode a video file or an image sequence into RGB uint8 frames with timestamps in
seconds, upright (rotation metadata applied) and optionally downscaled, with clear errors.

An image sequence's frame rate comes from, in order: the `fps` argument (`faceforge video
--fps`), a sidecar file FPS_SIDECAR ("fps.txt") in the images' folder holding one number
("25", "29.97" or "30000/1001"), or DEFAULT_SEQUENCE_FPS with a warning."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_SEQUENCE_FPS = 30.0
FPS_SIDECAR = "fps.txt"
MAX_FPS = 1000.0
# OpenCV's own rotation for each ORIENTATION_META angle (used when auto-rotation is off).
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
           270: cv2.ROTATE_90_COUNTERCLOCKWISE}
_PRINTF = re.compile(r"%(0?)(\d*)d")


class VideoError(ValueError):
    """A problem with a video or image sequence, worded for the user."""


class VideoWarning(UserWarning):
    """A clip that can be used, but not quite as given (truncated, rate assumed...)."""


def _scaled_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


class VideoSource:
    """Iterable of (time_s, rgb [H, W, 3] uint8) frames; `fps`, `frame_count` (the
    container's count, an estimate for some formats), `size` (w, h) as delivered (frames
    of another size, e.g. mixed image sizes, are resized to it),
    `rotation` (degrees applied) and `warnings` (truncation, unreadable images...)."""

    def __init__(self, path: Path, fps: float, frame_count: int, size: tuple[int, int],
                 rotation: int = 0, max_side: int | None = None):
        self.path, self.fps, self.frame_count = path, fps, frame_count
        self.rotation = rotation
        self.size = _scaled_size(*size, max_side)
        self.warnings: list[str] = []

    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, VideoWarning, stacklevel=3)

    def _finish(self, bgr: np.ndarray) -> np.ndarray:
        """BGR as decoded -> RGB at the delivered size (resize first: fewer pixels to convert)."""
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        raise NotImplementedError


class _CaptureSource(VideoSource):
    """A container read through OpenCV's FFmpeg backend."""

    def __iter__(self):
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        manual = _ROTATE.get(self.rotation) if not _auto_rotate(cap) else None
        prev, n = -np.inf, 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                # POS_MSEC is the frame's presentation time (variable frame rate safe);
                # some streams report nothing useful, so keep times strictly increasing.
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if not np.isfinite(t) or t <= prev:
                    t = 0.0 if n == 0 else prev + 1.0 / self.fps
                if manual is not None:
                    bgr = cv2.rotate(bgr, manual)
                prev, n = t, n + 1
                yield t, self._finish(bgr)
        finally:
            cap.release()
        # Containers with an exact count (mp4, avi) expose truncation; mpg counts are
        # bitrate estimates, so allow a small shortfall before warning.
        if n < self.frame_count - max(2, 0.05 * self.frame_count):
            self._warn(f"{self.path}: decoded {n} of {self.frame_count} frames "
                       f"({n / self.fps:.2f} of {self.frame_count / self.fps:.2f} s); the file "
                       "looks truncated or corrupted, using the frames that could be read")


class _ImageSequence(VideoSource):
    """Numbered image files played at a given fps; EXIF orientation applied by imread."""

    def __init__(self, path: Path, files: list[Path], fps: float, size: tuple[int, int],
                 max_side: int | None):
        super().__init__(path, fps, len(files), size, 0, max_side)
        self.files = files

    def __iter__(self):
        for i, f in enumerate(self.files):
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                self._warn(f"{f}: unreadable image, skipped")
                continue
            yield i / self.fps, self._finish(bgr)


def _auto_rotate(cap: cv2.VideoCapture) -> bool:
    """Ask the backend to apply rotation metadata itself; False if it cannot."""
    return bool(cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1))


def _sequence_files(path: Path) -> list[Path]:
    """Image files of a folder (sorted by name) or of a printf pattern such as frame_%04d.png
    (sorted by number)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    m = _PRINTF.search(path.name)
    digits = rf"\d{{{int(m.group(2))}}}" if m.group(1) else r"\d+"
    rx = re.compile(re.escape(path.name[:m.start()]) + f"({digits})"
                    + re.escape(path.name[m.end():]) + "$")
    found = [(int(r.group(1)), p) for p in path.parent.glob("*") if (r := rx.match(p.name))]
    return [p for _, p in sorted(found)]


def check_fps(fps, what: str = "fps") -> float:
    """A usable frame rate (0 < fps <= MAX_FPS) as float; VideoError saying what to pass."""
    try:
        rate = float(fps)
    except (TypeError, ValueError):
        rate = np.nan
    if not (np.isfinite(rate) and 0 < rate <= MAX_FPS):
        raise VideoError(f"{what} must be a frame rate between 0 and {MAX_FPS:g} frames per "
                         f"second (e.g. 25 or 29.97), got {fps!r}")
    return rate


def read_fps_sidecar(folder: Path) -> float | None:
    """The rate written in folder/FPS_SIDECAR ("25", "29.97" or "30000/1001"); None without one."""
    path = folder / FPS_SIDECAR
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot read the frame rate file: {exc}") from None
    num, slash, den = text.partition("/")
    try:
        value = float(num) / float(den) if slash else float(num)
    except (ValueError, ZeroDivisionError):
        value = text
    return check_fps(value, f"{path} (the image sequence's frame rate file)")


def _open_sequence(path: Path, files: list[Path], fps: float | None,
                   max_side: int | None) -> VideoSource:
    if not files:
        raise VideoError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) found for an image sequence")
    first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise VideoError(f"{files[0]}: not a readable image")
    h, w = first.shape[:2]
    rate = fps if fps is not None else read_fps_sidecar(files[0].parent)
    src = _ImageSequence(path, files, rate or DEFAULT_SEQUENCE_FPS, (w, h), max_side)
    if rate is None and len(files) > 1:
        src._warn(f"{path}: image sequence with no frame rate given; assuming "
                  f"{DEFAULT_SEQUENCE_FPS:g} fps (pass --fps, or write the rate into "
                  f"{FPS_SIDECAR} beside the images)")
    return src


def open_video(path, *, fps: float | None = None, max_side: int | None = None) -> VideoSource:
    """Open a video file (anything FFmpeg reads: mp4, mov, avi, webm, mpg...), a folder of
    images or a printf pattern (frame_%04d.png). `fps` sets the rate of image sequences
    (else FPS_SIDECAR, else 30 with a warning); a video file keeps its own rate (and
    warns that `fps` was not used); `max_side` downscales frames whose longer side
    exceeds it. Raises VideoError for missing, unreadable or empty inputs."""
    path = Path(path)
    fps = None if fps is None else check_fps(fps)
    if path.is_dir() or _PRINTF.search(path.name):
        return _open_sequence(path, _sequence_files(path), fps, max_side)
    if not path.exists():
        raise VideoError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty (0 bytes)")
    if path.suffix.lower() in IMAGE_EXTS:  # a still: a one-frame sequence
        return _open_sequence(path, [path], fps, max_side)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a video OpenCV can read (unknown format, "
                             "corrupted, or truncated before its index)")
        auto = _auto_rotate(cap)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        ok, bgr = cap.read()
        if not ok:
            raise VideoError(f"{path}: the video has no decodable frames")
        h, w = bgr.shape[:2]
        if not auto and rotation in (90, 270):
            w, h = h, w
        rate = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    src = _CaptureSource(path, 0.0, max(count, 1), (w, h), rotation, max_side)
    if not np.isfinite(rate) or not 0 < rate <= 1000:
        if fps is not None:
            rate = fps
        else:
            src._warn(f"{path}: no usable frame rate in the file; assuming "
                      f"{DEFAULT_SEQUENCE_FPS:g} fps (pass --fps to set it)")
            rate = DEFAULT_SEQUENCE_FPS
    elif fps is not None and abs(fps - rate) > 1e-3:
        src._warn(f"{path}: a video file plays at its own {rate:g} fps; the frame rate "
                  f"{fps:g} given for image sequences is not used")
    src.fps = float(rate)
    return src
